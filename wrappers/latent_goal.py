"""LatentGoalWrapper: a goal-conditioned Dict env seen through an encoder's latent space."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from grasp_agent.models.base import WorldModel
from grasp_agent.utils import resolve_device

logger = logging.getLogger(__name__)

GOAL_KEYS = ("observation", "achieved_goal", "desired_goal")
SUCCESS_SOURCES = ("latent", "env")


class LatentGoalWrapper(gym.ObservationWrapper):
    """Encode ``observation``, ``achieved_goal`` and ``desired_goal`` into float32 latents.

    The encoder is a :class:`grasp_agent.WorldModel` (its ``encode``) or any callable mapping a
    torch batch ``(B, *obs_shape)`` to ``(B, D)``. It runs in eval mode under ``torch.no_grad``;
    the goal latent is computed at ``reset`` and reused every step (recomputed only if the raw
    goal changes). ``compute_reward`` / ``is_success`` / ``goal_distance`` are defined in latent
    space (Euclidean distance ``<= success_threshold``), vectorised over leading dims, so SB3's
    ``HerReplayBuffer`` relabels goals in latent space.

    ``info["is_success"]`` is the latent success (``success_source="latent"``) or the env's own
    (``"env"``); the env's flag is always kept in ``info["env_is_success"]`` and its reward in
    ``info["env_reward"]``. The step reward is the latent ``compute_reward``.

    Args:
        env: a goal-conditioned env with a ``Dict`` observation space holding the three keys.
        encoder: ``WorldModel`` or callable ``(B, *obs_shape) -> (B, D)``.
        success_threshold: latent goal radius; ``None`` uses the inner env's
            ``success_threshold`` (right for identity encoders such as ``MLPWorldModel``).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``; a module encoder is moved there.
        success_source: which success goes into ``info["is_success"]``.

    Example::

        env = LatentGoalWrapper(WallDoorEnv(), MLPWorldModel(obs_dim=2, action_dim=2))
        obs, info = env.reset(seed=0)      # obs["observation"].shape == (2,)
    """

    def __init__(self, env: gym.Env, encoder: WorldModel | Callable[[torch.Tensor], torch.Tensor],
                 success_threshold: float | None = None, device: str | torch.device = "auto",
                 success_source: str = "latent") -> None:
        super().__init__(env)
        space = env.observation_space
        if not isinstance(space, spaces.Dict):
            raise TypeError(f"LatentGoalWrapper needs a goal-conditioned Dict observation space, got "
                            f"{type(space).__name__}; wrap an env whose observations are dicts with keys "
                            f"{list(GOAL_KEYS)}")
        missing = [k for k in GOAL_KEYS if k not in space.spaces]
        if missing:
            raise TypeError(f"LatentGoalWrapper needs Dict keys {list(GOAL_KEYS)}; the space lacks "
                            f"{missing} (is the env goal-conditioned?)")
        not_box = {k: type(space[k]).__name__ for k in GOAL_KEYS if not isinstance(space[k], spaces.Box)}
        if not_box:
            raise TypeError(f"LatentGoalWrapper encodes Box entries; {not_box} are not Box spaces")
        layouts = {k: (tuple(space[k].shape), np.dtype(space[k].dtype).name) for k in GOAL_KEYS}
        if len(set(layouts.values())) != 1:
            raise ValueError(f"LatentGoalWrapper encodes observation, achieved_goal and desired_goal with "
                             f"one encoder, so they need one shape and dtype; the env's are {layouts}. Use "
                             "an env whose goals are observations (states or images of the same layout)")
        if not callable(encoder):
            raise TypeError(f"encoder must be a WorldModel or a callable, got {type(encoder).__name__}")
        if success_source not in SUCCESS_SOURCES:
            raise ValueError(f"unknown success_source {success_source!r}; valid: {list(SUCCESS_SOURCES)}")
        if success_threshold is None:
            success_threshold = getattr(env.unwrapped, "success_threshold", None)
            if success_threshold is None:
                raise TypeError("pass success_threshold=: the inner env has no success_threshold")
        if isinstance(success_threshold, (bool, np.bool_)) or not isinstance(success_threshold, (int, float,
                                                                                                np.number)):
            raise TypeError(f"success_threshold must be a number, got {type(success_threshold).__name__} "
                            f"{success_threshold!r}")
        if not 0 < float(success_threshold) < float("inf"):
            raise ValueError(f"success_threshold must be finite and > 0, got {success_threshold}")
        self.success_threshold = float(success_threshold)
        self.success_source = success_source
        self.device = resolve_device(device)
        if isinstance(encoder, torch.nn.Module):
            encoder = encoder.to(self.device).eval()
        self._encode_fn = encoder.encode if isinstance(encoder, WorldModel) else encoder
        self.encoder = encoder

        sample = np.stack([space["observation"].sample()])
        try:
            probe = self._encode(sample)
        except Exception as exc:  # any failure of user code: report it at construction, not at reset
            raise ValueError(f"the encoder cannot encode the env's observations: a batch {sample.shape} of "
                             f"{sample.dtype} raised {type(exc).__name__}: {exc}; give an encoder built for "
                             f"observation shape {tuple(space['observation'].shape)}") from exc
        if probe.ndim != 2 or probe.shape[0] != 1 or probe.shape[1] < 1:
            raise ValueError(f"encoder must map (B, *obs_shape) to (B, D) with D >= 1; a batch of 1 gave "
                             f"{probe.shape}")
        self.latent_dim = int(probe.shape[1])
        latent = spaces.Box(-np.inf, np.inf, (self.latent_dim,), np.float32)
        self.observation_space = spaces.Dict({k: latent for k in GOAL_KEYS})
        self._goal_raw: np.ndarray | None = None
        self._goal_latent: np.ndarray | None = None

    # ------------------------------------------------------------------ encoding
    def _encode(self, batch: np.ndarray) -> np.ndarray:
        """``(B, *obs_shape)`` numpy -> ``(B, D)`` float32 numpy."""
        with torch.no_grad():
            z = self._encode_fn(torch.as_tensor(np.asarray(batch), device=self.device))
        if not isinstance(z, torch.Tensor):
            raise TypeError(f"the encoder must return a torch.Tensor, got {type(z).__name__}")
        return z.detach().float().cpu().numpy()

    def encode(self, obs: Any) -> np.ndarray:
        """Latent ``(D,)`` of one raw observation (or ``(B, D)`` of a batch ``(B, *obs_shape)``)."""
        obs = np.asarray(obs)
        single = obs.shape == self.env.observation_space["observation"].shape
        z = self._encode(obs[None] if single else obs)
        return z[0] if single else z

    def observation(self, observation: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Map a raw Dict observation to latents; the goal latent comes from the per-episode cache."""
        goal = observation["desired_goal"]
        if self._goal_raw is None or not np.array_equal(goal, self._goal_raw):
            both = self._encode(np.stack([observation["observation"], goal]))
            z_obs, self._goal_latent = both[0], both[1]
            self._goal_raw = np.array(goal, copy=True)
        else:
            z_obs = self._encode(observation["observation"][None])[0]
        return {"observation": z_obs, "achieved_goal": z_obs.copy(), "desired_goal": self._goal_latent.copy()}

    # ------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        """Reset the inner env and encode its goal once for the episode."""
        self._goal_raw = None
        obs, info = self.env.reset(seed=seed, options=options)
        latent = self.observation(obs)
        return latent, self._relabel_info(info, latent)

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], float, bool, bool, dict[str, Any]]:
        """Step the inner env; the reward is the latent ``compute_reward``."""
        obs, env_reward, terminated, truncated, info = self.env.step(action)
        latent = self.observation(obs)
        info = self._relabel_info(info, latent)
        info["env_reward"] = env_reward
        reward = float(self.compute_reward(latent["achieved_goal"], latent["desired_goal"], info))
        return latent, reward, terminated, truncated, info

    # ------------------------------------------------------------------ latent task metric
    def goal_distance(self, achieved: Any, desired: Any) -> np.ndarray:
        """Euclidean latent distance ``(...)`` between ``(..., D)`` arrays."""
        diff = np.asarray(achieved, dtype=np.float64) - np.asarray(desired, dtype=np.float64)
        return np.sqrt(np.sum(diff * diff, axis=-1))

    def is_success(self, achieved: Any, desired: Any) -> np.ndarray:
        """Boolean ``(...)``: latent distance ``<= success_threshold``."""
        return self.goal_distance(achieved, desired) <= self.success_threshold

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any = None) -> np.ndarray:
        """Sparse latent reward ``(...)`` float32: 0 on latent success, -1 otherwise."""
        return np.where(self.is_success(achieved_goal, desired_goal), 0.0, -1.0).astype(np.float32)

    def _relabel_info(self, info: dict[str, Any], latent: dict[str, np.ndarray]) -> dict[str, Any]:
        info = dict(info)
        env_success = info.get("is_success")
        info["env_is_success"] = env_success
        latent_success = bool(self.is_success(latent["achieved_goal"], latent["desired_goal"]))
        info["latent_is_success"] = latent_success
        if self.success_source == "latent" or env_success is None:
            info["is_success"] = latent_success
        return info
