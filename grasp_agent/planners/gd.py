"""Gradient shooting (GD): Adam on the actions through the full serial rollout."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from grasp_agent.planners.base import BestSoFar, Planner, past
from grasp_agent.types import PlanCallback, PlanStep
from grasp_agent.validation import SEED_RANGE, ranged


@dataclass
class GDConfig:
    """Hyperparameters of :class:`GDPlanner`.

    Attributes:
        iterations: gradient steps.
        lr: Adam learning rate on unit actions (``[-1, 1]``).
        init_noise: std of Gaussian noise on the initial unit actions (0 = start from the
            warm start or zeros).
        keep_best: return the lowest-cost actions seen (costs come free with each step).
        seed: seed of the planner's own generator.
        max_batch: problems per chunk.
        time_budget_s: wall-clock budget per ``plan`` call (``None`` = unlimited).
    """

    iterations: int = ranged(100, ge=1)
    lr: float = ranged(0.05, ge=0.0)
    init_noise: float = ranged(0.0, ge=0.0)
    keep_best: bool = True
    seed: int | None = ranged(0, **SEED_RANGE)
    max_batch: int = ranged(1024, ge=1)
    time_budget_s: float | None = ranged(None, gt=0.0)


def shooting_cost(planner: Planner, z0: torch.Tensor, goal: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """The shooting loss per problem: the planner's objective on the serial T-step rollout,
    differentiable w.r.t. the actions (default objective: ``mse(s_T(a), g)``).

    Args:
        planner: supplies the model, the objective and the unit-to-env map; z0: ``(B, D)``;
        goal: ``(B, G)`` targets; u: ``(B, T, A)`` unit actions.

    Returns:
        ``(B,)`` costs.
    """
    return planner.objective.rollout_cost(planner.model, z0, planner.to_env(u), goal)[1]


def shooting_step_(planner: Planner, opt: torch.optim.Optimizer, z0: torch.Tensor, goal: torch.Tensor,
                   u: torch.Tensor, best: BestSoFar | None = None) -> torch.Tensor:
    """One optimiser step on ``sum_b shooting_cost`` through the rollout, then the projection of
    the unit actions ``u`` ``(B, T, A)`` onto ``[-1, 1]`` (in place; ``u`` is ``opt``'s parameter).

    Shared by :class:`GDPlanner` and GRASP's gradient sync. ``best`` is offered the pre-step
    ``u`` with its cost (which the step computes anyway). Returns that cost ``(B,)``, detached.
    """
    cost = shooting_cost(planner, z0, goal, u)
    if best is not None:
        best.offer(u.detach(), cost.detach())
    opt.zero_grad(set_to_none=True)
    cost.sum().backward()
    opt.step()
    with torch.no_grad():
        planner.project_(u)
    return cost.detach()


class GDPlanner(Planner):
    """Shooting: minimise the objective (default ``mse(s_T(a), g)``) over the actions by
    backpropagating through the T-step rollout (T serial model calls per iteration). ``states``
    are the rollout of the returned actions."""

    config_class = GDConfig
    uses_gradients = True

    def _plan(self, z0: torch.Tensor, goal: torch.Tensor, init_u: torch.Tensor | None,
              generator: torch.Generator, callback: PlanCallback | None, deadline: float | None
              ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        c, t_h = self.config, self.horizon
        u = self.initial_u(z0.shape[0], init_u)
        if c.init_noise > 0:
            u = u + c.init_noise * self.randn(tuple(u.shape), generator)
        u = self.project_(u).requires_grad_(True)
        opt = torch.optim.Adam([u], lr=c.lr)
        costs = torch.zeros(c.iterations, device=self.device)
        best = BestSoFar(u)
        done = 0
        for k in range(c.iterations):
            costs[k] = shooting_step_(self, opt, z0, goal, u, best).mean()
            if callback is not None:
                callback(PlanStep(k, "update", self.to_env(u.detach()).clone(), None))
            done = k + 1
            if past(deadline):
                break
        final_u = u.detach()
        if c.keep_best:
            best.offer(final_u, self.trajectory_cost(z0, goal, final_u))
            final_u = best.u
        with torch.no_grad():
            states = self.rollout(z0, final_u)
        info = {"iterations": done, "model_calls": (done + 1 + int(c.keep_best)) * t_h,
                "history": {"cost": costs[:done].tolist()}, "stopped_early": done < c.iterations}
        return final_u, states, info
