"""train_from_env on any env: ids, instances and factories, task heads, reuse, bad input."""

from __future__ import annotations

import io
import json
import logging

import gymnasium as gym
import numpy as np
import pytest
import torch

from grasp_agent.models import load_task_heads
from grasp_agent.safe_io import read_checked
from grasp_agent.training import FitConfig, train_from_env
from tests.test_heads import PointGoalEnv

CFG = FitConfig(max_steps=10, batch_size=16, seq_len=3, eval_every=5, eval_horizon=3, eval_size=32,
                device="cpu", patience=100)
FAST = {"n_steps": 800, "fit_config": CFG, "model_kwargs": {"hidden_sizes": [16]}, "progress": False,
        "heads_kwargs": {"steps": 200, "batch_size": 128, "hidden_sizes": [32]}}


class ClosablePoint(PointGoalEnv):
    def __init__(self) -> None:
        super().__init__()
        self.closed = False

    def close(self) -> None:
        self.closed = True


class Silent(gym.Env):
    """Box observations, zero reward, no goals: there is no task to learn a head for."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)
    action_space = gym.spaces.Box(-1.0, 1.0, (2,), np.float32)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.clip(action, -1, 1).astype(np.float32), 0.0, False, self.t >= 20, {}


def test_an_instance_trains_a_goal_head_and_stays_open(tmp_path):
    env = ClosablePoint()
    out = train_from_env(env, "mlp", num_envs=4, run_dir=tmp_path, **FAST)  # num_envs becomes 1
    assert not env.closed
    assert out.heads is not None and out.heads.heads == ("goal",)  # "auto" on a goal-Dict env
    assert out.result.metrics["val/goal_r2"] > 0.9
    config = json.loads((tmp_path / "config.json").read_text())
    assert (config["env_id"], config["env_type"], config["num_envs"]) == ("ClosablePoint", "instance", 1)
    raw = torch.load(io.BytesIO(read_checked(tmp_path / "model.pt", "model")), weights_only=True)
    assert raw["extra"]["task_heads"]["config"]["goal_dim"] == 2
    loaded = load_task_heads(tmp_path / "model.pt")
    z = torch.randn(4, 4)
    torch.testing.assert_close(loaded.achieved(z), out.heads.achieved(z))


def test_the_state_graph_of_the_data_starts_a_goal_head_agent():
    """``trained.state_graph()`` encodes the collected data; a GRASPAgent on a goal-head
    objective (the goal lives in the achieved-goal space) plans from it through from_env."""
    from grasp_agent.agents import GRASPAgent
    from grasp_agent.planners import GRASPConfig

    out = train_from_env(PointGoalEnv, "mlp", num_envs=2, **FAST)
    graph = out.state_graph(max_nodes=64)
    assert graph.num_nodes == 64 and graph.nodes.shape[1] == out.model.latent_dim and graph.num_edges > 64
    assert torch.equal(out.state_graph(max_nodes=64).nodes, graph.nodes)  # seeded by the run's seed
    env = PointGoalEnv()
    agent = GRASPAgent.from_env(env, out.model, heads=out.heads, horizon=8, state_graph=graph,
                                planner_config=GRASPConfig.preset("graph", iterations=4, sync_every=2))
    assert agent.state_graph is graph and type(agent.objective).__name__ == "GoalInSubspace"
    obs, _ = env.reset(seed=0)
    action, _ = agent.predict(obs)
    assert env.action_space.contains(np.asarray(action, np.float32))
    assert agent.last_plan.info["iterations"] == 4


def test_a_factory_with_a_wrapper_and_explicit_heads():
    out = train_from_env(PointGoalEnv, "mlp", num_envs=2,
                         wrapper_class=lambda e: gym.wrappers.TimeLimit(e, max_episode_steps=25),
                         heads={"goal": True, "reward": True, "termination": True}, **FAST)
    assert out.heads.heads == ("goal", "reward", "termination")
    assert out.buffer.goal_dim == 2 and out.buffer.remaining.max() <= 25  # the wrapper cut episodes
    assert {"val/goal_r2", "val/reward_r2", "val/termination_bce"} <= set(out.result.metrics)


class PixelPoint(gym.ObservationWrapper):
    """PointGoalEnv seen as a 16x16 uint8 image with a dot at the point; achieved_goal stays (x, y)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        image = gym.spaces.Box(0, 255, (16, 16, 3), np.uint8)
        self.observation_space = gym.spaces.Dict({**env.observation_space.spaces, "observation": image})

    def observation(self, obs):
        img = np.zeros((16, 16, 3), np.uint8)
        i, j = np.clip(((obs["achieved_goal"] + 1.0) * 8).astype(int), 0, 15)
        img[i, j] = 255
        return {**obs, "observation": img}


