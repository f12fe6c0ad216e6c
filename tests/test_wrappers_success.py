"""SuccessInfoWrapper: ``is_success`` from the env's own key, for SB3 callbacks and evaluations."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from grasp_agent.wrappers import SuccessInfoWrapper, success_from_info
from tests.task_envs import PointGoalEnv


class RoboticsStyle(gym.Wrapper):
    """PointGoalEnv reporting success as Gymnasium-Robotics' PointMaze does: ``info["success"]``."""

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {"success": info["is_success"]}

    def compute_reward(self, achieved, desired, info):
        return -(np.linalg.norm(np.asarray(achieved) - desired, axis=-1) >= 0.1).astype(np.float64)


def _run(env, actions):
    obs, _ = env.reset(seed=0)
    infos = []
    for a in actions:
        obs, _, _, _, info = env.step(a)
        infos.append(info)
    return obs, infos


def test_success_key_is_copied_and_matches_the_env():
    env = SuccessInfoWrapper(RoboticsStyle(PointGoalEnv()))
    env.reset(seed=0)
    env.unwrapped.goal = env.unwrapped.state[:2].copy()  # at the goal, then pushed away from it
    flags, truth = [], []
    for _ in range(10):
        _, _, _, _, info = env.step(np.ones(2))
        flags.append(info["is_success"])
        truth.append(info["success"])
    assert flags == truth and flags[0] and not flags[-1]


def test_success_is_derived_from_compute_reward_when_the_env_reports_none():
    class Silent(RoboticsStyle):
        def step(self, action):
            obs, reward, terminated, truncated, _ = super().step(action)
            return obs, reward, terminated, truncated, {}

    env = SuccessInfoWrapper(Silent(PointGoalEnv()))
    obs, infos = _run(env, [np.zeros(2)] * 3)
    far = np.linalg.norm(obs["achieved_goal"] - obs["desired_goal"]) >= 0.1
    assert infos[-1]["is_success"] is (not far)


def test_missing_keys_give_clear_errors():
    class NoInfo(gym.Wrapper):
        def step(self, action):
            obs, reward, terminated, truncated, _ = self.env.step(action)
            return obs, reward, terminated, truncated, {}

    with pytest.raises(ValueError, match="pass key="):
        _run(SuccessInfoWrapper(NoInfo(gym.make("Pendulum-v1"))), [np.zeros(1)])
    with pytest.raises(ValueError, match="no 'done_ok' key"):
        _run(SuccessInfoWrapper(RoboticsStyle(PointGoalEnv()), key="done_ok"), [np.zeros(2)])
    assert success_from_info({"success": np.array(1.0)}) is True and success_from_info({}) is None
