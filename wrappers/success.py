"""``info["is_success"]`` for envs that report success under another key.

SB3's ``EvalCallback`` and ``evaluate_policy`` callbacks, HER and this package's evaluations read
``info["is_success"]``. Gymnasium-Robotics' PointMaze and AntMaze report ``info["success"]``;
other envs have their own key. :class:`SuccessInfoWrapper` copies it to ``is_success`` (or, with
no key, derives it from ``compute_reward`` of a goal-Dict env whose reward is 0 on success and
negative otherwise, the Gymnasium-Robotics sparse convention).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

SUCCESS_KEYS = ("is_success", "success")


def success_from_info(info: dict[str, Any]) -> bool | None:
    """The success flag of one step's ``info`` (``is_success``, else ``success``), or None."""
    for key in SUCCESS_KEYS:
        if key in info:
            return bool(np.asarray(info[key]).item())
    return None


class SuccessInfoWrapper(gym.Wrapper):
    """Add ``info["is_success"]`` at every step.

    Args:
        env: the env.
        key: the env's own success key; ``"auto"`` uses ``is_success`` if present, else
            ``success``, else (goal-Dict envs with ``compute_reward``) ``reward == 0``.

    Raises:
        ValueError: ``key="auto"`` and the first step's info has no success key and the env has
            no ``compute_reward`` to derive one from.
    """

    def __init__(self, env: gym.Env, key: str = "auto") -> None:
        super().__init__(env)
        if not isinstance(key, str) or not key:
            raise TypeError(f"key must be a non-empty str, got {key!r}")
        self.key = key

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = dict(info)
        if self.key != "auto":
            if self.key not in info:
                raise ValueError(f"the env's info has no {self.key!r} key (keys: {sorted(info)}); pass the "
                                 "key the env uses for success")
            info["is_success"] = bool(np.asarray(info[self.key]).item())
            return obs, reward, terminated, truncated, info
        flag = success_from_info(info)
        if flag is None:
            try:
                compute = self.env.get_wrapper_attr("compute_reward")
            except AttributeError:
                compute = None
            if compute is None or not isinstance(obs, dict) or "achieved_goal" not in obs:
                raise ValueError(f"no success key in the env's info (keys: {sorted(info)}) and no "
                                 "compute_reward to derive it; pass key= naming the env's success flag")
            flag = bool(np.asarray(compute(obs["achieved_goal"], obs["desired_goal"], info)).item() == 0)
        info["is_success"] = flag
        return obs, reward, terminated, truncated, info
