"""Reacher: a two-link planar arm whose fingertip must reach a goal position (pybullet).

Links of length ``L1`` = 0.6 m and ``L2`` = 0.4 m turn about vertical revolute joints (no limits, so the
fingertip workspace is the annulus ``0.2 <= r <= 1.0`` m). Action ``a`` in Box(-1, 1, (2,)) is a joint
*velocity* command ``W_MAX * a`` (``W_MAX`` = 3 rad/s) tracked by motors of limited torque, so the
joints reach the commanded speed within ~2 physics steps. One env step = 5 physics steps = 0.05 s.

Observation (state mode), float32 (8,): ``(cos q1, sin q1, cos q2, sin q2, dq1, dq2, tip_x, tip_y)``.
The goal is a fingertip position; ``desired_goal`` is the observation of an arm configuration that
reaches it (inverse kinematics, the elbow branch with the shorter oracle path, zero velocities).
Pixel mode: 64x64 top-down image, arm blue, fingertip marker red.

Success: fingertip within ``success_threshold`` = 0.05 m of the goal fingertip position
(``goal_distance`` compares dims 6:8). Pixel mode: the red fingertip markers' centroids, mapped to
world units, at most the same threshold apart. There are no obstacles: ``touches_obstacle`` is always
False.

Oracle path length: ``ceil(max(|dq1|, |dq2|) / (W_MAX * dt))`` with the joint differences wrapped to
[-pi, pi): the joints move independently, so this is the exact minimum at maximum joint speed,
ignoring the 1-2 physics steps of acceleration (a true optimum may need one more step).

Reset options: ``start``: joint angles (q1, q2); ``goal``: fingertip (x, y) within the workspace;
``min_path_length``: sample until the oracle length is at least this (at most ``ceil(pi / (W_MAX dt))``
= 21 steps; larger values raise ValueError).
"""

from __future__ import annotations

import math

import numpy as np
import pybullet

from grasp_agent.envs.bullet_base import BulletGoalEnv
from grasp_agent.envs.bullet_scene import (
    add_floor,
    colour_mask,
    joint_states,
    mask_centroid,
    set_joint_states,
    wrap_angle,
)

L1, L2 = 0.6, 0.4
LINK_WIDTH = 0.04  # half width/height of the link boxes
LINK_MASS = (1.0, 0.5)
ARM_HEIGHT = 0.1
TIP_RADIUS = 0.05
W_MAX = 3.0  # rad/s
MAX_TORQUE = (40.0, 20.0)
ARM_RGBA = (0.2, 0.35, 0.8, 1.0)
TIP_RGBA = (0.9, 0.1, 0.1, 1.0)
SUCCESS_THRESHOLD = 0.05
MAX_SAMPLE_TRIES = 2000


def forward_kinematics(q: np.ndarray) -> np.ndarray:
    """Fingertip (x, y) for joint angles ``q`` (..., 2) -> (..., 2)."""
    q = np.asarray(q, dtype=np.float64)
    q1, q12 = q[..., 0], q[..., 0] + q[..., 1]
    return np.stack([L1 * np.cos(q1) + L2 * np.cos(q12), L1 * np.sin(q1) + L2 * np.sin(q12)], axis=-1)


