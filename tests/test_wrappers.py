"""LatentGoalWrapper and DiscreteToBoxWrapper against echo envs and the real envs."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

from grasp_agent.envs.minigrid_goal import MiniGridGoalEnv
from grasp_agent.envs.wall_door import WallDoorEnv
from grasp_agent.models import MLPWorldModel
from grasp_agent.wrappers import DiscreteToBoxWrapper, LatentGoalWrapper


class EchoGoalEnv(gym.Env):
    """Goal env whose observation echoes the last action; records every action it receives."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        box = spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.observation_space = spaces.Dict({"observation": box, "achieved_goal": box, "desired_goal": box})
        self.action_space = spaces.Box(-1.0, 1.0, (3,), np.float32)
        self.received: list[np.ndarray] = []
        self.goal = np.zeros(3, np.float32)
        self.last = np.zeros(3, np.float32)

    def compute_reward(self, achieved: Any, desired: Any, info: Any) -> np.ndarray:
        close = np.linalg.norm(np.asarray(achieved) - np.asarray(desired), axis=-1) < 0.1
        return np.where(close, 0.0, -1.0).astype(np.float32)

    def _obs(self) -> dict[str, np.ndarray]:
        return {"observation": self.last.copy(), "achieved_goal": self.last.copy(),
                "desired_goal": self.goal.copy()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.goal = self.np_random.uniform(-1, 1, 3).astype(np.float32)
        self.last = np.zeros(3, np.float32)
        return self._obs(), {"is_success": False}

    def step(self, action):
        self.received.append(np.array(action))
        self.last = np.clip(np.asarray(action, np.float32), -1, 1)
        obs = self._obs()
        reward = float(self.compute_reward(obs["achieved_goal"], obs["desired_goal"], None))
        return obs, reward, False, False, {"is_success": reward == 0.0}


class EchoDiscreteEnv(gym.Env):
    """Discrete-action env that reports the last action it received as its observation."""

    def __init__(self, n: int = 5, start: int = 0) -> None:
        self.action_space = spaces.Discrete(n, start=start)
        self.observation_space = spaces.Box(-100, 100, (1,), np.float32)
        self.received: list[int] = []

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        return np.zeros(1, np.float32), {}

    def step(self, action):
        assert self.action_space.contains(action)
        self.received.append(int(action))
        return np.array([action], np.float32), 0.0, False, False, {}


class CountingEncoder:
    """Callable encoder ``x -> [2x, sum(x)]`` that records the batch sizes it was called with."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        self.batches.append(x.shape[0])
        x = x.float()
        return torch.cat([2 * x, x.sum(-1, keepdim=True)], dim=-1)


def test_latent_wrapper_encodes_and_caches_goal() -> None:
    enc = CountingEncoder()
    env = LatentGoalWrapper(EchoGoalEnv(), enc, success_threshold=0.2, device="cpu")
    assert env.observation_space["observation"] == spaces.Box(-np.inf, np.inf, (4,), np.float32)
    enc.batches.clear()
    obs, info = env.reset(seed=0)
    goal = env.unwrapped.goal
    np.testing.assert_allclose(obs["desired_goal"], [*(2 * goal), goal.sum()], rtol=1e-6)
    np.testing.assert_array_equal(obs["observation"], np.zeros(4, np.float32))
    assert obs["observation"].dtype == np.float32
    action = np.array([0.5, -0.25, 0.1], np.float32)
    for _ in range(3):
        obs, reward, _, _, info = env.step(action)
    assert enc.batches == [2, 1, 1, 1]  # obs + goal at reset, then one observation per step
    np.testing.assert_allclose(obs["observation"], [1.0, -0.5, 0.2, 0.35], rtol=1e-6)
    np.testing.assert_array_equal(obs["achieved_goal"], obs["observation"])
    np.testing.assert_array_equal(env.unwrapped.received[-1], action)
    assert reward == float(env.compute_reward(obs["achieved_goal"], obs["desired_goal"], info))
    assert "env_is_success" in info and "env_reward" in info


def test_latent_reward_is_vectorised_and_thresholded() -> None:
    env = LatentGoalWrapper(EchoGoalEnv(), CountingEncoder(), success_threshold=0.5, device="cpu")
    a = np.zeros((4, 6, 4), np.float32)
    d = np.zeros((4, 6, 4), np.float32)
    d[..., 0] = np.linspace(0, 1, 6)
    r = env.compute_reward(a, d, None)
    assert r.shape == (4, 6) and r.dtype == np.float32
    np.testing.assert_array_equal(r[0], np.where(np.linspace(0, 1, 6) <= 0.5, 0.0, -1.0))
    assert env.is_success(a[0, 0], d[0, 0]) and not env.is_success(a[0, -1], d[0, -1])


def test_latent_success_source_and_env_flag() -> None:
    env = LatentGoalWrapper(EchoGoalEnv(), lambda x: torch.zeros(x.shape[0], 2), success_threshold=0.1,
                            device="cpu", success_source="env")
    env.reset(seed=0)
    _, reward, _, _, info = env.step(np.zeros(3, np.float32))
    assert reward == 0.0 and info["latent_is_success"]  # constant encoder: always latent success
    assert info["is_success"] is False and info["env_is_success"] is False


def test_latent_wrapper_rejects_bad_inputs() -> None:
    with pytest.raises(TypeError, match="Dict observation space"):
        LatentGoalWrapper(EchoDiscreteEnv(), CountingEncoder(), success_threshold=0.1)
    partial = EchoGoalEnv()
    partial.observation_space = spaces.Dict({"observation": partial.observation_space["observation"]})
    with pytest.raises(TypeError, match="lacks"):
        LatentGoalWrapper(partial, CountingEncoder(), success_threshold=0.1)
    with pytest.raises(TypeError, match="callable"):
        LatentGoalWrapper(EchoGoalEnv(), "encoder", success_threshold=0.1)
    with pytest.raises(ValueError, match=r"\(B, D\)"):
        LatentGoalWrapper(EchoGoalEnv(), lambda x: x.sum(-1), success_threshold=0.1, device="cpu")
    with pytest.raises(TypeError, match="success_threshold"):
        LatentGoalWrapper(EchoGoalEnv(), CountingEncoder(), device="cpu")


def test_latent_wrapper_on_walldoor_with_world_model_passes_checkers() -> None:
    model = MLPWorldModel(obs_dim=2, action_dim=2, hidden_sizes=(16,))
    model.train()
    env = LatentGoalWrapper(WallDoorEnv(), model, device="cpu")
    assert not model.training and env.success_threshold == 0.05
    check_env(env)
    sb3_check_env(env)
    obs, info = env.reset(seed=1)
    np.testing.assert_array_equal(obs["observation"], env.unwrapped._observation()["observation"])
    assert info["oracle_path_length"] > 0  # inner info passes through


def test_latent_wrapper_on_pixels_with_module_encoder() -> None:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64 * 64 * 3, 8))
    encoder = lambda x: net(x.float() / 255.0)  # noqa: E731
    env = LatentGoalWrapper(WallDoorEnv(obs_mode="pixels"), encoder, success_threshold=1e-3, device="cpu")
    sb3_check_env(env)
    obs, _ = env.reset(seed=0, options={"start": [0.2, 0.2], "goal": [0.8, 0.2]})
    assert obs["observation"].shape == (8,)
    raw = env.unwrapped.renderer.draw((0.8, 0.2))
    np.testing.assert_allclose(obs["desired_goal"], env.encode(raw), rtol=1e-5)
    assert env.encode(np.stack([raw, raw])).shape == (2, 8)


@pytest.mark.slow
def test_sac_her_runs_on_latent_walldoor() -> None:
    from stable_baselines3 import SAC, HerReplayBuffer

    env = gym.wrappers.TimeLimit(
        LatentGoalWrapper(WallDoorEnv(max_step=0.05), MLPWorldModel(2, 2, hidden_sizes=(16,)), device="cpu"),
        max_episode_steps=40)
    model = SAC("MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer,
                replay_buffer_kwargs={"n_sampled_goal": 4, "goal_selection_strategy": "future"},
                learning_starts=100, batch_size=32, policy_kwargs={"net_arch": [32, 32]}, seed=0,
                device="cpu", verbose=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: extra threads only add contention
    try:
        model.learn(300)
    finally:
        torch.set_num_threads(threads)
    assert model.num_timesteps == 300
    buffer = model.replay_buffer
    assert buffer.size() > 0
    sample = buffer.sample(64)
    # Relabelled rewards must agree with the latent compute_reward of the stored goals.
    expected = env.unwrapped.compute_reward(sample.next_observations["achieved_goal"].cpu().numpy(),
                                            sample.observations["desired_goal"].cpu().numpy(), None)
    np.testing.assert_array_equal(sample.rewards.cpu().numpy().ravel(), expected.ravel())
    assert (expected == 0.0).any()  # "future" relabelling yields some successes


@pytest.mark.parametrize("start", [0, 3])
def test_discrete_to_box_argmax_echo(start: int) -> None:
    inner = EchoDiscreteEnv(n=5, start=start)
    env = DiscreteToBoxWrapper(inner)
    assert env.action_space == spaces.Box(-1.0, 1.0, (5,), np.float32)
    env.reset(seed=0)
    for scores, expected in [([0.1, 0.9, -1, 0, 0], 1), ([-1, -1, -1, -1, -0.5], 4),
                             ([0.3, 0.3, 0.3, 0.3, 0.3], 0)]:
        obs, *_ = env.step(np.array(scores, np.float32))
        assert inner.received[-1] == start + expected and obs[0] == start + expected
    for a in range(start, start + 5):
        assert env.action(env.reverse_action(a)) == a
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(4))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan, 0, 0, 0, 0]))
    with pytest.raises(TypeError, match="Discrete action space"):
        DiscreteToBoxWrapper(WallDoorEnv())


def test_discrete_to_box_on_minigrid() -> None:
    env = DiscreteToBoxWrapper(MiniGridGoalEnv())
    check_env(env)
    sb3_check_env(env)
    env.reset(options={"start": (1, 1), "goal": (5, 5)})
    obs, _, _, _, info = env.step(np.array([0.9, -1, -1, -1], np.float32))  # right
    assert tuple(env.unwrapped.goal_features(obs["observation"])) == (2, 1)
