"""A uniformly random agent behind the common interface (baseline, and Dyna's warm-up policy)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from gymnasium import spaces

from grasp_agent.agents.base import Agent, observation_batch_size
from grasp_agent.safe_io import CheckpointError, load_torch_file, require
from grasp_agent.utils import atomic_torch_save

RANDOM_FORMAT = "grasp_agent.random_agent/1"


def check_observation(observation: Any, space: spaces.Space | None) -> None:
    """Raise a clear error unless ``observation`` is one sample or a batch of ``space``.

    A ``Dict`` space needs a dict with its keys whose entries share one batch size (or none);
    other spaces need an array of their shape or ``(B, *shape)``. ``None`` checks nothing.

    Raises:
        TypeError: a dict for a non-Dict space, or a non-dict for a Dict space.
        ValueError: missing keys, or an entry of the wrong shape (named with the expected one).
    """
    if space is None:
        return
    if isinstance(space, spaces.Dict):
        if not isinstance(observation, dict):
            raise TypeError(f"this agent's observation space is a Dict with keys {list(space.spaces)}; got a "
                            f"{type(observation).__name__}")
        missing = [k for k in space.spaces if k not in observation]
        if missing:
            raise ValueError(f"the observation lacks the keys {missing} of this agent's Dict observation "
                             f"space (keys {list(space.spaces)})")
        batches = {}
        for key, sub_space in space.spaces.items():
            if sub_space.shape is None:
                continue
            shape, expected = np.shape(observation[key]), tuple(sub_space.shape)
            if shape == expected:
                batches[key] = None
            elif len(shape) == len(expected) + 1 and shape[1:] == expected:
                batches[key] = shape[0]
            else:
                raise ValueError(f"observation[{key!r}] has shape {shape}; expected {expected} or a batch "
                                 f"(B, {', '.join(map(str, expected))})")
        if len(set(batches.values())) > 1:
            raise ValueError(f"the observation's entries disagree on the batch size: {batches}")
        return
    if isinstance(observation, dict):
        raise TypeError(f"this agent's observation space is a {type(space).__name__}; got a dict")


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
        check_observation(observation, self.observation_space)
        n, single = observation_batch_size(observation, self.observation_space, episode_start)
        actions = self.sample(n)
        return (actions[0] if single else actions), None

    def save(self, path: str | os.PathLike) -> None:
        """Atomically save the spaces (as plain data) and the generator state, with a checksum."""
        atomic_torch_save({"format": RANDOM_FORMAT, "action_space": self.action_space,
                           "observation_space": self.observation_space, "seed": self.seed,
                           "rng": self.rng.bit_generator.state}, path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> RandomAgent:
        """Rebuild an agent written by :meth:`save` (same generator state).

        Raises:
            FileNotFoundError: no file at ``path``.
            CheckpointError: truncated, corrupt, unsafe or another kind of file.
        """
        payload = load_torch_file(path, "saved RandomAgent")
        require(payload, ("action_space", "observation_space", "seed", "rng"), path, "saved RandomAgent",
                RANDOM_FORMAT)
        try:
            agent = cls(payload["action_space"], payload["observation_space"], payload["seed"])
            agent.rng.bit_generator.state = payload["rng"]
        except (TypeError, ValueError, KeyError) as exc:
            raise CheckpointError(f"saved RandomAgent {os.fspath(path)!r} does not rebuild "
                                  f"({type(exc).__name__}: {exc}); write it again") from exc
        return agent


class GoalDirectedAgent(RandomAgent):
    """A unit step towards ``desired_goal`` plus Gaussian noise, for point envs whose goal is a position.

    ``a = clip((g - x) / |g - x| + noise * N(0, I))`` with ``x``/``g`` the first ``A`` entries of
    ``achieved_goal``/``desired_goal``. This is the data-collection policy that teaches a world
    model where WallDoor's wall is: uncorrelated random actions rarely press against it, so
    models trained on them are blurry at the wall and planners then "creep" through it in
    imagination; these episodes press on it often (about 20% of WallDoor transitions).

    Args:
        action_space: a ``Box`` (the position moves along its ``A`` dims).
        observation_space: a goal-conditioned ``Dict`` (``achieved_goal``, ``desired_goal``).
        noise: std of the Gaussian added to the unit direction (``deterministic=True`` drops it).
        seed: seed of the agent's generator.
    """

    def __init__(self, action_space: spaces.Box, observation_space: spaces.Dict, noise: float = 0.5,
                 seed: int | None = None) -> None:
        if not isinstance(action_space, spaces.Box):
            raise TypeError(f"GoalDirectedAgent needs a Box action space, got {type(action_space).__name__}")
        if not isinstance(observation_space, spaces.Dict) or not {"achieved_goal", "desired_goal"} <= set(
                observation_space.spaces):
            raise TypeError("GoalDirectedAgent needs a goal-conditioned Dict observation space with "
                            "'achieved_goal' and 'desired_goal'")
        goal_size = int(np.prod(observation_space["desired_goal"].shape))
        if goal_size < action_space.shape[0]:
            raise ValueError(f"the goal has {goal_size} entries, fewer than the {action_space.shape[0]} "
                             "action dims the agent moves along")
        if noise < 0:
            raise ValueError(f"noise must be >= 0, got {noise}")
        super().__init__(action_space, observation_space, seed)
        self.noise = float(noise)

    def predict(self, observation: Any, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        """One noisy goal-directed action per observation of the batch."""
        if not isinstance(observation, dict):
            raise TypeError("GoalDirectedAgent needs Dict observations with achieved/desired goals")
        check_observation(observation, self.observation_space)
        n, single = observation_batch_size(observation, self.observation_space, episode_start)
        dims = self.action_space.shape[0]
        desired = np.asarray(observation["desired_goal"], np.float64).reshape(n, -1)[:, :dims]
        achieved = np.asarray(observation["achieved_goal"], np.float64).reshape(n, -1)[:, :dims]
        delta = desired - achieved
        direction = delta / np.maximum(np.linalg.norm(delta, axis=-1, keepdims=True), 1e-8)
        if not deterministic:
            direction = direction + self.noise * self.rng.standard_normal(direction.shape)
        actions = self.clip_actions(direction)
        return (actions[0] if single else actions), None
