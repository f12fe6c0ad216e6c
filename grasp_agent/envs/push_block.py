"""PushBlock: a planar pusher must push a block to a goal position and orientation (pybullet).

Table: the square ``[-0.5, 0.5]^2`` m closed by four walls. The pusher (cylinder, radius 0.04 m) and
the block ride on planar joints (pusher x/y; block x/y/yaw), so nothing tips or leaves the plane; the
block's sliding friction on the table is modelled as viscous joint damping (linear 10 N s/m, angular
``10 * r_g^2`` with ``r_g`` its radius of gyration). Action ``a`` in Box(-1, 1, (2,)) is the pusher's
velocity command ``V_MAX * a`` (``V_MAX`` = 0.4 m/s per axis) tracked by a motor of at most 30 N.
One env step = 5 physics steps = 0.05 s. ``shape="box"`` is a 0.16 m square (angle symmetric modulo
pi/2); ``shape="T"`` is a T (0.24 x 0.06 bar on a 0.06 x 0.18 stem, one compound body, no
symmetry). The block's (x, y) is its centre of mass.

Observation (state mode), float32 (11,): pusher ``(x, y, vx, vy)``, block ``(x, y, cos th, sin th, vx,
vy, w)``. ``desired_goal`` is the observation with the block at the goal pose, the pusher at its
start position of this episode and all velocities zero. Pixel mode: 64x64 top-down image, pusher
red, block blue.

Success: block position error <= ``POS_THRESHOLD`` = 0.04 m AND angle error (modulo the shape's
symmetry) <= ``ANGLE_THRESHOLD`` = 0.2 rad. ``goal_distance`` = ``max(pos_err, angle_err * 0.04 / 0.2)``
(metres; uses only the block pose dims 4:8), so success is ``goal_distance <= success_threshold``
(= 0.04). Pixel mode compares the blue block masks of both images: success when their centroids
(world units) are at most 0.04 m apart and their intersection-over-union is >= ``PIXEL_IOU``.

Oracle path length (a documented LOWER BOUND, exact planning of pushes is intractable):
``ceil((d_reach + d_block) / (sqrt(2) * V_MAX * dt))`` with ``d_reach`` the distance the pusher must
cover to touch the block (centre distance minus pusher radius minus the block's circumscribed
radius, floored at 0), ``d_block`` the block's translation, and ``sqrt(2) * V_MAX`` the pusher's top
speed along a diagonal. Rotation and repositioning around the block are ignored.

Reset options: ``start``: ``(pusher_x, pusher_y, block_x, block_y, block_theta)``; ``goal``:
``(block_x, block_y, block_theta)``; ``min_path_length`` as for every env (ValueError when no task of
that length can be sampled).
"""

from __future__ import annotations

import math

import numpy as np
import pybullet

from grasp_agent.envs.bullet_base import BulletGoalEnv
from grasp_agent.envs.bullet_scene import (
    WALL_RGBA,
    add_box,
    add_floor,
    colour_mask,
    create_planar_body,
    in_contact,
    joint_states,
    mask_centroid,
    mask_iou,
    set_joint_states,
)

HALF_TABLE = 0.5
WALL_THICK = 0.05
HEIGHT = 0.03  # half height of pusher and block; both ride at z = HEIGHT
PUSHER_RADIUS = 0.04
PUSHER_MASS = 1.0
V_MAX = 0.4  # m/s per axis
PUSHER_FORCE = 30.0
BLOCK_MASS = 1.0
BLOCK_LIN_DAMPING = 10.0
PUSHER_RGBA = (0.9, 0.1, 0.1, 1.0)
BLOCK_RGBA = (0.1, 0.3, 0.9, 1.0)
POS_THRESHOLD = 0.04
ANGLE_THRESHOLD = 0.2
PIXEL_IOU = 0.5
SAMPLE_HALF = 0.3  # block poses are sampled with |x|, |y| <= SAMPLE_HALF
MAX_SAMPLE_TRIES = 5000

