"""LatCo-style collocation: lifted states and actions, Lagrange multipliers by dual ascent.

After Rybkin et al., "Model-Based Reinforcement Learning via Latent-Space Collocation" (2021),
as described in ``docs/algorithm.md``. Variables are the states ``s_1 .. s_T`` (all free, ``s_T``
included) and the actions; the objective is::

    L(s, a) = goal_weight * C(s, a) + sum_t lambda_t * mse(F(s_t, a_t), s_{t+1})

where ``C`` is the planner's objective on the lifted trajectory (default ``mse(s_T, g)``; see
:mod:`grasp_agent.planners.objectives`),
evaluated with ONE batched model call over ``(B, T)``, with full gradients through the state
input (no stop-gradient) and no noise. Every ``dual_every`` iterations the per-step multipliers
take a dual-ascent step ``lambda_t <- max(0, lambda_t + lr_lambda * (r_t - tolerance) / tolerance)``
on the per-step residuals ``r_t``, so steps that stay infeasible get weighted up.

Departure from the original: Adam on states and actions instead of Levenberg-Marquardt /
Gauss-Newton steps (which would need per-problem Jacobians of the model).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from grasp_agent.planners.base import BestSoFar, Planner, past
from grasp_agent.planners.validation import check_model_output
from grasp_agent.types import PlanCallback, PlanStep
from grasp_agent.validation import SEED_RANGE, ranged


@dataclass
class LatCoConfig:
    """Hyperparameters of :class:`LatCoPlanner`.

    Attributes:
        iterations: primal (Adam) iterations.
        lr_s: Adam learning rate of the states.
        lr_a: Adam learning rate of the unit actions.
        goal_weight: weight of the terminal goal cost ``mse(s_T, g)``.
        lambda_init: initial multiplier of every dynamics residual.
        lambda_lr: dual-ascent step size (relative to ``tolerance``).
        lambda_max: cap of the multipliers (keeps the primal problem well conditioned).
        tolerance: per-step residual MSE regarded as feasible.
        dual_every: primal iterations between dual updates.
        keep_best: return the actions with the lowest finite full-rollout cost seen at dual updates
            and at the end (the initial actions if no rollout was finite).
        seed: seed of the planner's own generator (LatCo itself is deterministic).
        max_batch: problems per chunk.
        time_budget_s: wall-clock budget per ``plan`` call (``None`` = unlimited).
    """

    iterations: int = ranged(200, ge=1)
    lr_s: float = ranged(0.05, ge=0.0)
    lr_a: float = ranged(0.05, ge=0.0)
    goal_weight: float = ranged(1.0, ge=0.0)
    lambda_init: float = ranged(1.0, ge=0.0)
    lambda_lr: float = ranged(0.1, ge=0.0)
    lambda_max: float = ranged(1e4, ge=0.0)
    tolerance: float = ranged(1e-4, gt=0.0)
    dual_every: int = ranged(10, ge=1)
    keep_best: bool = False
    seed: int | None = ranged(0, **SEED_RANGE)
    max_batch: int = ranged(1024, ge=1)
    time_budget_s: float | None = ranged(None, gt=0.0)


class LatCoPlanner(Planner):
    """Collocation with dual ascent; ``states`` in the result are the optimised ``s_1 .. s_T``.

    ``info["history"]`` has per-iteration ``loss_goal``, ``residual`` (RMS one-step
    inconsistency) and ``lambda_mean``.
    """

    config_class = LatCoConfig
    uses_gradients = True

    def residuals(self, z0: torch.Tensor, states: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Per-step dynamics residuals ``(B, T)`` from one batched call, gradients through ``s``."""
        inputs = torch.cat([z0.unsqueeze(1), states[:, :-1]], dim=1)  # s_0 .. s_{T-1}
        pred = check_model_output(self.model, "predict", self.model.predict(inputs, self.to_env(u)),
                                  tuple(inputs.shape))
        return ((pred - states) ** 2).mean(-1)

    def _plan(self, z0: torch.Tensor, goal: torch.Tensor, init_u: torch.Tensor | None,
              generator: torch.Generator, callback: PlanCallback | None, deadline: float | None
              ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        c, t_h = self.config, self.horizon
        b = z0.shape[0]
        u = self.initial_u(b, init_u)
        pin = self.objective.pinned_state(goal)
        if pin is not None:  # the straight line to the goal latent
            frac = torch.arange(1, t_h + 1, device=self.device, dtype=z0.dtype).view(1, -1, 1) / t_h
            states = (1.0 - frac) * z0.unsqueeze(1) + frac * pin.unsqueeze(1)
        else:  # no goal latent: the rollout of the initial actions
            with torch.no_grad():
                states = torch.nan_to_num(self.rollout(z0, u))
        states, u = states.requires_grad_(True), u.requires_grad_(True)
        lam = torch.full((b, t_h), float(c.lambda_init), device=self.device)
        opt = torch.optim.Adam([{"params": [states], "lr": c.lr_s}, {"params": [u], "lr": c.lr_a}])
        history = torch.zeros(c.iterations, 3, device=self.device)
        best = BestSoFar(u)
        model_calls, done = (0 if pin is not None else t_h), 0
        for k in range(c.iterations):
            res = self.residuals(z0, states, u)  # (B, T)
            goal_cost = self.objective.trajectory_cost(z0, states, self.to_env(u), goal)
            loss = (c.goal_weight * goal_cost + (lam * res).sum(-1)).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            model_calls += 1
            with torch.no_grad():
                self.project_(u)
                torch.nan_to_num_(states, nan=0.0, posinf=0.0, neginf=0.0)
                history[k, 0], history[k, 1], history[k, 2] = goal_cost.mean(), res.mean().sqrt(), lam.mean()
                if (k + 1) % c.dual_every == 0:
                    step = c.lambda_lr * (torch.nan_to_num(res, nan=c.tolerance) - c.tolerance) / c.tolerance
                    lam = (lam + step).clamp_(0.0, c.lambda_max)
                    if c.keep_best:
                        best.offer(u.detach(), self.trajectory_cost(z0, goal, u.detach()))
                        model_calls += t_h
            if callback is not None:
                callback(PlanStep(k, "update", self.to_env(u.detach()).clone(), states.detach().clone()))
            done = k + 1
            if past(deadline):
                break
        final_u = u.detach()
        if c.keep_best:
            best.offer(final_u, self.trajectory_cost(z0, goal, final_u))
            final_u = best.u
        info = {"iterations": done, "model_calls": model_calls,
                "history": {"loss_goal": history[:done, 0].tolist(), "residual": history[:done, 1].tolist(),
                            "lambda_mean": history[:done, 2].tolist()},
                "lambda_final": lam.mean(0).tolist(), "stopped_early": done < c.iterations}
        return final_u, states.detach(), info
