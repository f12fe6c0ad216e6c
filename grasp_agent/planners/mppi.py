"""Model-predictive path integral (MPPI) control over action sequences."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from grasp_agent.planners.base import BestSoFar, Planner, past, rollout_cost
from grasp_agent.types import PlanCallback, PlanStep
from grasp_agent.validation import SEED_RANGE, ranged

_EPS = 1e-8


@dataclass
class MPPIConfig:
    """Hyperparameters of :class:`MPPIPlanner`.

    Attributes:
        iterations: refinement rounds of the mean sequence.
        num_samples: perturbed sequences per problem and round.
        noise_std: std of the Gaussian perturbations of the unit actions (``[-1, 1]`` scale).
        temperature: ``lambda`` of the exponential weights ``exp(-c_hat / lambda)``, where
            ``c_hat = (c - min c) / (max c - min c)`` is the per-problem cost rescaled to [0, 1]
            (so one temperature works for any latent scale).
        keep_best: return the best sample seen (``True``) or the final weighted mean.
        seed: seed of the planner's own generator.
        max_batch: problems per chunk; rollouts are chunked to ``max_batch`` sequences too.
        time_budget_s: wall-clock budget per ``plan`` call (``None`` = unlimited).
    """

    iterations: int = ranged(10, ge=1)
    num_samples: int = ranged(256, ge=2)
    noise_std: float = ranged(0.5, gt=0.0)
    temperature: float = ranged(0.1, gt=0.0)
    keep_best: bool = True
    seed: int | None = ranged(0, **SEED_RANGE)
    max_batch: int = ranged(1024, ge=1)
    time_budget_s: float | None = ranged(None, gt=0.0)


class MPPIPlanner(Planner):
    """Each round samples ``mean + N(0, noise_std^2)`` (clamped to bounds), rolls them out under
    the model and replaces the mean by the exponentially weighted average of the samples."""

    config_class = MPPIConfig

    def _plan(self, z0: torch.Tensor, goal: torch.Tensor, init_u: torch.Tensor | None,
              generator: torch.Generator, callback: PlanCallback | None, deadline: float | None
              ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        c, t_h, a_dim = self.config, self.horizon, self.model.action_dim
        b, n = z0.shape[0], c.num_samples
        mean = self.initial_u(b, init_u)
        z0_rep, goal_rep = z0.repeat_interleave(n, 0), goal.repeat_interleave(n, 0)
        best = BestSoFar(mean)
        mean_costs = torch.zeros(c.iterations, device=self.device)
        done = 0
        with torch.no_grad():
            for k in range(c.iterations):
                noise = c.noise_std * self.randn((b, n, t_h, a_dim), generator)
                samples = (mean.unsqueeze(1) + noise).clamp_(-1.0, 1.0)
                samples[:, 0] = mean  # the current mean is always a candidate
                cost, _ = rollout_cost(self.model, z0_rep, goal_rep,
                                       self.to_env(samples.reshape(b * n, t_h, a_dim)), c.max_batch,
                                       self.objective)
                cost = cost.reshape(b, n)
                low = cost.min(1, keepdim=True).values
                finite = torch.isfinite(cost)
                spread = torch.where(finite, cost, low).max(1, keepdim=True).values - low
                c_hat = torch.where(finite, (cost - low) / (spread + _EPS), torch.full_like(cost, 1e6))
                weights = torch.softmax(-c_hat / c.temperature, dim=1)  # (B, N)
                mean = (weights[..., None, None] * samples).sum(1)
                best.offer(samples[torch.arange(b, device=self.device), cost.argmin(1)], low[:, 0])
                mean_costs[k] = (weights * torch.nan_to_num(cost, posinf=0.0)).sum(1).mean()
                if callback is not None:
                    callback(PlanStep(k, "update", self.to_env(mean).clone(), None))
                done = k + 1
                if past(deadline):
                    break
            final_u = best.u if c.keep_best else mean
            states = self.rollout(z0, final_u)
        info = {"iterations": done, "model_calls": (done + 1) * t_h,
                "history": {"weighted_cost": mean_costs[:done].tolist()},
                "stopped_early": done < c.iterations}
        return final_u, states, info
