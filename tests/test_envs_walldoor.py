"""WallDoorEnv: contract, collisions, oracle, task sampling, pixel mode."""

from __future__ import annotations

import heapq
import math

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import grasp_agent  # noqa: F401  (registers the ids)
from grasp_agent.envs.wall_door import WallDoorEnv


def rollout(env: gym.Env, seed: int, steps: int = 30) -> list[np.ndarray]:
    obs, _ = env.reset(seed=seed)
    env.action_space.seed(seed)
    out = [obs["observation"]]
    for _ in range(steps):
        obs, *_ = env.step(env.action_space.sample())
        out.append(obs["observation"])
    return out


@pytest.mark.parametrize("mode", ["state", "pixels"])
def test_checkers_and_make(mode: str) -> None:
    env = WallDoorEnv(obs_mode=mode, render_mode="rgb_array")
    check_env(env)
    sb3_check_env(env)
    made = gym.make("grasp_agent/WallDoor-v0", obs_mode=mode)
    check_env(made.unwrapped)
    assert made.spec.max_episode_steps == 200


@pytest.mark.parametrize("mode", ["state", "pixels"])
def test_same_seed_same_rollout(mode: str) -> None:
    a = rollout(WallDoorEnv(obs_mode=mode), seed=3)
    b = rollout(WallDoorEnv(obs_mode=mode), seed=3)
    c = rollout(WallDoorEnv(obs_mode=mode), seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_wall_blocks_and_slides() -> None:
    env = WallDoorEnv(max_step=0.5, wall_thickness=0.02)
    x0 = env.geometry.x0
    obs, _ = env.reset(options={"start": [0.3, 0.2], "goal": [0.9, 0.2]})
    obs, _, _, _, info = env.step(np.array([1.0, 0.0]))
    assert info["touches_obstacle"]
    np.testing.assert_allclose(obs["observation"], [x0, 0.2], atol=1e-6)
    # Diagonal push into the face: x stays on the face, y slides by the blocked remainder.
    obs, _, _, _, info = env.step(np.array([1.0, 1.0]))
    assert info["touches_obstacle"]
    np.testing.assert_allclose(obs["observation"], [x0, 0.2 + 0.5 / math.sqrt(2)], atol=1e-6)
    # Free motion: no contact, exact displacement capped at max_step.
    obs, _ = env.reset(options={"start": [0.1, 0.1], "goal": [0.9, 0.2]})
    obs, _, _, _, info = env.step(np.array([0.2, 0.1]))
    assert not info["touches_obstacle"]
    np.testing.assert_allclose(obs["observation"], [0.2, 0.15], atol=1e-6)


def test_arena_border_clamps_and_counts_as_contact() -> None:
    env = WallDoorEnv()
    env.reset(options={"start": [0.01, 0.5], "goal": [0.9, 0.2]})
    obs, _, _, _, info = env.step(np.array([-1.0, 0.0]))
    assert info["touches_obstacle"] and obs["observation"][0] == 0.0


@pytest.mark.parametrize("max_step", [0.02, 0.5])
def test_no_tunnelling_under_random_max_speed_actions(max_step: float) -> None:
    env = WallDoorEnv(max_step=max_step, wall_thickness=0.03, tasks="any")
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    before, after = [], []
    for _ in range(2000):
        before.append(env.unwrapped._pos)
        action = rng.choice([-1.0, 1.0], size=2) * rng.uniform(0.5, 1.0, size=2)
        _, _, terminated, _, info = env.step(action)
        after.append(env.unwrapped._pos)
        if terminated:
            env.reset()
    before, after = np.array(before), np.array(after)
    assert not env.geometry.inside_wall(after).any()
    # Tunnelling would need a collision-free detour longer than one step.
    assert np.all(env.geometry.geodesic(before, after) <= max_step + 1e-9)


def grid_dijkstra(env: WallDoorEnv, a: np.ndarray, b: np.ndarray, res: int = 200) -> float:
    """Reference: 8-connected Dijkstra over grid points that are not inside the wall."""
    h = 1.0 / res
    ij = lambda p: (int(round(p[0] / h)), int(round(p[1] / h)))  # noqa: E731
    s, t = ij(a), ij(b)
    xs = np.arange(res + 1) * h
    gx, gy = np.meshgrid(xs, xs, indexing="ij")
    free = ~env.geometry.inside_wall(np.stack([gx.ravel(), gy.ravel()], 1)).reshape(gx.shape)
    dist = {s: 0.0}
    heap = [(0.0, s)]
    while heap:
        d, (i, j) = heapq.heappop(heap)
        if (i, j) == t:
            return d + np.linalg.norm(a - np.array(s) * h) + np.linalg.norm(b - np.array(t) * h)
        if d > dist[(i, j)]:
            continue
        for di in (-1, 0, 1):
            for dj in (-1, 0, 1):
                ni, nj = i + di, j + dj
                if (di or dj) and 0 <= ni <= res and 0 <= nj <= res and free[ni, nj]:
                    nd = d + h * math.hypot(di, dj)
                    if nd < dist.get((ni, nj), math.inf):
                        dist[(ni, nj)] = nd
                        heapq.heappush(heap, (nd, (ni, nj)))
    raise AssertionError("target unreachable")


def test_oracle_matches_known_values_and_grid_search() -> None:
    env = WallDoorEnv()
    g = env.geometry
    expected = 2 * math.hypot(g.x0, g.y0) + (g.x1 - g.x0)
    assert g.geodesic(np.array([[0.0, 0.0]]), np.array([[1.0, 0.0]]))[0] == pytest.approx(expected)
    assert g.geodesic(np.array([[0.1, 0.8]]), np.array([[0.9, 0.8]]))[0] == pytest.approx(0.8)
    rng = np.random.default_rng(1)
    for _ in range(4):
        a, b = rng.uniform(0, g.x0, 2), rng.uniform(g.x1, 1, 2)
        exact = g.geodesic(a[None], b[None])[0]
        approx = grid_dijkstra(env, a, b, res=100)
        assert exact <= approx + 1e-9  # the exact path is never longer than any grid path
        assert approx <= exact * 1.09  # 8-connected grids overestimate by at most ~8%


def test_oracle_path_is_followable_in_about_oracle_steps() -> None:
    env = WallDoorEnv(terminate_on_success=False)
    for seed in range(5):
        obs, info = env.reset(seed=seed, options={"min_path_length": 40})
        waypoints = env.geometry.shortest_path(info["start"], info["goal"])
        assert len(waypoints) >= 3  # the straight line is blocked, the path turns at the door
        k, steps = 1, 0
        while not info.get("is_success") and steps < 200:
            pos = np.array(env.unwrapped._pos)
            while k < len(waypoints) - 1 and np.linalg.norm(waypoints[k] - pos) < 1e-9:
                k += 1
            delta = (waypoints[k] - pos) / env.max_step
            obs, _, _, _, info = env.step(delta / max(1.0, np.linalg.norm(delta)))
            steps += 1
        length = env.geometry.geodesic(waypoints[:1], waypoints[-1:])[0]
        lower = math.ceil((length - env.success_threshold) / env.max_step)
        assert info["is_success"]
        assert lower <= steps <= env.oracle_path_length + 2


def test_min_path_length_sampling() -> None:
    env = WallDoorEnv()
    for h in (0, 25, 50, 75, env.max_path_steps):
        for seed in range(5):
            _, info = env.reset(seed=seed, options={"min_path_length": h})
            assert info["oracle_path_length"] >= h
            assert info["start"][0] <= env.geometry.x0 and info["goal"][0] >= env.geometry.x1
            assert info["oracle_path_length"] == env.path_steps(info["start"], info["goal"])[0]
    with pytest.raises(ValueError, match="exceeds the longest task"):
        env.reset(options={"min_path_length": env.max_path_steps + 1})
    with pytest.raises(ValueError, match="non-negative int"):
        env.reset(options={"min_path_length": -1})


def test_pinned_start_goal_and_bad_options() -> None:
    env = WallDoorEnv()
    obs, info = env.reset(options={"start": [0.1, 0.2], "goal": [0.8, 0.3]})
    np.testing.assert_allclose(obs["observation"], [0.1, 0.2], rtol=1e-6)
    np.testing.assert_allclose(obs["desired_goal"], [0.8, 0.3], rtol=1e-6)
    assert info["oracle_path_length"] == env.path_steps(np.array([0.1, 0.2]), np.array([0.8, 0.3]))[0]
    _, info = env.reset(seed=1, options={"start": [0.1, 0.2], "min_path_length": 50})
    assert info["oracle_path_length"] >= 50 and np.allclose(info["start"], [0.1, 0.2])
    with pytest.raises(ValueError, match="inside the wall"):
        env.reset(options={"start": [0.5, 0.2]})
    with pytest.raises(ValueError, match="outside the arena"):
        env.reset(options={"goal": [1.2, 0.2]})
    with pytest.raises(ValueError, match="valid options"):
        env.reset(options={"strat": [0.1, 0.1]})
    with pytest.raises(ValueError, match="fewer than min_path_length"):
        env.reset(options={"start": [0.1, 0.2], "goal": [0.2, 0.2], "min_path_length": 30})
    env.reset(options={"start": [0.5, 0.8], "goal": [0.45, 0.2]})  # door and wall face are free


def test_bad_actions_and_constructor_args() -> None:
    env = WallDoorEnv()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="shape"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="finite"):
        env.step(np.array([np.nan, 0.0]))
    for kwargs in ({"obs_mode": "rgb"}, {"tasks": "left"}, {"door_width": 0.0}, {"wall_x": 0.99},
                   {"max_step": 0.0}, {"image_size": 8}, {"render_mode": "human"}):
        with pytest.raises(ValueError):
            WallDoorEnv(**kwargs)


