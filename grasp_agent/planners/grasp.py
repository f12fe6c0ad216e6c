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

With another objective (:mod:`grasp_agent.planners.objectives`) Eq. 10 generalises as
``docs/algorithm.md`` ("Objectives") writes down: the dense goal term becomes
``gamma * sum_t c_t(sg(s_t), a_t, F(sg(s_t), a_t))`` with the objective's per-step cost ``c_t``
(``mse(achieved(F(...)), g)`` for a goal in a subspace, ``-r_t`` for a return), and an
objective without a goal latent leaves the last state free: the dynamics term runs over
``t < T-1`` and the objective's terminal cost is charged on ``F(sg(s_{T-1}), a_{T-1})``. The
stop-gradient, the noise and the single batched model call are unchanged.

Action bounds are enforced by projection (clamp of the unit actions after every step, see
:mod:`grasp_agent.planners.base`), never by letting the model see out-of-range actions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from grasp_agent.planners.base import BestSoFar, Planner, past
from grasp_agent.planners.grasp_config import GRASPConfig
from grasp_agent.planners.grasp_start import displace_particles, icem_start, polish
from grasp_agent.planners.grasp_sync import sync_cem, sync_gd
from grasp_agent.planners.state_graph import StateGraph
from grasp_agent.planners.validation import check_model_output
from grasp_agent.types import PlanCallback, PlanStep

HISTORY_KEYS = ("loss_dynamics", "loss_goal", "residual", "sigma", "gamma")


@dataclass
class _Solve:
    """The mutable state of one GRASP solve of ``B`` problems.

    Attributes:
        z0, goal: ``(B, D)`` fixed ends ``s_0`` and ``s_T``.
        states: ``(B, T-1, D)`` virtual states ``s_1 .. s_{T-1}`` (a leaf optimised by Adam).
        u: ``(B, T, A)`` unit actions (a leaf optimised by Adam and by the sync).
        generator, callback, deadline: as passed to ``_plan``.
        best: the lowest-cost actions seen (``keep_best``) or ``None``.
        opt: the Adam optimiser of the lifted phase (rebuilt after each sync).
        model_calls: model calls so far (a rollout counts ``T``).
        sync_iterations: lifted iterations after which a sync ran.
    """

    z0: torch.Tensor
    goal: torch.Tensor
    states: torch.Tensor
    u: torch.Tensor
    generator: torch.Generator
    callback: PlanCallback | None
    deadline: float | None
    best: BestSoFar | None
    opt: torch.optim.Adam | None = None
    model_calls: int = 0
    sync_iterations: list[int] = field(default_factory=list)

    def note(self, iteration: int, phase: str, to_env: Callable[[torch.Tensor], torch.Tensor]) -> None:
        """Report a :class:`~grasp_agent.types.PlanStep` (actions in env units) to the callback."""
        if self.callback is not None:
            self.callback(PlanStep(iteration, phase, to_env(self.u.detach()).clone(),
                                   self.states.detach().clone()))


