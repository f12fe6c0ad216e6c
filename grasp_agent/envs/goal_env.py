"""Shared pieces of the goal-conditioned environments: the sparse reward and a grid BFS oracle.

Every env in :mod:`grasp_agent.envs` follows one contract (Dict observation with
``observation`` / ``achieved_goal`` / ``desired_goal`` in the same space, a vectorised
``compute_reward``, ``goal_distance`` and ``success_threshold``). :class:`GoalRewardMixin`
implements the reward part once: a subclass only says how to read the task-relevant features
(``goal_features``) out of an observation batch, in either observation mode.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

SUCCESS_REWARD = 0.0
FAILURE_REWARD = -1.0

OFFSETS_4 = ((1, 0), (-1, 0), (0, 1), (0, -1))
OFFSETS_8 = OFFSETS_4 + ((1, 1), (1, -1), (-1, 1), (-1, -1))


class GoalRewardMixin:
    """Sparse goal reward over task features, vectorised over leading dims.

    Subclasses set ``success_threshold`` (float) and implement :meth:`goal_features`
    ``(..., *obs_shape) -> (..., K)`` (e.g. the agent position, decoded from an image in
    pixel mode). Then ``goal_distance`` is the Euclidean distance between features and
    ``compute_reward`` is ``0.0`` where it is ``<= success_threshold`` and ``-1.0`` elsewhere.
    """

    success_threshold: float

    def goal_features(self, obs: np.ndarray) -> np.ndarray:
        """Task features ``(..., K)`` of observations ``(..., *obs_shape)``."""
        raise NotImplementedError(f"{type(self).__name__} must implement goal_features()")

    def goal_distance(self, achieved: Any, desired: Any) -> np.ndarray:
        """Task-metric distance ``(...)`` between achieved and desired goals ``(..., *obs_shape)``."""
        diff = self.goal_features(np.asarray(achieved)) - self.goal_features(np.asarray(desired))
        return np.sqrt(np.sum(np.square(diff, dtype=np.float64), axis=-1))

    def is_success(self, achieved: Any, desired: Any) -> np.ndarray:
        """Boolean ``(...)``: ``goal_distance <= success_threshold``."""
        return self.goal_distance(achieved, desired) <= self.success_threshold

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any = None) -> np.ndarray:
        """Sparse reward ``(...)`` float32: 0 on success, -1 otherwise. ``info`` is unused."""
        success = self.is_success(achieved_goal, desired_goal)
        return np.where(success, SUCCESS_REWARD, FAILURE_REWARD).astype(np.float32)


def check_options(options: Mapping[str, Any] | None, valid: Iterable[str]) -> dict[str, Any]:
    """Return ``options`` as a dict; raise ``ValueError`` naming the valid keys on unknown ones."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ValueError(f"reset options must be a dict, got {type(options).__name__}")
    valid = tuple(valid)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown reset option(s) {unknown}; valid options are {list(valid)}")
    return dict(options)


def check_min_path_length(value: Any) -> int:
    """Validate a ``min_path_length`` option: a non-negative int (steps)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
        raise ValueError(f"min_path_length must be a non-negative int (steps), got {value!r}")
    return int(value)


def bfs_distances(free: np.ndarray, source: tuple[int, int], connectivity: int = 4) -> np.ndarray:
    """Breadth-first step counts from ``source`` over the free cells of an occupancy grid.

    Args:
        free: bool ``(H, W)``; True where a cell can be occupied.
        source: ``(row, col)`` of a free cell.
        connectivity: 4 (axis moves) or 8 (also diagonal moves; a diagonal move needs both
            adjacent axis cells free, so paths never cut a wall corner).

    Returns:
        int64 ``(H, W)``: the fewest moves from ``source``; ``-1`` where unreachable.
    """
    free = np.asarray(free, dtype=bool)
    if free.ndim != 2:
        raise ValueError(f"free must be a 2-D bool grid, got shape {free.shape}")
    if connectivity not in (4, 8):
        raise ValueError(f"connectivity must be 4 or 8, got {connectivity}")
    h, w = free.shape
    r0, c0 = int(source[0]), int(source[1])
    if not (0 <= r0 < h and 0 <= c0 < w) or not free[r0, c0]:
        raise ValueError(f"BFS source {(r0, c0)} is outside the grid {free.shape} or not a free cell")
    offsets = OFFSETS_8 if connectivity == 8 else OFFSETS_4
    dist = np.full((h, w), -1, dtype=np.int64)
    dist[r0, c0] = 0
    queue = deque([(r0, c0)])
    while queue:
        r, c = queue.popleft()
        nd = dist[r, c] + 1
        for dr, dc in offsets:
            rr, cc = r + dr, c + dc
            if not (0 <= rr < h and 0 <= cc < w) or not free[rr, cc] or dist[rr, cc] >= 0:
                continue
            if dr and dc and not (free[r + dr, c] and free[r, c + dc]):
                continue
            dist[rr, cc] = nd
            queue.append((rr, cc))
    return dist


def all_pairs_bfs(free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Exact 4-connected move counts between every pair of free cells of an occupancy grid.

    Level-synchronous BFS from all sources at once (each level gathers the reached sets of the
    four neighbours), so a few hundred cells take milliseconds.

    Args:
        free: bool ``(H, W)``; True where a cell can be occupied.

    Returns:
        ``cells`` int64 ``(N, 2)`` as ``(row, col)`` and ``dist`` int64 ``(N, N)`` (``-1`` where
        unreachable).
    """
    free = np.asarray(free, dtype=bool)
    if free.ndim != 2:
        raise ValueError(f"free must be a 2-D bool grid, got shape {free.shape}")
    cells = np.argwhere(free)
    n = len(cells)
    index = -np.ones(free.shape, dtype=np.int64)
    index[cells[:, 0], cells[:, 1]] = np.arange(n)
    neighbours = []  # per direction: the neighbour's index, or the cell itself where blocked
    for dr, dc in OFFSETS_4:
        rr, cc = cells[:, 0] + dr, cells[:, 1] + dc
        ok = (rr >= 0) & (rr < free.shape[0]) & (cc >= 0) & (cc < free.shape[1])
        ok[ok] = free[rr[ok], cc[ok]]
        nbr = np.arange(n)
        nbr[ok] = index[rr[ok], cc[ok]]
        neighbours.append(nbr)
    dist = np.where(np.eye(n, dtype=bool), 0, -1).astype(np.int64)
    reached = np.eye(n, dtype=bool)
    step = 0
    while True:
        step += 1
        grown = reached[:, neighbours[0]] | reached[:, neighbours[1]]
        grown |= reached[:, neighbours[2]] | reached[:, neighbours[3]]
        new = grown & ~reached
        if not new.any():
            return cells, dist
        dist[new] = step
        reached |= new
