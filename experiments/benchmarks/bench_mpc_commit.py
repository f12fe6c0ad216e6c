"""Does MPC commit to a goal? MountainCarContinuous-v0 with a terminal versus a running goal cost.

With a cost on the final state only, receding-horizon MPC moves the arrival step ``H`` steps away
at every replan and never commits; a running goal cost (the distance charged at every step) or a
shrinking horizon does. This script plans on ``MountainCarContinuous-v0`` with its exact
dynamics written as a world model (so only the planning mode differs), a goal in a subspace
(the car's position, at any velocity: ``GoalInSubspace.from_indices([0])`` with target 0.5),
and counts solved episodes per mode:

    python -m grasp_agent.experiments.benchmarks.bench_mpc_commit [--episodes 10] [--planner cem]

Modes: open loop (plan ``H`` once, execute, plan again), receding MPC with the terminal cost,
receding MPC with the running cost, shrinking-horizon MPC with the terminal cost.
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

import grasp_agent
from grasp_agent.agents import make_agent
from grasp_agent.planners import CEMConfig, GoalInSubspace, GRASPConfig

GOAL_X = 0.5  # the env succeeds at x >= 0.45: aim a little past it


class MountainCarModel(grasp_agent.WorldModel):
    """``MountainCarContinuous-v0``'s dynamics on its observation ``(position, velocity)``."""

    latent_dim, action_dim = 2, 1

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(obs).float().reshape(-1, 2)

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        x, v = z[..., 0], z[..., 1]
        force = a[..., 0].clamp(-1.0, 1.0)
        v = (v + force * 0.0015 - 0.0025 * torch.cos(3 * x)).clamp(-0.07, 0.07)
        x = (x + v).clamp(-1.2, 0.6)
        v = torch.where((x <= -1.2) & (v < 0), torch.zeros_like(v), v)
        return torch.stack([x, v], dim=-1)


MODES = {  # name: (agent kwargs, running cost)
    "open loop, terminal": ({"open_loop": True}, False),
    "receding MPC, terminal": ({"replan_every": 10}, False),
    "receding MPC, running": ({"replan_every": 10}, True),
    "shrinking MPC, terminal": ({"replan_every": 10, "horizon_mode": "shrinking"}, False),
}


def run_mode(planner: str, config: object, horizon: int, kwargs: dict, running: bool, episodes: int,
             max_steps: int) -> tuple[int, float, float]:
    """Solved episodes, median steps of the solved ones and seconds per env step."""
    env = gym.make("MountainCarContinuous-v0", max_episode_steps=max_steps)
    objective = GoalInSubspace.from_indices([0], running=running)
    agent = make_agent(planner, model=MountainCarModel(), action_space=env.action_space, horizon=horizon,
                       planner_config=config, objective=objective, goal=np.array([GOAL_X]), **kwargs)
    solved, lengths, steps_total, start = 0, [], 0, time.perf_counter()
    for ep in range(episodes):
        obs, _ = env.reset(seed=ep)
        agent.reset(seed=ep)
        for t in range(max_steps):
            obs, _, terminated, truncated, _ = env.step(agent.act(obs))
            steps_total += 1
            if terminated:
                solved += 1
                lengths.append(t + 1)
                break
            if truncated:
                break
    env.close()
    median = float(np.median(lengths)) if lengths else float("nan")
    return solved, median, (time.perf_counter() - start) / steps_total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=10)
    parser.add_argument("--planner", choices=["cem", "grasp"], default="cem")
    parser.add_argument("--horizon", type=int, default=120)
    parser.add_argument("--max-steps", type=int, default=400)
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = CEMConfig(iterations=20, num_samples=256, num_elites=32) if args.planner == "cem" else \
        GRASPConfig(iterations=100, sync_every=25, sync_steps=5, keep_best=True)
    print(f"MountainCarContinuous-v0, exact model, {args.planner}, H = {args.horizon}, "
          f"{args.episodes} episodes of at most {args.max_steps} steps\n")
    print("| mode | solved | median steps | s per env step |\n|---|---|---|---|")
    for name, (kwargs, running) in MODES.items():
        solved, steps, per_step = run_mode(args.planner, config, args.horizon, kwargs, running, args.episodes,
                                           args.max_steps)
        print(f"| {name} | {solved}/{args.episodes} | {steps:.0f} | {per_step:.3f} |", flush=True)


if __name__ == "__main__":
    main()
