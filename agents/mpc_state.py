"""Per-env MPC state of a planner agent, and the small rules the agent applies to its env.

* :class:`PlanState`: the current plans and how far each is executed.
* :func:`shifted_plans`: the warm starts of a receding-horizon replan.
* :func:`block_size`: env actions per model step of an action-block model.
* :func:`latent_goal_wrapped`: whether an env sees observations through ``LatentGoalWrapper``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

from grasp_agent.models.base import WorldModel

TAIL_FILLS = ("zero", "last")


HORIZON_MODES = ("receding", "shrinking")


@dataclass
class PlanState:
    """Per-env MPC state, returned as ``state`` by :meth:`PlannerAgent.predict`.

    Attributes:
        actions: ``(B, T, A)`` current plans in env units (on the planner device). In the
            ``"shrinking"`` horizon mode row ``t`` is step ``t`` of the current window.
        executed: ``(B,)`` actions of each plan executed so far.
        valid: ``(B,)`` whether the env has a plan (False forces a cold replan).
        elapsed: ``(B,)`` steps executed in the current window (``"shrinking"`` mode).
        sub: ``(B,)`` env actions executed of the current block (action-block models).
    """

    actions: torch.Tensor
    executed: np.ndarray
    valid: np.ndarray
    elapsed: np.ndarray
    sub: np.ndarray = dataclasses.field(default_factory=lambda: np.zeros(0, np.int64))

    def __post_init__(self) -> None:
        if self.sub.shape != self.executed.shape:
            self.sub = np.zeros_like(self.executed)

    @property
    def batch_size(self) -> int:
        return int(self.executed.shape[0])

    def select(self, idx: np.ndarray) -> PlanState:
        """A copy holding the envs ``idx`` only (e.g. the envs whose episode still runs)."""
        rows = torch.as_tensor(idx, device=self.actions.device, dtype=torch.long)
        return PlanState(self.actions[rows].clone(), self.executed[idx].copy(), self.valid[idx].copy(),
                         self.elapsed[idx].copy(), self.sub[idx].copy())

    def assign(self, idx: np.ndarray, part: PlanState) -> None:
        """Write ``part`` (from :meth:`select`) back into the envs ``idx``."""
        self.actions[torch.as_tensor(idx, device=self.actions.device, dtype=torch.long)] = part.actions
        self.executed[idx], self.valid[idx], self.elapsed[idx] = part.executed, part.valid, part.elapsed
        self.sub[idx] = part.sub


def shifted_plans(state: PlanState, idx: np.ndarray, to_env: Callable[[torch.Tensor], torch.Tensor],
                  tail_fill: str) -> torch.Tensor:
    """``(len(idx), T, A)``: each env's plan with its executed actions dropped and the rest shifted
    to the front; the end refilled with the mid-range action ``to_env(0)`` (``tail_fill="zero"``)
    or the last planned action (``"last"``); envs without a plan get the mid-range action."""
    plans = state.actions[torch.as_tensor(idx, device=state.actions.device)]  # (n, T, A)
    device, horizon = plans.device, plans.shape[1]
    mid = to_env(torch.zeros_like(plans[:, :1]))  # (n, 1, A)
    shift = torch.as_tensor(np.minimum(state.executed[idx], horizon), device=device)
    t = torch.arange(horizon, device=device)
    src = t.unsqueeze(0) + shift.unsqueeze(1)  # (n, T): index into the previous plan
    shifted = plans.gather(1, src.clamp(max=horizon - 1).unsqueeze(-1).expand_as(plans))
    if tail_fill != "last":
        shifted = torch.where((src >= horizon).unsqueeze(-1), mid, shifted)
    valid = torch.as_tensor(state.valid[idx], device=device).view(-1, 1, 1)
    return torch.where(valid, shifted, mid.expand_as(plans))


def latent_goal_wrapped(env: Any) -> bool:
    """Whether ``env`` (a gym env or an SB3 VecEnv) sees observations through ``LatentGoalWrapper``."""
    from grasp_agent.wrappers.latent_goal import LatentGoalWrapper

    if hasattr(env, "env_is_wrapped"):  # SB3 VecEnv
        flags = env.env_is_wrapped(LatentGoalWrapper)
        return bool(flags) and all(flags)
    while isinstance(env, gym.Wrapper):
        if isinstance(env, LatentGoalWrapper):
            return True
        env = env.env
    return False


def block_size(model: WorldModel, action_space: spaces.Box, action_block: int | None) -> int:
    """The model's env actions per step ``k``: checked, or inferred from ``model.action_dim``."""
    if not isinstance(action_space, spaces.Box) or len(action_space.shape) != 1:
        raise TypeError(f"planner agents need a flat Box action space, got {action_space}")
    env_a, model_a = int(action_space.shape[0]), int(model.action_dim)
    if action_block is None:
        if model_a % env_a:
            raise ValueError(f"the model takes actions of size {model_a} but the env's are ({env_a},): not a "
                             "block of env actions either; use the env the model was trained on")
        return model_a // env_a
    if isinstance(action_block, bool) or not isinstance(action_block, (int, np.integer)) or action_block < 1:
        raise ValueError(f"action_block must be an int >= 1 or None, got {action_block!r}")
    if int(action_block) * env_a != model_a:
        if model_a % env_a:
            raise ValueError(f"the model's action_dim {model_a} is not a multiple of the env's action size "
                             f"{env_a}; use the env the model was trained on")
        raise ValueError(f"action_block={action_block} x the env's action size {env_a} = "
                         f"{int(action_block) * env_a}, but the model's action_dim is {model_a}; pass "
                         f"action_block={model_a // env_a}")
    return int(action_block)