class GRASPPlanner(Planner):
    """The GRASP planner; see the module docstring and :class:`GRASPConfig`.

    ``plan(z0 (B, D), z_goal (B, D))`` returns ``states`` ``(B, T, D)``: the virtual states
    ``s_1 .. s_{T-1}`` followed by the goal latent (or, without one, the prediction from
    ``s_{T-1}``). ``info["sync_iterations"]`` lists the lifted
    iterations after which a sync ran; ``info["history"]`` holds per-iteration batch means of
    ``loss_dynamics``, ``loss_goal``, ``residual`` (RMS one-step inconsistency) and the
    ``sigma``/``gamma`` in force.
    """

    config_class = GRASPConfig
    uses_gradients = True
    #: The graph of ``init="graph"`` (e.g. ``StateGraph.from_buffer(buffer, model)``).
    state_graph: StateGraph | None = None

    def _validate_config(self) -> None:
        super()._validate_config()
        c = self.config
        if c.cem_sync_elites > c.cem_sync_samples:
            raise ValueError(f"GRASPConfig.cem_sync_elites must be <= cem_sync_samples={c.cem_sync_samples}, "
                             f"got {c.cem_sync_elites}")

    # ------------------------------------------------------------------ coefficients
    def sigma_at(self, iteration: int) -> float:
        """The state-noise std in force at lifted ``iteration``: the one source of truth for
        ``sigma``, ``sigma_final``, ``noise_schedule`` and the ``use_noise`` ablation (0 when off)."""
        c = self.config
        if not c.use_noise:
            return 0.0
        return self._scheduled(c.sigma, c.sigma_final, c.noise_schedule, iteration)

    def gamma_at(self, iteration: int) -> float:
        """The goal weight in force at lifted ``iteration``: the one source of truth for ``gamma``,
        ``gamma_final``, ``gamma_schedule`` and the ``use_goal_term`` ablation (0 when off)."""
        c = self.config
        if not c.use_goal_term:
            return 0.0
        return self._scheduled(c.gamma, c.gamma_final, c.gamma_schedule, iteration)

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
        """Per-problem dynamics and goal terms of Eq. 10 (generalised to the planner's objective)
        from ONE batched model call.

        Args:
            z0: ``(B, D)``; goal: ``(B, G)`` targets; states: ``(B, T-1, D)`` virtual states;
            u: ``(B, T, A)`` unit actions; gamma: weight of the dense term.

        Returns:
            ``(dynamics (B,), goal_term (B,))``. Default objective (a goal latent ``g``):
            ``dynamics = sum_t mse(F(sg(s_t), a_t), s_{t+1})`` with ``s_T = g`` and
            ``goal_term = gamma * sum_t mse(F(sg(s_t), a_t), g)``. Without a goal latent the
            dynamics sum stops at ``t = T-2`` and ``goal_term`` adds the objective's terminal
            cost of the last prediction.
        """
        raw = torch.cat([z0.unsqueeze(1), states], dim=1)  # s_0 .. s_{T-1}: (B, T, D)
        inputs = raw.detach() if self.config.stop_gradient else raw
        actions = self.to_env(u)
        pred = check_model_output(self.model, "predict", self.model.predict(inputs, actions),
                                  tuple(inputs.shape))  # (B, T, D)
        objective = self.objective
        pin = objective.pinned_state(goal)
        if pin is not None:
            targets = torch.cat([states, pin.unsqueeze(1)], dim=1)  # s_1 .. s_T
            dynamics = ((pred - targets) ** 2).mean(-1).sum(-1)
            terminal = None
        else:
            dynamics = ((pred[:, :-1] - states) ** 2).mean(-1).sum(-1)
            terminal = objective.terminal_cost(pred[:, -1], goal)
        # the objective sees the virtual states themselves (its own gradient, not dF/ds); a zero
        # weight skips it (and the model calls of a penalty inside it, e.g. DisagreementPenalty)
        if gamma:
            goal_term = objective.step_costs(raw, actions, pred, goal).sum(-1) * gamma
        else:
            goal_term = torch.zeros_like(dynamics)
        if terminal is not None:
            goal_term = goal_term + terminal
        return dynamics, goal_term

    def _lifted_step(self, run: _Solve, gamma: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One Adam step on Eq. 10 over states and actions, then the projection of the actions
        (and NaN/inf states set to 0). Returns the pre-step ``(dynamics, goal_term)``, ``(B,)`` each."""
        dynamics, goal_term = self.lifted_loss(run.z0, run.goal, run.states, run.u, gamma)
        run.opt.zero_grad(set_to_none=True)
        (dynamics + goal_term).sum().backward()
        run.opt.step()
        run.model_calls += 1
        with torch.no_grad():
            self.project_(run.u)
            torch.nan_to_num_(run.states, nan=0.0, posinf=0.0, neginf=0.0)
        return dynamics.detach(), goal_term.detach()

    @torch.no_grad()
    def _add_state_noise(self, run: _Solve, sigma: float) -> None:
        """``s <- s + sigma * N(0, I)`` on the virtual states only, never on the actions."""
        run.states.add_(sigma * self.randn(tuple(run.states.shape), run.generator))

    def _reset_optimizer(self, run: _Solve) -> None:
        """A fresh Adam over both variable groups (``lr_s`` states, ``lr_a`` actions): moments reset."""
        run.opt = torch.optim.Adam([{"params": [run.states], "lr": self.config.lr_s},
                                    {"params": [run.u], "lr": self.config.lr_a}])

    # ------------------------------------------------------------------ syncs
    def _sync(self, run: _Solve, iteration: int) -> None:
        """Refine the actions on the real rollout (gradient or CEM sync), reset Adam (virtual
        states kept) and, with ``keep_best``, score the synced actions."""
        t_h = self.horizon
        if self.config.sync_mode == "gd":
            run.model_calls += sync_gd(self, run.z0, run.goal, run.u, run.deadline) * t_h
        else:
            steps = sync_cem(self, run.z0, run.goal, run.states.detach(), run.u.data, run.generator,
                             run.deadline)
            run.model_calls += (1 + steps) * t_h
        self._reset_optimizer(run)
        run.sync_iterations.append(iteration)
        run.note(iteration, "sync", self.to_env)
        if run.best is not None:
            self._track_best(run)

    def _track_best(self, run: _Solve) -> None:
        """Offer the current actions, scored by a full rollout, to ``run.best``."""
        run.best.offer(run.u.detach(), self.trajectory_cost(run.z0, run.goal, run.u.detach()))
        run.model_calls += self.horizon

    # ------------------------------------------------------------------ main loop
    def _plan(self, z0: torch.Tensor, goal: torch.Tensor, init_u: torch.Tensor | None,
              generator: torch.Generator, callback: PlanCallback | None, deadline: float | None
              ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        c, t_h = self.config, self.horizon
        b, k_p = z0.shape[0], c.num_particles
        if k_p > 1:  # B x K independent problems, particle-major within each problem
            z0, goal = z0.repeat_interleave(k_p, 0), goal.repeat_interleave(k_p, 0)
            init_u = None if init_u is None else init_u.repeat_interleave(k_p, 0)
        # a warm start with warm_iterations set (an MPC replan): refine it, states on its rollout
        warm = init_u is not None and c.warm_iterations is not None
        n_iter = c.warm_iterations if warm else c.iterations
        start, warm_cost = None, None
        if c.init == "icem" and not warm:  # a colored-noise CEM search first; GRASP starts on its plan
            start = icem_start(self, z0, goal, init_u, generator, deadline)
            init_u = start.u
        u = self.initial_u(z0.shape[0], init_u)
        pin = self.objective.pinned_state(goal)
        if start is not None:  # virtual states on the search plan's rollout
            states = start.states[:, :-1].clone()
            calls = start.calls
        elif warm:  # on the warm start's rollout, whose cost is its keep_best score: one rollout for both
            with torch.no_grad():
                rolled, warm_cost = self.objective.rollout_cost(self.model, z0, self.to_env(u), goal)
            states = torch.nan_to_num(rolled[:, :-1])
            calls = t_h
        else:  # (B*K, T-1, D): the straight line to the goal latent, or the initial rollout
            states = self.initial_states(z0, pin, u)
            calls = 0 if pin is not None else t_h
            if c.init == "graph":  # along the data's shortest path where the graph connects
                path, reached = self.graph_states(z0, goal, pin)
                states = torch.where(reached.view(-1, 1, 1), path, states)
        if k_p > 1:
            states = displace_particles(states, z0, k_p, c.particle_spread, self.randn, generator)
        if c.init_state_noise > 0:
            states = states + c.init_state_noise * self.randn(tuple(states.shape), generator)
        u.requires_grad_(True)
        run = _Solve(z0, goal, states.requires_grad_(True), u, generator, callback, deadline,
                     BestSoFar(u) if c.keep_best else None, model_calls=calls)
        if run.best is not None and start is not None:  # the search's plan stays a candidate
            run.best.offer(u.detach(), start.cost)
        elif run.best is not None and warm_cost is not None and c.keep_warm_start:  # MPC: the last plan
            run.best.offer(u.detach(), warm_cost)
        elif run.best is not None and init_u is not None and c.keep_warm_start:
            self._track_best(run)
        self._reset_optimizer(run)
        history = torch.zeros(n_iter, len(HISTORY_KEYS), device=self.device)
        done = 0
        for k in range(n_iter):
            sigma, gamma = self.sigma_at(k), self.gamma_at(k)
            dynamics, goal_term = self._lifted_step(run, gamma)  # Eq. 10, one batched model call
            history[k, 0], history[k, 1] = dynamics.mean(), goal_term.mean()
            history[k, 2] = (dynamics.mean() / t_h).clamp_min(0).sqrt()  # RMS one-step inconsistency
            history[k, 3], history[k, 4] = sigma, gamma
            run.note(k, "lifted", self.to_env)
            if sigma > 0:
                self._add_state_noise(run, sigma)
                run.note(k, "noise", self.to_env)
            done = k + 1
            out_of_time = past(deadline)
            if c.use_sync and (done % c.sync_every == 0 or out_of_time or (warm and done == n_iter)):
                self._sync(run, k)
            if out_of_time:
                break
        if run.best is not None and done > 0:  # (no iteration: the actions are the scored warm start)
            self._track_best(run)
        final_u = u.detach() if run.best is None else run.best.u
        with torch.no_grad():  # s_T: the goal latent, or the prediction from the last virtual state
            last = pin if pin is not None else self.model.predict(
                torch.cat([z0.unsqueeze(1), run.states], 1)[:, -1], self.to_env(u.detach()[:, -1]))
        out_states = torch.cat([run.states.detach(), last.unsqueeze(1)], dim=1)
        extra: dict[str, Any] = {}
        if k_p > 1:  # best of K by full-rollout cost
            costs = self.trajectory_cost(z0, goal, final_u).view(b, k_p)
            run.model_calls += t_h
            pick = torch.arange(b, device=self.device) * k_p + costs.argmin(1)
            final_u, out_states = final_u[pick], out_states[pick]
            z0, goal = z0[pick], goal[pick]
            extra = {"particle_costs": costs.tolist(), "particle_chosen": costs.argmin(1).tolist()}
        polish_steps = c.warm_polish_steps if warm and c.warm_polish_steps is not None else c.polish_steps
        if polish_steps > 0:
            final_u, calls = polish(self, z0, goal, final_u, deadline, polish_steps)
            run.model_calls += calls
        info: dict[str, Any] = {
            "iterations": done,
            "model_calls": run.model_calls,
            "sync_iterations": run.sync_iterations,
            "history": {key: history[:done, i].tolist() for i, key in enumerate(HISTORY_KEYS)},
            "stopped_early": done < n_iter,
            "warm": warm,
            **extra,
        }
        return final_u, out_states, info

    @property
    def plans_warm_starts_apart(self) -> bool:
        return self.config.warm_iterations is not None

    def for_horizon(self, horizon: int) -> GRASPPlanner:
        short = super().for_horizon(horizon)
        short.state_graph = self.state_graph
        return short

    @torch.no_grad()
    def graph_states(self, z0: torch.Tensor, goal: torch.Tensor, pin: torch.Tensor | None
                     ) -> tuple[torch.Tensor, torch.Tensor]:
        """Virtual states ``(B, T-1, D)`` along :attr:`state_graph`'s shortest path from ``z0``
        ``(B, D)`` to the node of least terminal cost for ``goal`` ``(B, G)`` (then on to ``pin``),
        and whether the graph connects them ``(B,)``."""
        graph = self.state_graph
        if graph is None:
            raise ValueError('GRASPConfig.init="graph" needs a state graph: set planner.state_graph = '
                             "StateGraph.from_buffer(buffer, model) (the world model's training data)")
        if graph.nodes.shape[1] != z0.shape[1]:
            raise ValueError(f"the state graph's nodes have {graph.nodes.shape[1]} dims but the model's "
                             f"latent has {z0.shape[1]}; build the graph with this model's encoder")
        cached = getattr(self, "_graph_on_device", None)
        if cached is None or cached[0] is not graph:  # moved to the planner's device once
            cached = self._graph_on_device = (graph, graph.to(self.device))
        graph = cached[1]
        b, n = z0.shape[0], graph.num_nodes
        nodes = graph.nodes.to(z0.dtype)
        cost = self.objective.terminal_cost(nodes.repeat(b, 1), goal.repeat_interleave(n, 0))
        if cost is None:
            raise ValueError(f'GRASPConfig.init="graph" searches for the node of least terminal cost, but '
                             f"{type(self.objective).__name__} has none; use a goal objective or init='line'")
        return graph.waypoints(z0, cost.view(b, n), pin, self.horizon)

    @torch.no_grad()
    def initial_states(self, z0: torch.Tensor, pin: torch.Tensor | None, u: torch.Tensor) -> torch.Tensor:
        """Initial virtual states ``s_1 .. s_{T-1}`` ``(B, T-1, D)``: the straight line from ``z0``
        ``(B, D)`` to the goal latent ``pin`` ``(B, D)`` (the paper), or, for an objective
        without one, the model's rollout of the initial unit actions ``u`` ``(B, T, A)``."""
        if pin is not None:
            steps = torch.arange(1, self.horizon, device=self.device, dtype=z0.dtype)
            frac = steps.view(1, -1, 1) / self.horizon
            return (1.0 - frac) * z0.unsqueeze(1) + frac * pin.unsqueeze(1)
        return torch.nan_to_num(self.rollout(z0, u)[:, :-1])
