"""Tests for the pybullet goal environments: PointMaze, Reacher, PushBlock."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pybullet
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import grasp_agent  # noqa: F401  (registers the env ids)
from grasp_agent.envs.point_maze import PointMazeEnv
from grasp_agent.envs.push_block import PushBlockEnv
from grasp_agent.envs.reacher import ReacherEnv

FACTORIES = {
    "maze-umaze": lambda **kw: PointMazeEnv(layout="umaze", **kw),
    "maze-large": lambda **kw: PointMazeEnv(layout="large", **kw),
    "reacher": lambda **kw: ReacherEnv(**kw),
    "push-box": lambda **kw: PushBlockEnv(shape="box", **kw),
    "push-T": lambda **kw: PushBlockEnv(shape="T", **kw),
}

VELOCITY_DIMS = {"maze": [2, 3], "reacher": [4, 5], "push": [2, 3, 8, 9, 10]}


@pytest.fixture
def make():
    """Factory fixture that closes every env it made."""
    made = []

    def _make(name: str, **kwargs):
        env = FACTORIES[name](**kwargs)
        made.append(env)
        return env

    yield _make
    for env in made:
        env.close()


def rollout(env, seed: int, n: int = 30) -> np.ndarray:
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    out = [obs["observation"]]
    for _ in range(n):
        obs, *_ = env.step(rng.uniform(-1, 1, 2))
        out.append(obs["observation"])
    return np.stack(out)


@pytest.mark.parametrize("name", sorted(FACTORIES))
@pytest.mark.parametrize("mode", ["state", "pixels"])
def test_env_checkers_pass(make, name, mode):
    env = make(name, obs_mode=mode)
    gym_check_env(env, skip_render_check=True)
    sb3_check_env(env, warn=False)
    obs, info = env.reset(seed=0)
    space = env.observation_space
    for key in ("observation", "achieved_goal", "desired_goal"):
        assert space[key] == space["observation"] and space[key].contains(obs[key])
    if mode == "pixels":
        assert obs["observation"].shape == (64, 64, 3) and obs["observation"].dtype == np.uint8
        assert not np.array_equal(obs["observation"], obs["desired_goal"]), "goal image equals start image"
    else:
        vel_dims = VELOCITY_DIMS[name.split("-")[0]]
        assert np.all(obs["desired_goal"][vel_dims] == 0), "desired_goal must have zero velocities"
        assert not np.array_equal(obs["observation"], obs["desired_goal"])
    assert set(info) >= {"is_success", "oracle_path_length", "touches_obstacle"}
    assert isinstance(info["oracle_path_length"], int) and info["oracle_path_length"] > 0


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_same_seed_same_rollout_even_after_other_episodes(make, name):
    a, b = make(name), make(name)
    first = rollout(a, seed=3)
    rollout(b, seed=11)  # a different episode in between must not leak into the next one
    second = rollout(b, seed=3)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, rollout(a, seed=4))


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_compute_reward_vectorised_and_consistent(make, name):
    env = make(name)
    obs, info = env.reset(seed=1)
    ach = np.stack([obs["achieved_goal"], obs["desired_goal"]])
    des = np.stack([obs["desired_goal"], obs["desired_goal"]])
    rewards = env.compute_reward(ach, des, np.array([info, info]))
    assert rewards.shape == (2,) and rewards.dtype == np.float32
    np.testing.assert_array_equal(rewards, [-1.0, 0.0])
    assert env.goal_distance(ach, des).shape == (2,)
    _, reward, _, _, info = env.step(np.zeros(2))
    assert reward == (0.0 if info["is_success"] else -1.0)


@pytest.mark.parametrize("name", ["maze-umaze", "reacher", "push-T"])
def test_pixel_reward_judges_the_goal_image(make, name):
    env = make(name, obs_mode="pixels")
    obs, info = env.reset(seed=2)
    assert env.compute_reward(obs["desired_goal"], obs["desired_goal"], info) == 0.0
    assert env.compute_reward(obs["achieved_goal"], obs["desired_goal"], info) == -1.0
    batch = env.compute_reward(np.stack([obs["achieved_goal"], obs["desired_goal"]]),
                               np.stack([obs["desired_goal"]] * 2), np.array([info, info]))
    np.testing.assert_array_equal(batch, [-1.0, 0.0])


def test_close_is_idempotent_and_frees_servers():
    ids = []
    for i in range(50):
        env = FACTORIES[sorted(FACTORIES)[i % len(FACTORIES)]]()
        env.reset(seed=i)
        cid = env.client._client
        ids.append(cid)
        env.close()
        env.close()
        assert not pybullet.isConnected(physicsClientId=cid)
    # closed servers give their ids back: 50 make/close cycles reuse a handful of ids
    assert max(ids) < 5, ids
    with pytest.raises(RuntimeError, match="closed"):
        env.step(np.zeros(2))


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_bad_actions_and_options_raise(make, name):
    env = make(name)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="NaN"):
        env.step(np.array([np.nan, 0.0]))
    with pytest.raises(ValueError, match="valid options"):
        env.reset(options={"goall": [0, 0]})
    with pytest.raises(ValueError, match="min_path_length"):
        env.reset(options={"min_path_length": -1})
    with pytest.raises(ValueError, match="min_path_length"):
        env.reset(seed=0, options={"min_path_length": 100_000})
    with pytest.raises(ValueError, match="start"):
        env.reset(options={"start": [np.nan, 0.0]})


def test_bad_constructor_arguments():
    with pytest.raises(ValueError, match="umaze"):
        PointMazeEnv(layout="huge")
    with pytest.raises(ValueError, match="'T'"):
        PushBlockEnv(shape="L")
    with pytest.raises(ValueError, match="obs_mode"):
        ReacherEnv(obs_mode="depth")
    env = PointMazeEnv()
    with pytest.raises(ValueError, match="free cell"):
        env.reset(options={"start": [0.0, 0.0]})  # a wall cell
    with pytest.raises(ValueError, match="overlap"):
        env.reset(options={"start": [1.0, -1.4]})  # touching the wall below
    env.close()
    env = ReacherEnv()
    with pytest.raises(ValueError, match="unreachable"):
        env.reset(options={"goal": [2.0, 0.0]})
    env.close()
    env = PushBlockEnv()
    with pytest.raises(ValueError, match="pusher"):
        env.reset(options={"start": [0.0, 0.0, 0.0, 0.0, 0.0]})  # pusher inside the block
    env.close()


@pytest.mark.parametrize("name", ["maze-umaze", "maze-large", "reacher", "push-box"])
def test_oracle_length_respects_min_path_length(make, name):
    env = make(name)
    means = []
    for min_len in (0, 15, 30) if name != "reacher" else (0, 10, 18):
        lengths = [env.reset(seed=s, options={"min_path_length": min_len})[1]["oracle_path_length"]
                   for s in range(20)]
        assert min(lengths) >= min_len
        means.append(np.mean(lengths))
    assert means[0] < means[1] < means[2]


def test_registered_ids_make_and_step():
    for env_id in ("grasp_agent/PointMaze-v0", "grasp_agent/Reacher-v0", "grasp_agent/PushBlock-v0"):
        env = gym.make(env_id)
        obs, _ = env.reset(seed=0)
        obs, *_ = env.step(env.action_space.sample())
        assert env.observation_space.contains(obs)
        env.close()


def test_render_rgb_array_shows_the_current_state(make):
    env = make("reacher", render_mode="rgb_array", image_size=32)
    env.reset(seed=0)
    first = env.render()
    assert first.shape == (32, 32, 3) and first.dtype == np.uint8
    for _ in range(5):
        env.step(np.ones(2))
    assert not np.array_equal(first, env.render())
