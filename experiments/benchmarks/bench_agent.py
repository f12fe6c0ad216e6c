"""Agent benchmark: MPC step time at H=50 (GRASP vs CEM) and batched planning throughput.

Runs warm-started MPC agents (replanning every step) on WallDoor state observations with an
``MLPWorldModel`` (256x256, normalisers fitted on random transitions) and prints Markdown tables
of medians. Target from the issue: GRASP <= 50 ms per agent step on 2 CPU cores.

    python -m grasp_agent.experiments.benchmarks.bench_agent [--quick] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import gymnasium as gym
import numpy as np
import torch

import grasp_agent
from grasp_agent.agents import make_agent
from grasp_agent.planners import CEMConfig, GRASPConfig

HORIZON = 50
#: GRASP settings for warm-started MPC: few lifted iterations and one short gradient sync per replan.
GRASP_MPC = GRASPConfig(iterations=20, sync_every=20, sync_steps=2, lr_a=0.05)
CEM_MPC = CEMConfig(iterations=5, num_samples=256, num_elites=32)
AGENTS = {
    "grasp (MPC config)": ("grasp", GRASP_MPC, None),
    "grasp (defaults, 50 ms budget)": ("grasp", GRASPConfig(), 0.05),
    "cem (MPC config)": ("cem", CEM_MPC, None),
    "cem (defaults)": ("cem", CEMConfig(), None),
}


def make_model(seed: int = 0) -> grasp_agent.MLPWorldModel:
    """A WallDoor-sized MLP world model with normalisers fitted on random transitions."""
    torch.manual_seed(seed)
    env = gym.make("grasp_agent/WallDoor-v0", tasks="any")
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    xs, acts, nxt = [], [], []
    for _ in range(500):
        a = rng.uniform(-1, 1, 2).astype(np.float32)
        o2, *_ = env.step(a)
        xs.append(obs["observation"]), acts.append(a), nxt.append(o2["observation"])
        obs = o2
    model = grasp_agent.MLPWorldModel(2, 2, (256, 256))
    model.fit_normalizers(torch.as_tensor(np.stack(xs)), torch.as_tensor(np.stack(acts)),
                          torch.as_tensor(np.stack(nxt)))
    return model.eval()


def step_times(name: str, config, budget, model, steps: int) -> list[float]:
    """Per-step wall times (s) of one warm-started MPC agent acting in WallDoor."""
    env = gym.make("grasp_agent/WallDoor-v0", tasks="any")
    agent = make_agent(name, env=env, model=model, horizon=HORIZON, replan_every=1, planner_config=config,
                       time_budget_s=budget)
    obs, _ = env.reset(seed=0)
    agent.reset(seed=0)
    agent.act(obs)   # first (cold) plan excluded: the target is about warm-started steps
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        action = agent.act(obs)
        times.append(time.perf_counter() - start)
        obs, *_ = env.step(action)
    return times


def batched_throughput(model, batch: int, repeats: int) -> tuple[float, float]:
    """Median seconds per batched GRASP ``predict`` over ``batch`` envs, and env-steps per second."""
    env = gym.make("grasp_agent/WallDoor-v0", tasks="any")
    agent = make_agent("grasp", env=env, model=model, horizon=HORIZON, replan_every=1,
                       planner_config=GRASP_MPC)
    rng = np.random.default_rng(0)
    obs = {"observation": rng.uniform(0, 0.4, (batch, 2)).astype(np.float32),
           "desired_goal": rng.uniform(0.6, 1, (batch, 2)).astype(np.float32)}
    _, state = agent.predict(obs, episode_start=np.ones(batch, bool))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        _, state = agent.predict(obs, state=state)
        times.append(time.perf_counter() - start)
    med = statistics.median(times)
    return med, batch / med


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and repeats")
    parser.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    steps, repeats = (5, 3) if args.quick else (25, 10)
    model = make_model()
    print(f"## MPC step time, H={HORIZON}, replan every step, warm start ({args.threads} threads, "
          f"median of {steps} steps)\n")
    print("| agent | median ms/step | p90 ms/step | <= 50 ms |")
    print("|---|---|---|---|")
    for label, (name, config, budget) in AGENTS.items():
        t = sorted(step_times(name, config, budget, model, steps))
        med, p90 = statistics.median(t) * 1e3, t[int(0.9 * (len(t) - 1))] * 1e3
        print(f"| {label} | {med:.1f} | {p90:.1f} | {'yes' if med <= 50 else 'no'} |")
    print(f"\n## Batched GRASP planning (MPC config, H={HORIZON}, one planner call per step)\n")
    print("| envs | median ms per batched step | env-steps/s |")
    print("|---|---|---|")
    for batch in (1, 8, 32):
        med, rate = batched_throughput(model, batch, repeats)
        print(f"| {batch} | {med * 1e3:.1f} | {rate:.0f} |")


if __name__ == "__main__":
    main()