def test_compute_reward_vectorised_and_consistent_with_step() -> None:
    env = WallDoorEnv(terminate_on_success=False)
    obs, _ = env.reset(options={"start": [0.7, 0.5], "goal": [0.76, 0.5]})
    assert env.compute_reward(obs["achieved_goal"], obs["desired_goal"], {}) == -1.0
    obs, reward, terminated, _, info = env.step(np.array([1.0, 0.0]))
    assert reward == 0.0 and info["is_success"] and not terminated
    rng = np.random.default_rng(0)
    ach, des = rng.uniform(0, 1, (4, 3, 2)), rng.uniform(0, 1, (4, 3, 2))
    des[0, 0] = ach[0, 0] + 0.01
    r = env.compute_reward(ach, des, None)
    assert r.shape == (4, 3) and r.dtype == np.float32
    expected = np.where(np.linalg.norm(ach - des, axis=-1) <= env.success_threshold, 0.0, -1.0)
    np.testing.assert_array_equal(r, expected)
    assert r[0, 0] == 0.0
    np.testing.assert_allclose(env.goal_distance(ach, des), np.linalg.norm(ach - des, axis=-1))


def test_success_terminates_only_when_asked() -> None:
    for terminate in (False, True):
        env = WallDoorEnv(terminate_on_success=terminate)
        env.reset(options={"start": [0.7, 0.5], "goal": [0.76, 0.5]})
        _, reward, terminated, truncated, info = env.step(np.array([1.0, 0.0]))
        assert terminated == terminate and not truncated and reward == 0.0 and info["is_success"]


