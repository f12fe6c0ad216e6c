"""A bounded replay buffer of whole episodes, stored as numpy arrays.

Layout: a ring of ``capacity`` rows, one row per observation. An episode with ``T`` actions
takes ``T + 1`` consecutive rows: row ``t`` holds ``o_t`` and the action ``a_t`` taken there
(plus its reward and ``touches_obstacle`` flag); the episode's last row holds only the final
observation. Every observation is stored once (images as uint8), and a transition or a
contiguous sequence never crosses an episode boundary because the per-row ``remaining`` count
(actions left in the episode) says how far one may read. When the ring is full the oldest
whole episodes are evicted.

Episodes enter through :meth:`ReplayBuffer.add_episode`; streams from (vector) environments
with Gymnasium's autoreset go through :class:`grasp_agent.data.recorder.VectorRecorder`, which
cuts them into episodes and drops the autoreset step (it is not a transition).
"""

from __future__ import annotations

import io
import json
import os
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from grasp_agent.utils import atomic_write

BUFFER_FORMAT = "grasp_agent.replay_buffer/1"


class ReplayBuffer:
    """Ring buffer of episodes with transition and sequence sampling.

    Args:
        capacity: maximum number of stored observations (rows).
        obs_shape: shape of one observation, e.g. ``(2,)`` or ``(64, 64, 3)``.
        action_dim: size of one (flat) action.
        obs_dtype: storage dtype of observations (``np.uint8`` for images).
    """

    def __init__(self, capacity: int, obs_shape: Sequence[int], action_dim: int,
                 obs_dtype: Any = np.float32) -> None:
        if capacity < 2:
            raise ValueError(f"capacity must be >= 2 rows, got {capacity}")
        self.capacity = int(capacity)
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.action_dim = int(action_dim)
        self.obs_dtype = np.dtype(obs_dtype)
        self.obs = np.zeros((self.capacity,) + self.obs_shape, self.obs_dtype)
        self.actions = np.zeros((self.capacity, self.action_dim), np.float32)
        self.rewards = np.zeros(self.capacity, np.float32)
        self.touches = np.zeros(self.capacity, bool)
        self.remaining = np.full(self.capacity, -1, np.int64)  # -1 = empty row
        self.episode = np.full(self.capacity, -1, np.int64)
        self.terminated: dict[int, bool] = {}
        self._episodes: deque[tuple[int, int, int]] = deque()  # (episode id, first row, rows)
        self._ptr = 0
        self._size = 0
        self._next_id = 0

    # ------------------------------------------------------------------ filling
    def __len__(self) -> int:
        """Number of stored transitions (actions)."""
        return int(sum(n - 1 for _, _, n in self._episodes))

    @property
    def num_episodes(self) -> int:
        return len(self._episodes)

    def episode_ids(self) -> np.ndarray:
        """Ids of the stored episodes, oldest first."""
        return np.array([e for e, _, _ in self._episodes], np.int64)

    def add_episode(self, obs: Any, actions: Any, rewards: Any = None, terminated: bool = False,
                    touches: Any = None) -> int:
        """Store one episode: ``obs (T+1, *obs_shape)``, ``actions (T, A)``; return its id.

        Args:
            rewards: ``(T,)`` (zeros if None). terminated: the episode ended in a terminal
                state (False for a time-limit truncation or a cut-off stream).
            touches: ``(T,)`` bools, the step touched an obstacle (False if None).
        """
        obs = np.asarray(obs)
        actions = np.asarray(actions, np.float32).reshape(len(actions), -1)
        t = actions.shape[0]
        if obs.shape != (t + 1,) + self.obs_shape:
            raise ValueError(f"an episode with {t} actions needs obs of shape "
                             f"{(t + 1,) + self.obs_shape}, got {obs.shape}")
        if actions.shape[1] != self.action_dim:
            raise ValueError(f"actions must be (T, {self.action_dim}), got {actions.shape}")
        if t < 1:
            raise ValueError("an episode needs at least one action (two observations)")
        if t + 1 > self.capacity:
            raise ValueError(f"episode of {t + 1} observations exceeds capacity {self.capacity}; "
                             "raise capacity")
        if np.issubdtype(obs.dtype, np.floating) and not np.isfinite(obs).all():
            raise ValueError("episode observations contain NaN or inf")
        if not np.isfinite(actions).all():
            raise ValueError("episode actions contain NaN or inf")
        if np.issubdtype(self.obs_dtype, np.integer) and not np.issubdtype(obs.dtype, np.integer):
            raise TypeError(f"buffer stores {self.obs_dtype} observations (images/grids); got "
                            f"{obs.dtype}; pass the raw uint8 observations")
        while self._size + t + 1 > self.capacity:
            self._evict_oldest()
        rows = (self._ptr + np.arange(t + 1)) % self.capacity
        ep = self._next_id
        self._next_id += 1
        self.obs[rows] = obs.astype(self.obs_dtype, copy=False)
        self.actions[rows[:-1]] = actions
        self.actions[rows[-1]] = 0.0
        self.rewards[rows[:-1]] = 0.0 if rewards is None else np.asarray(rewards, np.float32).reshape(t)
        self.rewards[rows[-1]] = 0.0
        self.touches[rows[:-1]] = False if touches is None else np.asarray(touches, bool).reshape(t)
        self.touches[rows[-1]] = False
        self.remaining[rows] = np.arange(t, -1, -1)
        self.episode[rows] = ep
        self.terminated[ep] = bool(terminated)
        self._episodes.append((ep, int(rows[0]), t + 1))
        self._ptr = int((rows[-1] + 1) % self.capacity)
        self._size += t + 1
        return ep

    def _evict_oldest(self) -> None:
        ep, start, n = self._episodes.popleft()
        rows = (start + np.arange(n)) % self.capacity
        self.remaining[rows] = -1
        self.episode[rows] = -1
        self.terminated.pop(ep, None)
        self._size -= n

    # ------------------------------------------------------------------ sampling
    def valid_starts(self, length: int = 1, action_block: int = 1,
                     episodes: Any = None) -> np.ndarray:
        """Rows where a sequence of ``length`` steps of ``action_block`` actions each fits."""
        if length < 1 or action_block < 1:
            raise ValueError(f"length and action_block must be >= 1, got {length}, {action_block}")
        ok = self.remaining >= length * action_block
        if episodes is not None:
            ok &= np.isin(self.episode, np.asarray(episodes, np.int64))
        return np.flatnonzero(ok)

    def gather(self, starts: Any, length: int = 1, action_block: int = 1) -> dict[str, np.ndarray]:
        """Sequences from rows ``starts (N,)``.

        Returns a dict with ``obs (N, L+1, *obs_shape)`` (every ``action_block``-th
        observation), ``actions (N, L, action_block * A)`` (the block's actions in time order),
        ``rewards (N, L)`` (summed over the block), ``touches (N, L)`` (any step of the block
        touched an obstacle) and ``episode (N,)``.
        """
        starts = np.asarray(starts, np.int64)
        k = int(action_block)
        if np.any(self.remaining[starts] < length * k):
            raise ValueError(f"some starts do not have {length * k} actions left in their episode; "
                             "draw them with valid_starts()")
        steps = (starts[:, None] + np.arange(length * k + 1)[None]) % self.capacity  # (N, Lk+1)
        act_rows = steps[:, :-1]
        n = len(starts)
        return {
            "obs": self.obs[steps[:, ::k]],
            "actions": self.actions[act_rows].reshape(n, length, k * self.action_dim),
            "rewards": self.rewards[act_rows].reshape(n, length, k).sum(-1),
            "touches": self.touches[act_rows].reshape(n, length, k).any(-1),
            "episode": self.episode[starts],
        }

    def sample_sequences(self, batch_size: int, length: int, rng: np.random.Generator,
                         action_block: int = 1, episodes: Any = None) -> dict[str, np.ndarray]:
        """Uniformly sample ``batch_size`` contiguous sequences (see :meth:`gather`)."""
        starts = self.valid_starts(length, action_block, episodes)
        if len(starts) == 0:
            raise ValueError(f"no stored episode has {length * action_block} consecutive actions; "
                             "collect longer episodes or shorten the sequences")
        return self.gather(rng.choice(starts, size=batch_size), length, action_block)

    def sample_transitions(self, batch_size: int, rng: np.random.Generator, action_block: int = 1,
                           episodes: Any = None) -> dict[str, np.ndarray]:
        """Sample transitions: ``obs``, ``actions``, ``next_obs``, ``rewards``, ``touches``."""
        seq = self.sample_sequences(batch_size, 1, rng, action_block, episodes)
        return _as_transitions(seq)

    def transitions(self, action_block: int = 1, episodes: Any = None) -> dict[str, np.ndarray]:
        """All stored transitions (same keys as :meth:`sample_transitions`)."""
        return _as_transitions(self.gather(self.valid_starts(1, action_block, episodes), 1, action_block))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Atomically write the stored episodes (oldest first) to an ``.npz`` file."""
        order = [(start + np.arange(n)) % self.capacity for _, start, n in self._episodes]
        rows = np.concatenate(order) if order else np.zeros(0, np.int64)
        meta = {"format": BUFFER_FORMAT, "capacity": self.capacity, "obs_shape": list(self.obs_shape),
                "action_dim": self.action_dim, "obs_dtype": self.obs_dtype.str,
                "episodes": [[int(e), int(n), self.terminated[e]] for e, _, n in self._episodes],
                "next_id": self._next_id}
        arrays = {"obs": self.obs[rows], "actions": self.actions[rows], "rewards": self.rewards[rows],
                  "touches": self.touches[rows], "meta": np.array(json.dumps(meta))}

        def write(p: Any) -> None:
            with open(p, "wb") as fh:
                np.savez(fh, **arrays)

        atomic_write(path, write)

    @classmethod
    def load(cls, path: str | os.PathLike) -> ReplayBuffer:
        """Rebuild a buffer written by :meth:`save` (episode ids preserved)."""
        if not os.path.exists(path):
            raise FileNotFoundError(f"no replay buffer at {os.fspath(path)!r}")
        with open(path, "rb") as fh:
            data = np.load(io.BytesIO(fh.read()), allow_pickle=False)
            meta = json.loads(str(data["meta"]))
            if meta.get("format") != BUFFER_FORMAT:
                raise ValueError(f"{os.fspath(path)!r} is not a {BUFFER_FORMAT} file")
            buf = cls(meta["capacity"], meta["obs_shape"], meta["action_dim"], np.dtype(meta["obs_dtype"]))
            pos = 0
            for ep, n, term in meta["episodes"]:
                sl = slice(pos, pos + n)
                buf._next_id = ep
                buf.add_episode(data["obs"][sl], data["actions"][sl][:-1], data["rewards"][sl][:-1],
                                term, data["touches"][sl][:-1])
                pos += n
            buf._next_id = meta["next_id"]
        return buf


def _as_transitions(seq: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"obs": seq["obs"][:, 0], "actions": seq["actions"][:, 0], "next_obs": seq["obs"][:, 1],
            "rewards": seq["rewards"][:, 0], "touches": seq["touches"][:, 0], "episode": seq["episode"]}
