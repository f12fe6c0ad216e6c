"""A bounded replay buffer of whole episodes, stored as numpy arrays.

Layout: a ring of ``capacity`` rows, one row per observation. An episode with ``T`` actions
takes ``T + 1`` consecutive rows: row ``t`` holds ``o_t`` and the action ``a_t`` taken there
(plus its reward and ``touches_obstacle`` flag); the episode's last row holds only the final
observation. A buffer built with ``goal_dim=G`` also keeps, per row, the goal-space position
``achieved_goal_t (G,)`` of observation ``o_t`` (the ``achieved_goal`` of a goal-Dict env).
Every observation is stored once (images as uint8), and a transition or a contiguous sequence
never crosses an episode boundary because the per-row ``remaining`` count (actions left in the
episode) says how far one may read. When the ring is full the oldest
whole episodes are evicted.

Episodes enter through :meth:`ReplayBuffer.add_episode`; streams from (vector) environments
with Gymnasium's autoreset go through :class:`grasp_agent.data.recorder.VectorRecorder`, which
cuts them into episodes and drops the autoreset step (it is not a transition).
"""

from __future__ import annotations

import io
import json
import os
import zipfile
from collections import deque
from collections.abc import Sequence
from typing import Any

import numpy as np

from grasp_agent.safe_io import CheckpointError, read_checked, write_checked

BUFFER_FORMAT = "grasp_agent.replay_buffer/3"  # /3 adds the optional per-row achieved goals
RING_FORMATS = (BUFFER_FORMAT, "grasp_agent.replay_buffer/2")  # episodes keep their ring rows
LEGACY_FORMATS = ("grasp_agent.replay_buffer/2",
                  "grasp_agent.replay_buffer/1")  # /1: episodes compacted from row 0, not ring-exact
ARRAYS = ("obs", "actions", "rewards", "touches")


