"""A uniformly random agent behind the common interface (baseline, and Dyna's warm-up policy)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from gymnasium import spaces

from grasp_agent.agent_base import Agent, observation_batch_size
from grasp_agent.utils import atomic_torch_save

RANDOM_FORMAT = "grasp_agent.random_agent/1"


class RandomAgent(Agent):
    """Samples actions uniformly from a ``Box`` or ``Discrete`` action space.

    Args:
        action_space: ``Box`` (finite bounds) or ``Discrete``.
        observation_space: tells one observation from a VecEnv batch in :meth:`predict`.
        seed: seed of the agent's ``np.random.Generator`` (re-seed with ``reset(seed)``).
    """

    def __init__(self, action_space: spaces.Space, observation_space: spaces.Space | None = None,
                 seed: int | None = None) -> None:
        super().__init__(action_space, observation_space)
        if isinstance(action_space, spaces.Box):
            if not (np.all(np.isfinite(action_space.low)) and np.all(np.isfinite(action_space.high))):
                raise ValueError("RandomAgent needs a Box with finite bounds; clip the action space first")
        elif not isinstance(action_space, spaces.Discrete):
            raise TypeError(f"RandomAgent supports Box and Discrete action spaces, got "
                            f"{type(action_space).__name__}")
        self.seed = seed
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        """Forget the episode; with ``seed``, re-seed the generator."""
        super().reset(seed)
        if seed is not None:
            self.seed = seed
            self.rng = np.random.default_rng(seed)

    def sample(self, n: int) -> np.ndarray:
        """``n`` actions: ``(n, A)`` float32 (Box) or ``(n,)`` int64 (Discrete)."""
        space = self.action_space
        if isinstance(space, spaces.Box):
            u = self.rng.uniform(space.low, space.high, (n,) + space.shape)
            return self.clip_actions(u)
        return self.rng.integers(space.start, space.start + space.n, n).astype(np.int64)

    def predict(self, observation: Any, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        """Random actions, one per observation (``deterministic`` is ignored)."""
        n, single = observation_batch_size(observation, self.observation_space, episode_start)
        actions = self.sample(n)
        return (actions[0] if single else actions), None

    def save(self, path: str | os.PathLike) -> None:
        """Atomically save the spaces and the generator state."""
        atomic_torch_save({"format": RANDOM_FORMAT, "action_space": self.action_space,
                           "observation_space": self.observation_space, "seed": self.seed,
                           "rng": self.rng.bit_generator.state}, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> RandomAgent:
        """Rebuild an agent written by :meth:`save` (same generator state)."""
        import torch

        payload = torch.load(path, map_location="cpu", weights_only=False)
        if not isinstance(payload, dict) or payload.get("format") != RANDOM_FORMAT:
            raise ValueError(f"{os.fspath(path)!r} is not a saved RandomAgent")
        agent = cls(payload["action_space"], payload["observation_space"], payload["seed"])
        agent.rng.bit_generator.state = payload["rng"]
        return agent
