"""Scripted controllers reach the goals of the pybullet envs (the tasks are solvable as documented)."""

from __future__ import annotations

import numpy as np

from grasp_agent.envs.bullet_scene import wrap_angle
from grasp_agent.envs.maze_layouts import bfs_distances
from grasp_agent.envs.point_maze import PointMazeEnv
from grasp_agent.envs.push_block import PushBlockEnv
from grasp_agent.envs.reacher import W_MAX, ReacherEnv


def maze_waypoint(env: PointMazeEnv, pos: np.ndarray, goal: np.ndarray) -> np.ndarray:
    """Next cell centre along the BFS path to the goal cell (the goal itself in the goal cell)."""
    goal_cell, cell = env.cell_of(goal), env.cell_of(pos)
    if cell == goal_cell:
        return goal
    dist = bfs_distances(env.walls, goal_cell)
    r, c = cell
    nbrs = [(r + dr, c + dc) for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)) if dist[r + dr, c + dc] >= 0]
    return env.cell_centre(min(nbrs, key=lambda n: dist[n]))


def test_scripted_controller_solves_umaze_close_to_oracle():
    env = PointMazeEnv(layout="umaze")
    for seed in range(4):
        obs, info = env.reset(seed=seed, options={"min_path_length": 25})
        oracle, goal = info["oracle_path_length"], obs["desired_goal"][:2]
        for t in range(1, 3 * oracle):
            steps = t
            pos, vel = obs["observation"][:2], obs["observation"][2:]
            target = maze_waypoint(env, pos, goal)
            obs, reward, _, _, info = env.step(np.clip(3.0 * (target - pos) - 0.5 * vel, -1, 1))
            if info["is_success"]:
                break
        assert info["is_success"] and reward == 0.0
        assert 0.75 * oracle <= steps <= 2 * oracle, (steps, oracle)
    env.close()


def test_joint_space_p_controller_reaches_in_about_oracle_steps():
    env = ReacherEnv()
    for seed in range(5):
        obs, info = env.reset(seed=seed, options={"min_path_length": 8})
        q_goal = env.joint_angles(obs["desired_goal"])
        for t in range(1, 100):
            steps = t
            q = env.joint_angles(obs["observation"])
            obs, _, _, _, info = env.step(np.clip(wrap_angle(q_goal - q) / (W_MAX * env.dt), -1, 1))
            if info["is_success"]:
                break
        assert info["is_success"]
        assert steps <= info["oracle_path_length"] + 3, (steps, info["oracle_path_length"])
    env.close()


def test_reacher_goal_option_uses_inverse_kinematics():
    env = ReacherEnv()
    obs, info = env.reset(seed=0, options={"start": [0.0, 0.0], "goal": [0.0, 0.7]})
    np.testing.assert_allclose(obs["desired_goal"][6:8], [0.0, 0.7], atol=1e-5)
    np.testing.assert_array_equal(obs["desired_goal"][4:6], [0.0, 0.0])
    env.close()


def test_pusher_pushes_block_to_goal_and_reports_contacts():
    env = PushBlockEnv(shape="box")
    obs, info = env.reset(seed=0, options={"start": [-0.35, 0.0, -0.1, 0.0, 0.0], "goal": [0.2, 0.0, 0.0]})
    assert not info["is_success"]
    touched, reached = False, False
    for _ in range(60):
        obs, reward, _, _, info = env.step(np.array([1.0, 0.0]))
        touched |= info["touches_block"]
        if info["is_success"]:
            reached = True
            break
    assert touched and reached and reward == 0.0
    # keep pushing into the wall: the block must stop there and the contact is reported
    for _ in range(40):
        obs, _, _, _, info = env.step(np.array([1.0, 0.0]))
    assert info["touches_obstacle"] and obs["observation"][4] < 0.5
    env.close()


def test_off_centre_push_rotates_the_T():
    env = PushBlockEnv(shape="T")
    obs, _ = env.reset(seed=0, options={"start": [-0.35, 0.08, -0.1, 0.0, 0.0], "goal": [0.2, 0.2, 1.0]})
    for _ in range(40):
        obs, *_ = env.step(np.array([1.0, 0.0]))
    theta = np.arctan2(obs["observation"][7], obs["observation"][6])
    assert abs(theta) > 0.2 and obs["observation"][4] > 0.0
    env.close()


def test_maze_reports_wall_contact():
    env = PointMazeEnv(layout="umaze")
    env.reset(seed=0, options={"start": [1.0, -1.0], "goal": [1.0, -3.0]})
    _, _, _, _, info = env.step(np.zeros(2))
    assert not info["touches_obstacle"]
    touched = []
    for _ in range(15):
        obs, _, _, _, info = env.step(np.array([-1.0, 0.0]))
        touched.append(info["touches_obstacle"])
    assert touched[-1] and not touched[0]
    assert obs["observation"][0] > 0.5 + 0.2 - 0.02  # the wall face at x = 0.5 stops the ball (radius 0.2)
    env.close()


def test_maze_pinned_start_at_goal_is_success_with_zero_oracle():
    env = PointMazeEnv(layout="medium")
    obs, info = env.reset(seed=0, options={"start": [1.0, -1.0], "goal": [1.1, -1.1]})
    assert info["is_success"] and info["oracle_path_length"] == 0
    np.testing.assert_allclose(obs["desired_goal"], [1.1, -1.1, 0.0, 0.0], atol=1e-6)
    env.close()