# shape name -> list of (half_x, half_y, centre_x, centre_y) boxes in the centre-of-mass frame, symmetry
_T_BAR, _T_STEM = (0.12, 0.03), (0.03, 0.09)
_T_AREA_BAR, _T_AREA_STEM = 4 * _T_BAR[0] * _T_BAR[1], 4 * _T_STEM[0] * _T_STEM[1]
_T_BAR_Y = (_T_BAR[1] + _T_STEM[1]) * 2 * _T_AREA_STEM / (_T_AREA_BAR + _T_AREA_STEM)
_T_STEM_Y = _T_BAR_Y - _T_BAR[1] - _T_STEM[1]
SHAPES: dict[str, tuple[list[tuple[float, float, float, float]], float]] = {
    "box": ([(0.08, 0.08, 0.0, 0.0)], math.pi / 2),
    "T": ([(*_T_BAR, 0.0, _T_BAR_Y), (*_T_STEM, 0.0, _T_STEM_Y)], 2 * math.pi),
}


def _shape_inertia(boxes: list[tuple[float, float, float, float]]) -> tuple[float, float]:
    """(yaw moment of inertia about the COM, circumscribed radius) of a uniform set of boxes."""
    areas = np.array([4 * hx * hy for hx, hy, _, _ in boxes])
    masses = BLOCK_MASS * areas / areas.sum()
    inertia = sum(m * ((2 * hx) ** 2 + (2 * hy) ** 2) / 12 + m * (cx * cx + cy * cy)
                  for m, (hx, hy, cx, cy) in zip(masses, boxes))
    radius = max(math.hypot(abs(cx) + hx, abs(cy) + hy) for hx, hy, cx, cy in boxes)
    return float(inertia), float(radius)


def pose_error(pos_err: np.ndarray, dtheta: np.ndarray, symmetry: float) -> np.ndarray:
    """``max(pos_err, angle_err * POS_THRESHOLD / ANGLE_THRESHOLD)``, angle error modulo ``symmetry``."""
    ang = np.abs((np.asarray(dtheta) + symmetry / 2) % symmetry - symmetry / 2)
    return np.maximum(pos_err, ang * POS_THRESHOLD / ANGLE_THRESHOLD)


