"""Cut the step stream of a Gymnasium vector env into episodes for a :class:`ReplayBuffer`.

Gymnasium vector envs reset finished sub-environments automatically. In the default
``NEXT_STEP`` autoreset mode the step that ends an episode returns its true final
observation, and the *next* call to ``step`` ignores that env's action and returns the first
observation of a new episode: that step is not a transition and is dropped here. In
``SAME_STEP`` mode the ending step already returns the reset observation and the true final one
is in ``infos["final_obs"]``. Both are handled; ``DISABLED`` is rejected.

When the buffer keeps achieved goals (``ReplayBuffer(..., goal_dim=G)``), the ``goal_key``
entry (``"achieved_goal"``) of each Dict observation is stored with it, flattened to ``(G,)``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from grasp_agent.data.buffer import ReplayBuffer

AUTORESET_MODES = ("next_step", "same_step")


class _Episode:
    def __init__(self, first_obs: tuple[np.ndarray, np.ndarray | None]) -> None:
        self.obs = [first_obs[0]]
        self.goals = [first_obs[1]]
        self.actions: list[np.ndarray] = []
        self.rewards: list[float] = []
        self.touches: list[bool] = []


def _info_flag(infos: dict[str, Any], key: str, i: int) -> bool:
    if key not in infos:
        return False
    mask = infos.get(f"_{key}")
    if mask is not None and not bool(mask[i]):
        return False
    return bool(infos[key][i])


class VectorRecorder:
    """Stage per-env episodes from a vector-env stream and store finished ones in ``buffer``.

    Args:
        buffer: destination buffer.
        num_envs: number of sub-environments.
        autoreset_mode: ``"next_step"`` (Gymnasium's default) or ``"same_step"``.
        obs_fn: maps one sub-env observation (e.g. a dict) to the array stored (default: the
            ``"observation"`` entry of a dict, else the observation itself).
        goal_key: the Dict entry stored as the achieved goal when ``buffer.goal_dim`` is set.

    Usage::

        rec = VectorRecorder(buf, envs.num_envs)
        obs, _ = envs.reset(seed=0); rec.reset(obs)
        for _ in range(n):
            act = policy(obs)
            obs, rew, term, trunc, info = envs.step(act)
            rec.step(act, obs, rew, term, trunc, info)
        rec.flush()   # store unfinished episodes as cut-off (not terminal)
    """

    def __init__(self, buffer: ReplayBuffer, num_envs: int, autoreset_mode: str = "next_step",
                 obs_fn: Callable[[Any], np.ndarray] | None = None, goal_key: str = "achieved_goal") -> None:
        if autoreset_mode not in AUTORESET_MODES:
            raise ValueError(f"unsupported autoreset mode {autoreset_mode!r}; use one of "
                             f"{AUTORESET_MODES} (DISABLED streams need manual resets)")
        self.buffer = buffer
        self.num_envs = int(num_envs)
        self.mode = autoreset_mode
        self.obs_fn = obs_fn or (lambda o: o["observation"] if isinstance(o, dict) else o)
        self.goal_key = goal_key
        self.goal_dim = getattr(buffer, "goal_dim", None)
        self._eps: list[_Episode | None] = [None] * self.num_envs
        self._autoreset = np.zeros(self.num_envs, bool)
        self._started = False
        self.episodes_stored = 0
        self.steps_dropped = 0

    def _single(self, obs: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """The stored observation of one sub-env observation, and its achieved goal ``(G,)``."""
        if self.goal_dim is None:
            return np.array(self.obs_fn(obs)), None
        if not isinstance(obs, dict) or self.goal_key not in obs:
            found = list(obs) if isinstance(obs, dict) else type(obs).__name__
            raise ValueError(f"the buffer stores achieved goals, but the observation has no "
                             f"{self.goal_key!r} entry (found {found}); use a buffer without goal_dim")
        return np.array(self.obs_fn(obs)), np.asarray(obs[self.goal_key], np.float32).reshape(-1)

    def _env_obs(self, obs: Any, i: int) -> tuple[np.ndarray, np.ndarray | None]:
        if isinstance(obs, dict):
            return self._single({k: v[i] for k, v in obs.items()})
        return self._single(obs[i])

    def _append(self, ep: _Episode, single: tuple[np.ndarray, np.ndarray | None]) -> None:
        ep.obs.append(single[0])
        ep.goals.append(single[1])

    def reset(self, obs: Any) -> None:
        """Start every sub-env's episode from the batched ``obs`` returned by ``envs.reset``."""
        self._eps = [_Episode(self._env_obs(obs, i)) for i in range(self.num_envs)]
        self._autoreset[:] = False
        self._started = True

    def _store(self, i: int, terminated: bool) -> None:
        ep = self._eps[i]
        if ep is not None and ep.actions:
            goals = None if self.goal_dim is None else np.stack(ep.goals)
            self.buffer.add_episode(np.stack(ep.obs), np.stack(ep.actions), np.array(ep.rewards),
                                    terminated, np.array(ep.touches), goals=goals)
            self.episodes_stored += 1
        self._eps[i] = None

    def step(self, actions: Any, next_obs: Any, rewards: Any, terminated: Any, truncated: Any,
             infos: dict[str, Any]) -> None:
        """Record one batched ``envs.step`` result (the ``actions`` passed to it first)."""
        if not self._started:
            raise RuntimeError("call reset(obs) with the observations of envs.reset() first")
        actions = np.asarray(actions).reshape(self.num_envs, -1)
        for i in range(self.num_envs):
            if self.mode == "next_step" and self._autoreset[i]:
                # The env was reset by this call; its action was ignored: not a transition.
                self._eps[i] = _Episode(self._env_obs(next_obs, i))
                self._autoreset[i] = False
                self.steps_dropped += 1
                continue
            ep = self._eps[i]
            ep.actions.append(actions[i].astype(np.float32))
            ep.rewards.append(float(rewards[i]))
            ep.touches.append(_info_flag(infos, "touches_obstacle", i))
            done = bool(terminated[i]) or bool(truncated[i])
            if self.mode == "same_step" and done:
                self._append(ep, self._single(infos["final_obs"][i]))
                self._store(i, bool(terminated[i]))
                self._eps[i] = _Episode(self._env_obs(next_obs, i))
                continue
            self._append(ep, self._env_obs(next_obs, i))
            if done:
                self._store(i, bool(terminated[i]))
                self._autoreset[i] = True

    def flush(self) -> None:
        """Store every unfinished episode as cut off (not terminal) and forget them."""
        for i in range(self.num_envs):
            self._store(i, False)
        self._started = False
