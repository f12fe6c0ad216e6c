"""Gradient shooting (GD): Adam on the actions through the full serial rollout."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from grasp_agent.planners.base import Planner
from grasp_agent.types import PlanCallback, PlanStep


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

    iterations: int = 100
    lr: float = 0.05
    init_noise: float = 0.0
    keep_best: bool = True
    seed: int | None = 0
    max_batch: int = 1024
    time_budget_s: float | None = None


class GDPlanner(Planner):
    """Shooting: minimise ``mse(s_T(a), g)`` over the actions by backpropagating through the
    T-step rollout (T serial model calls per iteration). ``states`` are the final rollout."""

    config_class = GDConfig

    def _validate_config(self) -> None:
        super()._validate_config()
        for name in ("lr", "init_noise"):
            value = getattr(self.config, name)
            if not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f"GDConfig.{name} must be a non-negative number, got {value!r}")

    def _plan(self, z0: torch.Tensor, goal: torch.Tensor, init_u: torch.Tensor | None,
              generator: torch.Generator, callback: PlanCallback | None, deadline: float | None
              ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        c, t_h = self.config, self.horizon
        b = z0.shape[0]
        u = self.initial_u(b, init_u)
        if c.init_noise > 0:
            u = u + c.init_noise * self.randn(tuple(u.shape), generator)
        u = self.project_(u).requires_grad_(True)
        opt = torch.optim.Adam([u], lr=c.lr)
        costs = torch.zeros(c.iterations, device=self.device)
        best_u, best_cost = u.detach().clone(), torch.full((b,), float("inf"), device=self.device)
        done = 0
        for k in range(c.iterations):
            final = self.model.rollout(z0, self.to_env(u))[:, -1]
            cost = ((final - goal) ** 2).mean(-1)  # (B,) cost of the current u, pre-step
            with torch.no_grad():
                finite = torch.where(torch.isfinite(cost), cost, torch.full_like(cost, float("inf")))
                better = finite < best_cost
                best_cost[better], best_u[better] = finite[better], u.detach()[better]
                costs[k] = cost.mean()
            opt.zero_grad(set_to_none=True)
            cost.sum().backward()
            opt.step()
            with torch.no_grad():
                self.project_(u)
            if callback is not None:
                callback(PlanStep(k, "update", self.to_env(u.detach()).clone(), None))
            done = k + 1
            if deadline is not None and time.perf_counter() > deadline:
                break
        final_u = u.detach()
        if c.keep_best:
            with torch.no_grad():
                cost = ((self.model.rollout(z0, self.to_env(final_u))[:, -1] - goal) ** 2).mean(-1)
                better = torch.isfinite(cost) & (cost < best_cost)
                best_u[better] = final_u[better]
            final_u = best_u
        with torch.no_grad():
            states = self.model.rollout(z0, self.to_env(final_u))
        info = {"iterations": done, "model_calls": (done + 1 + int(c.keep_best)) * t_h,
                "history": {"cost": costs[:done].tolist()}, "stopped_early": done < c.iterations}
        return final_u, states, info
