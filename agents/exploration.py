"""The exploration policy the experiments collect world-model data with, usable with ``collect``.

Per env, each episode is either *held uniform* (a uniform action held for ``action_repeat``
steps, then a fresh one) or *goal-directed* (:class:`GoalDirectedAgent`: a noisy unit step
towards ``desired_goal``). A fraction ``goal_directed_fraction`` of the episodes, evenly
spread (episode ``e`` is goal-directed when ``floor((e + 1) f) > floor(e f)``), are
goal-directed. Episode boundaries come from ``episode_start`` (SB3's ``predict`` contract,
which :func:`grasp_agent.data.collect` supplies).

Example::

    policy = ExplorationAgent(env.single_action_space, env.single_observation_space,
                              action_repeat=10, goal_directed_fraction=0.5, seed=0)
    buffer = collect(env, n_steps=40_000, policy=policy)
"""

from __future__ import annotations

import json
import math
import os
from typing import Any

import numpy as np
from gymnasium import spaces

from grasp_agent.agents.base import observation_batch_size
from grasp_agent.agents.random_agent import GoalDirectedAgent, RandomAgent
from grasp_agent.utils import atomic_json_dump

EXPLORATION_FORMAT = "grasp_agent.exploration_agent/1"


class ExplorationAgent(RandomAgent):
    """Held uniform actions, with a fraction of goal-directed episodes (see the module docstring).

    Args:
        action_space: a ``Box``.
        observation_space: the env's observation space (a goal ``Dict`` when
            ``goal_directed_fraction > 0``).
        action_repeat: steps each uniform action is held (``>= 1``).
        goal_directed_fraction: share of episodes driven by :class:`GoalDirectedAgent` (``[0, 1]``).
        goal_noise: that agent's Gaussian noise std.
        seed: seeds the uniform actions and the goal-directed agent.
    """

    def __init__(self, action_space: spaces.Box, observation_space: spaces.Space | None = None,
                 action_repeat: int = 1, goal_directed_fraction: float = 0.0, goal_noise: float = 0.5,
                 seed: int | None = None) -> None:
        if not isinstance(action_space, spaces.Box):
            raise TypeError(f"ExplorationAgent needs a Box action space, got {type(action_space).__name__}; "
                            "wrap Discrete envs in grasp_agent.wrappers.DiscreteToBoxWrapper")
        if isinstance(action_repeat, bool) or not isinstance(action_repeat, (int, np.integer)) \
                or action_repeat < 1:
            raise ValueError(f"action_repeat must be an int >= 1, got {action_repeat!r}")
        if not 0.0 <= goal_directed_fraction <= 1.0:
            raise ValueError(f"goal_directed_fraction must be in [0, 1], got {goal_directed_fraction!r}")
        super().__init__(action_space, observation_space, seed)
        self.action_repeat = int(action_repeat)
        self.fraction = float(goal_directed_fraction)
        self.directed = None
        if self.fraction > 0:
            self.directed = GoalDirectedAgent(action_space, observation_space, noise=goal_noise,
                                              seed=None if seed is None else seed + 1)
        self.episodes = 0
        self._held: np.ndarray | None = None
        self._step: np.ndarray | None = None
        self._mode: np.ndarray | None = None

    def reset(self, seed: int | None = None) -> None:
        super().reset(seed)
        if self.directed is not None:
            self.directed.reset(None if seed is None else seed + 1)
        self.episodes, self._held, self._step, self._mode = 0, None, None, None

    def _goal_directed_next(self) -> bool:
        """Whether the next episode is goal-directed (evenly spread, exact fraction)."""
        e, f = self.episodes, self.fraction
        self.episodes += 1
        return math.floor((e + 1) * f) > math.floor(e * f)

    def predict(self, observation: Any, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        """Actions ``(B, A)`` (or ``(A,)`` for one observation); ``episode_start`` marks new episodes."""
        n, single = observation_batch_size(observation, self.observation_space, episode_start)
        if self._step is None or len(self._step) != n:  # first call (or a new batch size)
            self._held = np.zeros((n, *self.action_space.shape), self.action_space.dtype)
            self._step, self._mode = np.zeros(n, np.int64), np.zeros(n, bool)
            starts = np.ones(n, bool)
        elif episode_start is None:
            starts = np.zeros(n, bool)
        else:
            starts = np.asarray(episode_start, bool).reshape(n)
        for i in np.flatnonzero(starts):
            self._step[i], self._mode[i] = 0, self._goal_directed_next()
        actions = np.empty((n, *self.action_space.shape), self.action_space.dtype)
        redraw = (self._step % self.action_repeat == 0) & ~self._mode
        if redraw.any():
            self._held[redraw] = self.sample(int(redraw.sum()))
        actions[:] = self._held
        if self._mode.any():
            directed, _ = self.directed.predict(observation, deterministic=deterministic)
            directed = np.asarray(directed).reshape(n, -1)
            actions[self._mode] = directed[self._mode]
        self._step += 1
        return (actions[0] if single else actions), None

    def save(self, path: str | os.PathLike) -> None:
        """Atomically save the settings and generator states as JSON (plain data)."""
        atomic_json_dump({
            "format": EXPLORATION_FORMAT, "action_repeat": self.action_repeat,
            "goal_directed_fraction": self.fraction, "seed": self.seed, "episodes": self.episodes,
            "goal_noise": None if self.directed is None else self.directed.noise,
            "rng": self.rng.bit_generator.state,
            "directed_rng": None if self.directed is None else self.directed.rng.bit_generator.state}, path)

    @classmethod
    def load_from(cls, path: str | os.PathLike, action_space: spaces.Box,
                  observation_space: spaces.Space | None = None) -> ExplorationAgent:
        """Rebuild an agent written by :meth:`save` for the given spaces (same generator states)."""
        try:
            with open(path) as f:
                data = json.load(f)
        except (OSError, ValueError) as err:
            raise ValueError(f"cannot read a saved ExplorationAgent from {os.fspath(path)!r}: {err}") from err
        if not isinstance(data, dict) or data.get("format") != EXPLORATION_FORMAT:
            raise ValueError(f"{os.fspath(path)!r} is not a saved ExplorationAgent")
        agent = cls(action_space, observation_space, data["action_repeat"], data["goal_directed_fraction"],
                    data["goal_noise"] if data["goal_noise"] is not None else 0.5, data["seed"])
        agent.episodes = int(data["episodes"])
        agent.rng.bit_generator.state = data["rng"]
        if agent.directed is not None and data["directed_rng"] is not None:
            agent.directed.rng.bit_generator.state = data["directed_rng"]
        return agent
