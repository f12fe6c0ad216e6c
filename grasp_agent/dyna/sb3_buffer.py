"""Writing transitions into an SB3 off-policy algorithm's replay buffer (plain or HER).

SB3 stores *scaled* Box actions (``policy.scale_action``, ``[-1, 1]``) and real next
observations; a time-limit end is a ``done`` with ``infos[0]["TimeLimit.truncated"] = True`` so
it is not bootstrapped as terminal. ``HerReplayBuffer`` tracks episodes per env, so episodes are
written whole and in order (:meth:`SB3BufferWriter.add_episode`), never interleaved.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces


def _row(obs: Any) -> Any:
    """One observation with a leading env axis of 1 (dicts entry-wise)."""
    if isinstance(obs, dict):
        return {k: np.asarray(v)[None] for k, v in obs.items()}
    return np.asarray(obs)[None]


class SB3BufferWriter:
    """Adds single-env transitions to ``learner.replay_buffer``.

    Args:
        learner: an SB3 ``OffPolicyAlgorithm`` (SAC, TD3, DDPG, DQN) built with one env.
    """

    def __init__(self, learner: Any) -> None:
        buffer = getattr(learner, "replay_buffer", None)
        if buffer is None:
            raise TypeError(f"{type(learner).__name__} has no replay_buffer; use an off-policy SB3 algorithm "
                            "(SAC, TD3, DDPG, DQN) whose buffer has been created (learner built with an env)")
        if getattr(learner, "n_envs", 1) != 1:
            raise ValueError(f"the learner was built with n_envs={learner.n_envs}; build it with a single "
                             "env so transitions can be added one at a time")
        self.learner = learner
        self.added = 0

    @property
    def buffer(self) -> Any:
        return self.learner.replay_buffer

    def _buffer_action(self, action: Any) -> np.ndarray:
        space = self.learner.action_space
        a = np.asarray(action)
        if isinstance(space, spaces.Box):
            a = np.clip(a.astype(np.float32), space.low, space.high)
            return np.asarray(self.learner.policy.scale_action(a), np.float32)[None]
        return a.reshape(1, -1)

    def add(self, obs: Any, action: Any, reward: float, next_obs: Any, terminated: bool, truncated: bool,
            info: dict[str, Any] | None = None) -> None:
        """Add one transition (true ``next_obs``, never an autoreset observation)."""
        done = bool(terminated) or bool(truncated)
        infos = [dict(info or {})]
        infos[0]["TimeLimit.truncated"] = bool(truncated) and not bool(terminated)
        self.buffer.add(_row(obs), _row(next_obs), self._buffer_action(action),
                        np.array([reward], np.float32), np.array([done]), infos)
        self.added += 1

    def add_episode(self, obs: list[Any], actions: list[Any], rewards: list[float], terminated: bool,
                    infos: list[dict[str, Any]] | None = None) -> None:
        """Add a whole episode: ``T + 1`` observations, ``T`` actions/rewards; the last step ends it.

        ``terminated`` False means the episode was cut off (time limit, checkpoint, imagination
        horizon): it is written as a truncation.
        """
        t = len(actions)
        if len(obs) != t + 1 or len(rewards) != t or t < 1:
            raise ValueError(f"an episode needs T+1 observations and T >= 1 actions/rewards, got "
                             f"{len(obs)}, {t}, {len(rewards)}")
        for i in range(t):
            last = i == t - 1
            self.add(obs[i], actions[i], rewards[i], obs[i + 1], last and terminated, last and not terminated,
                     None if infos is None else infos[i])
