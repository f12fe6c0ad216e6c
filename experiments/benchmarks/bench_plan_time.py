"""Planning time side by side: planners of a horizon-sweep run timed task by task, interleaved.

A sweep cell times its planners one after the other (the first ``timing_tasks`` tasks planned
again one per call), so on a shared machine a change of load between two planners' turns biases
their ratio. This script plans the sweep's first ``--tasks`` tasks of each horizon one per call
with every planner in turn, task by task (the planners' order rotating), on a finished run's
saved model and state graph (for a model saved without one: the graph of the env's training
data, collected again, seeded), and prints per planner the median CPU seconds per task (its
plan; with MPC all its replans), the median over the solved tasks, success on those tasks, and
the ratio of the median CPU per task to the first planner's:

    python -m grasp_agent.experiments.benchmarks.bench_plan_time RUN_DIR \\
        --planners icem,grasp_graph_fast [--env walldoor] [--horizons 50,75,100] [--tasks 20] \\
        [--mode open_loop] [--override "planners={icem: {type: icem, params: {}}, ...}"]

Planners are those of the run's ``config.yaml``, after ``--override KEY=VALUE`` (repeatable,
as on the experiments' command line: e.g. other planners for the run's model); the tasks are
the sweep's (``task_seed``), so successes can be compared with the run's cells (its first tasks).
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import torch

from grasp_agent.experiments.config import load_config
from grasp_agent.experiments.evaluation import run_tasks, sample_tasks
from grasp_agent.experiments.horizon_sweep import _eval_envs, planning_horizon, sweep_task_seed
from grasp_agent.experiments.planning import make_planner_agent, needs_state_graph, warmup
from grasp_agent.experiments.sweep_models import attach_state_graph, saved_state_graph
from grasp_agent.models.io import model_from_checkpoint, read_checkpoint


def _median(values: list[float]) -> str:
    return f"{statistics.median(values):.3f}" if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--planners", required=True, help="comma-separated names of the run's planners; "
                                                          "the first is the reference of the ratios")
    parser.add_argument("--env", default=None, help="an env of the run's config (default: its first)")
    parser.add_argument("--horizons", default="50,75,100")
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--mode", choices=("open_loop", "mpc"), default="open_loop")
    parser.add_argument("--override", action="append", default=[], metavar="KEY=VALUE",
                        help="a change to the run's config (repeatable), e.g. its planners")
    args = parser.parse_args()
    cfg = load_config(args.run_dir / "config.yaml", args.override)
    names = args.planners.split(",")
    unknown = sorted(set(names) - set(cfg.planners))
    if unknown:
        parser.error(f"planners {unknown} are not in {args.run_dir / 'config.yaml'}: {sorted(cfg.planners)}")
    env_name = args.env or next(iter(cfg.envs))
    if args.tasks < 1:
        parser.error("--tasks must be >= 1")
    torch.set_num_threads(cfg.threads)
    case = cfg.envs[env_name]
    checkpoint = read_checkpoint(args.run_dir / "models" / f"{env_name}.pt")
    if any(needs_state_graph(cfg.planners[n]) for n in names):  # saved, or built from the data
        attach_state_graph(checkpoint, case, cfg.seed)
    model = model_from_checkpoint(checkpoint, "cpu").eval()
    graph = saved_state_graph(checkpoint)
    envs = _eval_envs(case.env, 1)
    print(f"{env_name}, {args.mode}, the sweep's first {args.tasks} tasks per H, one per call, planners "
          f"interleaved task by task; CPU s per task (all its plans; median), per solved task (median)\n")
    print("| H | planner | success | CPU s per task | CPU s per solved task | CPU per task / "
          f"{names[0]}'s |")
    print("|---|---|---|---|---|---|")
    for h in (int(x) for x in args.horizons.split(",")):
        horizon = planning_horizon(h, cfg.horizon_factor)
        tasks = sample_tasks(envs[0], args.tasks, h, horizon, sweep_task_seed(cfg.task_seed, h))
        agents = {}
        for name in names:
            agents[name] = make_planner_agent(cfg.planners[name], model, envs[0], horizon, args.mode,
                                              cfg.eval.replan_every, "cpu", graph)
            warmup(cfg.planners[name], model, envs[0].action_space, horizon, "cpu", graph)
        cpu: dict[str, list[float]] = {n: [] for n in names}
        solved: dict[str, list[float]] = {n: [] for n in names}
        for j, task in enumerate(tasks):
            for name in names[j % len(names):] + names[:j % len(names)]:
                agents[name].reset(seed=cfg.seed + j)
                record = run_tasks(envs, agents[name], [task], cfg.eval.latent_success_mse)[0]
                cpu[name].append(record["plan_cpu_s"])
                if record["success"]:
                    solved[name].append(record["plan_cpu_s"])
        ref = statistics.median(cpu[names[0]])
        for name in names:
            ratio = statistics.median(cpu[name]) / ref if ref > 0 else float("nan")
            print(f"| {h} | {name} | {len(solved[name])}/{len(tasks)} | {_median(cpu[name])} | "
                  f"{_median(solved[name])} | {ratio:.2f} |", flush=True)


if __name__ == "__main__":
    main()
