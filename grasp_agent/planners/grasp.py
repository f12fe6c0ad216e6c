"""GRASP: parallel stochastic gradient-based planning with lifted virtual states.

Psenka et al., "Parallel Stochastic Gradient-Based Planning for World Models" (2026); see
``docs/algorithm.md``. Variables: virtual states ``s_1 .. s_{T-1}`` (``s_0 = z0`` and
``s_T = g`` fixed) and actions ``a_0 .. a_{T-1}``. One lifted iteration minimises (Eq. 10)::

    L(s, a) = sum_t mse(F(sg(s_t), a_t), s_{t+1}) + gamma * sum_t mse(F(sg(s_t), a_t), g)

with ONE batched ``model.predict`` over all ``B x T`` transitions, takes an Adam step
(``lr_s`` for states, ``lr_a`` for actions), projects the actions onto their bounds and adds
``sigma * N(0, I)`` to the virtual states only. Every ``sync_every`` (K_sync) iterations the
actions alone are refined on the true shooting loss ``mse(s_T(a), g)`` through the serial
rollout (``sync_steps`` = J_sync Adam steps, or a CEM refinement), then the Adam state is
rebuilt; virtual states are kept.

Action bounds are enforced by projection (clamp of the unit actions after every step, see
:mod:`grasp_agent.planners.base`), never by letting the model see out-of-range actions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Literal

import torch

from grasp_agent.planners.base import Planner, rollout_cost
from grasp_agent.types import PlanCallback, PlanStep

HISTORY_KEYS = ("loss_dynamics", "loss_goal", "residual", "sigma", "gamma")


@dataclass
class GRASPConfig:
    """Hyperparameters of :class:`GRASPPlanner` (defaults: the author's code, see docs/algorithm.md).

    Attributes:
        iterations: lifted iterations.
        lr_s: Adam learning rate of the virtual states.
        lr_a: Adam learning rate of the (unit, ``[-1, 1]``) actions.
        sigma: std of the Gaussian noise added to the virtual states after each update.
        sigma_final: end value of ``sigma`` within each sync phase when
            ``noise_schedule="linear"``.
        noise_schedule: ``"constant"`` (paper) or ``"linear"`` anneal inside each sync phase.
        gamma: weight of the dense goal term.
        gamma_final: end value of ``gamma`` within each sync phase when
            ``gamma_schedule="linear"``.
        gamma_schedule: ``"constant"`` or ``"linear"``.
        sync_every: K_sync, lifted iterations between syncs with the real rollout.
        sync_steps: J_sync, shooting-gradient steps (or CEM iterations) per sync.
        sync_lr: Adam learning rate of the gradient sync (unit actions).
        sync_mode: ``"gd"`` (gradient sync) or ``"cem"`` (CEM refinement sync).
        cem_sync_samples: samples per CEM-sync iteration.
        cem_sync_elites: elites per CEM-sync iteration.
        cem_sync_gap_scale: CEM-sync std per step = scale * gap_t + floor, where gap_t is the
            RMS distance between virtual state ``s_{t+1}`` and the rolled-out state.
        cem_sync_std_floor: the floor of that std (unit action scale).
        init_state_noise: std of Gaussian noise added to the straight-line initialisation.
        use_noise: ablation switch: ``False`` disables the state noise.
        stop_gradient: ablation switch: ``False`` lets gradients flow through the state input.
        use_sync: ablation switch: ``False`` disables the periodic sync.
        use_goal_term: ablation switch: ``False`` drops the dense goal term.
        keep_best: return the actions with the lowest full-rollout cost seen at the syncs and
            at the end, instead of the final ones (the paper returns the final ones).
        seed: seed of the planner's own generator (used when ``plan`` gets none).
        max_batch: problems planned per chunk (bounds memory for large batches).
        time_budget_s: wall-clock budget per ``plan`` call (anytime: stops early, runs a final
            sync if syncs are enabled, itself cut short at the deadline after its first step,
            and returns the plan so far); ``None`` = unlimited.
    """

    iterations: int = 200
    lr_s: float = 0.1
    lr_a: float = 0.01
    sigma: float = 0.01
    sigma_final: float = 0.0
    noise_schedule: Literal["constant", "linear"] = "constant"
    gamma: float = 1.0
    gamma_final: float = 0.0
    gamma_schedule: Literal["constant", "linear"] = "constant"
    sync_every: int = 50
    sync_steps: int = 10
    sync_lr: float = 0.05
    sync_mode: Literal["gd", "cem"] = "gd"
    cem_sync_samples: int = 64
    cem_sync_elites: int = 8
    cem_sync_gap_scale: float = 1.0
    cem_sync_std_floor: float = 0.05
    init_state_noise: float = 0.0
    use_noise: bool = True
    stop_gradient: bool = True
    use_sync: bool = True
    use_goal_term: bool = True
    keep_best: bool = False
    seed: int | None = 0
    max_batch: int = 1024
    time_budget_s: float | None = None


class GRASPPlanner(Planner):
    """The GRASP planner; see the module docstring and :class:`GRASPConfig`.

    ``plan(z0 (B, D), z_goal (B, D))`` returns ``states`` ``(B, T, D)``: the virtual states
    ``s_1 .. s_{T-1}`` followed by the goal. ``info["sync_iterations"]`` lists the lifted
    iterations after which a sync ran; ``info["history"]`` holds per-iteration batch means of
    ``loss_dynamics``, ``loss_goal``, ``residual`` (RMS one-step inconsistency) and the
    ``sigma``/``gamma`` in force.
    """

    config_class = GRASPConfig

    def _validate_config(self) -> None:
        super()._validate_config()
        c = self.config
        for name in ("lr_s", "lr_a", "sigma", "sigma_final", "gamma", "gamma_final", "sync_lr",
                     "init_state_noise", "cem_sync_gap_scale", "cem_sync_std_floor"):
            value = getattr(c, name)
            if not isinstance(value, (int, float)) or value < 0 or value != value:
                raise ValueError(f"GRASPConfig.{name} must be a non-negative number, got {value!r}")
        for name in ("sync_every", "sync_steps", "cem_sync_samples", "cem_sync_elites"):
            if not isinstance(getattr(c, name), int) or getattr(c, name) < 1:
                raise ValueError(f"GRASPConfig.{name} must be an int >= 1, got {getattr(c, name)!r}")
        if c.cem_sync_elites > c.cem_sync_samples:
            raise ValueError("GRASPConfig.cem_sync_elites must not exceed cem_sync_samples")
        for name, allowed in (("noise_schedule", ("constant", "linear")),
                              ("gamma_schedule", ("constant", "linear")), ("sync_mode", ("gd", "cem"))):
            if getattr(c, name) not in allowed:
                raise ValueError(f"GRASPConfig.{name} must be one of {allowed}, got {getattr(c, name)!r}")

    # ------------------------------------------------------------------ schedules
    def _scheduled(self, start: float, end: float, schedule: str, iteration: int) -> float:
        """Value of a constant or linearly annealed (within each sync phase) coefficient."""
        if schedule == "constant":
            return start
        period = self.config.sync_every if self.config.use_sync else self.config.iterations
        frac = (iteration % period) / max(period - 1, 1)
        return start + (end - start) * frac

    # ------------------------------------------------------------------ the lifted step
    def lifted_loss(self, z0: torch.Tensor, goal: torch.Tensor, states: torch.Tensor,
                    u: torch.Tensor, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-problem dynamics and goal terms of Eq. 10 from ONE batched model call.

        Args:
            z0: ``(B, D)``; goal: ``(B, D)``; states: ``(B, T-1, D)`` virtual states;
            u: ``(B, T, A)`` unit actions; gamma: goal weight (0 drops the term).

        Returns:
            ``(dynamics (B,), goal_term (B,))``, each summed over time of per-step MSE.
        """
        inputs = torch.cat([z0.unsqueeze(1), states], dim=1)  # s_0 .. s_{T-1}: (B, T, D)
        if self.config.stop_gradient:
            inputs = inputs.detach()
        pred = self.model.predict(inputs, self.to_env(u))  # (B, T, D)
        targets = torch.cat([states, goal.unsqueeze(1)], dim=1)  # s_1 .. s_T
        dynamics = ((pred - targets) ** 2).mean(-1).sum(-1)
        goal_term = ((pred - goal.unsqueeze(1)) ** 2).mean(-1).sum(-1) * gamma
        return dynamics, goal_term

    def _make_optimizer(self, states: torch.Tensor, u: torch.Tensor) -> torch.optim.Adam:
        return torch.optim.Adam([{"params": [states], "lr": self.config.lr_s},
                                 {"params": [u], "lr": self.config.lr_a}])

    # ------------------------------------------------------------------ syncs
    def _sync_gd(self, z0: torch.Tensor, goal: torch.Tensor, u: torch.Tensor,
                 deadline: float | None = None) -> int:
        """Up to J_sync Adam steps on ``mse(s_T(a), g)`` through the serial rollout; actions only.

        Past ``deadline`` it stops after the current step (at least one step always runs).
        Returns the number of steps taken.
        """
        opt = torch.optim.Adam([u], lr=self.config.sync_lr)
        for step in range(self.config.sync_steps):
            if step > 0 and deadline is not None and time.perf_counter() > deadline:
                return step
            final = self.model.rollout(z0, self.to_env(u))[:, -1]
            loss = ((final - goal) ** 2).mean(-1).sum()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            with torch.no_grad():
                self.project_(u)
        return self.config.sync_steps

    @torch.no_grad()
    def _sync_cem(self, z0: torch.Tensor, goal: torch.Tensor, states: torch.Tensor,
                  u: torch.Tensor, generator: torch.Generator, deadline: float | None = None) -> int:
        """CEM refinement of the actions around their current value (in place).

        Per-step std = ``gap_scale * gap_t + floor`` where ``gap_t`` is the RMS distance
        between virtual state ``s_{t+1}`` (goal for the last step) and the rolled-out state.
        The current actions stay a candidate, so the sync never makes the plan worse. Past
        ``deadline`` it stops after the current iteration; returns the iterations run.
        """
        c = self.config
        b, t, a_dim = u.shape
        n, k = c.cem_sync_samples, c.cem_sync_elites
        rolled = self.model.rollout(z0, self.to_env(u))  # (B, T, D)
        virtual = torch.cat([states, goal.unsqueeze(1)], dim=1)
        gap = ((virtual - rolled) ** 2).mean(-1).sqrt()  # (B, T)
        std = (c.cem_sync_gap_scale * gap + c.cem_sync_std_floor).unsqueeze(-1).expand(b, t, a_dim)
        mean = u.clone()
        z0_rep, goal_rep = z0.repeat_interleave(n, 0), goal.repeat_interleave(n, 0)
        for step in range(c.sync_steps):
            if step > 0 and deadline is not None and time.perf_counter() > deadline:
                return step
            noise = self.randn((b, n, t, a_dim), generator)
            samples = (mean.unsqueeze(1) + std.unsqueeze(1) * noise).clamp_(-1.0, 1.0)
            samples[:, 0] = u  # keep the incumbent
            cost, _ = rollout_cost(self.model, z0_rep, goal_rep,
                                   self.to_env(samples.reshape(b * n, t, a_dim)), c.max_batch * n)
            cost = cost.reshape(b, n)
            elite_idx = cost.topk(k, dim=1, largest=False).indices  # (B, k)
            elites = samples.gather(1, elite_idx[..., None, None].expand(b, k, t, a_dim))
            mean, std = elites.mean(1), elites.std(1).clamp_min(c.cem_sync_std_floor)
            u.copy_(elites[:, 0])  # best sample (incumbent included)
        return c.sync_steps

    # ------------------------------------------------------------------ main loop
    def _plan(self, z0: torch.Tensor, goal: torch.Tensor, init_u: torch.Tensor | None,
              generator: torch.Generator, callback: PlanCallback | None, deadline: float | None
              ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        c, t_h = self.config, self.horizon
        b, d = z0.shape
        frac = torch.arange(1, t_h, device=self.device, dtype=z0.dtype).view(1, -1, 1) / t_h
        states = (1.0 - frac) * z0.unsqueeze(1) + frac * goal.unsqueeze(1)  # (B, T-1, D)
        if c.init_state_noise > 0:
            states = states + c.init_state_noise * self.randn(tuple(states.shape), generator)
        states.requires_grad_(True)
        u = self.initial_u(b, init_u).requires_grad_(True)
        opt = self._make_optimizer(states, u)
        history = torch.zeros(c.iterations, len(HISTORY_KEYS), device=self.device)
        sync_iterations: list[int] = []
        best_u, best_cost = u.detach().clone(), torch.full((b,), float("inf"), device=self.device)
        model_calls, done = 0, 0

        def note(iteration: int, phase: str) -> None:
            if callback is not None:
                callback(PlanStep(iteration, phase, self.to_env(u.detach()).clone(),
                                  states.detach().clone()))

        def sync(iteration: int) -> None:
            nonlocal opt, model_calls
            if c.sync_mode == "gd":
                model_calls += self._sync_gd(z0, goal, u, deadline) * t_h
            else:
                model_calls += (1 + self._sync_cem(z0, goal, states.detach(), u.data, generator,
                                                   deadline)) * t_h
            opt = self._make_optimizer(states, u)  # moments reset; virtual states kept
            sync_iterations.append(iteration)
            note(iteration, "sync")
            if c.keep_best:
                track_best()

        def track_best() -> None:
            nonlocal model_calls
            with torch.no_grad():
                cost, _ = rollout_cost(self.model, z0, goal, self.to_env(u), c.max_batch)
                better = cost < best_cost
                best_cost[better] = cost[better]
                best_u[better] = u.detach()[better]
            model_calls += t_h

        for k in range(c.iterations):
            sigma = self._scheduled(c.sigma, c.sigma_final, c.noise_schedule, k) if c.use_noise else 0.0
            gamma = self._scheduled(c.gamma, c.gamma_final, c.gamma_schedule, k) if c.use_goal_term else 0.0
            dynamics, goal_term = self.lifted_loss(z0, goal, states, u, gamma)
            opt.zero_grad(set_to_none=True)
            (dynamics + goal_term).sum().backward()
            opt.step()
            model_calls += 1
            with torch.no_grad():
                self.project_(u)
                torch.nan_to_num_(states, nan=0.0, posinf=0.0, neginf=0.0)
                history[k, 0], history[k, 1] = dynamics.mean(), goal_term.mean()
                history[k, 2] = (dynamics.mean() / t_h).clamp_min(0).sqrt()
                history[k, 3], history[k, 4] = sigma, gamma
            note(k, "lifted")
            if sigma > 0:
                with torch.no_grad():
                    states.add_(sigma * self.randn(tuple(states.shape), generator))
                note(k, "noise")
            done = k + 1
            out_of_time = deadline is not None and time.perf_counter() > deadline
            if c.use_sync and (done % c.sync_every == 0 or out_of_time):
                sync(k)
            if out_of_time:
                break

        if c.keep_best:
            track_best()
            final_u = best_u
        else:
            final_u = u.detach()
        result_states = torch.cat([states.detach(), goal.unsqueeze(1)], dim=1)
        info: dict[str, Any] = {
            "iterations": done,
            "model_calls": model_calls,
            "sync_iterations": sync_iterations,
            "history": {key: history[:done, i].tolist() for i, key in enumerate(HISTORY_KEYS)},
            "stopped_early": done < c.iterations,
        }
        return final_u, result_states, info
