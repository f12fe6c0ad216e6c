"""iCEM: the improved cross-entropy method over action sequences (colored noise, kept elites).

Pinneri et al., "Sample-efficient Cross-Entropy Method for Real-time Planning" (CoRL 2020),
following mbrl-lib's ``ICEMOptimizer`` where the paper leaves a choice open. Per iteration
``k`` and problem:

* ``N_k = max(ceil(num_samples / population_decay^k), min(2 * num_elites, num_samples))``
  samples ``clip(mean + std * eps)`` whose noise ``eps`` is colored over time (power spectrum
  ``~ 1/f^beta``: ``beta = 0`` white, ``beta = 2`` smooth sequences whose ends spread far);
* plus the best ``ceil(keep_elite_frac * num_elites)`` elites of iteration ``k - 1`` (on a warm
  start, iteration 0 gets the previous plan's elites shifted like the plan, the freed tail drawn
  around ``init_actions``) and, in the last iteration, the mean itself (``add_mean``);
* ONE batched model rollout of all ``B x N`` sequences; the ``num_elites`` cheapest refit the
  diagonal Gaussian with momentum ``alpha`` (``new = alpha * old + (1 - alpha) * elites``).

Like every planner here it works on unit actions ``[-1, 1]`` and clips samples with the
shared projection. The warm-start shift of each problem is recognised by matching
``init_actions`` against the plan this planner returned last (same batch size); problems whose
warm start matches no shift of it get fresh samples in those slots (:meth:`ICEMPlanner.forget`
drops the memory).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from grasp_agent.planners.base import BestSoFar, Planner, past
from grasp_agent.planners.cem import select_elites
from grasp_agent.types import PlanCallback, PlanResult, PlanStep
from grasp_agent.validation import SEED_RANGE, ranged

#: Largest unit-action difference at which a warm start counts as a shift of the last plan.
SHIFT_MATCH_TOL = 1e-4


@dataclass
class ICEMConfig:
    """Hyperparameters of :class:`ICEMPlanner` (defaults: mbrl-lib's iCEM settings).

    Attributes:
        iterations: refit rounds.
        num_samples: population of the first round (per problem).
        num_elites: lowest-cost sequences the Gaussian is refitted to (``<= num_samples``).
        population_decay: the population shrinks by this factor per round (1 = constant).
        beta: exponent of the colored noise over time (power spectrum ``~ 1/f^beta``).
        keep_elite_frac: share of the elites carried into the next round (0 = none).
        init_std: initial std of the unit actions (0.5 = mbrl-lib's ``(high - low) / 4``).
        min_std: floor of the std.
        alpha: momentum of the refit of mean and std.
        add_mean: add the mean as a sample in the last round.
        keep_best: return the best sample seen (``True``) or the final mean.
        seed: seed of the planner's own generator.
        max_batch: problems per chunk (all their samples are rolled out in one call).
        time_budget_s: wall-clock budget per ``plan`` call (``None`` = unlimited).
    """

    iterations: int = ranged(10, ge=1)
    num_samples: int = ranged(256, ge=1)
    num_elites: int = ranged(25, ge=1)
    population_decay: float = ranged(1.25, ge=1.0)
    beta: float = ranged(2.0, ge=0.0)
    keep_elite_frac: float = ranged(0.3, ge=0.0, le=1.0)
    init_std: float = ranged(0.5, gt=0.0)
    min_std: float = ranged(0.0, ge=0.0)
    alpha: float = ranged(0.1, ge=0.0, lt=1.0)
    add_mean: bool = True
    keep_best: bool = True
    seed: int | None = ranged(0, **SEED_RANGE)
    max_batch: int = ranged(1024, ge=1)
    time_budget_s: float | None = ranged(None, gt=0.0)


def colored_noise(beta: float, shape: tuple[int, ...], planner: Planner, generator: torch.Generator
                  ) -> torch.Tensor:
    """Unit-variance Gaussian noise with power spectrum ``~ 1/f^beta`` along the LAST axis.

    Timmer and Koenig's (1995) method as in mbrl-lib's ``powerlaw_psd_gaussian``: random
    Fourier coefficients scaled by ``f^(-beta/2)`` (the lowest frequency ``1/T`` also scales
    the DC term), an inverse real FFT, then division by the theoretical std. A length-1 axis
    is white noise.

    Args:
        shape: ``(..., T)``; generator: the random source (drawn through ``planner.randn``).

    Returns:
        ``(..., T)`` noise on the planner device.
    """
    t = shape[-1]
    if t == 1:
        return planner.randn(shape, generator)
    freqs = torch.fft.rfftfreq(t, device=planner.device)
    freqs[0] = freqs[1]  # low-frequency cutoff 1/T
    scale = freqs ** (-beta / 2.0)  # (F,)
    weights = scale[1:].clone()
    weights[-1] *= (1 + t % 2) / 2.0  # f = 0.5 appears once for even T
    sigma = 2.0 * torch.sqrt((weights ** 2).sum()) / t
    real = planner.randn(shape[:-1] + (freqs.shape[0],), generator) * scale
    imag = planner.randn(shape[:-1] + (freqs.shape[0],), generator) * scale
    imag[..., 0] = 0.0  # the DC coefficient is real
    if t % 2 == 0:
        imag[..., -1] = 0.0  # so is the Nyquist one
    return torch.fft.irfft(torch.complex(real, imag), n=t, dim=-1) / sigma


class ICEMPlanner(Planner):
    """iCEM under the common interface; ``states`` are the rollout of the returned actions.

    ``info["history"]`` has per-round ``elite_cost`` (mean over elites and problems),
    ``best_cost`` and ``population`` (sequences rolled out per problem); ``info
    ["shifted_elites"]`` counts the problems whose warm start reused shifted elites.
    :attr:`elites` holds the final elites of the last ``plan``.
    """

    config_class = ICEMConfig

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._memory: tuple[torch.Tensor, torch.Tensor] | None = None  # (u (B,T,A), elites (B,K,T,A))
        self._previous: tuple[torch.Tensor, torch.Tensor] | None = None
        self._parts: list[tuple[torch.Tensor, torch.Tensor]] = []

    def _validate_config(self) -> None:
        super()._validate_config()
        c = self.config
        if c.num_elites > c.num_samples:
            raise ValueError(f"ICEMConfig.num_elites must be <= num_samples={c.num_samples}, got "
                             f"{c.num_elites}")

    # ------------------------------------------------------------------ schedule
    def population(self, iteration: int) -> int:
        """Fresh samples per problem in round ``iteration``: the decayed population, floored at
        ``min(2 * num_elites, num_samples)`` (mbrl-lib's floor)."""
        c = self.config
        floor = min(2 * c.num_elites, c.num_samples)
        return max(math.ceil(c.num_samples * c.population_decay ** -iteration), floor)

    @property
    def num_kept(self) -> int:
        """Elites carried from one round into the next: ``ceil(keep_elite_frac * num_elites)``."""
        return math.ceil(self.config.keep_elite_frac * self.config.num_elites)

    @property
    def elites(self) -> torch.Tensor | None:
        """``(B, K, T, A)`` final elites of the last ``plan`` in env units, best first (or None)."""
        return None if self._memory is None else self.to_env(self._memory[1])

    def forget(self) -> None:
        """Drop the last plan and its elites: the next warm start reuses no elites."""
        self._memory = None

    # ------------------------------------------------------------------ sampling
    def colored_samples(self, mean: torch.Tensor, std: torch.Tensor, n: int,
                        generator: torch.Generator) -> torch.Tensor:
        """``(B, n, T, A)`` samples ``project(mean + std * eps)``, ``eps`` colored over ``T``."""
        b, t_h, a_dim = mean.shape
        eps = colored_noise(self.config.beta, (b, n, a_dim, t_h), self, generator).transpose(-1, -2)
        return self.project_(mean.unsqueeze(1) + std.unsqueeze(1) * eps)

    def _shifted_elites(self, init_u: torch.Tensor, std: torch.Tensor, generator: torch.Generator
                        ) -> tuple[torch.Tensor | None, int]:
        """Warm start from unit actions ``init_u`` ``(B, T, A)``: the previous elites ``(B, keep, T,
        A)`` shifted as ``init_u`` shifts the last plan (per problem; the freed tail ``~ N(init_u,
        init_std)``), fresh samples around ``init_u`` for problems without a match; and the number
        of problems matched. ``(None, 0)`` without a usable memory."""
        b, t_h, a_dim = init_u.shape
        if self._previous is None or self.num_kept == 0:
            return None, 0
        last_u, elites = (x[:b] for x in self._previous)
        self._previous = tuple(x[b:] for x in self._previous)  # the next chunk's share
        steps = torch.arange(t_h, device=self.device)
        src = (steps.view(1, -1) + steps.view(-1, 1)).clamp(max=t_h - 1)  # (S, T): t + s
        valid = (steps.view(1, -1) + steps.view(-1, 1)) < t_h  # (S, T)
        gap = (init_u.unsqueeze(1) - last_u[:, src]).abs().amax(-1)  # (B, S, T)
        ok = torch.where(valid, gap, torch.zeros_like(gap)).amax(-1) <= SHIFT_MATCH_TOL  # (B, S)
        matched = ok.any(1)
        shift = ok.float().argmax(1)  # (B,) the smallest matching shift
        keep = min(self.num_kept, elites.shape[1])
        moved = elites[:, :keep].gather(2, src[shift][:, None, :, None].expand(b, keep, t_h, a_dim))
        tail = self.project_(init_u.unsqueeze(1) + self.config.init_std * self.randn((b, keep, t_h, a_dim),
                                                                                      generator))
        moved = torch.where(valid[shift][:, None, :, None], moved, tail)
        fresh = self.colored_samples(init_u, std, keep, generator)
        return torch.where(matched[:, None, None, None], moved, fresh), int(matched.sum())

    # ------------------------------------------------------------------ planning
    def plan(self, z0: torch.Tensor, target: torch.Tensor | None = None,
             init_actions: torch.Tensor | None = None, generator: torch.Generator | None = None,
             callback: PlanCallback | None = None) -> PlanResult:
        """:meth:`Planner.plan`, remembering the plan and its elites for the next warm start."""
        usable = (init_actions is not None and self._memory is not None
                  and self._memory[0].shape[0] == getattr(z0, "shape", (None,))[0])
        self._previous, self._parts = (self._memory if usable else None), []
        try:
            result = super().plan(z0, target, init_actions, generator, callback)
            self._memory = tuple(torch.cat(x) for x in zip(*self._parts))
        finally:
            self._previous, self._parts = None, []
        return result

    @torch.no_grad()
    def _plan(self, z0: torch.Tensor, goal: torch.Tensor, init_u: torch.Tensor | None,
              generator: torch.Generator, callback: PlanCallback | None, deadline: float | None
              ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        c, t_h = self.config, self.horizon
        mean = self.initial_u(z0.shape[0], init_u)
        std = torch.full_like(mean, c.init_std)
        kept, shifted = (None, 0) if init_u is None else self._shifted_elites(mean, std, generator)
        best = BestSoFar(mean)
        costs = torch.zeros(c.iterations, 2, device=self.device)  # elite, best: read once at the end
        populations: list[int] = []
        elites, done = mean.unsqueeze(1), 0
        for k in range(c.iterations):
            parts = [self.colored_samples(mean, std, self.population(k), generator)]
            if kept is not None:
                parts.append(kept)
            if c.add_mean and k == c.iterations - 1:
                parts.append(mean.unsqueeze(1))
            samples = torch.cat(parts, dim=1)  # (B, N, T, A)
            n = samples.shape[1]
            elites, top_cost = select_elites(self, samples, z0.repeat_interleave(n, 0),
                                             goal.repeat_interleave(n, 0), c.num_elites, c.max_batch * n)
            best.offer(elites[:, 0], top_cost[:, 0])
            mean = c.alpha * mean + (1 - c.alpha) * elites.mean(1)
            std = (c.alpha * std + (1 - c.alpha) * elites.std(1, unbiased=False)).clamp_min(c.min_std)
            kept = elites[:, :self.num_kept] if self.num_kept > 0 else None
            costs[k, 0], costs[k, 1] = top_cost.mean(), best.cost.mean()
            populations.append(n)
            if callback is not None:
                callback(PlanStep(k, "update", self.to_env(mean).clone(), None))
            done = k + 1
            if past(deadline):
                break
        final_u = best.u if c.keep_best else mean.clamp(-1.0, 1.0)
        self._parts.append((final_u.clone(), elites.clone()))
        states = self.rollout(z0, final_u)
        history = {"elite_cost": costs[:done, 0].tolist(), "best_cost": costs[:done, 1].tolist(),
                   "population": populations}
        info = {"iterations": done, "model_calls": (done + 1) * t_h, "history": history,
                "shifted_elites": shifted, "stopped_early": done < c.iterations}
        return final_u, states, info
