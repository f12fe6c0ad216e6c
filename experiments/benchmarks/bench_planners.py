"""Time per planner iteration versus horizon: GRASP lifted iteration vs GD shooting iteration.

    python -m grasp_agent.experiments.benchmarks.bench_planners [--quick] [--batch 32] [--threads 2]

Same MLP world model (default widths, 2-D WallDoor-sized state, 2-D actions), batch of 32
problems, CPU. Per-iteration time is measured as ``(t(n_hi) - t(n_lo)) / (n_hi - n_lo)``
for whole ``plan`` calls, which removes fixed per-call costs (validation, the final rollout),
and the two planners are timed alternately in one run so that their ratio is fair on a noisy
machine. Medians over repeats are printed as a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from gymnasium import spaces

from grasp_agent import GDConfig, GDPlanner, GRASPConfig, GRASPPlanner, MLPWorldModel

HORIZONS = (10, 20, 40, 80, 160)


def _plan_time(planner_factory, iterations: int, z0: torch.Tensor, goal: torch.Tensor) -> float:
    planner = planner_factory(iterations)
    start = time.perf_counter()
    planner.plan(z0, goal)
    return time.perf_counter() - start


def per_iteration(planner_factory, z0, goal, n_lo: int, n_hi: int) -> float:
    """Seconds per iteration with fixed per-call costs differenced away."""
    return (_plan_time(planner_factory, n_hi, z0, goal) - _plan_time(planner_factory, n_lo, z0, goal)) / (
        n_hi - n_lo)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats and iterations")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    repeats = args.repeats or (3 if args.quick else 7)
    n_lo, n_hi = (2, 12) if args.quick else (5, 35)
    torch.manual_seed(0)
    model = MLPWorldModel(obs_dim=2, action_dim=2).eval()
    space = spaces.Box(-1.0, 1.0, (2,))
    z0, goal = torch.rand(args.batch, 2), torch.rand(args.batch, 2)

    rows = []
    for h in HORIZONS:
        def grasp(n, h=h):
            return GRASPPlanner(model, space, h, GRASPConfig(iterations=n, use_sync=False))

        def gd(n, h=h):
            return GDPlanner(model, space, h, GDConfig(iterations=n, keep_best=False))

        per_iteration(grasp, z0, goal, 1, 2)  # warm-up
        per_iteration(gd, z0, goal, 1, 2)
        g_times, s_times = [], []
        for _ in range(repeats):  # alternate: both planners see the same machine state
            g_times.append(per_iteration(grasp, z0, goal, n_lo, n_hi))
            s_times.append(per_iteration(gd, z0, goal, n_lo, n_hi))
        rows.append((h, statistics.median(g_times), statistics.median(s_times)))

    base_g, base_s = rows[0][1], rows[0][2]
    print(f"batch={args.batch}, threads={args.threads}, repeats={repeats}, MLP hidden="
          f"{model.hidden_sizes}, torch {torch.__version__}\n")
    print("| H | GRASP lifted iter (ms) | GRASP vs H=10 | GD shooting iter (ms) | GD vs H=10 | GD / GRASP |")
    print("|---|---|---|---|---|---|")
    for h, g, s in rows:
        print(f"| {h} | {g * 1e3:.2f} | {g / base_g:.2f}x | {s * 1e3:.2f} | {s / base_s:.2f}x "
              f"| {s / g:.1f}x |")


if __name__ == "__main__":
    main()
