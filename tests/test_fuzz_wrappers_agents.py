"""Fuzz: wrappers built around envs that do not fit, and agents' predict given wrong observations.

A wrapper must refuse an env it cannot serve when it is built (naming the entry and the shapes),
not fail with a numpy error at reset; ``predict`` must name the expected observation layout.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import SAC

from grasp_agent import GoalDirectedAgent, MLPWorldModel, RandomAgent, SB3Agent
from grasp_agent.agents import GRASPAgent
from grasp_agent.wrappers import DiscreteToBoxWrapper, LatentGoalWrapper


class GoalEnv(gym.Env):
    """A goal env with chosen entry spaces (only what the wrappers read)."""

    def __init__(self, obs: spaces.Space, achieved: spaces.Space, desired: spaces.Space,
                 threshold: Any = 0.05) -> None:
        self.observation_space = spaces.Dict({"observation": obs, "achieved_goal": achieved,
                                              "desired_goal": desired})
        self.action_space = spaces.Box(-1, 1, (2,), np.float32)
        self.success_threshold = threshold

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action):
        return self.observation_space.sample(), 0.0, False, False, {}


BOX2 = spaces.Box(-1, 1, (2,), np.float32)
BOX3 = spaces.Box(-1, 1, (3,), np.float32)
IMG = spaces.Box(0, 255, (8, 8, 3), np.uint8)
IDENTITY = MLPWorldModel(2, 2, (8,))

LATENT_CASES = [
    # (env, encoder, kwargs, error, words)
    (GoalEnv(BOX2, BOX3, BOX3), IDENTITY, {}, ValueError, r"one shape and dtype.*\(3,\)"),
    (GoalEnv(BOX2, BOX2, BOX3), IDENTITY, {}, ValueError, "desired_goal"),
    (GoalEnv(BOX2, BOX2, spaces.Box(-1, 1, (2,), np.float64)), IDENTITY, {}, ValueError, "float64"),
    (GoalEnv(IMG, BOX2, BOX2), IDENTITY, {}, ValueError, "one shape"),
    (GoalEnv(BOX2, spaces.Discrete(3), BOX2), IDENTITY, {}, TypeError, "achieved_goal.*not Box"),
    (GoalEnv(BOX3, BOX3, BOX3), IDENTITY, {}, ValueError, r"cannot encode.*\(1, 3\).*shape \(3,\)"),
    (GoalEnv(IMG, IMG, IMG), IDENTITY, {}, ValueError, "cannot encode"),
    (GoalEnv(BOX2, BOX2, BOX2), lambda x: x.numpy(), {}, ValueError, "must return a torch.Tensor"),
    (GoalEnv(BOX2, BOX2, BOX2), lambda x: x[0], {}, ValueError, r"\(B, D\)"),
    (GoalEnv(BOX2, BOX2, BOX2), lambda x: x[:, :0], {}, ValueError, "D >= 1"),
    (GoalEnv(BOX2, BOX2, BOX2), lambda x: 1 / 0, {}, ValueError, "ZeroDivisionError"),
    (GoalEnv(BOX2, BOX2, BOX2), "not callable", {}, TypeError, "callable"),
    (GoalEnv(BOX2, BOX2, BOX2), IDENTITY, {"success_threshold": float("nan")}, ValueError, "finite and > 0"),
    (GoalEnv(BOX2, BOX2, BOX2), IDENTITY, {"success_threshold": float("inf")}, ValueError, "finite and > 0"),
    (GoalEnv(BOX2, BOX2, BOX2), IDENTITY, {"success_threshold": -1}, ValueError, "finite and > 0"),
    (GoalEnv(BOX2, BOX2, BOX2), IDENTITY, {"success_threshold": "0.1"}, TypeError, "must be a number"),
    (GoalEnv(BOX2, BOX2, BOX2), IDENTITY, {"success_threshold": True}, TypeError, "must be a number"),
    (GoalEnv(BOX2, BOX2, BOX2, threshold=None), IDENTITY, {}, TypeError, "pass success_threshold"),
    (GoalEnv(BOX2, BOX2, BOX2), IDENTITY, {"success_source": "oracle"}, ValueError, "success_source"),
    (GoalEnv(BOX2, BOX2, BOX2), IDENTITY, {"device": "tpu"}, ValueError, "unknown device"),
]


@pytest.mark.parametrize("case", range(len(LATENT_CASES)))
def test_latent_goal_wrapper_refuses_envs_that_do_not_fit_when_built(case):
    env, encoder, kwargs, error, words = LATENT_CASES[case]
    with pytest.raises(error, match=words):
        LatentGoalWrapper(env, encoder, **kwargs)


def test_latent_goal_wrapper_refuses_non_goal_envs():
    with pytest.raises(TypeError, match="Dict observation space"):
        LatentGoalWrapper(gym.make("CartPole-v1"), IDENTITY)
    env = GoalEnv(BOX2, BOX2, BOX2)
    env.observation_space = spaces.Dict({"observation": BOX2, "desired_goal": BOX2})
    with pytest.raises(TypeError, match=r"lacks \['achieved_goal'\]"):
        LatentGoalWrapper(env, IDENTITY)


def test_a_fitting_env_resets_and_steps():
    wrapped = LatentGoalWrapper(GoalEnv(BOX2, BOX2, BOX2), IDENTITY)
    obs, _ = wrapped.reset(seed=0)
    assert obs["observation"].shape == (2,)
    wrapped.step(np.zeros(2, np.float32))


class Discrete5(gym.Env):
    action_space = spaces.Discrete(5, start=2)
    observation_space = spaces.Box(0, 1, (1,), np.float32)

    def reset(self, *, seed=None, options=None):
        return np.zeros(1, np.float32), {}

    def step(self, action):
        return np.zeros(1, np.float32), 0.0, False, False, {}


DISCRETE_CASES = [
    (lambda w: w.action(np.zeros(4)), ValueError, r"5 scores, shape \(5,\)"),
    (lambda w: w.action(np.zeros((1, 5))), ValueError, r"shape \(5,\)"),
    (lambda w: w.action(np.full(5, np.nan)), ValueError, "finite"),
    (lambda w: w.action(0.3), ValueError, "5 scores"),
    (lambda w: w.action(["a"] * 5), ValueError, "could not convert|5 scores"),
    (lambda w: w.reverse_action(7), ValueError, r"in \[2, 7\)"),
    (lambda w: w.reverse_action(1), ValueError, r"in \[2, 7\)"),
    (lambda w: w.reverse_action(2.7), TypeError, "one integer"),
    (lambda w: w.reverse_action("3"), TypeError, "one integer"),
    (lambda w: w.reverse_action([2, 3]), TypeError, "one integer"),
]


@pytest.mark.parametrize("case", range(len(DISCRETE_CASES)))
def test_discrete_to_box_names_the_bad_action(case):
    call, error, words = DISCRETE_CASES[case]
    with pytest.raises(error, match=words):
        call(DiscreteToBoxWrapper(Discrete5()))


def test_discrete_to_box_refuses_other_spaces():
    with pytest.raises(TypeError, match="needs a Discrete action space, got Box"):
        DiscreteToBoxWrapper(gym.make("grasp_agent/WallDoor-v0"))


def _walldoor():
    return gym.make("grasp_agent/WallDoor-v0")


AGENTS = {
    "random": lambda env: RandomAgent(env.action_space, env.observation_space, seed=0),
    "goal_directed": lambda env: GoalDirectedAgent(env.action_space, env.observation_space, seed=0),
    "grasp": lambda env: GRASPAgent.from_env(env, MLPWorldModel(2, 2, (8,)), horizon=3),
    "sb3": lambda env: SB3Agent(SAC("MultiInputPolicy", env, learning_starts=0, buffer_size=100,
                                    policy_kwargs={"net_arch": [8]}, seed=0)),
}


GOOD = {"observation": np.zeros(2, np.float32), "achieved_goal": np.zeros(2, np.float32),
        "desired_goal": np.ones(2, np.float32)}
PREDICT_CASES = [
    ({**GOOD, "observation": np.zeros(3, np.float32)}, r"\(3,\).*\(2,\)|Unexpected observation shape"),
    ({**GOOD, "observation": np.zeros((4, 3), np.float32)}, r"\(4, 3\)|Unexpected observation shape"),
    ({**GOOD, "observation": np.zeros((2, 2, 2), np.float32)}, r"\(2, 2, 2\)|Unexpected observation shape"),
    ({"observation": np.zeros(2, np.float32)}, "achieved_goal|desired_goal"),
    ({"achieved_goal": np.zeros(2), "desired_goal": np.zeros(2)}, "observation"),
    (np.zeros(2, np.float32), "dict|Dict|no .desired_goal"),
    ([0.0, 0.0], "dict|Dict|no .desired_goal"),
    ({**GOOD, "desired_goal": np.zeros(5, np.float32)}, r"desired_goal.*\(5,\)|Unexpected observation shape"),
]


@pytest.mark.parametrize("case", range(len(PREDICT_CASES)))
@pytest.mark.parametrize("name", ["random", "goal_directed", "grasp", "sb3"])
def test_predict_with_wrong_observations_names_the_expected_layout(name, case):
    torch.manual_seed(0)
    agent = AGENTS[name](_walldoor())
    observation, words = PREDICT_CASES[case]
    with pytest.raises((ValueError, TypeError), match=words):
        agent.predict(observation)
    action, _ = agent.predict(GOOD)  # still works afterwards
    assert np.shape(action) == (2,)