def test_pixel_observations_with_a_vector_goal():
    out = train_from_env(PointGoalEnv, "gru", num_envs=2, wrapper_class=PixelPoint,
                         **{**FAST, "n_steps": 400, "model_kwargs": {"latent_dim": 8}})
    assert out.buffer.obs.dtype == np.uint8 and out.buffer.goal_dim == 2
    assert out.heads.heads == ("goal",) and np.isfinite(out.result.metrics["val/goal_mse"])
    z = out.model.encode(torch.as_tensor(out.buffer.obs[:3]))
    assert out.heads.achieved(z).shape == (3, 2)


def test_an_id_learns_a_reward_head_and_a_finished_run_is_reused(tmp_path, caplog):
    kwargs = {**FAST, "num_envs": 2, "run_dir": tmp_path}
    out = train_from_env(env_id="Pendulum-v1", **kwargs)  # the older keyword still works
    assert out.heads.heads == ("reward",)  # no achieved goals, no terminations
    assert json.loads((tmp_path / "config.json").read_text())["env_type"] == "id"
    with caplog.at_level(logging.INFO, logger="grasp_agent.training.pipeline"):
        again = train_from_env("Pendulum-v1", **kwargs)
    assert f"reusing the trained model in {tmp_path} (pass resume=False to retrain)" in caplog.text
    assert again.result.steps == out.result.steps == CFG.max_steps
    assert again.result.metrics["val/reward_r2"] == out.result.metrics["val/reward_r2"]
    z, a = torch.randn(5, 3), torch.randn(5, 1)
    torch.testing.assert_close(again.heads.reward(z, a, z), out.heads.reward(z, a, z))
    obs = torch.randn(5, 3)
    torch.testing.assert_close(again.model.predict(obs, a), out.model.predict(obs, a))


def test_bad_input_fails_clearly():
    with pytest.raises(TypeError, match="Box observations.*Discrete"):
        train_from_env("FrozenLake-v1", n_steps=10, progress=False)
    with pytest.raises(TypeError, match="returned a int, not a gymnasium.Env"):
        train_from_env(lambda: 42, n_steps=10, progress=False)
    with pytest.raises(TypeError, match="env id .*gymnasium.Env"):
        train_from_env(gym.vector.SyncVectorEnv([Silent]), n_steps=10, progress=False)
    with pytest.raises(TypeError, match="not both"):
        train_from_env("Pendulum-v1", env_id="Pendulum-v1")
    with pytest.raises(ValueError, match="env_kwargs cannot be applied to an env instance"):
        train_from_env(Silent(), env_kwargs={"x": 1}, n_steps=10, progress=False)
    with pytest.raises(ValueError, match="neither achieved goals .* nor rewards"):
        train_from_env(Silent, heads=True, num_envs=1, n_steps=60, progress=False)
    with pytest.raises(ValueError, match="heads must be 'auto', True, False or a dict"):
        train_from_env(Silent, heads={"value": True}, num_envs=1, n_steps=60, progress=False)
    with pytest.raises(ValueError, match="reward head needs rewards"):
        train_from_env(Silent, heads={"reward": True}, num_envs=1, n_steps=60, progress=False)
    # "auto" on an env without a task trains the model and no heads; so it does on an env with
    # image goals (planners encode those) and with a goal-conditioned reward
    out = train_from_env(Silent, num_envs=1, **{**FAST, "n_steps": 100})
    assert out.heads is None
    pixels = train_from_env("grasp_agent/WallDoor-v0", "gru", num_envs=2,
                            env_kwargs={"obs_mode": "pixels", "image_size": 16},
                            **{**FAST, "n_steps": 200, "model_kwargs": {"latent_dim": 8}})
    assert pixels.heads is None and pixels.buffer.goal_dim is None