def inverse_kinematics(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The two joint solutions (elbow q2 >= 0 and q2 <= 0) reaching fingertip ``xy`` (2,)."""
    x, y = float(xy[0]), float(xy[1])
    c2 = np.clip((x * x + y * y - L1 * L1 - L2 * L2) / (2 * L1 * L2), -1.0, 1.0)
    sols = []
    for q2 in (math.acos(c2), -math.acos(c2)):
        q1 = math.atan2(y, x) - math.atan2(L2 * math.sin(q2), L1 + L2 * math.cos(q2))
        sols.append(wrap_angle(np.array([q1, q2])))
    return sols[0], sols[1]


class ReacherEnv(BulletGoalEnv):
    """Two-link planar reacher; see the module docstring for control, reward and oracle."""

    ACTION_PERSISTS = True  # velocity motors keep their target between physics steps
    success_threshold = SUCCESS_THRESHOLD

    # ----------------------------------------------------------------- scene
    def _build_scene(self) -> None:
        client = self.client
        add_floor(client, self._world_bounds(), margin=0.0)
        hub = client.createVisualShape(pybullet.GEOM_CYLINDER, radius=0.05, length=0.05,
                                       rgbaColor=[0.3, 0.3, 0.3, 1])
        link_cols, link_vis = [], []
        for i, length in enumerate((L1, L2)):
            half = [length / 2, LINK_WIDTH, LINK_WIDTH]
            link_cols.append(client.createCollisionShape(pybullet.GEOM_BOX, halfExtents=half,
                                                         collisionFramePosition=[length / 2, 0, 0]))
            if i == 0:
                link_vis.append(client.createVisualShape(pybullet.GEOM_BOX, halfExtents=half,
                                                         visualFramePosition=[length / 2, 0, 0],
                                                         rgbaColor=list(ARM_RGBA)))
            else:
                link_vis.append(client.createVisualShapeArray(
                    shapeTypes=[pybullet.GEOM_BOX, pybullet.GEOM_SPHERE], halfExtents=[half, [0, 0, 0]],
                    radii=[0, TIP_RADIUS], visualFramePositions=[[length / 2, 0, 0], [length, 0, 0]],
                    rgbaColors=[list(ARM_RGBA), list(TIP_RGBA)]))
        self._arm = client.createMultiBody(
            baseMass=0.0, baseVisualShapeIndex=hub, basePosition=[0, 0, ARM_HEIGHT],
            linkMasses=list(LINK_MASS), linkCollisionShapeIndices=link_cols, linkVisualShapeIndices=link_vis,
            linkPositions=[[0, 0, 0], [L1, 0, 0]], linkOrientations=[[0, 0, 0, 1]] * 2,
            linkInertialFramePositions=[[L1 / 2, 0, 0], [L2 / 2, 0, 0]],
            linkInertialFrameOrientations=[[0, 0, 0, 1]] * 2, linkParentIndices=[0, 1],
            linkJointTypes=[pybullet.JOINT_REVOLUTE] * 2, linkJointAxis=[[0, 0, 1]] * 2)
        for j in range(2):
            client.changeDynamics(self._arm, j, jointDamping=0.0, linearDamping=0.0, angularDamping=0.0)

    def _world_bounds(self) -> tuple[float, float, float, float]:
        r = L1 + L2 + 0.1
        return (-r, r, -r, r)

    def _state_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        r, v = L1 + L2, 3 * W_MAX
        high = np.array([1, 1, 1, 1, v, v, r, r], dtype=np.float64)
        return -high, high

    # ----------------------------------------------------------------- tasks
    def oracle_steps(self, q_from: np.ndarray, q_to: np.ndarray) -> int:
        """Env steps to move every joint from ``q_from`` to ``q_to`` at ``W_MAX`` (wrapped angles)."""
        delta = np.abs(wrap_angle(np.asarray(q_to) - np.asarray(q_from))).max()
        return int(math.ceil(delta / (W_MAX * self.dt) - 1e-9))

    def _check_start(self, value) -> np.ndarray:
        q = np.asarray(value, dtype=np.float64)
        if q.shape != (2,) or not np.all(np.isfinite(q)):
            raise ValueError(f"option 'start' must be finite joint angles (q1, q2) in radians, got {value!r}")
        return wrap_angle(q)

    def _check_goal(self, value) -> np.ndarray:
        xy = np.asarray(value, dtype=np.float64)
        if xy.shape != (2,) or not np.all(np.isfinite(xy)):
            raise ValueError(f"option 'goal' must be a finite fingertip position (x, y), got {value!r}")
        r = float(np.hypot(*xy))
        if not abs(L1 - L2) <= r <= L1 + L2:
            raise ValueError(f"option 'goal'={xy.tolist()} is unreachable: its distance {r:.3f} from the "
                             f"base must lie in [{abs(L1 - L2)}, {L1 + L2}]")
        return xy

    def _sample_task(self, options: dict) -> tuple[list, list, int]:
        rng = self.np_random
        min_len = int(options.get("min_path_length") or 0)
        max_len = self.oracle_steps(np.zeros(2), np.full(2, np.pi - 1e-9))
        if min_len > max_len:
            raise ValueError(f"min_path_length={min_len} is impossible: the longest oracle path of the "
                             f"reacher is {max_len} steps (both joints turning by pi at {W_MAX} rad/s)")
        pinned_start = self._check_start(options["start"]) if "start" in options else None
        pinned_goal = self._check_goal(options["goal"]) if "goal" in options else None
        for _ in range(MAX_SAMPLE_TRIES):
            start = pinned_start if pinned_start is not None else rng.uniform(-np.pi, np.pi, 2)
            if pinned_goal is not None:
                sols = inverse_kinematics(pinned_goal)
                goal = min(sols, key=lambda q: self.oracle_steps(start, q))  # noqa: B023
            else:
                goal = rng.uniform(-np.pi, np.pi, 2)
            steps = self.oracle_steps(start, goal)
            if steps >= min_len and np.linalg.norm(forward_kinematics(start) - forward_kinematics(goal)) \
                    > self.success_threshold:
                return list(start), list(goal), steps
            if pinned_start is not None and pinned_goal is not None:
                break
        raise ValueError(f"could not sample a reacher task with min_path_length={min_len} and the pinned "
                         f"options {sorted(k for k in options if k != 'min_path_length')}; relax them")

    # ----------------------------------------------------------------- physics
    def _set_configuration(self, config: list) -> None:
        set_joint_states(self.client, self._arm, config)

    def _apply_action(self, action: np.ndarray) -> None:
        self.client.setJointMotorControlArray(self._arm, [0, 1], pybullet.VELOCITY_CONTROL,
                                              targetVelocities=list(W_MAX * action), forces=list(MAX_TORQUE))

    def _read_state(self) -> np.ndarray:
        q, v = joint_states(self.client, self._arm, (0, 1))
        tip = forward_kinematics(q)
        return np.array([math.cos(q[0]), math.sin(q[0]), math.cos(q[1]), math.sin(q[1]), v[0], v[1], *tip])

    def joint_angles(self, obs: np.ndarray) -> np.ndarray:
        """Joint angles (..., 2) recovered from state observations (..., 8)."""
        obs = np.asarray(obs)
        return np.stack([np.arctan2(obs[..., 1], obs[..., 0]), np.arctan2(obs[..., 3], obs[..., 2])], axis=-1)

    def goal_distance(self, achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
        """Fingertip distance (dims 6:8), vectorised: (..., 8) -> (...)."""
        a, d = np.asarray(achieved), np.asarray(desired)
        return np.linalg.norm(a[..., 6:8] - d[..., 6:8], axis=-1)

    def _pixel_success(self, achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
        """Red fingertip-marker centroids, in world units, at most ``success_threshold`` apart."""
        ca = self.camera.pixel_to_world(mask_centroid(colour_mask(achieved, TIP_RGBA[:3])))
        cd = self.camera.pixel_to_world(mask_centroid(colour_mask(desired, TIP_RGBA[:3])))
        return np.nan_to_num(np.linalg.norm(ca - cd, axis=-1), nan=np.inf) <= self.success_threshold
