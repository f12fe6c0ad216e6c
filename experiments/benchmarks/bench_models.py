"""World-model benchmark: accuracy, accuracy near obstacles, training and planning cost.

For each model type (MLP, GRU, transformer) and task, collect random experience, train with
:func:`grasp_agent.training.fit_world_model`, and report on held-out episodes:

* one-step and H-step latent error, variance-normalised (nmse; 1.0 = predicting the mean);
* one-step nmse on transitions that touched a wall (``info["touches_obstacle"]``) vs. free space;
* training wall time, and GRASP planning time per iteration (median over repeats).

Usage::

    python -m grasp_agent.experiments.benchmarks.bench_models            # full
    python -m grasp_agent.experiments.benchmarks.bench_models --quick    # small, ~2 min on 2 cores
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import torch

from grasp_agent.data import collect
from grasp_agent.models import make_world_model
from grasp_agent.planners import GRASPConfig, GRASPPlanner
from grasp_agent.training import FitConfig, fit_world_model, latent_errors

TASKS = {
    "WallDoor-state": ("grasp_agent/WallDoor-v0", {"tasks": "any"}),
    "WallDoor-pixels": ("grasp_agent/WallDoor-v0", {"tasks": "any", "obs_mode": "pixels"}),
}
MODEL_KWARGS = {
    "mlp": {"hidden_sizes": (128, 128)},
    "gru": {"latent_dim": 16, "encoder_hidden": (128,), "input_hidden": (128,), "input_dim": 64},
    "transformer": {"latent_dim": 16, "encoder_hidden": (128,), "d_model": 64, "n_heads": 4, "n_layers": 2,
                    "context": 4},
}


def _planning_time(model: torch.nn.Module, env: gym.Env, z: torch.Tensor, horizon: int, iters: int,
                   repeats: int) -> float:
    """Median seconds per GRASP iteration on a batch of 8 problems."""
    cfg = GRASPConfig(iterations=iters, sync_every=max(iters // 2, 1), sync_steps=5, seed=0)
    planner = GRASPPlanner(model, env.action_space, horizon, cfg)
    times = []
    for r in range(repeats):
        z0, zg = z[r * 16:r * 16 + 8], z[r * 16 + 8:r * 16 + 16]
        start = time.perf_counter()
        planner.plan(z0, zg)
        times.append((time.perf_counter() - start) / iters)
    return statistics.median(times)


def run(task: str, kind: str, args: argparse.Namespace) -> dict[str, float] | None:
    env_id, env_kwargs = TASKS[task]
    env = gym.make(env_id, **env_kwargs)
    try:
        model = make_world_model(kind, env.observation_space, env.action_space, **MODEL_KWARGS[kind])
    except ValueError:
        return None  # e.g. the MLP has no encoder for pixels
    buf = collect(env_id, args.steps, num_envs=4, seed=args.seed, env_kwargs=env_kwargs, progress=False)
    cfg = FitConfig(max_steps=args.train_steps, eval_every=max(args.train_steps // 5, 1), seq_len=8,
                    eval_horizon=args.horizon, batch_size=64, eval_size=256, seed=args.seed,
                    device=args.device)
    torch.manual_seed(args.seed)
    start = time.perf_counter()
    result = fit_world_model(model, buf, cfg)
    train_s = time.perf_counter() - start
    # Held-out evaluation: fresh episodes from another seed.
    test = collect(env_id, args.steps // 4, num_envs=4, seed=args.seed + 100, env_kwargs=env_kwargs,
                   progress=False)
    rng = np.random.default_rng(args.seed)
    seq = test.sample_sequences(args.eval_size, args.horizon, rng)
    errs = latent_errors(model, torch.as_tensor(seq["obs"]), torch.as_tensor(seq["actions"]), seq["touches"])
    with torch.no_grad():
        pool = torch.as_tensor(test.sample_transitions(16 * args.repeats, rng)["obs"])
        z = model.encode(pool.to(model.device))
    plan_s = _planning_time(model, env, z, args.plan_horizon, args.plan_iters, args.repeats)
    return {**errs, "train_s": train_s, "train_steps": result.steps, "plan_ms_per_iter": 1e3 * plan_s}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small data and training (minutes)")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    parser.add_argument("--models", nargs="+", default=list(MODEL_KWARGS), choices=list(MODEL_KWARGS))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    defaults = {"steps": 20_000, "train_steps": 3000, "horizon": 10, "eval_size": 1024, "plan_horizon": 30,
                "plan_iters": 50, "repeats": 5}
    if args.quick:
        defaults = {**defaults, "steps": 4000, "train_steps": 400, "eval_size": 256, "plan_iters": 20,
                    "repeats": 3}
    args = argparse.Namespace(**{**vars(args), **defaults})
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    print(f"# bench_models ({'quick' if args.quick else 'full'}): {args.steps} random steps, "
          f"{args.train_steps} training steps, H={args.horizon}, planning H={args.plan_horizon}\n")
    print("| task | model | 1-step nmse | H-step nmse | 1-step nmse near wall | 1-step nmse free | "
          "wall share | train s | GRASP ms/iter |")
    print("|---|---|---|---|---|---|---|---|---|")
    for task in args.tasks:
        for kind in args.models:
            row = run(task, kind, args)
            if row is None:
                print(f"| {task} | {kind} | n/a (needs a learned encoder) | | | | | | |")
                continue
            print(f"| {task} | {kind} | {row['one_step_nmse']:.4f} | {row['multi_step_nmse']:.4f} | "
                  f"{row['one_step_nmse_obstacle']:.4f} | {row['one_step_nmse_free']:.4f} | "
                  f"{row['obstacle_fraction']:.2f} | {row['train_s']:.1f} | {row['plan_ms_per_iter']:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