def test_oracle_steps_to_success() -> None:
    env = WallDoorEnv()
    _, info = env.reset(options={"start": [0.1, 0.5], "goal": [0.3, 0.5]})
    assert info["oracle_path_length"] == 10  # 0.2 / 0.02
    assert info["oracle_steps_to_success"] == 8  # ceil((0.2 - 0.05) / 0.02)


def test_pixel_mode_images_encode_positions_and_reward() -> None:
    env = WallDoorEnv(obs_mode="pixels", render_mode="rgb_array", terminate_on_success=False)
    obs, info = env.reset(seed=0)
    assert obs["observation"].shape == (64, 64, 3) and obs["observation"].dtype == np.uint8
    np.testing.assert_allclose(env.goal_features(obs["desired_goal"]), info["goal"], atol=5e-3)
    np.testing.assert_allclose(env.goal_features(obs["observation"]), info["start"], atol=5e-3)
    assert not np.array_equal(obs["observation"], obs["desired_goal"])
    env.reset(options={"start": [0.7, 0.5], "goal": [0.76, 0.5]})
    obs, reward, _, _, info = env.step(np.array([1.0, 0.0]))
    assert reward == 0.0 and info["is_success"]
    batch = np.stack([obs["achieved_goal"], obs["desired_goal"]])
    np.testing.assert_array_equal(env.compute_reward(batch, batch[::-1], None), [0.0, 0.0])
    # The desired-goal image shows the agent at the goal and nothing else differs.
    state_env = WallDoorEnv()
    state_obs, _ = state_env.reset(options={"start": [0.7, 0.5], "goal": [0.76, 0.5]})
    np.testing.assert_array_equal(obs["desired_goal"], env.renderer.draw((0.76, 0.5)))
    frame = env.render()
    assert frame.shape == (64, 64, 3) and np.any(frame[..., 1].astype(int) - frame[..., 0] > 50)
    assert state_obs["observation"].shape == (2,)
