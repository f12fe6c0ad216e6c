"""Cross-entropy method (CEM) over action sequences with a diagonal Gaussian."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch

from grasp_agent.planners.base import Planner, rollout_cost
from grasp_agent.types import PlanCallback, PlanStep


@dataclass
class CEMConfig:
    """Hyperparameters of :class:`CEMPlanner`.

    Attributes:
        iterations: refit rounds.
        num_samples: action sequences sampled per problem and round.
        num_elites: lowest-cost samples the Gaussian is refitted to.
        init_std: initial std of the unit actions (``[-1, 1]`` scale).
        min_std: floor of the std (keeps exploring).
        alpha: momentum of the refit: ``new = alpha * old + (1 - alpha) * elites``.
        keep_best: return the best sample seen (``True``) or the final mean.
        seed: seed of the planner's own generator.
        max_batch: problems per chunk; rollouts are chunked to ``max_batch`` sequences too.
        time_budget_s: wall-clock budget per ``plan`` call (``None`` = unlimited).
    """

    iterations: int = 20
    num_samples: int = 256
    num_elites: int = 32
    init_std: float = 0.6
    min_std: float = 0.05
    alpha: float = 0.1
    keep_best: bool = True
    seed: int | None = 0
    max_batch: int = 1024
    time_budget_s: float | None = None


class CEMPlanner(Planner):
    """Sample ``(B, N, T, A)`` bounded sequences, keep the ``num_elites`` best by terminal
    cost under the model rollout, refit mean and std, repeat. ``states`` are the rollout of
    the returned actions."""

    config_class = CEMConfig

    def _validate_config(self) -> None:
        super()._validate_config()
        c = self.config
        if not (isinstance(c.num_samples, int) and isinstance(c.num_elites, int)
                and 1 <= c.num_elites <= c.num_samples):
            raise ValueError(f"CEMConfig needs 1 <= num_elites <= num_samples, got {c.num_elites}, "
                             f"{c.num_samples}")
        if not (0.0 <= c.alpha < 1.0) or c.init_std <= 0 or c.min_std < 0:
            raise ValueError("CEMConfig needs 0 <= alpha < 1, init_std > 0 and min_std >= 0")

    def _plan(self, z0: torch.Tensor, goal: torch.Tensor, init_u: torch.Tensor | None,
              generator: torch.Generator, callback: PlanCallback | None, deadline: float | None
              ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        c, t_h, a_dim = self.config, self.horizon, self.model.action_dim
        b, n, k_el = z0.shape[0], c.num_samples, c.num_elites
        mean = self.initial_u(b, init_u)
        std = torch.full_like(mean, c.init_std)
        z0_rep, goal_rep = z0.repeat_interleave(n, 0), goal.repeat_interleave(n, 0)
        best_u, best_cost = mean.clone(), torch.full((b,), float("inf"), device=self.device)
        elite_costs = torch.zeros(c.iterations, device=self.device)
        done = 0
        with torch.no_grad():
            for k in range(c.iterations):
                noise = self.randn((b, n, t_h, a_dim), generator)
                samples = (mean.unsqueeze(1) + std.unsqueeze(1) * noise).clamp_(-1.0, 1.0)
                cost, _ = rollout_cost(self.model, z0_rep, goal_rep,
                                       self.to_env(samples.reshape(b * n, t_h, a_dim)), c.max_batch)
                cost = cost.reshape(b, n)
                top_cost, idx = cost.topk(k_el, dim=1, largest=False)
                elites = samples.gather(1, idx[..., None, None].expand(b, k_el, t_h, a_dim))
                better = top_cost[:, 0] < best_cost
                best_cost[better], best_u[better] = top_cost[better, 0], elites[better, 0]
                mean = c.alpha * mean + (1 - c.alpha) * elites.mean(1)
                std = (c.alpha * std + (1 - c.alpha) * elites.std(1, unbiased=False)).clamp_min(c.min_std)
                elite_costs[k] = top_cost.mean()
                if callback is not None:
                    callback(PlanStep(k, "update", self.to_env(mean).clone(), None))
                done = k + 1
                if deadline is not None and time.perf_counter() > deadline:
                    break
            final_u = best_u if c.keep_best else mean.clamp(-1.0, 1.0)
            states = self.model.rollout(z0, self.to_env(final_u))
        info = {"iterations": done, "model_calls": (done + 1) * t_h,
                "history": {"elite_cost": elite_costs[:done].tolist()},
                "stopped_early": done < c.iterations}
        return final_u, states, info
