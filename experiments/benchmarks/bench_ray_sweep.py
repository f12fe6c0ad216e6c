"""Horizon-sweep cells in-process versus on a local Ray instance: wall time, speed-up, same results.

    python -m grasp_agent.experiments.benchmarks.bench_ray_sweep [--tasks 100] [--workers 2]
        [--train-steps N] [--out DIR]

The cells are the WallDoor open-loop H = 25 and H = 50 cells of the full config
(``horizon_sweep.yaml``, its ``walldoor`` entry, all nine planners: 18 cells of ``--tasks``
tasks each, 100 in the config). The world model is trained once first (timed apart; both runs
then start from that saved model, as a resumed sweep does), so the comparison is the cells
only: the in-process backend on one core versus Ray tasks on ``--workers`` CPUs. The Ray time
includes starting the workers' Python processes (the first tasks import torch) but not
``ray.init``, which is timed apart. Success figures must be identical task by task; the table
says whether they are. ``--tasks`` and ``--train-steps`` reduce the run; the printed header
says what was reduced.
"""

from __future__ import annotations

import argparse
import csv
import os
import tempfile
import time
from pathlib import Path

from grasp_agent.experiments.config import load_config
from grasp_agent.experiments.horizon_sweep import train_env_model
from grasp_agent.experiments.run_dir import RunDir, markdown_table
from grasp_agent.experiments.runner import run_experiment
from grasp_agent.utils import atomic_torch_save

ENV = "walldoor"
HORIZONS = (25, 50)
FULL_TASKS = 100
PER_TASK = ("success", "model_success", "steps_to_success", "failure")


def bench_config(tasks: int, train_steps: int | None):
    """The full config reduced to the WallDoor open-loop H = 25 and 50 cells (all nine planners)."""
    overrides = [f"horizons={list(HORIZONS)}", "eval.modes=[open_loop]", f"tasks_per_cell={tasks}",
                 "progress=false"]
    if train_steps is not None:
        overrides.append(f"envs.{ENV}.train.max_steps={train_steps}")
    cfg = load_config("horizon_sweep", overrides)
    cfg.envs = {ENV: cfg.envs[ENV]}
    return cfg


def _results(run: Path) -> tuple[list[tuple[str, ...]], list[dict[str, str]], float]:
    """Per-task outcomes (cell, task seed, success, ...), the per-cell rows and the summed
    planning time of a run (every plan call of every task, the single-task timing runs included)."""
    with (run / "tasks.csv").open(newline="") as f:
        records = list(csv.DictReader(f))
    keys = ("horizon", "planner", "task_seed", *PER_TASK)
    plan_s = sum(float(r["plan_time_s"]) + float(r["timed_plan_time_s"] or 0.0) for r in records)
    with (run / "metrics.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [tuple(r[k] for k in keys) for r in records], rows, plan_s


def run_backend(cfg, ckpt, out: Path, backend: str, workers: int) -> tuple[float, Path]:
    """Run the cells from the saved model on ``backend``; returns (wall seconds, run directory)."""
    rd = RunDir(out, cfg, tensorboard=False)  # a run directory holding only the trained model,
    rd.close()  # which the sweep then resumes: every cell runs, no training
    atomic_torch_save(ckpt, rd.path / "models" / f"{ENV}.pt")
    kwargs = {"backend": "ray", "num_cpus": workers} if backend == "ray" else {}
    start = time.perf_counter()
    run_dir = run_experiment(cfg, out, tensorboard=False, resume=True, **kwargs)
    return time.perf_counter() - start, run_dir.path


def main(argv: list[str] | None = None) -> None:
    """Train once, run the cells in-process and on Ray, print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=FULL_TASKS, help="tasks per cell (config: 100)")
    parser.add_argument("--workers", type=int, default=2, help="CPUs of the local Ray instance")
    parser.add_argument("--train-steps", type=int, default=None,
                        help="cap the model's training steps (config: 15000 with early stopping)")
    parser.add_argument("--out", default=None, help="keep the run directories here (default: a temp dir)")
    args = parser.parse_args(argv)
    import ray

    cfg = bench_config(args.tasks, args.train_steps)
    load = os.getloadavg()
    out = Path(args.out or tempfile.mkdtemp(prefix="bench_ray_sweep-"))
    start = time.perf_counter()
    ckpt, _ = train_env_model(cfg, ENV)
    train_s = time.perf_counter() - start
    serial_s, serial_dir = run_backend(cfg, ckpt, out / "inprocess", "inprocess", 1)
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    start = time.perf_counter()
    ray.init(address="local", num_cpus=args.workers, include_dashboard=False,
             object_store_memory=200 * 1024 ** 2, log_to_driver=False)
    init_s = time.perf_counter() - start
    try:
        ray_s, ray_dir = run_backend(cfg, ckpt, out / "ray", "ray", args.workers)
    finally:
        ray.shutdown()
    (serial_tasks, serial_rows, serial_plan), (ray_tasks, ray_rows, ray_plan) = _results(serial_dir), \
        _results(ray_dir)
    same = serial_tasks == ray_tasks and [r["success_rate"] for r in serial_rows] == \
        [r["success_rate"] for r in ray_rows]
    reduced = [f"{args.tasks} tasks per cell (config: {FULL_TASKS})"] if args.tasks != FULL_TASKS else []
    if args.train_steps is not None:
        reduced.append(f"model trained for at most {args.train_steps} steps")
    size = "REDUCED: " + "; ".join(reduced) if reduced else "full size"
    print(f"WallDoor open loop, H = {', '.join(map(str, HORIZONS))}, {len(serial_rows)} cells "
          f"({len(cfg.planners)} planners); {size}")
    print(f"model training (once, not in the times below): {train_s:.1f} s; ray.init: {init_s:.1f} s; "
          f"load average before / after: {load[0]:.1f} / {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs\n")
    print(markdown_table([
        {"backend": "in-process", "CPUs": 1, "wall time (s)": f"{serial_s:.0f}", "speed-up": "1",
         "summed plan time (s)": f"{serial_plan:.0f}", "same per-task success": "-"},
        {"backend": "local Ray", "CPUs": args.workers, "wall time (s)": f"{ray_s:.0f}",
         "speed-up": f"{serial_s / ray_s:.2f}", "summed plan time (s)": f"{ray_plan:.0f}",
         "same per-task success": "yes" if same else "NO"}]))
    print("(summed plan time: the planning wall time of every task; on Ray it exceeds the in-process "
          "figure when the workers did not each get a whole core, e.g. on a machine busy with other work)\n")
    print(markdown_table([{"H": a["horizon"], "planner": a["planner"],
                           "success in-process": a["success_rate"], "success on Ray": b["success_rate"]}
                          for a, b in zip(serial_rows, ray_rows)]))
    print(f"run directories: {serial_dir}  {ray_dir}")


if __name__ == "__main__":
    main()
