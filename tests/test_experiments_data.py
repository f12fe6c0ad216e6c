"""Data collection for experiment world models: held uniform episodes and goal-directed episodes,
collected through grasp_agent.data.collect with the ExplorationAgent policy."""

from __future__ import annotations

import numpy as np
import pytest
from gymnasium import spaces

from grasp_agent.agents.exploration import ExplorationAgent
from grasp_agent.experiments.config import ConfigError
from grasp_agent.experiments.pipeline import collect_data, make_env
from grasp_agent.experiments.schema import DataSection, EnvSection

WALLDOOR = EnvSection(id="grasp_agent/WallDoor-v0", kwargs={"obs_mode": "state", "tasks": "any"})


def test_exploration_agent_spreads_goal_directed_episodes_and_holds_actions():
    env = make_env(WALLDOOR)
    agent = ExplorationAgent(env.action_space, env.observation_space, action_repeat=3,
                             goal_directed_fraction=0.5, seed=0)
    modes = []
    obs, _ = env.reset(seed=0)
    batch = {k: v[None] for k, v in obs.items()}
    for _ in range(6):
        actions = [agent.predict(batch, episode_start=np.array([t == 0]))[0][0] for t in range(6)]
        modes.append(bool(agent._mode[0]))
        if not agent._mode[0]:  # uniform episodes hold each action for action_repeat steps
            assert np.array_equal(actions[0], actions[2]) and not np.array_equal(actions[2], actions[3])
    assert modes == [False, True] * 3
    with pytest.raises(ValueError, match="action_repeat"):
        ExplorationAgent(env.action_space, env.observation_space, action_repeat=0)
    with pytest.raises(TypeError, match="Box"):
        ExplorationAgent(spaces.Discrete(3))


def _inner_wall_contacts(env, data) -> float:
    """Share of transitions cut short by WallDoor's inner wall (not the arena border)."""
    geo = env.unwrapped.geometry
    x = data["next_obs"][:, 0]
    near = (x > geo.x0 - 0.02) & (x < geo.x1 + 0.02)
    return float(np.mean(data["touches"] & near))


def test_goal_directed_episodes_press_on_the_wall_far_more_often():
    env = make_env(WALLDOOR)
    uniform = collect_data(env, DataSection(episodes=20, episode_steps=100, action_repeat=10, seed=3))
    mixed = collect_data(env, DataSection(episodes=20, episode_steps=100, action_repeat=10, seed=3,
                                          goal_directed_fraction=0.5))
    u, m = uniform.transitions(), mixed.transitions()
    # 2000 env steps each, minus the reset steps between episodes (autoreset)
    assert 1900 <= len(u["obs"]) <= 2000 and 1900 <= len(m["obs"]) <= 2000
    assert mixed.num_episodes >= 19
    assert _inner_wall_contacts(env, m) > 2 * _inner_wall_contacts(env, u)
    assert np.array_equal(u["obs"][:1], m["obs"][:1])  # same resets
    again = collect_data(env, DataSection(episodes=20, episode_steps=100, action_repeat=10, seed=3,
                                          goal_directed_fraction=0.5))
    assert np.array_equal(again.transitions()["actions"], m["actions"])  # seeded


def test_goal_directed_data_on_an_env_without_a_position_goal_is_a_config_error():
    env = make_env(EnvSection(id="grasp_agent/MiniGridGoal-v0", kwargs={"layout": "four_rooms"},
                              wrappers=["discrete_to_box"]))
    with pytest.raises(ConfigError, match="data settings"):
        collect_data(env, DataSection(episodes=2, episode_steps=5, goal_directed_fraction=0.5))
    with pytest.raises(ValueError, match="goal_directed_fraction"):
        DataSection(goal_directed_fraction=1.5).validate()