class PushBlockEnv(BulletGoalEnv):
    """Planar pushing of a box or T to a goal pose; see the module docstring for all definitions."""

    ACTION_PERSISTS = True  # velocity motors keep their target between physics steps
    success_threshold = POS_THRESHOLD

    def __init__(self, shape: str = "box", obs_mode: str = "state", image_size: int = 64,
                 render_mode: str | None = None, terminate_on_success: bool = False) -> None:
        if shape not in SHAPES:
            raise ValueError(f"unknown block shape {shape!r}; valid shapes are {sorted(SHAPES)}")
        self.shape = shape
        self._boxes, self.symmetry = SHAPES[shape]
        self._inertia, self.block_radius = _shape_inertia(self._boxes)
        super().__init__(obs_mode, image_size, render_mode, terminate_on_success)

    # ----------------------------------------------------------------- scene
    def _build_scene(self) -> None:
        client = self.client
        add_floor(client, self._world_bounds(), margin=0.0)
        h, t = HALF_TABLE, WALL_THICK
        self._walls = frozenset(add_box(client, half, pos, WALL_RGBA) for half, pos in (
            ([h + 2 * t, t, 2 * HEIGHT], [0, h + t, 2 * HEIGHT]),
            ([h + 2 * t, t, 2 * HEIGHT], [0, -h - t, 2 * HEIGHT]),
            ([t, h, 2 * HEIGHT], [h + t, 0, 2 * HEIGHT]),
            ([t, h, 2 * HEIGHT], [-h - t, 0, 2 * HEIGHT])))
        col = client.createCollisionShape(pybullet.GEOM_CYLINDER, radius=PUSHER_RADIUS, height=2 * HEIGHT)
        vis = client.createVisualShape(pybullet.GEOM_CYLINDER, radius=PUSHER_RADIUS, length=2 * HEIGHT,
                                       rgbaColor=list(PUSHER_RGBA))
        self._pusher = create_planar_body(client, col, vis, PUSHER_MASS, HEIGHT, damping=[0.0, 0.0])
        halves = [[hx, hy, HEIGHT] for hx, hy, _, _ in self._boxes]
        frames = [[cx, cy, 0.0] for _, _, cx, cy in self._boxes]
        n = len(self._boxes)
        col = client.createCollisionShapeArray([pybullet.GEOM_BOX] * n, halfExtents=halves,
                                               collisionFramePositions=frames)
        vis = client.createVisualShapeArray([pybullet.GEOM_BOX] * n, halfExtents=halves,
                                            visualFramePositions=frames, rgbaColors=[list(BLOCK_RGBA)] * n)
        ang = BLOCK_LIN_DAMPING * self._inertia / BLOCK_MASS
        self._block = create_planar_body(client, col, vis, BLOCK_MASS, HEIGHT, yaw=True,
                                         damping=[BLOCK_LIN_DAMPING, BLOCK_LIN_DAMPING, ang],
                                         inertia_z=self._inertia)

    def _world_bounds(self) -> tuple[float, float, float, float]:
        r = HALF_TABLE + 2 * WALL_THICK
        return (-r, r, -r, r)

    def _state_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        h, v, w = HALF_TABLE, 3 * V_MAX, 3 * V_MAX / 0.05
        high = np.array([h, h, v, v, h, h, 1, 1, v, v, w], dtype=np.float64)
        return -high, high

    # ----------------------------------------------------------------- tasks
    def oracle_steps(self, pusher: np.ndarray, block_from: np.ndarray, block_to: np.ndarray) -> int:
        """Lower bound on env steps (see module docstring); arguments are (x, y[, theta]) arrays."""
        gap = float(np.linalg.norm(pusher[:2] - block_from[:2]))
        reach = max(0.0, gap - PUSHER_RADIUS - self.block_radius)
        travel = float(np.linalg.norm(block_to[:2] - block_from[:2]))
        return int(math.ceil((reach + travel) / (math.sqrt(2) * V_MAX * self.dt) - 1e-9))

    def _check(self, name: str, value, size: int) -> np.ndarray:
        arr = np.asarray(value, dtype=np.float64)
        if arr.shape != (size,) or not np.all(np.isfinite(arr)):
            what = "(pusher_x, pusher_y, block_x, block_y, block_theta)" if size == 5 else \
                "(block_x, block_y, block_theta)"
            raise ValueError(f"option {name!r} must be finite {what}, got {value!r}")
        return arr

    def _valid_start(self, pusher: np.ndarray, block: np.ndarray) -> str | None:
        """Why (pusher, block pose) is not a valid start, or None if it is."""
        if np.abs(pusher).max() > HALF_TABLE - PUSHER_RADIUS:
            return f"pusher {pusher.tolist()} must satisfy |x|, |y| <= {HALF_TABLE - PUSHER_RADIUS}"
        if np.abs(block[:2]).max() > HALF_TABLE - self.block_radius:
            return (f"block position {block[:2].tolist()} must satisfy |x|, |y| <= "
                    f"{HALF_TABLE - self.block_radius:.3f}")
        if np.linalg.norm(pusher - block[:2]) < PUSHER_RADIUS + self.block_radius:
            return (f"pusher {pusher.tolist()} must be at least {PUSHER_RADIUS + self.block_radius:.3f} m "
                    f"from the block centre {block[:2].tolist()}")
        return None

    def _sample_task(self, options: dict) -> tuple[list, list, int]:
        rng = self.np_random
        min_len = int(options.get("min_path_length") or 0)
        start = self._check("start", options["start"], 5) if "start" in options else None
        goal = self._check("goal", options["goal"], 3) if "goal" in options else None
        if start is not None and (why := self._valid_start(start[:2], start[2:])):
            raise ValueError(f"option 'start' is invalid: {why}")
        if goal is not None and np.abs(goal[:2]).max() > HALF_TABLE - self.block_radius:
            raise ValueError(f"option 'goal' block position {goal[:2].tolist()} must satisfy |x|, |y| <= "
                             f"{HALF_TABLE - self.block_radius:.3f}")
        lim = HALF_TABLE - PUSHER_RADIUS
        longest = 0
        for _ in range(MAX_SAMPLE_TRIES):
            block = start[2:] if start is not None else np.array(
                [*rng.uniform(-SAMPLE_HALF, SAMPLE_HALF, 2), rng.uniform(-np.pi, np.pi)])
            pusher = start[:2] if start is not None else rng.uniform(-lim, lim, 2)
            target = goal if goal is not None else np.array(
                [*rng.uniform(-SAMPLE_HALF, SAMPLE_HALF, 2), rng.uniform(-np.pi, np.pi)])
            if self._valid_start(pusher, block) is not None:
                continue
            steps = self.oracle_steps(pusher, block, target)
            longest = max(longest, steps)
            if steps >= min_len and self._pose_error(block, target) > self.success_threshold:
                return [*pusher, *block], [*pusher, *target], steps
            if start is not None and goal is not None:
                break
        raise ValueError(f"could not sample a PushBlock task with min_path_length={min_len} and pinned "
                         f"options {sorted(k for k in options if k != 'min_path_length')} in "
                         f"{MAX_SAMPLE_TRIES} tries (longest oracle length seen: {longest} steps); "
                         f"lower min_path_length")

    def _pose_error(self, pose_a: np.ndarray, pose_b: np.ndarray) -> float:
        pos = np.linalg.norm(pose_a[:2] - pose_b[:2])
        return float(pose_error(pos, pose_a[2] - pose_b[2], self.symmetry))

    # ----------------------------------------------------------------- physics
    def _set_configuration(self, config: list) -> None:
        set_joint_states(self.client, self._pusher, config[:2])
        set_joint_states(self.client, self._block, config[2:])

    def _apply_action(self, action: np.ndarray) -> None:
        self.client.setJointMotorControlArray(self._pusher, [0, 1], pybullet.VELOCITY_CONTROL,
                                              targetVelocities=list(V_MAX * action),
                                              forces=[PUSHER_FORCE] * 2)

    def _read_state(self) -> np.ndarray:
        qp, vp = joint_states(self.client, self._pusher, (0, 1))
        qb, vb = joint_states(self.client, self._block, (0, 1, 2))
        return np.array([*qp, *vp, qb[0], qb[1], math.cos(qb[2]), math.sin(qb[2]), *vb])

    def _contact_obstacle(self) -> bool:
        client = self.client
        return in_contact(client, self._pusher, self._walls) or in_contact(client, self._block, self._walls)

    def _extra_info(self) -> dict:
        return {"touches_block": bool(self.client.getContactPoints(bodyA=self._pusher, bodyB=self._block))}

    def goal_distance(self, achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
        """Block pose error (dims 4:8 only), vectorised (..., 11) -> (...): see the module docstring."""
        a, d = np.asarray(achieved, dtype=np.float64), np.asarray(desired, dtype=np.float64)
        pos = np.linalg.norm(a[..., 4:6] - d[..., 4:6], axis=-1)
        dth = np.arctan2(a[..., 7], a[..., 6]) - np.arctan2(d[..., 7], d[..., 6])
        return pose_error(pos, dth, self.symmetry)

    def _pixel_success(self, achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
        """Blue block masks: centroid distance (world units) < 0.04 m and IoU >= ``PIXEL_IOU``."""
        ma, md = colour_mask(achieved, BLOCK_RGBA[:3]), colour_mask(desired, BLOCK_RGBA[:3])
        ca, cd = self.camera.pixel_to_world(mask_centroid(ma)), self.camera.pixel_to_world(mask_centroid(md))
        dist = np.nan_to_num(np.linalg.norm(ca - cd, axis=-1), nan=np.inf)
        return (dist <= POS_THRESHOLD) & (mask_iou(ma, md) >= PIXEL_IOU)
