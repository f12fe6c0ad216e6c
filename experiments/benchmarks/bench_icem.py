"""Our ICEMPlanner against mbrl-lib's ``ICEMOptimizer`` on WallDoor open-loop tasks, same model.

    python -m grasp_agent.experiments.benchmarks.bench_icem [--tasks 30] [--length 50]
        [--mbrl-site /tmp/mbrlvenv/lib/python3.11/site-packages] [--model-cache /tmp/walldoor_mlp.pt]

Protocol (the horizon sweep's WallDoor cell, small budget): a state-mode WallDoor
(``tasks="any"``, ``max_step=0.015``); an MLP world model trained with ``fit_world_model`` on
half random, half noisy goal-directed data; ``--tasks`` tasks needing at least ``--length``
oracle steps, planning horizon ``ceil(1.25 * length)``. Each task is planned ONCE from its start
to its goal (one problem per call, for both optimizers) and the plan is executed open loop in
the real env: success = the goal radius is reached at some step. "model" = the plan reaches it
under the model. Time = wall and CPU seconds per planning call.

Both optimizers get the same settings (iterations, population, elites, decay, colored-noise
exponent, kept-elite fraction, momentum, initial std ``(high - low) / 4``) and the same
objective (terminal ``mse(s_T, g)`` of the model rollout). mbrl-lib is imported from
``--mbrl-site`` (appended to ``sys.path``, so this environment's torch and numpy are used):
mbrl 0.2.0 pins hydra-core 1.0.3, which cannot be imported on Python 3.11; its venv needs
hydra-core 1.3.2 and omegaconf 2.3.0 installed over those pins.

Measured 2026-12-02 (2-core CPU shared with other jobs, so wall times are inflated; CPU times
are comparable), ``--data-steps 40000 --train-steps 4000`` (22808 transitions kept, val loss
0.0057), oracle >= 50 steps, horizon 63:

| optimizer (beta = 2) | tasks | success (env) | success (model) | CPU s / plan (median) |
|---|---|---|---|---|
| ours ICEMPlanner | 30 | 63% | 47% | 0.282 |
| mbrl-lib 0.2.0 ICEMOptimizer | 30 | 50% | 43% | 0.252 |
| ours ICEMPlanner | 100 | 59% | 54% | 0.288 |
| mbrl-lib 0.2.0 ICEMOptimizer | 100 | 46% | 49% | 0.256 |

With white noise (``--white``, beta = 0) both solve 0 of the 30 tasks. Timed alone (6 plans,
one thread) ours takes 0.244 CPU s per plan and mbrl-lib 0.236: the difference is the two
serial rollouts of the returned plan every planner here does (its states and reported cost).
Where ours differs from mbrl-lib: it keeps the *best* elites (mbrl-lib a random subset), adds
the mean in the last round on top of the kept elites (mbrl-lib instead of them), applies the
momentum to the std (mbrl-lib to the variance), scores NaN rollouts as ``inf`` (mbrl-lib as
``-1e-10`` reward, i.e. nearly the best), shifts warm-start elites by the executed steps
(mbrl-lib by one step) and plans a batch of problems at once.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from grasp_agent import GoalDirectedAgent, ICEMConfig, ICEMPlanner, MLPWorldModel
from grasp_agent.data import collect
from grasp_agent.experiments.evaluation import sample_tasks
from grasp_agent.models import load_world_model, save_world_model
from grasp_agent.training import FitConfig, fit_world_model

ENV_ID = "grasp_agent/WallDoor-v0"
ENV_KWARGS = {"obs_mode": "state", "tasks": "any", "max_step": 0.015}
HORIZON_FACTOR = 1.25
TASK_SEED = 40000  # disjoint from the sweep (30000..), tuning (10000..) and quickstart (20000..)
SETTINGS = {"iterations": 10, "population": 256, "elites": 26, "decay": 1.25, "beta": 2.0, "keep": 0.3,
            "alpha": 0.1}


def train_model(n_steps: int, train_steps: int, seed: int = 0) -> MLPWorldModel:
    """A WallDoor MLP on ``n_steps`` transitions (half random, half goal-directed)."""
    probe = gym.make(ENV_ID, **ENV_KWARGS)
    agent = GoalDirectedAgent(probe.action_space, probe.observation_space, noise=0.5, seed=seed)
    probe.close()
    buffer = collect(ENV_ID, n_steps // 2, env_kwargs=ENV_KWARGS, seed=seed, progress=False)
    buffer = collect(ENV_ID, n_steps - n_steps // 2, policy=agent, buffer=buffer, env_kwargs=ENV_KWARGS,
                     seed=seed + 1, progress=False)
    model = MLPWorldModel(2, 2, hidden_sizes=(256, 256))
    cfg = FitConfig(max_steps=train_steps, batch_size=512, lr=2e-3, eval_every=250, seed=seed, device="cpu")
    result = fit_world_model(model, buffer, cfg)
    print(f"world model: {len(buffer)} transitions, {train_steps} max steps, metrics "
          f"{ {k: round(float(v), 5) for k, v in result.metrics.items() if 'loss' in k} }")
    return model.eval()


def rollout_cost_fn(model: MLPWorldModel, z0: torch.Tensor, goal: torch.Tensor
                    ) -> Callable[[torch.Tensor], torch.Tensor]:
    """mbrl-lib's objective (to MAXIMISE): ``-mse(s_T, g)`` of ``(N, T, A)`` action sequences."""
    def objective(population: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            final = model.rollout(z0.expand(population.shape[0], -1), population.float())[:, -1]
            return -((final - goal) ** 2).mean(-1)
    return objective


def plan_ours(model, space, horizon: int, z0, goal, seed: int, beta: float) -> torch.Tensor:
    s = SETTINGS
    cfg = ICEMConfig(iterations=s["iterations"], num_samples=s["population"], num_elites=s["elites"],
                     population_decay=s["decay"], beta=beta, keep_elite_frac=s["keep"], alpha=s["alpha"],
                     init_std=0.5, seed=seed)
    return ICEMPlanner(model, space, horizon, cfg).plan(z0[None], goal[None]).actions[0]


def plan_mbrl(icem_cls, model, space, horizon: int, z0, goal, seed: int, beta: float) -> torch.Tensor:
    s = SETTINGS
    torch.manual_seed(seed)  # mbrl-lib samples from torch's global generator
    low, high = np.tile(space.low, (horizon, 1)), np.tile(space.high, (horizon, 1))
    optimizer = icem_cls(num_iterations=s["iterations"], elite_ratio=s["elites"] / s["population"],
                         population_size=s["population"], population_decay_factor=s["decay"],
                         colored_noise_exponent=beta, lower_bound=low.tolist(), upper_bound=high.tolist(),
                         keep_elite_frac=s["keep"], alpha=s["alpha"], device=torch.device("cpu"))
    x0 = torch.as_tensor((low + high) / 2, dtype=torch.float32)  # mbrl's TrajectoryOptimizer start
    return optimizer.optimize(rollout_cost_fn(model, z0, goal), x0=x0)


def run(name: str, plan: Callable[..., torch.Tensor], model, env, tasks, horizon: int, beta: float
        ) -> dict[str, Any]:
    """Plan every task once, execute open loop; success, model success and time per task."""
    success, model_success, wall, cpu = [], [], [], []
    for i, task in enumerate(tasks):
        z0 = torch.as_tensor(task.observation, dtype=torch.float32)
        goal = torch.as_tensor(task.desired_goal, dtype=torch.float32)
        start, cpu_start = time.perf_counter(), time.process_time()
        actions = plan(model, env.action_space, horizon, z0, goal, seed=i, beta=beta)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
        actions = actions.detach().numpy().astype(np.float32)
        assert np.all(np.isfinite(actions)) and np.all(np.abs(actions) <= 1.0 + 1e-6), name
        with torch.no_grad():
            imagined = model.rollout(z0[None], torch.as_tensor(actions)[None])[0].numpy()
        model_success.append(bool(np.any(np.linalg.norm(imagined - task.desired_goal, axis=-1)
                                         <= env.unwrapped.success_threshold)))
        env.reset(seed=task.seed, options=dict(task.options))
        reached = False
        for a in actions:
            _, _, _, _, info = env.step(a)
            reached = reached or bool(info["is_success"])
        success.append(reached)
    return {"name": name, "success": float(np.mean(success)), "model": float(np.mean(model_success)),
            "wall": statistics.median(wall), "cpu": statistics.median(cpu), "wall_mean": float(np.mean(wall))}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=30)
    parser.add_argument("--length", type=int, default=50, help="minimum oracle steps of a task (H)")
    parser.add_argument("--data-steps", type=int, default=40_000)
    parser.add_argument("--train-steps", type=int, default=3000)
    parser.add_argument("--model-cache", type=Path, default=None, help="load/save the trained model here")
    parser.add_argument("--mbrl-site", default=None, help="site-packages holding mbrl-lib (appended)")
    parser.add_argument("--white", action="store_true", help="also run both with white noise (beta=0)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.mbrl_site:
        sys.path.append(args.mbrl_site)
    try:
        import mbrl
        from mbrl.planning import ICEMOptimizer
    except ImportError as err:
        raise SystemExit(f"mbrl-lib is not importable ({err}); pass --mbrl-site (see the module "
                         "docstring)") from err

    if args.model_cache is not None and args.model_cache.exists():
        model = load_world_model(args.model_cache).eval()
        print(f"world model: loaded from {args.model_cache}")
    else:
        torch.manual_seed(0)
        model = train_model(args.data_steps, args.train_steps)
        if args.model_cache is not None:
            save_world_model(model, args.model_cache)
    model.requires_grad_(False)
    env = gym.make(ENV_ID, **ENV_KWARGS)
    horizon = math.ceil(HORIZON_FACTOR * args.length)
    tasks = sample_tasks(env, args.tasks, args.length, horizon, TASK_SEED)

    rows = []
    for beta in (SETTINGS["beta"], 0.0) if args.white else (SETTINGS["beta"],):
        rows.append(run(f"ours ICEMPlanner (beta={beta:g})", plan_ours, model, env, tasks, horizon, beta))
        rows.append(run(f"mbrl-lib {mbrl.__version__} ICEMOptimizer (beta={beta:g})",
                        lambda *a, **k: plan_mbrl(ICEMOptimizer, *a, **k), model, env, tasks, horizon, beta))
    print(f"\nWallDoor open loop: {args.tasks} tasks, oracle >= {args.length} steps, horizon {horizon}, "
          f"torch {torch.__version__}, {args.threads} thread(s); settings {SETTINGS}\n")
    print("| optimizer | success (env) | success (model) | plan time median (s) | mean (s) "
          "| CPU median (s) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['name']} | {r['success']:.0%} | {r['model']:.0%} | {r['wall']:.3f} "
              f"| {r['wall_mean']:.3f} | {r['cpu']:.3f} |")


if __name__ == "__main__":
    main()
