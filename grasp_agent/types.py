"""Shared result records and aliases."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass
class PlanResult:
    """What every planner returns.

    Attributes:
        actions: ``(B, T, A)`` planned actions, finite and inside the action bounds.
        states: ``(B, T, D)`` the planner's predicted states ``s_1 .. s_T`` (GRASP: the
            virtual states with the goal, or the free last state, last; shooting/sampling
            planners: the model rollout).
        cost: ``(B,)`` the objective's cost of the full serial rollout of ``actions`` under the
            model (default objective: ``mean_d (s_T(a) - g)^2``; a return objective: minus the
            predicted return), ``inf`` where the model produced non-finite states.
        info: per-iteration diagnostics (loss terms, dynamics residual, noise level), wall
            time in seconds, number of model calls and planner-specific fields.
    """

    actions: torch.Tensor
    states: torch.Tensor
    cost: torch.Tensor
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class PlanStep:
    """A snapshot passed to a ``plan(..., callback=...)`` hook after each update.

    Attributes:
        iteration: index of the outer iteration (0-based).
        phase: ``"lifted"``, ``"noise"``, ``"sync"`` (GRASP) or ``"update"`` (others).
        actions: ``(B, T, A)`` current actions (a detached copy, in env units).
        states: ``(B, T-1, D)`` current virtual states (GRASP) or ``None``.
    """

    iteration: int
    phase: str
    actions: torch.Tensor
    states: torch.Tensor | None


PlanCallback = Callable[[PlanStep], None]
