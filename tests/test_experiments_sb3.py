"""Pieces of the SB3 comparison: pinned task options and the success evaluator."""

from __future__ import annotations

import gymnasium as gym
import numpy as np

import grasp_agent  # noqa: F401
from grasp_agent.experiments.sb3_agents import TaskOptionsWrapper, evaluate_policy_success


def test_task_options_are_pinned_on_every_reset():
    env = TaskOptionsWrapper(gym.make("grasp_agent/WallDoor-v0", tasks="any"), {"min_path_length": 25})
    lengths = [env.reset(seed=s)[1]["oracle_path_length"] for s in range(5)]
    assert min(lengths) >= 25
    # explicit options win over the pinned ones
    _, info = env.reset(seed=0, options={"min_path_length": 0, "start": [0.1, 0.1], "goal": [0.2, 0.1]})
    assert info["oracle_path_length"] <= 6
    reward = env.compute_reward(np.zeros(2, np.float32), np.zeros(2, np.float32), {})
    assert float(reward) == 0.0


def test_success_evaluator_distinguishes_good_and_bad_policies():
    env = TaskOptionsWrapper(gym.make("grasp_agent/WallDoor-v0", tasks="any"), {})
    same_side = {"start": [0.1, 0.2], "goal": [0.3, 0.2]}
    pinned = TaskOptionsWrapper(env, same_side)

    def greedy(obs):
        d = obs["desired_goal"] - obs["observation"]
        return (d / max(np.linalg.norm(d), 1e-6)).astype(np.float32)

    def still(obs):
        return np.zeros(2, np.float32)

    ok, ret_ok = evaluate_policy_success(pinned, greedy, [0, 1], max_steps=20)
    bad, ret_bad = evaluate_policy_success(pinned, still, [0, 1], max_steps=20)
    assert ok == 1.0 and bad == 0.0
    assert ret_bad == -20.0 and ret_ok > ret_bad
