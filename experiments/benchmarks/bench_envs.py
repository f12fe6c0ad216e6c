"""Environment throughput and task difficulty: steps per second and oracle path lengths.

    python -m grasp_agent.experiments.benchmarks.bench_envs [--quick] [--resets 50] [--seed 0] \
        [--envs WallDoor,MiniGrid]

Table 1: env steps per second with uniformly random actions on the unwrapped env (no
TimeLimit/checker wrappers), median over repeats, per env and observation mode; a reset is
done whenever an episode terminates. Table 2: for ``min_path_length`` in {0, 25, 50, 75, 100},
min / median / max of ``info["oracle_path_length"]`` over ``--resets`` resets and the median
reset time, or the env's own reason when that difficulty is infeasible. Envs whose optional
dependency is missing are listed as skipped.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import statistics
import sys
import time
from collections.abc import Callable

import gymnasium as gym
import numpy as np

import grasp_agent  # noqa: F401  (registers the environment ids)

DIFFICULTIES = (0, 25, 50, 75, 100)

# label -> (env id, kwargs)
ENVS: dict[str, tuple[str, dict]] = {
    "WallDoor": ("grasp_agent/WallDoor-v0", {}),
    "MiniGrid four_rooms": ("grasp_agent/MiniGridGoal-v0", {"layout": "four_rooms"}),
    "MiniGrid snake_rooms": ("grasp_agent/MiniGridGoal-v0", {"layout": "snake_rooms"}),
    "PointMaze umaze": ("grasp_agent/PointMaze-v0", {"layout": "umaze"}),
    "PointMaze large": ("grasp_agent/PointMaze-v0", {"layout": "large"}),
    "Reacher": ("grasp_agent/Reacher-v0", {}),
    "PushBlock": ("grasp_agent/PushBlock-v0", {}),
}


@contextlib.contextmanager
def quiet_stdout():
    """Silence C-level stdout (pybullet prints ``argv[0]=`` on connect) so the tables stay clean."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
        try:
            yield
        finally:
            os.dup2(saved, 1)
            os.close(saved)


def make(env_id: str, kwargs: dict, mode: str) -> gym.Env:
    """The unwrapped env in ``mode``."""
    with quiet_stdout():
        return gym.make(env_id, obs_mode=mode, **kwargs).unwrapped


def steps_per_second(factory: Callable[[], gym.Env], steps: int, repeats: int, seed: int) -> float:
    """Median over ``repeats`` of random-action steps per second (resets on termination)."""
    rates = []
    for r in range(repeats):
        env = factory()
        env.reset(seed=seed + r)
        env.action_space.seed(seed + r)
        actions = [env.action_space.sample() for _ in range(steps)]
        start = time.perf_counter()
        for action in actions:
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        rates.append(steps / (time.perf_counter() - start))
        env.close()
    return statistics.median(rates)


def path_lengths(env: gym.Env, min_len: int, resets: int, seed: int) -> str:
    """Markdown cells ``min | median | max | reset ms`` of oracle lengths, or the reason it fails."""
    lengths, times = [], []
    try:
        for i in range(resets):
            start = time.perf_counter()
            _, info = env.reset(seed=seed + i, options={"min_path_length": min_len})
            times.append(time.perf_counter() - start)
            lengths.append(info["oracle_path_length"])
    except ValueError as err:
        reason = str(err).split(";")[0]
        return f"- | - | - | - (infeasible: {reason[:90]})"
    return (f"{min(lengths)} | {int(np.median(lengths))} | {max(lengths)} | "
            f"{1e3 * statistics.median(times):.2f}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps, repeats and resets")
    parser.add_argument("--resets", type=int, default=50, help="resets per difficulty")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--envs", default="", help="comma-separated label prefixes to run (default: all)")
    args = parser.parse_args(argv)
    repeats = 2 if args.quick else 5
    resets = min(args.resets, 10) if args.quick else args.resets

    available: dict[str, tuple[str, dict]] = {}
    prefixes = tuple(p.strip() for p in args.envs.split(",") if p.strip())
    for label, (env_id, kwargs) in ENVS.items():
        if prefixes and not label.startswith(prefixes):
            continue
        try:
            make(env_id, kwargs, "state").close()
            available[label] = (env_id, kwargs)
        except ImportError as err:
            print(f"- skipped {label}: {err}")

    print("## Env steps per second (random actions, unwrapped env, median of "
          f"{repeats} repeats)\n")
    print("| env | state | pixels |")
    print("|---|---:|---:|")
    for label, (env_id, kwargs) in available.items():
        cells = []
        for mode in ("state", "pixels"):
            fast = label.startswith(("WallDoor", "MiniGrid")) and mode == "state"
            steps = (2000 if args.quick else 20000) if fast else (200 if args.quick else 1000)
            rate = steps_per_second(functools.partial(make, env_id, kwargs, mode), steps, repeats, args.seed)
            cells.append(f"{rate:,.0f}")
        print(f"| {label} | {cells[0]} | {cells[1]} |")

    print(f"\n## Oracle path length (steps) by min_path_length, {resets} resets each\n")
    print("| env | min_path_length | min | median | max | reset ms |")
    print("|---|---:|---:|---:|---:|---:|")
    for label, (env_id, kwargs) in available.items():
        env = make(env_id, kwargs, "state")
        for min_len in DIFFICULTIES:
            print(f"| {label} | {min_len} | {path_lengths(env, min_len, resets, args.seed)} |")
        env.close()


if __name__ == "__main__":
    main()
