"""Pick a planner's disagreement-penalty weight on tuning tasks of a horizon-sweep run's ensemble.

A planner entry's ``disagreement: w`` (see the experiments guide) adds ``w`` times the ensemble
world model's disagreement per step to the planner's objective. This script plans with one planner
of a finished run's config at several weights on the run's saved model and prints success in the
env and under the model, on tasks sampled from ``--task-seed`` on (default 40000: not the sweep's
tasks, which start at ``task_seed + 100000 * H``), so the weight is not tuned on the test tasks,
and what the penalty costs: the median CPU seconds per plan of the first ``--timing-tasks`` tasks
planned again one per call (weight 0 is the planner without the penalty):

    python -m grasp_agent.experiments.benchmarks.bench_disagreement RUN_DIR --planner grasp_graph \\
        --weights 0,0.01,0.03,0.06,0.1 [--env NAME] [--horizon 75] [--tasks 60] [--mode open_loop] \
        [--timing-tasks 10] [--set iterations=200 --set polish_steps=30] [--graph-nodes 4096]

``--set KEY=VALUE`` (repeatable; VALUE read as YAML) changes a field of the planner's params,
checked against its config before any planning, so a variant of the tuned planner is measured
on the same tasks; ``--graph-nodes N`` plans on a state graph of ``N`` nodes built from the
env's training data (collected again: seeded, so the same data) instead of the saved one.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
from pathlib import Path

import torch
import yaml

from grasp_agent.experiments.config import from_dict, load_config
from grasp_agent.experiments.evaluation import sample_tasks
from grasp_agent.experiments.horizon_sweep import _eval_envs, planning_horizon
from grasp_agent.experiments.pipeline import collect_data, make_env
from grasp_agent.experiments.planning import evaluate_planners, needs_state_graph, planner_classes
from grasp_agent.experiments.sweep_models import saved_state_graph
from grasp_agent.models.io import model_from_checkpoint, read_checkpoint
from grasp_agent.planners.state_graph import StateGraph


def parse_sets(items: list[str]) -> dict[str, object]:
    """``["k=v", ...]`` -> ``{k: yaml(v)}``; a malformed item raises ``ValueError``."""
    out = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"--set takes KEY=VALUE, got {item!r}")
        out[key.strip()] = yaml.safe_load(value)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--planner", default="grasp_graph", help="a planner name of the run's config")
    parser.add_argument("--weights", default="0,0.01,0.03,0.1", help="comma-separated weights >= 0")
    parser.add_argument("--env", default=None, help="an env of the run's config (default: its first)")
    parser.add_argument("--horizon", type=int, default=75, help="task length H (plans of horizon_factor H)")
    parser.add_argument("--tasks", type=int, default=60)
    parser.add_argument("--task-seed", type=int, default=40_000)
    parser.add_argument("--mode", choices=("open_loop", "mpc"), default="open_loop")
    parser.add_argument("--timing-tasks", type=int, default=10, help="tasks planned again one per call")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="change a planner param (repeatable; VALUE read as YAML)")
    parser.add_argument("--graph-nodes", type=int, default=None,
                        help="plan on a state graph of this many nodes, built from the training data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_config(str(args.run_dir / "config.yaml"))
    env_name = args.env or next(iter(cfg.envs))
    if env_name not in cfg.envs or args.planner not in cfg.planners:
        parser.error(f"the run has envs {sorted(cfg.envs)} and planners {sorted(cfg.planners)}")
    case, base = cfg.envs[env_name], cfg.planners[args.planner]
    try:
        base = dataclasses.replace(base, params={**base.params, **parse_sets(args.set)})
    except ValueError as err:
        parser.error(str(err))
    if args.graph_nodes is not None and (args.graph_nodes < 2 or not needs_state_graph(base)):
        parser.error(f"--graph-nodes needs a planner with init: graph and N >= 2, got {args.graph_nodes}")
    checkpoint = read_checkpoint(args.run_dir / "models" / f"{env_name}.pt")
    model = model_from_checkpoint(checkpoint, "cpu").eval()
    graph = saved_state_graph(checkpoint)
    horizon = planning_horizon(args.horizon, cfg.horizon_factor)
    env = make_env(case.env)
    try:  # the planner's config as its constructor checks it (ranges, fields together), before any work
        cls, config_cls = planner_classes(base.type)
        cls(model, env.action_space, horizon, config=from_dict(config_cls, dict(base.params),
                                                               f"planner {base.type} params"))
    except (TypeError, ValueError) as err:
        env.close()
        parser.error(str(err))
    if args.graph_nodes is not None:
        graph = StateGraph.from_buffer(collect_data(env, case.data), model, max_nodes=args.graph_nodes,
                                       seed=cfg.seed)
    tasks = sample_tasks(env, args.tasks, args.horizon, horizon, args.task_seed)
    env.close()
    specs = {f"{args.planner}, w = {float(w):g}": dataclasses.replace(base, disagreement=float(w))
             for w in args.weights.split(",")}
    batch = min(cfg.eval.plan_batch, args.tasks)
    changed = ", ".join(args.set + ([f"{graph.num_nodes}-node graph"] if args.graph_nodes else []))
    print(f"{env_name}, {args.mode}, H = {args.horizon}, {args.tasks} tasks from seed {args.task_seed}"
          f"{', ' + changed if changed else ''}\n")
    print("| planner | success (env) | success (model) | model error on executed paths | CPU s per plan |")
    print("|---|---|---|---|---|")
    for name, spec in specs.items():
        rows, records = evaluate_planners(_eval_envs(case.env, batch), model, {name: spec}, tasks, horizon,
                                          [args.mode], cfg.eval.replan_every, batch,
                                          cfg.eval.latent_success_mse, "cpu", cfg.seed, state_graph=graph,
                                          timing_tasks=args.timing_tasks)
        cpu = [r["timed_plan_cpu_s"] for r in records if r.get("timed_success") is not None]
        r = rows[0]
        print(f"| {name} | {r['success_rate']:.0%} | {r['model_success_rate']:.0%} | {r['model_mse']:.3g} | "
              f"{f'{statistics.median(cpu):.3g}' if cpu else '-'} |", flush=True)


if __name__ == "__main__":
    main()