class ReplayBuffer:
    """Ring buffer of episodes with transition and sequence sampling.

    Args:
        capacity: maximum number of stored observations (rows).
        obs_shape: shape of one observation, e.g. ``(2,)`` or ``(64, 64, 3)``.
        action_dim: size of one (flat) action.
        obs_dtype: storage dtype of observations (``np.uint8`` for images).
        goal_dim: keep a float32 ``achieved_goal (G,)`` per observation row (``None``: no goals);
            :meth:`add_episode` then requires ``goals``.
    """

    def __init__(self, capacity: int, obs_shape: Sequence[int], action_dim: int,
                 obs_dtype: Any = np.float32, goal_dim: int | None = None) -> None:
        if not _is_int(capacity) or capacity < 2:
            raise ValueError(f"capacity must be an int >= 2 rows, got {capacity!r}")
        try:
            shape = tuple(obs_shape)
        except TypeError:
            raise TypeError(f"obs_shape must be a sequence of ints, got {obs_shape!r}") from None
        if not all(_is_int(d) and d >= 1 for d in shape):
            raise ValueError(f"obs_shape must hold ints >= 1, got {obs_shape!r}")
        if not _is_int(action_dim) or action_dim < 1:
            raise ValueError(f"action_dim must be an int >= 1, got {action_dim!r}")
        try:
            dtype = np.dtype(obs_dtype)
        except TypeError:
            raise TypeError(f"obs_dtype must be a numpy dtype, got {obs_dtype!r}") from None
        if dtype.kind not in "biuf":
            raise TypeError(f"obs_dtype must be a numeric numpy dtype (e.g. float32, uint8), got {dtype}")
        if goal_dim is not None and (not _is_int(goal_dim) or goal_dim < 1):
            raise ValueError(f"goal_dim must be None or an int >= 1, got {goal_dim!r}")
        self.capacity = int(capacity)
        self.obs_shape = tuple(int(d) for d in shape)
        self.action_dim = int(action_dim)
        self.obs_dtype = dtype
        self.obs = np.zeros((self.capacity,) + self.obs_shape, self.obs_dtype)
        self.actions = np.zeros((self.capacity, self.action_dim), np.float32)
        self.rewards = np.zeros(self.capacity, np.float32)
        self.touches = np.zeros(self.capacity, bool)
        self.goal_dim = None if goal_dim is None else int(goal_dim)
        self.goals = None if goal_dim is None else np.zeros((self.capacity, self.goal_dim), np.float32)
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
                    touches: Any = None, goals: Any = None) -> int:
        """Store one episode: ``obs (T+1, *obs_shape)``, ``actions (T, A)``; return its id.

        Args:
            rewards: ``(T,)`` (zeros if None). terminated: the episode ended in a terminal
                state (False for a time-limit truncation or a cut-off stream).
            touches: ``(T,)`` bools, the step touched an obstacle (False if None).
            goals: ``(T+1, G)`` achieved goals, one per observation; required when the buffer
                has ``goal_dim`` and refused when it has none.
        """
        checked = self._checked_episode(obs, actions, rewards, terminated, touches, goals)
        ep = self._next_id
        self._next_id += 1
        self._place(ep, self._ptr, *checked[:4], bool(terminated), checked[4])
        return ep

    def _checked_goals(self, goals: Any, t: int) -> np.ndarray | None:
        """Validate the ``(T+1, G)`` achieved goals of an episode with ``t`` actions."""
        if self.goal_dim is None:
            if goals is not None:
                raise ValueError("this buffer stores no goals; build it with ReplayBuffer(..., goal_dim=G) "
                                 "to keep achieved goals")
            return None
        if goals is None:
            raise ValueError(f"this buffer stores achieved goals (goal_dim={self.goal_dim}): pass "
                             f"goals of shape ({t + 1}, {self.goal_dim}), one per observation")
        goals = _numeric("goals", goals, np.float32)
        if goals.shape != (t + 1, self.goal_dim):
            raise ValueError(f"an episode with {t} actions needs goals of shape ({t + 1}, {self.goal_dim}) "
                             f"(one achieved goal per observation), got {goals.shape}")
        if not np.isfinite(goals).all():
            raise ValueError("episode goals contain NaN or inf (or values beyond float32)")
        return goals

    def _checked_episode(self, obs: Any, actions: Any, rewards: Any, terminated: Any, touches: Any,
                         goals: Any = None
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
        """Validate one episode; return ``obs`` (storage dtype), ``actions (T, A)``, rewards,
        touches and goals (None without ``goal_dim``)."""
        if not (isinstance(terminated, (bool, np.bool_)) or _is_int(terminated) and terminated in (0, 1)):
            raise TypeError(f"terminated must be a bool, got {type(terminated).__name__} {terminated!r}")
        obs, actions = _numeric("obs", obs), _numeric("actions", actions, np.float32)
        if actions.ndim == 0 or actions.size == 0 and actions.ndim == 1:
            raise ValueError(f"actions must be (T, {self.action_dim}) with T >= 1, got shape "
                             f"{actions.shape}")
        t = actions.shape[0]
        if t < 1:
            raise ValueError("an episode needs at least one action (two observations)")
        if actions.size != t * self.action_dim:
            raise ValueError(f"actions must be (T, {self.action_dim}), got {actions.shape}")
        actions = actions.reshape(t, self.action_dim)
        if obs.shape != (t + 1,) + self.obs_shape:
            raise ValueError(f"an episode with {t} actions needs obs of shape "
                             f"{(t + 1,) + self.obs_shape}, got {obs.shape}")
        if t + 1 > self.capacity:
            raise ValueError(f"episode of {t + 1} observations exceeds capacity {self.capacity}; "
                             "raise capacity")
        if obs.dtype.kind == "f" and not np.isfinite(obs).all():
            raise ValueError("episode observations contain NaN or inf")
        if not np.isfinite(actions).all():
            raise ValueError("episode actions contain NaN or inf")
        if self.obs_dtype.kind in "biu":
            if obs.dtype.kind not in "biu":
                raise TypeError(f"buffer stores {self.obs_dtype} observations (images/grids); got "
                                f"{obs.dtype}; pass the raw {self.obs_dtype} observations")
            info = np.iinfo(self.obs_dtype) if self.obs_dtype.kind != "b" else None
            if info is not None and obs.size and (obs.min() < info.min or obs.max() > info.max):
                raise ValueError(f"observations range over [{obs.min()}, {obs.max()}], outside "
                                 f"{self.obs_dtype}'s [{info.min}, {info.max}]; they would wrap around "
                                 "when stored: pass the raw observations")
        elif np.abs(obs).max(initial=0) > np.finfo(self.obs_dtype).max:
            raise ValueError(f"observations exceed the range of {self.obs_dtype} (they would become inf)")
        rewards = np.zeros(t, np.float32) if rewards is None else _numeric("rewards", rewards, np.float32)
        if rewards.shape not in ((t,), (t, 1)):
            raise ValueError(f"rewards must have shape ({t},) (one per action), got {rewards.shape}")
        if not np.isfinite(rewards).all():
            raise ValueError("episode rewards contain NaN or inf (or values beyond float32)")
        touches = np.zeros(t, bool) if touches is None else np.asarray(touches)
        if touches.shape not in ((t,), (t, 1)) or touches.dtype.kind not in "biuf":
            raise ValueError(f"touches must be {t} bools (one per action), got {touches.dtype} "
                             f"{touches.shape}")
        goals = self._checked_goals(goals, t)
        return (obs.astype(self.obs_dtype, copy=False), actions, rewards.reshape(t),
                touches.astype(bool).reshape(t), goals)

    def _place(self, ep: int, start: int, obs: np.ndarray, actions: np.ndarray, rewards: np.ndarray,
               touches: np.ndarray, terminated: bool, goals: np.ndarray | None = None) -> None:
        """Write checked episode ``ep`` at ring row ``start`` (evicting the oldest as needed)."""
        t = len(actions)
        while self._size + t + 1 > self.capacity:
            self._evict_oldest()
        rows = (start + np.arange(t + 1)) % self.capacity
        self.obs[rows] = obs
        self.actions[rows[:-1]] = actions
        self.actions[rows[-1]] = 0.0
        self.rewards[rows[:-1]] = rewards
        self.rewards[rows[-1]] = 0.0
        self.touches[rows[:-1]] = touches
        self.touches[rows[-1]] = False
        if self.goals is not None:
            self.goals[rows] = goals
        self.remaining[rows] = np.arange(t, -1, -1)
        self.episode[rows] = ep
        self.terminated[ep] = bool(terminated)
        self._episodes.append((ep, int(start), t + 1))
        self._ptr = int((rows[-1] + 1) % self.capacity)
        self._size += t + 1

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
        touched an obstacle) and ``episode (N,)``; with ``goal_dim`` also ``goals (N, L+1, G)``
        (the achieved goal of each returned observation).
        """
        starts = np.asarray(starts, np.int64)
        k = int(action_block)
        if np.any(self.remaining[starts] < length * k):
            raise ValueError(f"some starts do not have {length * k} actions left in their episode; "
                             "draw them with valid_starts()")
        steps = (starts[:, None] + np.arange(length * k + 1)[None]) % self.capacity  # (N, Lk+1)
        act_rows = steps[:, :-1]
        n = len(starts)
        out = {
            "obs": self.obs[steps[:, ::k]],
            "actions": self.actions[act_rows].reshape(n, length, k * self.action_dim),
            "rewards": self.rewards[act_rows].reshape(n, length, k).sum(-1),
            "touches": self.touches[act_rows].reshape(n, length, k).any(-1),
            "episode": self.episode[starts],
        }
        if self.goals is not None:
            out["goals"] = self.goals[steps[:, ::k]]
        return out

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
        """Sample transitions: ``obs``, ``actions``, ``next_obs``, ``rewards``, ``touches``
        (and ``goals``, ``next_goals`` with ``goal_dim``)."""
        seq = self.sample_sequences(batch_size, 1, rng, action_block, episodes)
        return _as_transitions(seq)

    def transitions(self, action_block: int = 1, episodes: Any = None) -> dict[str, np.ndarray]:
        """All stored transitions (same keys as :meth:`sample_transitions`)."""
        return _as_transitions(self.gather(self.valid_starts(1, action_block, episodes), 1, action_block))

    # ------------------------------------------------------------------ persistence
    def save(self, path: str | os.PathLike) -> None:
        """Atomically write the stored episodes to an ``.npz`` file with a checksum trailer.

        Each episode keeps its ring rows (and the write pointer its position), so a buffer whose
        ring wrapped loads with the same row layout: sampling after :meth:`load` draws exactly
        what it would have drawn from this buffer.
        """
        order = [(start + np.arange(n)) % self.capacity for _, start, n in self._episodes]
        rows = np.concatenate(order) if order else np.zeros(0, np.int64)
        meta = {"format": BUFFER_FORMAT, "capacity": self.capacity, "obs_shape": list(self.obs_shape),
                "action_dim": self.action_dim, "obs_dtype": self.obs_dtype.str, "goal_dim": self.goal_dim,
                "episodes": [[int(e), int(n), self.terminated[e], int(start)]
                             for e, start, n in self._episodes],
                "next_id": self._next_id, "ptr": self._ptr}
        arrays = {"obs": self.obs[rows], "actions": self.actions[rows], "rewards": self.rewards[rows],
                  "touches": self.touches[rows], "meta": np.array(json.dumps(meta))}
        if self.goals is not None:
            arrays["goals"] = self.goals[rows]
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        write_checked(path, buf.getvalue())

    @classmethod
    def load(cls, path: str | os.PathLike) -> ReplayBuffer:
        """Rebuild a buffer written by :meth:`save` (episode ids and ring rows preserved).

        Raises:
            FileNotFoundError: no file at ``path``.
            CheckpointError: truncated, corrupt, foreign or inconsistent file (a ``ValueError``).
        """
        name = os.fspath(path)
        body = read_checked(path, "replay buffer")
        try:
            with np.load(io.BytesIO(body), allow_pickle=False) as data:
                missing = sorted(set(ARRAYS + ("meta",)) - set(data.files))
                if missing:
                    raise CheckpointError(f"{name!r} is not a grasp_agent replay buffer: it lacks {missing}")
                meta = json.loads(str(data["meta"]))
                arrays = {k: data[k] for k in ARRAYS + ("goals",) if k in data.files}
        except CheckpointError:
            raise
        except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
            raise CheckpointError(f"{name!r} is not a readable replay buffer ({type(exc).__name__}: "
                                  f"{str(exc)[:200]}); it is truncated, corrupt or another kind of file"
                                  ) from exc
        try:
            return cls._from_saved(meta, arrays)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise CheckpointError(f"replay buffer {name!r} is inconsistent: {exc}; write it again") from exc

    @classmethod
    def _from_saved(cls, meta: Any, arrays: dict[str, np.ndarray]) -> ReplayBuffer:
        if not isinstance(meta, dict) or meta.get("format") not in (BUFFER_FORMAT, *LEGACY_FORMATS):
            found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
            raise ValueError(f"format {found!r} is not {BUFFER_FORMAT!r}")
        goal_dim = meta.get("goal_dim") if meta["format"] == BUFFER_FORMAT else None
        buf = cls(meta["capacity"], meta["obs_shape"], meta["action_dim"], np.dtype(meta["obs_dtype"]),
                  goal_dim)
        episodes = meta["episodes"]
        total = sum(int(e[1]) for e in episodes)
        widths = [("obs", buf.obs_shape), ("actions", (buf.action_dim,)), ("rewards", ()), ("touches", ())]
        if goal_dim is not None:
            widths.append(("goals", (buf.goal_dim,)))
        elif "goals" in arrays:
            raise ValueError("the file holds goals but its meta data has no goal_dim")
        for key, width in widths:
            if arrays[key].shape != (total,) + tuple(width):
                raise ValueError(f"{key} has shape {arrays[key].shape}, the episodes need {(total,) + width}")
        ring_exact = meta["format"] in RING_FORMATS
        pos = 0
        for entry in episodes:
            ep, n, term = int(entry[0]), int(entry[1]), bool(entry[2])
            if n < 2 or (buf._episodes and ep <= buf._episodes[-1][0]):
                raise ValueError(f"episode entry {entry} (ids must increase, >= 2 rows)")
            sl = slice(pos, pos + n)
            checked = buf._checked_episode(arrays["obs"][sl], arrays["actions"][sl][:-1],
                                           arrays["rewards"][sl][:-1], term, arrays["touches"][sl][:-1],
                                           arrays["goals"][sl] if goal_dim is not None else None)
            start = int(entry[3]) if ring_exact else buf._ptr
            if ring_exact and (not 0 <= start < buf.capacity or buf._size + n > buf.capacity
                               or np.any(buf.remaining[(start + np.arange(n)) % buf.capacity] >= 0)):
                raise ValueError(f"episode {ep} at row {start} overlaps another or leaves the ring")
            buf._place(ep, start, *checked[:4], term, checked[4])
            pos += n
        buf._next_id = int(meta["next_id"])
        if buf._episodes and buf._next_id <= buf._episodes[-1][0]:
            raise ValueError(f"next_id {buf._next_id} is not after the last episode id")
        if ring_exact:
            if not 0 <= int(meta["ptr"]) < buf.capacity:
                raise ValueError(f"write pointer {meta['ptr']} outside the ring")
            buf._ptr = int(meta["ptr"])
        return buf


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _numeric(name: str, x: Any, dtype: Any = None) -> np.ndarray:
    """``np.asarray(x, dtype)`` for numbers only, with an error naming ``name`` otherwise."""
    try:
        arr = np.asarray(x) if dtype is None else np.asarray(x, dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be an array of numbers ({exc})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be an array of numbers, got dtype {arr.dtype}")
    return arr


def _as_transitions(seq: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    out = {"obs": seq["obs"][:, 0], "actions": seq["actions"][:, 0], "next_obs": seq["obs"][:, 1],
           "rewards": seq["rewards"][:, 0], "touches": seq["touches"][:, 0], "episode": seq["episode"]}
    if "goals" in seq:
        out["goals"], out["next_goals"] = seq["goals"][:, 0], seq["goals"][:, 1]
    return out
