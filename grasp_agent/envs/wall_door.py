"""WallDoor: a point agent in the unit square with a thick vertical wall and one door.

The arena is ``[0, 1]^2``. A wall ``[wall_x - t/2, wall_x + t/2] x [0, 1]`` splits it, except
for a door (gap) ``[door_center - w/2, door_center + w/2]`` in ``y``. Actions are velocities
``a in [-1, 1]^2``; the displacement is ``max_step * a / max(1, |a|_2)`` (so a step never moves
farther than ``max_step``). Motion is swept against the wall: the agent stops at the first
contact and slides along the face with the rest of the motion (no tunnelling at any speed);
the arena border clamps. Everything is pure numpy/Python, tens of thousands of steps per second.

Observation modes (``Dict`` with ``observation`` / ``achieved_goal`` / ``desired_goal``):

* ``"state"``: the agent position ``(2,)`` float32 in ``[0, 1]`` (kinematic: no velocity).
* ``"pixels"``: a ``(S, S, 3)`` uint8 top-down image (light floor, dark wall, anti-aliased red
  agent dot); ``desired_goal`` is the image with the agent at the goal. The goal is NOT drawn
  in observations (only in ``render()``), so start and goal images share one encoder.

Reward (both modes): ``0`` if the agent position is within ``success_threshold`` of the goal,
else ``-1``. In pixel mode ``compute_reward`` recovers the positions from the images (the
centroid of the agent's red-minus-green intensity; error < 0.005 at 64 px) and applies the same
threshold. ``info["touches_obstacle"]`` is True when the step's motion was cut short by the
wall or the arena border.

Oracle: the exact shortest collision-free path (the only reflex vertices are the 4 door
corners, so a 6-node visibility graph is exact); ``oracle_path_length = ceil(length /
max_step)`` steps to the goal point (an optimal controller may need one more step per door
corner it turns around). ``info["oracle_steps_to_success"] = ceil((length -
success_threshold) / max_step)`` counts the steps to enter the success radius instead.

Example::

    env = gymnasium.make("grasp_agent/WallDoor-v0", obs_mode="pixels")
    obs, info = env.reset(seed=0, options={"min_path_length": 40})
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from grasp_agent.envs.goal_env import GoalRewardMixin, check_min_path_length, check_options
from grasp_agent.envs.wall_door_geometry import WallDoorGeometry
from grasp_agent.envs.wall_door_render import WallDoorRenderer

OBS_MODES = ("state", "pixels")
TASKS = ("cross", "any")
RESET_OPTIONS = ("start", "goal", "min_path_length")
SAMPLE_BATCH = 128
SAMPLE_BATCHES = 64


class WallDoorEnv(GoalRewardMixin, gym.Env):
    """Goal-reaching point agent behind a wall with one door (see the module docstring).

    Args:
        obs_mode: ``"state"`` (position ``(2,)`` float32) or ``"pixels"`` (uint8 image).
        image_size: side of the pixel observation and of ``render()`` (>= 16).
        render_mode: ``None`` or ``"rgb_array"`` (the image with the goal marked in green).
        wall_x, wall_thickness: centre and thickness of the wall.
        door_center, door_width: centre (``y``) and height of the door.
        max_step: the largest displacement per step (in arena units).
        success_threshold: goal radius for ``is_success`` / reward.
        tasks: ``"cross"`` (start left of the wall, goal right of it) or ``"any"`` (both anywhere
            in free space, at least ``success_threshold`` apart).
        terminate_on_success: end the episode when the goal is reached.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, obs_mode: str = "state", image_size: int = 64, render_mode: str | None = None,
                 wall_x: float = 0.5, wall_thickness: float = 0.1, door_center: float = 0.8,
                 door_width: float = 0.1, max_step: float = 0.02, success_threshold: float = 0.05,
                 tasks: str = "cross", terminate_on_success: bool = False) -> None:
        if obs_mode not in OBS_MODES:
            raise ValueError(f"unknown obs_mode {obs_mode!r}; valid modes are {list(OBS_MODES)}")
        if tasks not in TASKS:
            raise ValueError(f"unknown tasks {tasks!r}; valid values are {list(TASKS)}")
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(f"unknown render_mode {render_mode!r}; valid: None, 'rgb_array'")
        if not 0.0 < max_step <= 0.5:
            raise ValueError(f"max_step must be in (0, 0.5], got {max_step}")
        if not success_threshold > 0.0:
            raise ValueError(f"success_threshold must be > 0, got {success_threshold}")
        self.obs_mode = obs_mode
        self.tasks = tasks
        self.render_mode = render_mode
        self.max_step = float(max_step)
        self.success_threshold = float(success_threshold)
        self.terminate_on_success = bool(terminate_on_success)
        self.geometry = WallDoorGeometry(wall_x, wall_thickness, door_center, door_width)
        self.renderer = WallDoorRenderer(self.geometry, image_size)
        self.image_size = self.renderer.size

        if obs_mode == "state":
            space: spaces.Box = spaces.Box(0.0, 1.0, (2,), np.float32)
        else:
            space = spaces.Box(0, 255, (self.image_size, self.image_size, 3), np.uint8)
        self.observation_space = spaces.Dict(
            {"observation": space, "achieved_goal": space, "desired_goal": space})
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)

        self._pos = (0.0, 0.0)
        self._goal = (1.0, 0.0)
        self._goal32 = (0.0, 0.0)
        self._goal_obs: np.ndarray | None = None
        self.oracle_path_length = 0
        pairs = self.geometry.extreme_pairs()
        self._extreme_pairs = pairs
        self._extreme_steps = self.path_steps(pairs[:, 0], pairs[:, 1])
        self.max_path_steps = int(self._extreme_steps.max())

    # ------------------------------------------------------------------ task metric / oracle
    def goal_features(self, obs: np.ndarray) -> np.ndarray:
        """Agent position ``(..., 2)`` float64 from observations ``(..., 2)`` or images."""
        if self.obs_mode == "state":
            return np.asarray(obs, dtype=np.float64)[..., :2]
        return self.renderer.decode_position(obs)

    def path_steps(self, start: np.ndarray, goal: np.ndarray) -> np.ndarray:
        """Oracle steps ``(N,)`` int: ``ceil(shortest path length / max_step)`` for ``(N, 2)`` pairs."""
        length = self.geometry.geodesic(np.atleast_2d(start), np.atleast_2d(goal))
        return np.ceil(length / self.max_step - 1e-9).astype(np.int64)

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Sample (or pin) a start and goal; options ``start``, ``goal``, ``min_path_length``."""
        super().reset(seed=seed)
        opts = check_options(options, RESET_OPTIONS)
        min_steps = check_min_path_length(opts.get("min_path_length", 0))
        if min_steps > self.max_path_steps:
            raise ValueError(
                f"min_path_length={min_steps} exceeds the longest task this layout allows "
                f"({self.max_path_steps} steps at max_step={self.max_step}); lower it, or lower "
                "max_step / move the door to lengthen the paths")
        start = self._check_point(opts["start"], "start") if "start" in opts else None
        goal = self._check_point(opts["goal"], "goal") if "goal" in opts else None
        start, goal, steps = self._pick_task(start, goal, min_steps)
        self._pos = (float(start[0]), float(start[1]))
        self._goal = (float(goal[0]), float(goal[1]))
        goal32 = np.array(self._goal, dtype=np.float32)
        self._goal32 = (float(goal32[0]), float(goal32[1]))
        self._goal_obs = goal32 if self.obs_mode == "state" else self.renderer.draw(self._goal)
        self.oracle_path_length = int(steps)
        obs = self._observation()
        length = float(self.geometry.geodesic(start[None], goal[None])[0])
        to_success = math.ceil(max(length - self.success_threshold, 0.0) / self.max_step - 1e-9)
        info = {"oracle_path_length": self.oracle_path_length, "oracle_steps_to_success": to_success,
                "is_success": self._success(obs),
                "touches_obstacle": False, "start": start.copy(), "goal": goal.copy()}
        return obs, info

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Move by ``max_step * a / max(1, |a|)`` with swept wall collisions."""
        if self._goal_obs is None:
            raise RuntimeError("call reset() before step()")
        a = np.asarray(action, dtype=np.float64)
        if a.shape != (2,):
            raise ValueError(f"action must have shape (2,), got {a.shape}")
        ax, ay = float(a[0]), float(a[1])
        if not (math.isfinite(ax) and math.isfinite(ay)):
            raise ValueError(f"action must be finite, got {action!r}")
        ax, ay = min(max(ax, -1.0), 1.0), min(max(ay, -1.0), 1.0)
        norm = math.sqrt(ax * ax + ay * ay)
        scale = self.max_step / norm if norm > 1.0 else self.max_step
        x, y, blocked = self.geometry.move(self._pos[0], self._pos[1], ax * scale, ay * scale)
        self._pos = (x, y)
        obs = self._observation()
        success = self._success(obs)
        info = {"is_success": success, "touches_obstacle": blocked}
        reward = 0.0 if success else -1.0
        return obs, reward, success and self.terminate_on_success, False, info

    def render(self) -> np.ndarray | None:
        """``(S, S, 3)`` uint8 image with the goal as a green dot (``render_mode="rgb_array"``)."""
        if self.render_mode is None:
            gym.logger.warn("render() called with render_mode=None; pass render_mode='rgb_array'")
            return None
        return self.renderer.draw(self._pos, goal=self._goal)

    # ------------------------------------------------------------------ internals
    def _observation(self) -> dict[str, np.ndarray]:
        if self.obs_mode == "state":
            obs = np.array(self._pos, dtype=np.float32)
        else:
            obs = self.renderer.draw(self._pos)
        return {"observation": obs, "achieved_goal": obs.copy(), "desired_goal": self._goal_obs.copy()}

    def _success(self, obs: dict[str, np.ndarray]) -> bool:
        """Same arithmetic as ``compute_reward`` (float64 of the float32 observation)."""
        if self.obs_mode != "state":
            return bool(self.compute_reward(obs["achieved_goal"], obs["desired_goal"]) == 0.0)
        ach = obs["achieved_goal"]
        dx, dy = float(ach[0]) - self._goal32[0], float(ach[1]) - self._goal32[1]
        return math.sqrt(dx * dx + dy * dy) <= self.success_threshold

    def _check_point(self, value: Any, name: str) -> np.ndarray:
        p = np.asarray(value, dtype=np.float64)
        if p.shape != (2,) or not np.all(np.isfinite(p)):
            raise ValueError(f"option {name!r} must be a finite (x, y) pair, got {value!r}")
        if np.any(p < 0.0) or np.any(p > 1.0):
            raise ValueError(f"option {name!r}={p.tolist()} lies outside the arena [0, 1]^2")
        if self.geometry.inside_wall(p[None])[0]:
            raise ValueError(f"option {name!r}={p.tolist()} lies inside the wall "
                             f"(x in [{self.geometry.x0:.3f}, {self.geometry.x1:.3f}] outside the door)")
        return p

    def _sample_region(self, n: int, region: str) -> np.ndarray:
        """``(n, 2)`` points: ``left`` / ``right`` of the wall, or ``free`` (anywhere not in the wall)."""
        g, rng = self.geometry, self.np_random
        if region == "left":
            return np.stack([rng.uniform(0.0, g.x0, n), rng.uniform(0.0, 1.0, n)], axis=1)
        if region == "right":
            return np.stack([rng.uniform(g.x1, 1.0, n), rng.uniform(0.0, 1.0, n)], axis=1)
        pts = rng.uniform(0.0, 1.0, (2 * n, 2))
        return pts[~g.inside_wall(pts)][:n]

    def _pick_task(self, start: np.ndarray | None, goal: np.ndarray | None, min_steps: int
                   ) -> tuple[np.ndarray, np.ndarray, int]:
        if start is not None and goal is not None:
            steps = int(self.path_steps(start, goal)[0])
            if steps < min_steps:
                raise ValueError(f"the pinned start and goal are {steps} oracle steps apart, fewer "
                                 f"than min_path_length={min_steps}")
            return start, goal, steps
        start_region, goal_region = ("left", "right") if self.tasks == "cross" else ("free", "free")
        for _ in range(SAMPLE_BATCHES):
            s = self._sample_region(SAMPLE_BATCH, start_region) if start is None else start[None]
            g = self._sample_region(SAMPLE_BATCH, goal_region) if goal is None else goal[None]
            n = min(len(s), len(g))
            s, g = np.broadcast_to(s, (n, 2)) if len(s) == 1 else s[:n], \
                np.broadcast_to(g, (n, 2)) if len(g) == 1 else g[:n]
            steps = self.path_steps(s, g)
            ok = (steps >= min_steps) & (np.linalg.norm(s - g, axis=1) > self.success_threshold)
            if ok.any():
                i = int(np.argmax(ok))
                return s[i].copy(), g[i].copy(), int(steps[i])
        if start is None and goal is None:
            # Rare long tasks: fall back to the extreme pairs of the layout (max_path_steps came
            # from them, so any feasible min_path_length has one).
            idx = np.flatnonzero(self._extreme_steps >= min_steps)
            i = int(self.np_random.choice(idx))
            s, g = self._extreme_pairs[i]
            return s.copy(), g.copy(), int(self._extreme_steps[i])
        raise ValueError(f"found no task with min_path_length={min_steps} for the pinned "
                         f"{'start' if start is not None else 'goal'}; lower min_path_length or unpin it")
