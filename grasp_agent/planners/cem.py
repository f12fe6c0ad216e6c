"""Cross-entropy method (CEM) over action sequences with a diagonal Gaussian."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from grasp_agent.planners.base import BestSoFar, Planner, past, rollout_cost
from grasp_agent.types import PlanCallback, PlanStep
from grasp_agent.validation import SEED_RANGE, ranged


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

    iterations: int = ranged(20, ge=1)
    num_samples: int = ranged(256, ge=1)
    num_elites: int = ranged(32, ge=1)
    init_std: float = ranged(0.6, gt=0.0)
    min_std: float = ranged(0.05, ge=0.0)
    alpha: float = ranged(0.1, ge=0.0, lt=1.0)
    keep_best: bool = True
    seed: int | None = ranged(0, **SEED_RANGE)
    max_batch: int = ranged(1024, ge=1)
    time_budget_s: float | None = ranged(None, gt=0.0)


def gaussian_samples(planner: Planner, mean: torch.Tensor, std: torch.Tensor, num_samples: int,
                     generator: torch.Generator) -> torch.Tensor:
    """``num_samples`` unit action sequences per problem from a diagonal Gaussian, clamped to the box.

    Args:
        mean: ``(B, T, A)`` unit actions; std: ``(B, T, A)`` (or broadcastable) per-entry std.

    Returns:
        ``(B, N, T, A)`` samples ``clamp(mean + std * eps, -1, 1)``, ``eps ~ N(0, I)`` drawn
        from ``generator``.
    """
    b, t_h, a_dim = mean.shape
    noise = planner.randn((b, num_samples, t_h, a_dim), generator)
    return (mean.unsqueeze(1) + std.unsqueeze(1) * noise).clamp_(-1.0, 1.0)


def select_elites(planner: Planner, samples: torch.Tensor, z0_rep: torch.Tensor, goal_rep: torch.Tensor,
                  num_elites: int, chunk: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Score every sample by the planner's objective on its rollout and keep the cheapest, best first.

    Shared by :class:`CEMPlanner`, GRASP's CEM sync and iCEM: one batched model rollout over
    all ``B x N`` sequences (chunked to ``chunk`` sequences to bound memory).

    Args:
        samples: ``(B, N, T, A)`` unit actions; z0_rep ``(B * N, D)``, goal_rep ``(B * N, G)``:
            each problem's start and target repeated ``N`` times (``repeat_interleave``).

    Returns:
        ``elites`` ``(B, K, T, A)`` and their costs ``(B, K)`` in increasing order
        (non-finite costs count as ``inf``).
    """
    b, n, t_h, a_dim = samples.shape
    actions = planner.to_env(samples.reshape(b * n, t_h, a_dim))
    cost, _ = rollout_cost(planner.model, z0_rep, goal_rep, actions, chunk, planner.objective)
    elite_cost, idx = cost.reshape(b, n).topk(num_elites, dim=1, largest=False)
    elites = samples.gather(1, idx[..., None, None].expand(b, num_elites, t_h, a_dim))
    return elites, elite_cost


class CEMPlanner(Planner):
    """Sample ``(B, N, T, A)`` bounded sequences, keep the ``num_elites`` best by the objective's
    cost of their model rollout, refit mean and std, repeat. ``states`` are the rollout of
    the returned actions."""

    config_class = CEMConfig

    def _validate_config(self) -> None:
        super()._validate_config()
        c = self.config
        if c.num_elites > c.num_samples:
            raise ValueError(f"CEMConfig.num_elites must be <= num_samples={c.num_samples}, got "
                             f"{c.num_elites}")

    def _plan(self, z0: torch.Tensor, goal: torch.Tensor, init_u: torch.Tensor | None,
              generator: torch.Generator, callback: PlanCallback | None, deadline: float | None
              ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        c, t_h = self.config, self.horizon
        n = c.num_samples
        mean = self.initial_u(z0.shape[0], init_u)
        std = torch.full_like(mean, c.init_std)
        z0_rep, goal_rep = z0.repeat_interleave(n, 0), goal.repeat_interleave(n, 0)
        best = BestSoFar(mean)
        elite_costs = torch.zeros(c.iterations, device=self.device)
        done = 0
        with torch.no_grad():
            for k in range(c.iterations):
                samples = gaussian_samples(self, mean, std, n, generator)
                elites, top_cost = select_elites(self, samples, z0_rep, goal_rep, c.num_elites, c.max_batch)
                best.offer(elites[:, 0], top_cost[:, 0])
                mean = c.alpha * mean + (1 - c.alpha) * elites.mean(1)
                std = (c.alpha * std + (1 - c.alpha) * elites.std(1, unbiased=False)).clamp_min(c.min_std)
                elite_costs[k] = top_cost.mean()
                if callback is not None:
                    callback(PlanStep(k, "update", self.to_env(mean).clone(), None))
                done = k + 1
                if past(deadline):
                    break
            final_u = best.u if c.keep_best else mean.clamp(-1.0, 1.0)
            states = self.rollout(z0, final_u)
        info = {"iterations": done, "model_calls": (done + 1) * t_h,
                "history": {"elite_cost": elite_costs[:done].tolist()},
                "stopped_early": done < c.iterations}
        return final_u, states, info
