"""MiniGridGoal: goal reaching on a fixed minigrid layout with absolute-direction moves.

Actions are ``Discrete(4)`` absolute moves (minigrid's direction order): ``0`` right (+col),
``1`` down (+row), ``2`` left (-col), ``3`` up (-row). A move into a wall leaves the agent in
place and sets ``info["touches_obstacle"]``. No turning, no objects: one move = one oracle step,
which keeps planning (and the BFS oracle) exact.

Observation modes (``Dict`` with ``observation`` / ``achieved_goal`` / ``desired_goal``):

* ``"state"`` with ``state_encoding="xy"`` (default): the agent cell as ``((col + 0.5) / W,
  (row + 0.5) / H)``, ``(2,)`` float32 in ``[0, 1]``; the layout is fixed per env, so the
  position is the whole state, and latent distances are meaningful for planners.
* ``"state"`` with ``state_encoding="grid"``: ``(2 + 2 H W,)`` float32: the ``xy`` pair, then the
  wall occupancy grid and the agent's one-hot grid (both row-major), for models that should
  read the layout.
* ``"pixels"``: the minigrid rendering (tiles, the agent as a red disc, NO goal tile) area-
  resized to ``(S, S, 3)`` uint8; ``desired_goal`` is the image with the agent on the goal.

Reward: ``0`` when the agent is on the goal cell, else ``-1``. ``goal_distance`` is the
Euclidean distance between cells (in cells) and ``success_threshold = 0.5``; pixel-mode
``compute_reward`` recovers the cells from the images. ``info["oracle_path_length"]`` is the
exact BFS move count.

Example::

    env = gymnasium.make("grasp_agent/MiniGridGoal-v0", layout="four_rooms", obs_mode="pixels")
    obs, info = env.reset(seed=0, options={"min_path_length": 20})
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from grasp_agent.envs.goal_env import (
    GoalRewardMixin,
    all_pairs_bfs,
    check_min_path_length,
    check_options,
)
from grasp_agent.envs.minigrid_layouts import MiniGridRenderer, build_layout, free_mask

OBS_MODES = ("state", "pixels")
STATE_ENCODINGS = ("xy", "grid")
RESET_OPTIONS = ("start", "goal", "min_path_length")
MOVES = ((1, 0), (0, 1), (-1, 0), (0, -1))  # (dcol, drow) for actions 0..3
SUCCESS_THRESHOLD = 0.5

_LAYOUT_CACHE: dict[str, tuple[Any, np.ndarray, np.ndarray, np.ndarray]] = {}


def _layout(name: str) -> tuple[Any, np.ndarray, np.ndarray, np.ndarray]:
    """``(grid, free (H, W), cells (N, 2) as (row, col), dist (N, N))`` for a layout, cached."""
    if name not in _LAYOUT_CACHE:
        grid = build_layout(name)
        free = free_mask(grid)
        cells, dist = all_pairs_bfs(free)
        _LAYOUT_CACHE[name] = (grid, free, cells, dist)
    return _LAYOUT_CACHE[name]


class MiniGridGoalEnv(GoalRewardMixin, gym.Env):
    """Reach a goal cell on a fixed minigrid layout (see the module docstring).

    Args:
        layout: ``"four_rooms"``, ``"two_rooms"`` or ``"snake_rooms"``.
        obs_mode: ``"state"`` or ``"pixels"``.
        image_size: side of the pixel observation (>= 16).
        render_mode: ``None`` or ``"rgb_array"`` (full-resolution frame with the goal tile).
        state_encoding: ``"xy"`` or ``"grid"`` (state mode only).
        terminate_on_success: end the episode on the goal cell.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, layout: str = "four_rooms", obs_mode: str = "state", image_size: int = 64,
                 render_mode: str | None = None, state_encoding: str = "xy",
                 terminate_on_success: bool = False) -> None:
        if obs_mode not in OBS_MODES:
            raise ValueError(f"unknown obs_mode {obs_mode!r}; valid modes are {list(OBS_MODES)}")
        if state_encoding not in STATE_ENCODINGS:
            raise ValueError(f"unknown state_encoding {state_encoding!r}; valid: {list(STATE_ENCODINGS)}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"unknown render_mode {render_mode!r}; valid: None, 'rgb_array'")
        if isinstance(image_size, bool) or not isinstance(image_size, (int, np.integer)) or image_size < 16:
            raise ValueError(f"image_size must be an int >= 16, got {image_size!r}")
        self.layout = layout
        self.grid, self.free, self._cells, self._dist = _layout(layout)
        self.height, self.width = self.free.shape
        self.obs_mode, self.state_encoding = obs_mode, state_encoding
        self.render_mode = render_mode
        self.image_size = int(image_size)
        self.terminate_on_success = bool(terminate_on_success)
        self.success_threshold = SUCCESS_THRESHOLD
        self.renderer = MiniGridRenderer(self.grid, self.image_size)
        self._index = -np.ones(self.free.shape, dtype=np.int64)
        self._index[self._cells[:, 0], self._cells[:, 1]] = np.arange(len(self._cells))
        self.max_path_steps = int(self._dist.max())
        self._walls = (~self.free).astype(np.float32).ravel()

        if obs_mode == "pixels":
            space: spaces.Box = spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8)
        else:
            dim = 2 if state_encoding == "xy" else 2 + 2 * self.free.size
            space = spaces.Box(0.0, 1.0, (dim,), np.float32)
        self.observation_space = spaces.Dict(
            {"observation": space, "achieved_goal": space, "desired_goal": space})
        self.action_space = spaces.Discrete(len(MOVES))
        self._agent = (1, 1)
        self._goal = (1, 1)
        self._goal_obs: np.ndarray | None = None
        self.oracle_path_length = 0

    # ------------------------------------------------------------------ task metric / oracle
    def goal_features(self, obs: np.ndarray) -> np.ndarray:
        """Agent cell ``(..., 2)`` float64 ``(col, row)`` from observations of this env's mode."""
        if self.obs_mode == "pixels":
            return self.renderer.decode_cell(obs)
        xy = np.asarray(obs, dtype=np.float64)[..., :2]
        return np.rint(xy * np.array([self.width, self.height]) - 0.5)

    def path_steps(self, start: tuple[int, int], goal: tuple[int, int]) -> int:
        """Exact fewest moves between two free cells given as ``(col, row)`` (-1 if unreachable)."""
        return int(self._dist[self._index[start[1], start[0]], self._index[goal[1], goal[0]]])

    def observe(self, cell: tuple[int, int]) -> np.ndarray:
        """The observation (in this env's mode) of the agent standing on ``cell = (col, row)``."""
        col, row = cell
        if self.obs_mode == "pixels":
            return self.renderer.observe(cell)
        xy = np.array([(col + 0.5) / self.width, (row + 0.5) / self.height], dtype=np.float32)
        if self.state_encoding == "xy":
            return xy
        agent = np.zeros(self.free.size, dtype=np.float32)
        agent[row * self.width + col] = 1.0
        return np.concatenate([xy, self._walls, agent])

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Sample (or pin) start and goal cells; options ``start``, ``goal`` (``(col, row)``),
        ``min_path_length`` (moves)."""
        super().reset(seed=seed)
        opts = check_options(options, RESET_OPTIONS)
        min_steps = check_min_path_length(opts.get("min_path_length", 0))
        if min_steps > self.max_path_steps:
            raise ValueError(f"min_path_length={min_steps} exceeds the longest task of layout "
                             f"{self.layout!r} ({self.max_path_steps} moves); lower it or pick "
                             "a larger layout")
        start = self._check_cell(opts["start"], "start") if "start" in opts else None
        goal = self._check_cell(opts["goal"], "goal") if "goal" in opts else None
        s_idx, g_idx = self._pick_task(start, goal, min_steps)
        self._agent = (int(self._cells[s_idx, 1]), int(self._cells[s_idx, 0]))
        self._goal = (int(self._cells[g_idx, 1]), int(self._cells[g_idx, 0]))
        self._goal_obs = self.observe(self._goal)
        self.oracle_path_length = int(self._dist[s_idx, g_idx])
        obs = self._observation()
        info = {"oracle_path_length": self.oracle_path_length, "is_success": self._agent == self._goal,
                "touches_obstacle": False, "start": np.array(self._agent), "goal": np.array(self._goal)}
        return obs, info

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Move one cell in an absolute direction (0 right, 1 down, 2 left, 3 up)."""
        if self._goal_obs is None:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(action)
        if a.shape not in ((), (1,)) or not np.issubdtype(a.dtype, np.integer) or not 0 <= int(a) < 4:
            raise ValueError(f"action must be an int in [0, 4) (0 right, 1 down, 2 left, 3 up), "
                             f"got {action!r}")
        dc, dr = MOVES[int(a)]
        col, row = self._agent[0] + dc, self._agent[1] + dr
        blocked = not self.free[row, col]
        if not blocked:
            self._agent = (col, row)
        success = self._agent == self._goal
        info = {"is_success": success, "touches_obstacle": blocked}
        reward = 0.0 if success else -1.0
        return self._observation(), reward, success and self.terminate_on_success, False, info

    def render(self) -> np.ndarray | None:
        """Full-resolution frame (16 px per cell) with the goal tile (``render_mode="rgb_array"``)."""
        if self.render_mode is None:
            gym.logger.warn("render() called with render_mode=None; pass render_mode='rgb_array'")
            return None
        return self.renderer.frame(self._agent, goal=self._goal)

    # ------------------------------------------------------------------ internals
    def _observation(self) -> dict[str, np.ndarray]:
        obs = self.observe(self._agent)
        return {"observation": obs, "achieved_goal": obs.copy(), "desired_goal": self._goal_obs.copy()}

    def _check_cell(self, value: Any, name: str) -> int:
        cell = np.asarray(value)
        if cell.shape != (2,) or not np.issubdtype(cell.dtype, np.integer):
            raise ValueError(f"option {name!r} must be an integer (col, row) pair, got {value!r}")
        col, row = int(cell[0]), int(cell[1])
        if not (0 <= col < self.width and 0 <= row < self.height) or not self.free[row, col]:
            raise ValueError(f"option {name!r}=({col}, {row}) is outside the {self.width}x{self.height} "
                             f"grid or on a wall of layout {self.layout!r}")
        return int(self._index[row, col])

    def _pick_task(self, start: int | None, goal: int | None, min_steps: int) -> tuple[int, int]:
        """Uniform over (start, goal) cell pairs at least ``max(min_steps, 1)`` moves apart."""
        need = max(min_steps, 1)
        if start is not None and goal is not None:
            if self._dist[start, goal] < min_steps:
                raise ValueError(f"the pinned start and goal are {self._dist[start, goal]} moves apart, "
                                 f"fewer than min_path_length={min_steps}")
            return start, goal
        rows = self._dist if start is None else self._dist[start][None]
        if goal is not None:
            rows = rows[:, goal][:, None]
        pairs = np.flatnonzero(rows >= need)
        if len(pairs) == 0:
            raise ValueError(f"no task with min_path_length={min_steps} for the pinned "
                             f"{'start' if start is not None else 'goal'}; lower it or unpin")
        r, c = divmod(int(self.np_random.choice(pairs)), rows.shape[1])
        s_idx = start if start is not None else r
        g_idx = goal if goal is not None else c
        return s_idx, g_idx
