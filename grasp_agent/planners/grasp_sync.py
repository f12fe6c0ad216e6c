"""GRASP's periodic sync with the real rollout: gradient (``sync_mode="gd"``) or CEM.

Both refine the actions only, on the objective's true cost of the serial rollout; the virtual
states are kept. See :class:`~grasp_agent.planners.grasp.GRASPPlanner`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from grasp_agent.planners.base import past
from grasp_agent.planners.cem import gaussian_samples, select_elites
from grasp_agent.planners.gd import shooting_step_

if TYPE_CHECKING:
    from grasp_agent.planners.grasp import GRASPPlanner


def sync_gd(planner: GRASPPlanner, z0: torch.Tensor, goal: torch.Tensor, u: torch.Tensor,
            deadline: float | None = None) -> int:
    """Up to J_sync Adam steps (``sync_lr``) on the objective's rollout cost (default ``mse(s_T(a), g)``),
    on the actions ``u`` ``(B, T, A)`` only: GD's own step, :func:`shooting_step_`.

    Past ``deadline`` it stops after the current step (at least one step always runs).
    Returns the number of steps taken.
    """
    opt = torch.optim.Adam([u], lr=planner.config.sync_lr)
    for step in range(planner.config.sync_steps):
        if step > 0 and past(deadline):
            return step
        shooting_step_(planner, opt, z0, goal, u)
    return planner.config.sync_steps

@torch.no_grad()
def sync_cem(planner: GRASPPlanner, z0: torch.Tensor, goal: torch.Tensor, states: torch.Tensor,
              u: torch.Tensor, generator: torch.Generator, deadline: float | None = None) -> int:
    """CEM refinement of the actions ``u`` ``(B, T, A)`` around their value (in place), with
    CEM's own sampling and elite selection (:func:`gaussian_samples`, :func:`select_elites`).

    Per-step std = ``gap_scale * gap_t + floor`` where ``gap_t`` is the RMS distance
    between virtual state ``s_{t+1}`` (``states`` ``(B, T-1, D)``, the goal for the last
    step) and the rolled-out state. The current actions stay a candidate (sample 0), so
    the sync never makes the plan worse under the model. Past ``deadline`` it stops after
    the current iteration; returns the iterations run.
    """
    c = planner.config
    b, t, a_dim = u.shape
    n, k = c.cem_sync_samples, c.cem_sync_elites
    rolled = planner.rollout(z0, u)  # (B, T, D)
    pin = planner.objective.pinned_state(goal)
    last = rolled[:, -1] if pin is None else pin  # a free last state has no gap
    virtual = torch.cat([states, last.unsqueeze(1)], dim=1)
    gap = ((virtual - rolled) ** 2).mean(-1).sqrt()  # (B, T)
    std = (c.cem_sync_gap_scale * gap + c.cem_sync_std_floor).unsqueeze(-1).expand(b, t, a_dim)
    mean = u.clone()
    z0_rep, goal_rep = z0.repeat_interleave(n, 0), goal.repeat_interleave(n, 0)
    for step in range(c.sync_steps):
        if step > 0 and past(deadline):
            return step
        samples = gaussian_samples(planner, mean, std, n, generator)
        samples[:, 0] = u  # keep the incumbent
        elites, _ = select_elites(planner, samples, z0_rep, goal_rep, k, c.max_batch * n)
        mean, std = elites.mean(1), elites.std(1).clamp_min(c.cem_sync_std_floor)
        u.copy_(elites[:, 0])  # best sample (incumbent included)
    return c.sync_steps
