"""Data collection for experiment world models: uniform episodes and goal-directed episodes."""

from __future__ import annotations

import numpy as np
import pytest

from grasp_agent.experiments.config import ConfigError
from grasp_agent.experiments.pipeline import collect_random, goal_directed_episodes, make_env
from grasp_agent.experiments.schema import DataSection, EnvSection

WALLDOOR = EnvSection(id="grasp_agent/WallDoor-v0", kwargs={"obs_mode": "state", "tasks": "any"})


def test_goal_directed_episodes_are_spread_and_counted():
    assert goal_directed_episodes(10, 0.0) == set()
    assert goal_directed_episodes(10, 0.5) == {0, 2, 4, 6, 8}
    assert goal_directed_episodes(10, 1.0) == set(range(10))
    assert len(goal_directed_episodes(7, 0.3)) == 2


def _inner_wall_contacts(env, data) -> float:
    """Share of transitions cut short by WallDoor's inner wall (not the arena border)."""
    geo = env.unwrapped.geometry
    x = data.next_obs[:, 0]
    near = (x > geo.x0 - 0.02) & (x < geo.x1 + 0.02)
    return float(np.mean(data.touches_obstacle & near))


def test_goal_directed_episodes_press_on_the_wall_far_more_often():
    env = make_env(WALLDOOR)
    uniform = collect_random(env, DataSection(episodes=20, episode_steps=100, action_repeat=10, seed=3))
    mixed = collect_random(env, DataSection(episodes=20, episode_steps=100, action_repeat=10, seed=3,
                                            goal_directed_fraction=0.5))
    assert len(uniform) == len(mixed) == 2000
    assert _inner_wall_contacts(env, mixed) > 2 * _inner_wall_contacts(env, uniform)
    assert np.array_equal(uniform.obs[:1], mixed.obs[:1])  # same resets
    again = collect_random(env, DataSection(episodes=20, episode_steps=100, action_repeat=10, seed=3,
                                            goal_directed_fraction=0.5))
    assert np.array_equal(again.actions, mixed.actions)  # seeded


def test_goal_directed_data_on_an_env_without_a_position_goal_is_a_config_error():
    env = make_env(EnvSection(id="grasp_agent/MiniGridGoal-v0", kwargs={"layout": "four_rooms"},
                              wrappers=["discrete_to_box"]))
    with pytest.raises(ConfigError, match="goal_directed_fraction"):
        collect_random(env, DataSection(episodes=2, episode_steps=5, goal_directed_fraction=0.5))
    with pytest.raises(ValueError, match="goal_directed_fraction"):
        DataSection(goal_directed_fraction=1.5).validate()
