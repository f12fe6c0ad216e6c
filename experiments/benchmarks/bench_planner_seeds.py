"""Planner spread over world-model seeds: WallDoor open loop at H = 50 on saved sweep models.

The planner round (``planners_walldoor``) uses one world model; this script runs chosen planners
on the same 100 tasks with other saved WallDoor models (``models/walldoor.pt`` of horizon-sweep run
directories trained with other seeds) and prints success and CPU time per solved task:

    python -m grasp_agent.experiments.benchmarks.bench_planner_seeds RUN_DIR [RUN_DIR ...] \\
        [--planners grasp_long_horizon,icem,icem_40_iterations] [--horizon 50] [--tasks 100]

Planners are those of ``planners_walldoor.yaml`` and ``planners_walldoor_ablation.yaml``. A
planner with ``init: graph`` plans on the state graph saved with the model, or, for models saved
without one, on the graph of the sweep's training data collected again (seeded, so the same data;
encoded by that model).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from grasp_agent.experiments.config import load_config
from grasp_agent.experiments.evaluation import sample_tasks
from grasp_agent.experiments.horizon_sweep import _eval_envs, planning_horizon, sweep_task_seed
from grasp_agent.experiments.planning import evaluate_planners, needs_state_graph
from grasp_agent.experiments.sweep_models import attach_state_graph, saved_state_graph
from grasp_agent.models.io import model_from_checkpoint, read_checkpoint


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", nargs="+", type=Path)
    parser.add_argument("--planners", default="grasp_long_horizon,icem,icem_40_iterations")
    parser.add_argument("--horizon", type=int, default=50)
    parser.add_argument("--tasks", type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)
    cfg = load_config("planners_walldoor")
    specs = {**load_config("planners_walldoor_ablation").planners, **cfg.planners}
    h, case = args.horizon, cfg.envs["walldoor"]
    horizon = planning_horizon(h, cfg.horizon_factor)
    envs = _eval_envs(case.env, min(50, args.tasks))
    tasks = sample_tasks(envs[0], args.tasks, h, horizon, sweep_task_seed(cfg.task_seed, h))
    print(f"WallDoor open loop, H = {h}, {args.tasks} tasks\n")
    print("| model | planner | success (env) | success (model) | CPU s per solved task |")
    print("|---|---|---|---|---|")
    needs_graph = any(needs_state_graph(specs[n]) for n in args.planners.split(","))
    for run in args.run_dirs:
        checkpoint = read_checkpoint(run / "models" / "walldoor.pt")
        if needs_graph:
            attach_state_graph(checkpoint, case, cfg.seed)
        model = model_from_checkpoint(checkpoint, "cpu").eval()
        graph = saved_state_graph(checkpoint)
        for name in args.planners.split(","):
            rows, _ = evaluate_planners(envs, model, {name: specs[name]}, tasks, horizon, ["open_loop"],
                                        cfg.eval.replan_every, min(50, args.tasks),
                                        cfg.eval.latent_success_mse, "cpu", cfg.seed,
                                        timing_tasks=cfg.eval.timing_tasks, state_graph=graph)
            r = rows[0]
            print(f"| {run.name} | {name} | {r['success_rate']:.0%} | {r['model_success_rate']:.0%} | "
                  f"{r['median_cpu_time_to_success_s']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
