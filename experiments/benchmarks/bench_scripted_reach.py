"""Can a task be solved within its plan at all? The env's scripted policy on the true physics.

A horizon-sweep cell gives every task a plan of ``ceil(horizon_factor * H)`` steps, where ``H``
is the env's oracle lower bound. For tasks whose oracle ignores part of the job (PushBlock's
walk around the block and its turn) that plan may be too short for any controller. This
script runs the env's scripted policy (``SCRIPTED_POLICIES``, noise-free) on the sweep's
tasks of one env of a config and prints, per task, the step at which the env first reports
success (or ``-`` within ``--max-steps``), and how many tasks it solves within the plan:

    python -m grasp_agent.experiments.benchmarks.bench_scripted_reach pushblock_data \\
        [--env NAME] [--horizon 45] [--tasks 20] [--max-steps 400]

Tasks are the sweep's (from ``horizon_sweep.sweep_task_seed``, as the sweep samples them).
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

import gymnasium as gym

from grasp_agent.experiments.config import load_config
from grasp_agent.experiments.evaluation import sample_tasks
from grasp_agent.experiments.horizon_sweep import planning_horizon, sweep_task_seed
from grasp_agent.experiments.pipeline import SCRIPTED_POLICIES, make_env


def steps_to_success(env: gym.Env, policy: Any, task: Any, max_steps: int) -> int | None:
    """Steps until ``env`` first reports ``is_success`` from ``task`` under ``policy`` (None: not
    within ``max_steps``)."""
    obs, info = env.reset(seed=task.seed, options=task.options)
    if info.get("is_success", False):
        return 0
    policy.reset()
    for step in range(max_steps):
        action, _ = policy.predict(obs, deterministic=True)
        obs, _, terminated, truncated, info = env.step(action)
        if info.get("is_success", False):
            return step + 1
        if terminated or truncated:
            return None
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="a horizon-sweep config (name or path)")
    parser.add_argument("--env", default=None, help="an env of the config (default: its first)")
    parser.add_argument("--horizon", type=int, default=25, help="task length H")
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--max-steps", type=int, default=400)
    args = parser.parse_args()
    cfg = load_config(args.config)
    name = args.env or next(iter(cfg.envs))
    if name not in cfg.envs:
        parser.error(f"the config has envs {sorted(cfg.envs)}")
    if args.tasks < 1 or args.max_steps < 1 or args.horizon < 1:
        parser.error("--tasks, --max-steps and --horizon must be >= 1")
    env = make_env(cfg.envs[name].env)
    kind = type(env.unwrapped).__name__
    if kind not in SCRIPTED_POLICIES:
        env.close()
        parser.error(f"{kind} has no scripted policy (there are for {sorted(SCRIPTED_POLICIES)})")
    policy = SCRIPTED_POLICIES[kind](env, noise=0.0, seed=0)
    plan = planning_horizon(args.horizon, cfg.horizon_factor)
    tasks = sample_tasks(env, args.tasks, args.horizon, plan, sweep_task_seed(cfg.task_seed, args.horizon))
    steps = [steps_to_success(env, policy, task, args.max_steps) for task in tasks]
    env.close()
    solved = [s for s in steps if s is not None]
    print(f"{name}, H = {args.horizon} (plan of {plan} steps), {len(tasks)} sweep tasks, scripted policy, "
          f"{args.max_steps} steps allowed\n")
    print("| task seed | oracle H | steps to success |")
    print("|---|---|---|")
    for task, s in zip(tasks, steps):
        print(f"| {task.seed} | {task.oracle_path_length} | {'-' if s is None else s} |")
    median = statistics.median(solved) if solved else float("nan")
    print(f"\nsolved within the plan ({plan} steps): {sum(s <= plan for s in solved)} of {len(tasks)}; "
          f"within {args.max_steps}: {len(solved)} (median {median:g} steps)")


if __name__ == "__main__":
    main()
