"""The base class of the planar pybullet goal environments (:class:`BulletGoalEnv`).

It owns the physics client and the camera (:mod:`grasp_agent.envs.bullet_scene`), checks reset
options and actions, steps the physics (one env step applies the action for ``FRAME_SKIP``
physics steps of ``TIME_STEP`` seconds), and builds the Dict goal observations in state or pixel
mode; subclasses build the scene and implement the hooks.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from grasp_agent.envs.bullet_scene import BulletClient, TopDownCamera, close_client, new_client


class BulletGoalEnv(gym.Env):
    """Base class: Dict goal observations, option checking, stepping, pixels and closing.

    Subclasses build the scene and implement the hooks below; the physical state lives in the joints
    of planar bodies, so a "configuration" is the list of joint positions per body
    (``_set_configuration``). ``achieved_goal`` is the current observation and ``desired_goal`` the
    observation of the goal configuration with zero velocities (in pixel mode: its rendered image,
    drawn once per reset). Episodes end only through the registered ``TimeLimit`` unless
    ``terminate_on_success=True``.
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 20}
    TIME_STEP = 0.01  # seconds per physics step
    FRAME_SKIP = 5  # physics steps per env step
    OPTION_KEYS = ("start", "goal", "min_path_length")
    ACTION_PERSISTS = False  # True for motor (velocity) control: set once per env step, not per physics step
    success_threshold: float = 0.0

    def __init__(self, obs_mode: str = "state", image_size: int = 64, render_mode: str | None = None,
                 terminate_on_success: bool = False) -> None:
        if obs_mode not in ("state", "pixels"):
            raise ValueError(f"obs_mode must be 'state' or 'pixels', got {obs_mode!r}")
        if render_mode not in (None, "rgb_array"):
            raise ValueError(f"render_mode must be None or 'rgb_array', got {render_mode!r}")
        if not isinstance(image_size, (int, np.integer)) or image_size < 16:
            raise ValueError(f"image_size must be an int >= 16, got {image_size!r}")
        self.obs_mode, self.image_size, self.render_mode = obs_mode, int(image_size), render_mode
        self.terminate_on_success = bool(terminate_on_success)
        self.dt = self.TIME_STEP * self.FRAME_SKIP  # seconds per env step
        self._client: BulletClient | None = new_client(self.TIME_STEP)
        self._build_scene()
        self.camera = TopDownCamera(self._client, self._world_bounds(), self.image_size)
        low, high = self._state_bounds()
        self._state_low, self._state_high = low.astype(np.float32), high.astype(np.float32)
        if obs_mode == "state":
            leaf = spaces.Box(self._state_low, self._state_high, dtype=np.float32)
        else:
            leaf = spaces.Box(0, 255, (self.image_size, self.image_size, 3), dtype=np.uint8)
        self.observation_space = spaces.Dict(
            {"observation": leaf, "achieved_goal": leaf, "desired_goal": leaf})
        self.action_space = spaces.Box(-1.0, 1.0, (self._action_dim(),), dtype=np.float32)
        self._goal_obs: np.ndarray | None = None
        self._goal_state: np.ndarray | None = None
        self._oracle = 0

    # ----------------------------------------------------------------- hooks for subclasses
    def _build_scene(self) -> None:
        raise NotImplementedError

    def _world_bounds(self) -> tuple[float, float, float, float]:
        raise NotImplementedError

    def _state_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _action_dim(self) -> int:
        return 2

    def _sample_task(self, options: dict) -> tuple[list, list, int]:
        """Return (start configuration, goal configuration, oracle path length in env steps)."""
        raise NotImplementedError

    def _set_configuration(self, config: list) -> None:
        raise NotImplementedError

    def _apply_action(self, action: np.ndarray) -> None:
        """Set the actuators from an action in [-1, 1] (for one physics step unless ACTION_PERSISTS)."""
        raise NotImplementedError

    def _read_state(self) -> np.ndarray:
        """The state observation (float64, unclipped)."""
        raise NotImplementedError

    def _contact_obstacle(self) -> bool:
        return False

    def _extra_info(self) -> dict:
        return {}

    def goal_distance(self, achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _pixel_success(self, achieved: np.ndarray, desired: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # ----------------------------------------------------------------- gymnasium API
    @property
    def client(self) -> BulletClient:
        if self._client is None:
            raise RuntimeError(f"{type(self).__name__} is closed; make a new environment")
        return self._client

    def _check_options(self, options: dict | None) -> dict:
        options = {} if options is None else dict(options)
        unknown = sorted(set(options) - set(self.OPTION_KEYS))
        if unknown:
            raise ValueError(f"unknown reset option(s) {unknown}; valid options are {list(self.OPTION_KEYS)}")
        mpl = options.get("min_path_length")
        if mpl is not None and (isinstance(mpl, bool) or not isinstance(mpl, (int, np.integer)) or mpl < 0):
            raise ValueError(f"min_path_length must be a non-negative int (env steps), got {mpl!r}")
        return options

    def _state_obs(self) -> np.ndarray:
        return np.clip(self._read_state(), self._state_low, self._state_high).astype(np.float32)

    def _observe(self) -> np.ndarray:
        return self._state_obs() if self.obs_mode == "state" else self.camera.render(self.client)

    def _dict_obs(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        return {"observation": obs, "achieved_goal": obs.copy(), "desired_goal": self._goal_obs.copy()}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        options = self._check_options(options)
        start, goal, self._oracle = self._sample_task(options)
        self._set_configuration(goal)
        self._goal_state = self._state_obs()
        self._goal_obs = self._goal_state if self.obs_mode == "state" else self.camera.render(self.client)
        self._set_configuration(start)
        obs = self._observe()
        return self._dict_obs(obs), self._info(obs, touched=False)

    def _info(self, obs: np.ndarray, touched: bool) -> dict:
        state = obs if self.obs_mode == "state" else self._state_obs()
        dist = float(self.goal_distance(state, self._goal_state))
        info = {"is_success": bool(dist <= self.success_threshold), "goal_distance": dist,
                "oracle_path_length": int(self._oracle), "touches_obstacle": bool(touched)}
        info.update(self._extra_info())
        return info

    def check_action(self, action) -> np.ndarray:
        """Validate an action: shape (action_dim,), finite; returns float64 clipped to [-1, 1]."""
        a = np.asarray(action, dtype=np.float64)
        if a.shape != self.action_space.shape:
            raise ValueError(f"action must have shape {self.action_space.shape}, got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"action contains NaN/inf: {a}; actions must be finite values in [-1, 1]")
        return np.clip(a, -1.0, 1.0)

    def step(self, action):
        if self._goal_obs is None:
            raise RuntimeError("call reset() before step()")
        a = self.check_action(action)
        client, touched = self.client, False
        if self.ACTION_PERSISTS:
            self._apply_action(a)
        for _ in range(self.FRAME_SKIP):
            if not self.ACTION_PERSISTS:
                self._apply_action(a)
            client.stepSimulation()
            touched = touched or self._contact_obstacle()
        obs = self._observe()
        info = self._info(obs, touched)
        if self.obs_mode == "state":  # identical to compute_reward(obs, goal), without recomputing it
            reward = 0.0 if info["is_success"] else -1.0
        else:
            reward = float(self.compute_reward(obs, self._goal_obs, info))
        terminated = self.terminate_on_success and info["is_success"]
        return self._dict_obs(obs), reward, bool(terminated), False, info

    def compute_reward(self, achieved_goal, desired_goal, info) -> np.ndarray | np.float32:
        """Sparse reward, vectorised over leading dims: 0.0 where the goal is reached, else -1.0.

        State mode: ``goal_distance <= success_threshold``; pixel mode: ``_pixel_success`` (see the
        subclass docstring for what the images are compared on).
        """
        if self.obs_mode == "state":
            success = self.goal_distance(achieved_goal, desired_goal) <= self.success_threshold
        else:
            success = self._pixel_success(achieved_goal, desired_goal)
        reward = np.where(success, 0.0, -1.0).astype(np.float32)
        return np.float32(reward) if reward.ndim == 0 else reward

    def render(self) -> np.ndarray | None:
        if self.render_mode == "rgb_array":
            return self.camera.render(self.client)
        return None

    def close(self) -> None:
        """Disconnect the physics server; safe to call more than once."""
        close_client(self._client)
        self._client = None
