"""The one interface every agent in this package shares (planners, random, SB3 adapters).

An :class:`Agent` acts in a Gymnasium env and plugs into Stable-Baselines3 tooling unchanged:

* ``reset(seed=None)``: forget per-episode state (plans, warm starts); re-seed if given.
* ``act(observation) -> action``: one (unbatched) observation in, one action ``(A,)`` out.
* ``observe(observation, action, reward, next_observation, terminated, truncated, info)``:
  the transition that followed ``act`` (no-op unless the agent learns online).
* ``predict(observation, state=None, episode_start=None, deterministic=False)
  -> (actions, state)``: SB3's contract, batched over VecEnv observations.

The SB3 surface that ``evaluate_policy`` and ``EvalCallback`` touch (``predict``,
``get_env``, ``get_vec_normalize_env``, ``num_timesteps``, ``logger``, ``save``) is
provided here, so an agent can stand where SB3 expects a ``BaseAlgorithm``.
"""

from __future__ import annotations

import abc
import os
from typing import Any

import numpy as np
from gymnasium import spaces


class Agent(abc.ABC):
    """Base class of all agents; subclasses implement :meth:`predict` and :meth:`save`.

    Args:
        action_space: the env's action space; every returned action lies inside it.
        observation_space: the env's observation space (optional; used for validation).
    """

    def __init__(self, action_space: spaces.Space, observation_space: spaces.Space | None = None) -> None:
        if not isinstance(action_space, spaces.Space):
            raise TypeError(f"action_space must be a gymnasium.spaces.Space, got "
                            f"{type(action_space).__name__}")
        self.action_space = action_space
        self.observation_space = observation_space
        self.num_timesteps = 0
        self._env: Any = None
        self._logger: Any = None
        self._state: Any = None

    # ------------------------------------------------------------------ agent API
    def reset(self, seed: int | None = None) -> None:
        """Forget per-episode state; subclasses re-seed their random sources from ``seed``."""
        self._state = None

    def act(self, observation: Any) -> np.ndarray:
        """One action ``(A,)`` (or an int for Discrete spaces) for one unbatched observation.

        Uses the agent's own per-episode state (call :meth:`reset` between episodes).
        """
        action, self._state = self.predict(observation, state=self._state)
        return action

    def observe(self, observation: Any, action: Any, reward: float, next_observation: Any,
                terminated: bool, truncated: bool, info: dict[str, Any]) -> None:
        """Record the transition that followed :meth:`act` (counts steps; learners extend)."""
        self.num_timesteps += 1
        if terminated or truncated:
            self._state = None

    @abc.abstractmethod
    def predict(self, observation: Any, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[Any, Any]:
        """SB3's contract: actions ``(B, A)`` for batched observations (``(A,)`` for one)."""

    @abc.abstractmethod
    def save(self, path: str | os.PathLike) -> None:
        """Write everything needed to rebuild the agent to ``path`` (atomically)."""

    # ------------------------------------------------------------------ SB3 compatibility
    def set_env(self, env: Any) -> None:
        """Attach the (training) env that SB3 callbacks read through :meth:`get_env`."""
        self._env = env

    def get_env(self) -> Any:
        """The env given to :meth:`set_env` (``None`` if none), as SB3's ``BaseAlgorithm``."""
        return self._env

    def get_vec_normalize_env(self) -> None:
        """Agents here never normalise observations themselves (SB3 callbacks ask)."""
        return None

    @property
    def logger(self) -> Any:
        """An SB3 ``Logger`` (silent unless :meth:`set_logger` installs another)."""
        if self._logger is None:
            from stable_baselines3.common.logger import configure

            self._logger = configure(folder=None, format_strings=[])
        return self._logger

    def set_logger(self, logger: Any) -> None:
        """Install an SB3 ``Logger`` (e.g. ``stable_baselines3.common.logger.configure(dir)``)."""
        self._logger = logger

    # ------------------------------------------------------------------ helpers
    def clip_actions(self, actions: np.ndarray) -> np.ndarray:
        """Clip Box actions ``(..., A)`` into the action space (float32, finite)."""
        if isinstance(self.action_space, spaces.Box):
            actions = np.nan_to_num(np.asarray(actions, dtype=np.float32))
            return np.clip(actions, self.action_space.low, self.action_space.high).astype(np.float32)
        return np.asarray(actions)


def observation_batch_size(observation: Any, observation_space: spaces.Space | None,
                           episode_start: Any = None) -> tuple[int, bool]:
    """``(B, single)`` of an observation: one sample, or a VecEnv batch of ``B``.

    Decided by the observation space (a ``Dict`` by its ``observation`` entry); without one,
    by ``episode_start`` (its length), else the observation counts as a single sample.
    """
    sample = observation["observation"] if isinstance(observation, dict) else observation
    space = observation_space
    if isinstance(space, spaces.Dict):
        space = space.spaces.get("observation")
    if space is not None and space.shape is not None:
        shape = np.shape(sample)
        if shape == tuple(space.shape):
            return 1, True
        if len(shape) == len(space.shape) + 1 and shape[1:] == tuple(space.shape):
            return shape[0], False
        raise ValueError(f"observation has shape {shape}; expected {tuple(space.shape)} or a batch "
                         f"(B, {', '.join(map(str, space.shape))}) for this agent's observation space")
    if episode_start is not None:
        return int(np.asarray(episode_start).reshape(-1).shape[0]), False
    return 1, True
