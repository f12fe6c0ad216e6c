"""Objective wrappers that add a penalty to any objective, for every planner.

:class:`DisagreementPenalty` charges the disagreement of an ensemble world model (PETS / MOPO
style, e.g. :class:`~grasp_agent.models.EnsembleWorldModel`) at every step, so plans stay where
the model was trained and is trustworthy::

    from grasp_agent.planners import CEMPlanner, LatentGoal
    from grasp_agent.planners.penalties import DisagreementPenalty

    objective = DisagreementPenalty(LatentGoal(), ensemble, weight=1.0)
    planner = CEMPlanner(ensemble, env.action_space, horizon=30, objective=objective)

The wrapper keeps the wrapped objective's target, pinned state and terminal cost, and adds
``weight * disagreement(s_t, a_t)`` to its per-step costs (GRASP's and LatCo's dense term) and
the sum of those to its trajectory cost (what CEM, iCEM, MPPI and GD minimise, and every
planner reports). Planners get a rollout's cost from :meth:`DisagreementPenalty.rollout_cost`,
which takes the states and the disagreement from one pass over the ensemble's members.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from grasp_agent.planners.objectives import Objective, check_objective, previous_states
from grasp_agent.planners.validation import check_model_output


class DisagreementPenalty(Objective):
    """``objective`` plus ``weight * model.disagreement(s_t, a_t)`` per step.

    Args:
        objective: any :class:`~grasp_agent.planners.objectives.Objective` (``LatentGoal``,
            ``GoalInSubspace``, ``Return``, ``CostFunction``, or another wrapper).
        model: a model with ``disagreement(z (..., D), a (..., A)) -> (...)``, differentiable for
            gradient planners (:class:`~grasp_agent.models.EnsembleWorldModel`); usually the
            model the planner plans with.
        weight: the penalty's weight, a finite number ``>= 0`` (0: the wrapped objective's costs).

    Raises:
        TypeError: ``objective`` is not an Objective, or ``model`` has no ``disagreement``.
        ValueError: ``weight`` is negative or not finite.
    """

    def __init__(self, objective: Objective, model: Any, weight: float = 1.0) -> None:
        self.objective = check_objective(objective)
        if not callable(getattr(model, "disagreement", None)):
            raise TypeError(f"{type(model).__name__} has no disagreement(z, a) method; pass an ensemble "
                            "(grasp_agent.models.EnsembleWorldModel, model type 'ensemble')")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight < math.inf:
            raise ValueError(f"weight must be a finite number >= 0, got {weight!r}")
        self.model, self.weight = model, float(weight)
        self.differentiable = objective.differentiable
        self.running = objective.running

    def penalty(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``weight * disagreement``: ``z (B, T, D)``, ``a (B, T, A)`` (env units) -> ``(B, T)``."""
        return self.weight * self.model.disagreement(z, a)

    def target_dim(self, latent_dim: int) -> int:
        return self.objective.target_dim(latent_dim)

    def pinned_state(self, target: torch.Tensor) -> torch.Tensor | None:
        return self.objective.pinned_state(target)

    def terminal_cost(self, z_final: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        return self.objective.terminal_cost(z_final, target)

    def step_costs(self, z: torch.Tensor, a: torch.Tensor, z_next: torch.Tensor,
                   target: torch.Tensor) -> torch.Tensor:
        """The wrapped objective's ``(B, T)`` step costs plus :meth:`penalty` of ``(z, a)``."""
        return self.objective.step_costs(z, a, z_next, target) + self.penalty(z, a)

    def trajectory_cost(self, z0: torch.Tensor, states: torch.Tensor, actions: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:
        """The wrapped objective's ``(B,)`` cost plus the penalty summed over the ``T`` steps."""
        base = self.objective.trajectory_cost(z0, states, actions, target)
        return base + self.penalty(previous_states(z0, states), actions).sum(-1)

    def rollout_cost(self, model: Any, z0: torch.Tensor, actions: torch.Tensor,
                     target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The rollout ``(B, T, D)`` and :meth:`trajectory_cost` ``(B,)``; when ``model`` is the
        penalised model and has ``rollout_with_disagreement``
        (:class:`~grasp_agent.models.EnsembleWorldModel`), the states and the disagreement come
        from one pass over the members (the same costs, half the member evaluations)."""
        fused = getattr(model, "rollout_with_disagreement", None)
        if model is not self.model or not callable(fused):
            return super().rollout_cost(model, z0, actions, target)
        states, spread = fused(z0, actions)
        states = check_model_output(model, "rollout_with_disagreement", states,
                                    (actions.shape[0], actions.shape[1], model.latent_dim))
        spread = check_model_output(model, "rollout_with_disagreement", spread, tuple(actions.shape[:2]))
        cost = self.objective.trajectory_cost(z0, states, actions, target)
        return states, cost + self.weight * spread.sum(-1)

    def describe(self) -> dict[str, Any]:
        return {"kind": type(self).__name__, "running": self.running, "weight": self.weight,
                "objective": self.objective.describe()}
