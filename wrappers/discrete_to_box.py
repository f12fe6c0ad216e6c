"""DiscreteToBoxWrapper: a continuous relaxation of a ``Discrete(n)`` action space."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces


class DiscreteToBoxWrapper(gym.ActionWrapper):
    """Expose ``Discrete(n)`` as ``Box(-1, 1, (n,))`` scores; the env receives their argmax.

    Continuous planners (GRASP, GD, CEM) and continuous RL agents can then act in a discrete env:
    action ``u in [-1, 1]^n`` is one score per discrete action, and the wrapped env receives
    ``start + argmax(u)`` (ties go to the lowest index). A world model trained on these
    relaxed actions sees the scores, so a planner may push the chosen entry towards ``+1`` and
    the others towards ``-1`` (:meth:`reverse_action` gives exactly that code for an int).

    Example::

        env = DiscreteToBoxWrapper(MiniGridGoalEnv())
        env.reset(seed=0)
        env.step(np.array([0.9, -1.0, -1.0, -1.0], dtype=np.float32))   # moves right (action 0)
    """

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        if not isinstance(env.action_space, spaces.Discrete):
            raise TypeError(f"DiscreteToBoxWrapper needs a Discrete action space, got "
                            f"{type(env.action_space).__name__}; it relaxes Discrete(n) to Box(-1, 1, (n,)) "
                            "and would be meaningless on other spaces")
        self.n = int(env.action_space.n)
        self.start = int(env.action_space.start)
        self.action_space = spaces.Box(-1.0, 1.0, (self.n,), np.float32)

    def action(self, action: Any) -> int:
        """Scores ``(n,)`` -> the discrete action ``start + argmax``."""
        u = np.asarray(action, dtype=np.float64)
        if u.shape != (self.n,):
            raise ValueError(f"action must be {self.n} scores, shape ({self.n},), got shape {u.shape}")
        if not np.all(np.isfinite(u)):
            raise ValueError(f"action scores must be finite, got {u.tolist()}")
        return self.start + int(np.argmax(u))

    def reverse_action(self, action: Any) -> np.ndarray:
        """The canonical scores ``(n,)`` float32 of a discrete action: +1 for it, -1 elsewhere."""
        value = np.asarray(action)
        if value.shape not in ((), (1,)) or value.dtype.kind not in "iu":
            raise TypeError(f"a discrete action is one integer, got {type(action).__name__} {action!r}")
        index = int(value.reshape(())) - self.start
        if not 0 <= index < self.n:
            raise ValueError(f"discrete action must be in [{self.start}, {self.start + self.n}), "
                             f"got {action}")
        scores = -np.ones(self.n, dtype=np.float32)
        scores[index] = 1.0
        return scores

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> Any:
        """The inner goal env's ``compute_reward`` (actions do not enter it); AttributeError if none."""
        return self.env.get_wrapper_attr("compute_reward")(achieved_goal, desired_goal, info)
