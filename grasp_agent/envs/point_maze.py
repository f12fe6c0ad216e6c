"""PointMaze: a force-driven ball in a maze of box walls (pybullet, Gymnasium-native).

The ball (radius ``BALL_RADIUS``, mass 1 kg) moves on prismatic x/y joints, so it stays exactly on
the plane. Action ``a`` in Box(-1, 1, (2,)) applies the planar force ``MAX_FORCE * a`` against viscous
damping ``DAMPING``: terminal speed ``V_MAX = MAX_FORCE / DAMPING`` = 3 cells/s per axis, time
constant ~0.2 s (4 env steps). One env step is ``FRAME_SKIP`` = 5 physics steps of 10 ms = 0.05 s.

Observation (state mode): ``(x, y, vx, vy)`` float32 in cell units (cell (row, col) is centred at
``x = col, y = -row``). Pixel mode: a 64x64 top-down image, ball red, walls dark grey.

Goal and reward: success when the ball centre is within ``success_threshold`` = 0.5 cells of the goal
position (velocity ignored); ``goal_distance`` is that Euclidean distance. In pixel mode
``compute_reward`` locates the red ball in both images (colour mask centroid, mapped back to world
units) and compares the same distance against the same threshold.

Oracle path length (``info["oracle_path_length"]``): an *estimate*, not an exact optimum. BFS over the
4-connected free cells gives the number of cell moves ``n`` between the start and goal cells; the
estimate is ``ceil((n - 0.5) / (V_MAX * dt) + TAU / dt)`` = ``ceil(6.67 (n - 0.5) + 4)`` steps, i.e. the
time to come within the success radius (0.5 cells) of a goal ``n`` cell lengths away at full speed,
plus one time constant of acceleration, measured from these dynamics (a straight run from rest
covers 3 cells in 24 steps; the formula gives 24 for n = 3.5). It ignores the in-cell jitter of start
and goal (+-0.25 cells each), braking and the time lost in turns (the ball cannot turn at full
speed), and corner cutting (which can shorten diagonal runs); ``tests/test_envs_bullet_control.py``
checks that a scripted BFS-waypoint controller needs between 0.75x and 2x of it.

Reset options: ``start`` / ``goal``: world (x, y) positions (must be in free space, ball not
overlapping a wall); ``min_path_length``: sample start/goal cells whose oracle length is at least
this many steps (ValueError naming the largest possible value if none). Sampled start and goal are
always in different cells; a pinned pair may share one (oracle length 0).
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
    apply_joint_forces,
    colour_mask,
    create_planar_body,
    joint_states,
    mask_centroid,
    set_joint_states,
)
from grasp_agent.envs.maze_layouts import all_pairs_cell_distances, parse_layout

CELL = 1.0
BALL_RADIUS = 0.2
BALL_MASS = 1.0
BALL_RGBA = (0.9, 0.1, 0.1, 1.0)
DAMPING = 5.0  # N s/m
MAX_FORCE = 15.0  # N per axis
V_MAX = MAX_FORCE / DAMPING  # terminal speed per axis, cells/s
TAU = BALL_MASS / DAMPING  # velocity time constant, s
WALL_HEIGHT = 0.5
JITTER = 0.25  # uniform +- offset of sampled start/goal positions inside their cell
SUCCESS_THRESHOLD = 0.5


class PointMazeEnv(BulletGoalEnv):
    """Goal-conditioned point-mass maze; see the module docstring for dynamics, reward and oracle."""

    success_threshold = SUCCESS_THRESHOLD

    def __init__(self, layout: str = "umaze", obs_mode: str = "state", image_size: int = 64,
                 render_mode: str | None = None, terminate_on_success: bool = False) -> None:
        self.layout = layout
        self.walls = parse_layout(layout)  # raises ValueError naming the valid layouts
        self.cells, self.cell_dist = all_pairs_cell_distances(self.walls)
        self._cell_index = {c: i for i, c in enumerate(self.cells)}
        super().__init__(obs_mode, image_size, render_mode, terminate_on_success)
        self._cell_steps = np.vectorize(self.steps_for_cells, otypes=[np.int64])(self.cell_dist)

    # ----------------------------------------------------------------- scene
    def _build_scene(self) -> None:
        client = self.client
        add_floor(client, self._world_bounds(), margin=0.0)
        half = [CELL / 2, CELL / 2, WALL_HEIGHT / 2]
        self._wall_ids = [add_box(client, half, [c * CELL, -r * CELL, WALL_HEIGHT / 2], WALL_RGBA)
                          for r, c in zip(*np.nonzero(self.walls))]
        col = client.createCollisionShape(pybullet.GEOM_SPHERE, radius=BALL_RADIUS)
        vis = client.createVisualShape(pybullet.GEOM_SPHERE, radius=BALL_RADIUS, rgbaColor=list(BALL_RGBA))
        self._ball = create_planar_body(client, col, vis, BALL_MASS, BALL_RADIUS, damping=[DAMPING, DAMPING])
        for j in range(2):
            client.changeDynamics(self._ball, j, lateralFriction=0.0, restitution=0.0)

    def _world_bounds(self) -> tuple[float, float, float, float]:
        rows, cols = self.walls.shape
        return (-CELL / 2, (cols - 0.5) * CELL, -(rows - 0.5) * CELL, CELL / 2)

    def _state_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        xmin, xmax, ymin, ymax = self._world_bounds()
        vmax = 3 * V_MAX
        return np.array([xmin, ymin, -vmax, -vmax]), np.array([xmax, ymax, vmax, vmax])

    # ----------------------------------------------------------------- geometry and tasks
    def cell_of(self, xy: np.ndarray) -> tuple[int, int]:
        """The (row, col) cell containing world position ``xy``."""
        return int(round(-xy[1] / CELL)), int(round(xy[0] / CELL))

    def cell_centre(self, cell: tuple[int, int]) -> np.ndarray:
        return np.array([cell[1] * CELL, -cell[0] * CELL])

    def steps_for_cells(self, n_cells: int) -> int:
        """Oracle estimate of env steps to travel ``n_cells`` cell moves (see module docstring)."""
        if n_cells <= 0:
            return 0
        travel = n_cells * CELL - SUCCESS_THRESHOLD
        return int(math.ceil(travel / (V_MAX * self.dt) + TAU / self.dt - 1e-9))

    def _check_position(self, name: str, value) -> np.ndarray:
        xy = np.asarray(value, dtype=np.float64)
        if xy.shape != (2,) or not np.all(np.isfinite(xy)):
            raise ValueError(f"option {name!r} must be a finite world position (x, y), got {value!r}")
        cell = self.cell_of(xy)
        rows, cols = self.walls.shape
        if not (0 <= cell[0] < rows and 0 <= cell[1] < cols) or self.walls[cell]:
            raise ValueError(f"option {name!r}={xy.tolist()} is not in a free cell of layout "
                             f"{self.layout!r}; free cells (row, col) are {self.cells}, "
                             f"centred at (x, y) = (col, -row)")
        for r, c in zip(*np.nonzero(self.walls)):
            gap = np.maximum(np.abs(xy - self.cell_centre((r, c))) - CELL / 2, 0.0)
            if np.hypot(*gap) < BALL_RADIUS - 1e-9:
                raise ValueError(f"option {name!r}={xy.tolist()}: the ball (radius {BALL_RADIUS}) would "
                                 f"overlap wall cell {(int(r), int(c))}; move it towards its cell centre")
        return xy

    def _sample_task(self, options: dict) -> tuple[list, list, int]:
        rng = self.np_random
        start = self._check_position("start", options["start"]) if "start" in options else None
        goal = self._check_position("goal", options["goal"]) if "goal" in options else None
        min_len = int(options.get("min_path_length") or 0)
        steps = self._cell_steps
        both_pinned = start is not None and goal is not None
        ok = ((self.cell_dist > 0) | both_pinned) & (steps >= min_len)
        if start is not None:
            ok &= np.arange(len(self.cells))[:, None] == self._cell_index[self.cell_of(start)]
        if goal is not None:
            ok &= np.arange(len(self.cells))[None, :] == self._cell_index[self.cell_of(goal)]
        if not ok.any():
            best = int(np.where(self.cell_dist > 0, steps, 0).max())
            raise ValueError(f"no start/goal pair in layout {self.layout!r} satisfies the options "
                             f"(start={start}, goal={goal}, min_path_length={min_len}); sampled start and "
                             f"goal must be in different cells and the longest oracle path in this layout is "
                             f"{best} steps")
        pairs = np.argwhere(ok)
        i, j = pairs[rng.integers(len(pairs))]
        if start is None:
            start = self.cell_centre(self.cells[i]) + rng.uniform(-JITTER, JITTER, 2)
        if goal is None:
            goal = self.cell_centre(self.cells[j]) + rng.uniform(-JITTER, JITTER, 2)
        return list(start), list(goal), int(steps[i, j])

    # ----------------------------------------------------------------- physics
    def _set_configuration(self, config: list) -> None:
        set_joint_states(self.client, self._ball, config)

    def _apply_action(self, action: np.ndarray) -> None:
        apply_joint_forces(self.client, self._ball, MAX_FORCE * action)

    def _read_state(self) -> np.ndarray:
        q, v = joint_states(self.client, self._ball, (0, 1))
        return np.concatenate([q, v])

    def _contact_obstacle(self) -> bool:
        return bool(self.client.getContactPoints(bodyA=self._ball))

    def goal_distance(self, achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
        """Euclidean distance between ball positions (dims 0:2), vectorised: (..., 4) -> (...)."""
        a, d = np.asarray(achieved), np.asarray(desired)
        return np.linalg.norm(a[..., :2] - d[..., :2], axis=-1)

    def _pixel_success(self, achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
        """Red-ball centroids of both images, in world units, at most ``success_threshold`` apart."""
        ca = self.camera.pixel_to_world(mask_centroid(colour_mask(achieved, BALL_RGBA[:3])))
        cd = self.camera.pixel_to_world(mask_centroid(colour_mask(desired, BALL_RGBA[:3])))
        dist = np.linalg.norm(ca - cd, axis=-1)
        return np.nan_to_num(dist, nan=np.inf) <= self.success_threshold
