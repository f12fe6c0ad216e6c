"""Baseline agents behind the common interface: registry, random agent, SB3 adapter with a real SAC."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from stable_baselines3 import SAC
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import DummyVecEnv

import grasp_agent
from grasp_agent.agents import RandomAgent, SB3Agent, agent_names, make_agent
from grasp_agent.planners import PLANNERS, CEMConfig


def walldoor():
    return gym.make("grasp_agent/WallDoor-v0", tasks="any", max_episode_steps=20)


def test_make_agent_builds_every_planner_agent_with_its_planner():
    env = walldoor()
    model = grasp_agent.MLPWorldModel(2, 2, (8,))
    for name in PLANNERS:
        agent = make_agent(name, env=env, model=model, horizon=4)
        assert type(agent.planner) is PLANNERS[name] and agent.planner_name == name
        assert agent.get_env() is env
        obs, _ = env.reset(seed=0)
        assert env.action_space.contains(agent.act(obs))
    cem = make_agent("cem", model=model, action_space=env.action_space, horizon=3,
                     planner_config=CEMConfig(iterations=2, num_samples=16, num_elites=4))
    assert cem.planner.config.num_samples == 16
    with pytest.raises(ValueError, match="valid names"):
        make_agent("ppo-ish", env=env)
    with pytest.raises(ValueError, match="model="):
        make_agent("grasp", env=env)
    assert set(agent_names()) == {*PLANNERS, "random", "goal_directed", "sb3"}


def test_random_agent_is_seeded_batched_and_round_trips(tmp_path):
    env = walldoor()
    agent = make_agent("random", env=env, seed=3)
    venv = DummyVecEnv([walldoor, walldoor, walldoor])
    actions, _ = agent.predict(venv.reset())
    assert actions.shape == (3, 2) and np.all(np.abs(actions) <= 1)
    agent.save(tmp_path / "random.pt")
    clone = RandomAgent.load(tmp_path / "random.pt")
    obs, _ = env.reset(seed=0)
    np.testing.assert_array_equal(agent.act(obs), clone.act(obs))
    other = RandomAgent(env.action_space, seed=3)
    other.reset(seed=4)
    assert not np.array_equal(RandomAgent(env.action_space, seed=3).act(obs), other.act(obs))
    rewards, _ = evaluate_policy(agent, venv, n_eval_episodes=3, warn=False)
    assert -20.0 <= rewards <= 0.0


def test_sb3_adapter_acts_like_the_sac_model_and_learns_online(tmp_path):
    env = walldoor()
    sac = SAC("MultiInputPolicy", env, learning_starts=5, batch_size=8, buffer_size=500,
              policy_kwargs={"net_arch": [16]}, seed=0)
    agent = make_agent("sb3", model=sac, learn_online=True, train_freq=5)
    assert isinstance(agent, SB3Agent)
    obs, _ = env.reset(seed=0)
    expected, _ = sac.predict(obs, deterministic=True)
    np.testing.assert_allclose(agent.act(obs), expected)
    before = [p.detach().clone() for p in sac.policy.actor.parameters()]
    for _ in range(10):
        action = agent.act(obs)
        next_obs, reward, term, trunc, info = env.step(action)
        agent.observe(obs, action, reward, next_obs, term, trunc, info)
        obs = next_obs
    assert sac.replay_buffer.size() == 10 and agent.num_timesteps == 10
    stored = sac.replay_buffer.actions[:10, 0]
    assert np.all(np.abs(stored) <= 1.0)
    after = list(sac.policy.actor.parameters())
    assert any(not np.allclose(a.detach().numpy(), b.numpy()) for a, b in zip(after, before))
    agent.save(tmp_path / "sac")
    reloaded = SAC.load(tmp_path / "sac.zip")
    np.testing.assert_allclose(reloaded.predict(obs, deterministic=True)[0], agent.act(obs), atol=1e-6)
