"""MiniGridGoalEnv: contract, moves, BFS oracle, task sampling, encodings and pixels."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import grasp_agent  # noqa: F401  (registers the ids)
from grasp_agent.envs.goal_env import all_pairs_bfs, bfs_distances
from grasp_agent.envs.minigrid_goal import MOVES, MiniGridGoalEnv
from grasp_agent.envs.minigrid_layouts import LAYOUTS

MODES = [("state", "xy"), ("state", "grid"), ("pixels", "xy")]


@pytest.mark.parametrize(("mode", "encoding"), MODES)
def test_checkers_and_make(mode: str, encoding: str) -> None:
    env = MiniGridGoalEnv(obs_mode=mode, state_encoding=encoding, render_mode="rgb_array")
    check_env(env)
    sb3_check_env(env)
    made = gym.make("grasp_agent/MiniGridGoal-v0", layout="snake_rooms", obs_mode=mode)
    check_env(made.unwrapped)


@pytest.mark.parametrize(("mode", "encoding"), MODES)
def test_same_seed_same_rollout(mode: str, encoding: str) -> None:
    def run(seed: int) -> list[np.ndarray]:
        env = MiniGridGoalEnv(obs_mode=mode, state_encoding=encoding, terminate_on_success=False)
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        return [obs["observation"]] + [env.step(env.action_space.sample())[0]["observation"]
                                       for _ in range(25)]
    a, b, c = run(5), run(5), run(6)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c))


def test_moves_walls_and_success() -> None:
    env = MiniGridGoalEnv(layout="four_rooms", terminate_on_success=True)
    obs, _ = env.reset(options={"start": (1, 1), "goal": (3, 1)})
    obs, _, _, _, info = env.step(3)  # up into the border wall: stay
    assert info["touches_obstacle"] and tuple(env.goal_features(obs["observation"])) == (1, 1)
    obs, _, _, _, info = env.step(1)  # down
    assert not info["touches_obstacle"] and tuple(env.goal_features(obs["observation"])) == (1, 2)
    env.reset(options={"start": (1, 1), "goal": (3, 1)})
    _, reward, terminated, _, info = env.step(0)
    assert reward == -1.0 and not terminated
    _, reward, terminated, _, info = env.step(0)
    assert reward == 0.0 and terminated and info["is_success"]


def test_bfs_oracle_is_exact_and_followable() -> None:
    for layout in LAYOUTS:
        env = MiniGridGoalEnv(layout=layout, terminate_on_success=False)
        for seed in range(3):
            obs, info = env.reset(seed=seed, options={"min_path_length": env.max_path_steps // 2})
            goal = tuple(info["goal"])
            dist = bfs_distances(env.free, (goal[1], goal[0]))  # reference single-source BFS
            assert info["oracle_path_length"] == dist[info["start"][1], info["start"][0]]
            # Greedy descent on the BFS field reaches the goal in exactly the oracle count.
            steps = 0
            while not info["is_success"]:
                col, row = env._agent
                best = min(range(4), key=lambda a: dist[row + MOVES[a][1], col + MOVES[a][0]]
                           if env.free[row + MOVES[a][1], col + MOVES[a][0]] else 10**9)
                obs, _, _, _, info = env.step(best)
                steps += 1
            assert steps == env.oracle_path_length


def test_all_pairs_bfs_matches_single_source() -> None:
    rng = np.random.default_rng(0)
    free = rng.random((9, 11)) > 0.3
    cells, dist = all_pairs_bfs(free)
    for i in rng.choice(len(cells), 5, replace=False):
        ref = bfs_distances(free, tuple(cells[i]))
        np.testing.assert_array_equal(dist[i], ref[cells[:, 0], cells[:, 1]])
    assert (dist == -1).any()  # the random grid has disconnected parts


def test_min_path_length_and_options() -> None:
    env = MiniGridGoalEnv(layout="snake_rooms")
    assert env.max_path_steps >= 50
    for h in (0, 25, 50, env.max_path_steps):
        _, info = env.reset(seed=h, options={"min_path_length": h})
        assert info["oracle_path_length"] >= max(h, 1)
    with pytest.raises(ValueError, match="exceeds the longest task"):
        env.reset(options={"min_path_length": env.max_path_steps + 1})
    _, info = env.reset(seed=0, options={"start": (1, 1), "min_path_length": 40})
    assert tuple(info["start"]) == (1, 1) and info["oracle_path_length"] >= 40
    with pytest.raises(ValueError, match="on a wall"):
        env.reset(options={"start": (0, 0)})
    with pytest.raises(ValueError, match="integer"):
        env.reset(options={"goal": (1.5, 2.0)})
    with pytest.raises(ValueError, match="valid options"):
        env.reset(options={"difficulty": 3})
    with pytest.raises(ValueError, match="fewer than"):
        env.reset(options={"start": (1, 1), "goal": (2, 1), "min_path_length": 5})
    with pytest.raises(ValueError, match="valid layouts"):
        MiniGridGoalEnv(layout="maze")
    with pytest.raises(ValueError, match="action"):
        env.step(4)
    with pytest.raises(ValueError, match="action"):
        env.step(1.0)


def test_encodings_and_vectorised_reward() -> None:
    grid_env = MiniGridGoalEnv(state_encoding="grid")
    obs, info = grid_env.reset(seed=1)
    o = obs["observation"]
    h, w = grid_env.height, grid_env.width
    walls, agent = o[2:2 + h * w].reshape(h, w), o[2 + h * w:].reshape(h, w)
    np.testing.assert_array_equal(walls, ~grid_env.free)
    assert agent.sum() == 1 and agent[info["start"][1], info["start"][0]] == 1
    np.testing.assert_array_equal(grid_env.goal_features(obs["desired_goal"]), info["goal"])
    env = MiniGridGoalEnv()
    cells = np.array([env.observe((c, r)) for c, r in [(1, 1), (2, 1), (1, 1), (5, 5)]])
    r = env.compute_reward(cells[:2], cells[2:], None)
    np.testing.assert_array_equal(r, [0.0, -1.0])
    assert env.compute_reward(cells.reshape(2, 2, 2), cells.reshape(2, 2, 2), None).shape == (2, 2)
    np.testing.assert_allclose(env.goal_distance(cells[1], cells[3]), np.hypot(3, 4))


def test_pixels_decode_every_cell_and_render() -> None:
    env = MiniGridGoalEnv(layout="four_rooms", obs_mode="pixels", render_mode="rgb_array")
    cells = [(int(c), int(r)) for r, c in env._cells]
    images = np.stack([env.observe(cell) for cell in cells])
    np.testing.assert_array_equal(env.goal_features(images), np.array(cells, dtype=float))
    assert len({img.tobytes() for img in images}) == len(cells)
    obs, info = env.reset(seed=0)
    assert env.compute_reward(obs["achieved_goal"], obs["desired_goal"], None) == -1.0
    assert env.compute_reward(obs["desired_goal"], obs["desired_goal"], None) == 0.0
    frame = env.render()
    assert frame.shape == (19 * 16, 19 * 16, 3)
    gc, gr = info["goal"]
    assert frame[gr * 16 + 8, gc * 16 + 8, 1] > 200  # the goal tile is green in render() only
