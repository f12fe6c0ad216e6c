"""Where a GRASP solve starts and how it ends: iCEM start, particles, polish.

Options of :class:`~grasp_agent.planners.grasp.GRASPPlanner` beyond the paper, each behind a
:class:`~grasp_agent.planners.grasp.GRASPConfig` switch (off by default):

* ``init="icem"``: :func:`icem_start` runs a short iCEM search and the lifted phase refines its
  plan. Long-horizon tasks that must find a passage (WallDoor's door) are where the straight
  line through the wall fails; colored-noise samples find the passage, the lifted phase and the
  polish make the plan precise.
* ``num_particles``: :func:`displace_particles` moves the initial virtual states of particles
  ``1 .. K-1`` through other via-points; the planner solves the ``B x K`` problems in one batched
  model call per iteration and keeps the lowest-cost particle.
* ``polish_steps``: :func:`polish`, gradient shooting steps on the returned actions.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, NamedTuple

import torch

from grasp_agent.planners.base import BestSoFar, past
from grasp_agent.planners.gd import shooting_step_
from grasp_agent.planners.icem import ICEMConfig, ICEMPlanner

if TYPE_CHECKING:
    from grasp_agent.planners.grasp import GRASPPlanner


class SearchStart(NamedTuple):
    """The plan of :func:`icem_start`: unit actions ``u`` ``(B, T, A)``, their model rollout
    ``states`` ``(B, T, D)`` and objective ``cost`` ``(B,)`` (the search computed both), and the
    search's model calls."""

    u: torch.Tensor
    states: torch.Tensor
    cost: torch.Tensor
    calls: int


def icem_start(planner: GRASPPlanner, z0: torch.Tensor, goal: torch.Tensor, init_u: torch.Tensor | None,
               generator: torch.Generator, deadline: float | None) -> SearchStart:
    """A short iCEM search from the warm start ``init_u`` ``(B, T, A)`` (unit actions, or None)
    for the problems ``z0`` ``(B, D)``, ``goal`` ``(B, G)`` under the planner's objective.

    The iCEM planner is built once per GRASP planner and kept, so in MPC its elites follow the
    warm start as iCEM's own do. Its result already holds the plan's rollout and cost, so GRASP
    starts its virtual states and its ``keep_best`` record from them without rolling out again.
    """
    c = planner.config
    icem = getattr(planner, "_icem", None)
    if icem is None or icem.horizon != planner.horizon:
        low, high = planner.low.cpu().numpy(), planner.high.cpu().numpy()
        config = ICEMConfig(iterations=c.icem_iterations, num_samples=c.icem_samples,
                            num_elites=min(ICEMConfig.num_elites, c.icem_samples), max_batch=c.max_batch)
        icem = ICEMPlanner(planner.model, (low, high), planner.horizon, config, device=planner.device,
                           objective=planner.objective)
        planner._icem = icem
    icem.objective = planner.objective
    icem.config.time_budget_s = None if deadline is None else max(deadline - time.perf_counter(), 1e-3)
    target = goal if goal.shape[1] > 0 else None
    init = None if init_u is None else planner.to_env(init_u)
    result = icem.plan(z0, target, init_actions=init, generator=generator)
    return SearchStart(planner.to_unit(result.actions), result.states, result.cost,
                       int(result.info["model_calls"]))


def displace_particles(states: torch.Tensor, z0: torch.Tensor, k: int, spread: float,
                       randn: Callable[[tuple[int, ...], torch.Generator], torch.Tensor],
                       generator: torch.Generator) -> torch.Tensor:
    """Move particles ``1 .. K-1`` of each problem off the initial path ``states`` ``(B*K, T-1, D)``
    (particle-major per problem) by a smooth bump ``spread * r * sin(pi t / T) * n``: ``n ~ N(0, I)``
    per particle, ``r`` the RMS distance from ``z0`` ``(B*K, D)`` to the path's last state. The
    path then runs through another via-point, still from the start to the end."""
    bk, t_1, d = states.shape
    if t_1 == 0 or spread == 0:
        return states
    t_h = t_1 + 1
    bump = torch.sin(torch.pi * torch.arange(1, t_h, device=states.device, dtype=states.dtype) / t_h)
    r = ((states[:, -1] - z0) ** 2).mean(-1, keepdim=True).sqrt()  # (B*K, 1)
    direction = randn((bk, d), generator) * (torch.arange(bk, device=states.device) % k != 0).unsqueeze(-1)
    return states + spread * (r * direction).unsqueeze(1) * bump.view(1, -1, 1)


def polish(planner: GRASPPlanner, z0: torch.Tensor, goal: torch.Tensor, u: torch.Tensor,
           deadline: float | None, steps: int) -> tuple[torch.Tensor, int]:
    """Up to ``steps`` shooting steps on unit actions ``u`` ``(B, T, A)`` (GD's own step),
    keeping per problem the lowest-cost actions seen; returns them and the model calls."""
    u = u.clone().requires_grad_(True)
    best = BestSoFar(u)
    opt = torch.optim.Adam([u], lr=planner.config.sync_lr)
    taken = 0
    for step in range(steps):
        if step > 0 and past(deadline):
            break
        shooting_step_(planner, opt, z0, goal, u, best)
        taken += 1
    best.offer(u.detach(), planner.trajectory_cost(z0, goal, u.detach()))
    return best.u, (taken + 1) * planner.horizon

