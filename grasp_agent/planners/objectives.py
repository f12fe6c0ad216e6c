"""Objectives: what every planner minimises, one interface for all of them.

A planner solves ``B`` problems at once: problem ``b`` starts at the latent ``z0[b]`` and, for a
goal objective, has a *target* ``target[b]``. An :class:`Objective` turns a trajectory into a
cost; the planners differ only in how they search for low-cost actions.

=====================  ==============================  =========================================
objective              target ``(B, G)``               cost of a trajectory ``s_1 .. s_T``
=====================  ==============================  =========================================
:class:`LatentGoal`    a latent ``g`` (``G = D``)      ``mse(s_T, g)`` (the paper's objective)
:class:`GoalInSubspace`  a goal ``g`` in the env's       ``mse(achieved(s_T), g)``; ``achieved`` maps
                       ``achieved_goal`` space         a latent to that space (a slice of the
                                                       state, or a learned goal head)
:class:`Return`        none (``G = 0``)                ``-sum_t discount^t r(s_t, a_t, s_{t+1})``
:class:`CostFunction`  optional                        any user function (sampling planners only
                                                       unless it is differentiable)
=====================  ==============================  =========================================

Goal objectives take ``running=True`` to charge the goal distance at every step, averaged over
the horizon (reach the goal early and stay there) instead of at the last step only: with
replanning (receding-horizon MPC) a cost on the final state alone moves the arrival step away at
every replan, a running cost commits.

Three views of one objective serve the planners:

* :meth:`Objective.trajectory_cost` ``(B,)``: the true cost of a (rolled-out) trajectory. Sampling
  planners rank by it, shooting (GD) and GRASP's sync differentiate it, every planner reports it
  as ``PlanResult.cost``.
* :meth:`Objective.step_costs` ``(B, T)``: one cost per transition, GRASP's dense term
  (Eq. 10's ``mse(F(sg(s_t), a_t), g)`` for a latent goal, ``mse(achieved(F(...)), g)`` for a goal
  in a subspace, ``-r_t`` for a return).
* :meth:`Objective.pinned_state` ``(B, D)`` or ``None``: a latent the last state must equal (only
  a latent goal has one); without it the lifted planners keep the last state free and charge
  :meth:`Objective.terminal_cost` on it.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence
from typing import Any

import torch

from grasp_agent.models.base import WorldModel
from grasp_agent.planners.validation import checked_rollout

RewardFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class Objective(abc.ABC):
    """Base class of planning objectives (see the module docstring).

    Attributes:
        differentiable: whether gradient planners (GRASP, GD, LatCo) may use it.
        running: goal objectives only: charge the goal distance at every step.
    """

    differentiable: bool = True
    running: bool = False

    def target_dim(self, latent_dim: int) -> int:
        """Size ``G`` of one problem's target for a model of latent size ``latent_dim`` (0: none)."""
        return 0

    def pinned_state(self, target: torch.Tensor) -> torch.Tensor | None:
        """``(B, D)`` latent the final state must equal, or ``None`` (the last state is free)."""
        return None

    @abc.abstractmethod
    def step_costs(self, z: torch.Tensor, a: torch.Tensor, z_next: torch.Tensor,
                   target: torch.Tensor) -> torch.Tensor:
        """Per-transition costs ``(B, T)`` of ``z (B, T, D)``, ``a (B, T, A)`` (env units),
        ``z_next (B, T, D)`` and ``target (B, G)``: GRASP's dense term."""

    def terminal_cost(self, z_final: torch.Tensor, target: torch.Tensor) -> torch.Tensor | None:
        """Cost ``(B,)`` of the final state ``(B, D)``, or ``None`` when there is none."""
        return None

    @abc.abstractmethod
    def trajectory_cost(self, z0: torch.Tensor, states: torch.Tensor, actions: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:
        """True cost ``(B,)`` of the trajectory ``z0 (B, D)``, ``states = s_1 .. s_T (B, T, D)``,
        ``actions (B, T, A)`` (env units) for ``target (B, G)``."""

    def rollout_cost(self, model: WorldModel, z0: torch.Tensor, actions: torch.Tensor,
                     target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The model's serial rollout ``s_1 .. s_T (B, T, D)`` of ``actions (B, T, A)`` (env
        units) from ``z0 (B, D)``, and its :meth:`trajectory_cost` ``(B,)`` for ``target (B, G)``.

        What sampling planners rank by and shooting differentiates. An objective whose cost
        needs more of the model than the states overrides it to get both from one pass
        (:class:`~grasp_agent.planners.penalties.DisagreementPenalty`)."""
        states = checked_rollout(model, z0, actions)
        return states, self.trajectory_cost(z0, states, actions, target)

    def describe(self) -> dict[str, Any]:
        """A plain description (kind and settings) for logs and saved agents."""
        return {"kind": type(self).__name__, "running": self.running}


def previous_states(z0: torch.Tensor, states: torch.Tensor) -> torch.Tensor:
    """``s_0 .. s_{T-1}`` ``(B, T, D)`` from ``z0 (B, D)`` and ``s_1 .. s_T (B, T, D)``."""
    return torch.cat([z0.unsqueeze(1), states[:, :-1]], dim=1)


class _GoalObjective(Objective):
    """A goal ``g`` in the image of a map ``m`` of the latent: cost ``mean_g (m(s) - g)^2``."""

    def __init__(self, running: bool = False) -> None:
        if not isinstance(running, bool):
            raise TypeError(f"running must be a bool, got {running!r}")
        self.running = running

    @abc.abstractmethod
    def goal_map(self, z: torch.Tensor) -> torch.Tensor:
        """``(..., D) -> (..., G)``."""

    def distance(self, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``mean_g (m(z) - target)^2``: ``z (B, ..., D)``, ``target (B, G)`` -> ``(B, ...)``."""
        mapped = self.goal_map(z)
        goal = target.reshape(target.shape[:1] + (1,) * (mapped.ndim - 2) + target.shape[1:])
        return ((mapped - goal) ** 2).mean(-1)

    def step_costs(self, z: torch.Tensor, a: torch.Tensor, z_next: torch.Tensor,
                   target: torch.Tensor) -> torch.Tensor:
        return self.distance(z_next, target)

    def terminal_cost(self, z_final: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.distance(z_final, target)

    def trajectory_cost(self, z0: torch.Tensor, states: torch.Tensor, actions: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:
        if self.running:
            return self.distance(states, target).mean(-1)
        return self.distance(states[:, -1], target)


class LatentGoal(_GoalObjective):
    """Reach a goal latent ``g`` ``(B, D)``: cost ``mse(s_T, g)`` (or its mean over the horizon
    with ``running=True``). The default of every planner; the paper's objective."""

    def target_dim(self, latent_dim: int) -> int:
        return latent_dim

    def goal_map(self, z: torch.Tensor) -> torch.Tensor:
        return z

    def pinned_state(self, target: torch.Tensor) -> torch.Tensor:
        return target


class GoalInSubspace(_GoalObjective):
    """Reach a goal given in another space, e.g. the env's ``achieved_goal`` (a position at any
    velocity): cost ``mse(achieved(s_T), g)``.

    Args:
        achieved: differentiable map ``(..., D) -> (..., goal_dim)`` from the latent to the goal
            space: a learned goal head (``TaskHeads.achieved``) or a slice of the state (see
            :meth:`from_indices`).
        goal_dim: size ``G`` of a goal.
        running: charge the distance at every step (mean over the horizon).
    """

    def __init__(self, achieved: Callable[[torch.Tensor], torch.Tensor], goal_dim: int,
                 running: bool = False, name: str | None = None) -> None:
        super().__init__(running)
        if not callable(achieved):
            raise TypeError("achieved must be a callable (..., D) -> (..., G), got "
                            f"{type(achieved).__name__}")
        if isinstance(goal_dim, bool) or not isinstance(goal_dim, int) or goal_dim < 1:
            raise ValueError(f"goal_dim must be an int >= 1, got {goal_dim!r}")
        self.achieved, self.goal_dim = achieved, goal_dim
        self.name = name or getattr(achieved, "__name__", type(achieved).__name__)
        self.indices: tuple[int, ...] | None = None

    @classmethod
    def from_indices(cls, indices: Sequence[int], running: bool = False) -> GoalInSubspace:
        """The goal is the latent's entries ``indices`` (for identity encoders: those entries of
        the observation, e.g. ``(0, 1)`` = the position of ``(x, y, vx, vy)``)."""
        idx = tuple(int(i) for i in indices)
        if not idx:
            raise ValueError("indices must name at least one latent entry")
        index = torch.tensor(idx)
        obj = cls(lambda z: z.index_select(-1, index.to(z.device)), len(idx), running,
                  name=f"indices{list(idx)}")
        obj.indices = idx
        return obj

    def target_dim(self, latent_dim: int) -> int:
        if self.indices is not None and max(self.indices) >= latent_dim:
            raise ValueError(f"goal indices {list(self.indices)} are out of range for latents of dim "
                             f"{latent_dim}")
        return self.goal_dim

    def goal_map(self, z: torch.Tensor) -> torch.Tensor:
        out = self.achieved(z)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != tuple(z.shape[:-1]) + (self.goal_dim,):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"the goal map {self.name!r} returned {shape} for latents of shape "
                             f"{tuple(z.shape)}; it must return (..., goal_dim={self.goal_dim})")
        return out

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "goal_dim": self.goal_dim, "map": self.name}


class Return(Objective):
    """Maximise the predicted return: cost ``-sum_t discount^t alive_t r(s_t, a_t, s_{t+1})``.

    Args:
        reward_fn: differentiable ``(z (..., D), a (..., A), z_next (..., D)) -> (...)`` in env
            action units (mbrl-lib's convention): a user function or a learned reward head
            (``TaskHeads.reward``).
        termination_fn: optional ``(z, a, z_next) -> (...)`` termination probability (or bool);
            rewards after a termination are not counted (``alive_t = prod_{k<t} (1 - done_k)``,
            no gradient through it).
        discount: per-step discount in ``(0, 1]``.
    """

    def __init__(self, reward_fn: RewardFn, termination_fn: RewardFn | None = None,
                 discount: float = 1.0) -> None:
        if not callable(reward_fn):
            raise TypeError("reward_fn must be callable (z, a, z_next) -> (...), got "
                            f"{type(reward_fn).__name__}")
        if termination_fn is not None and not callable(termination_fn):
            raise TypeError(f"termination_fn must be callable or None, got {type(termination_fn).__name__}")
        if isinstance(discount, bool) or not isinstance(discount, (int, float)) or not 0 < discount <= 1:
            raise ValueError(f"discount must be in (0, 1], got {discount!r}")
        self.reward_fn, self.termination_fn, self.discount = reward_fn, termination_fn, float(discount)
        self.running = True

    def _checked(self, fn: RewardFn, name: str, z: torch.Tensor, a: torch.Tensor,
                 z_next: torch.Tensor) -> torch.Tensor:
        out = fn(z, a, z_next)
        want = tuple(z.shape[:-1])
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"{name} must return a torch.Tensor of shape {want}, got {type(out).__name__}")
        if tuple(out.shape) == want + (1,):
            out = out.squeeze(-1)
        if tuple(out.shape) != want:
            raise ValueError(f"{name} returned shape {tuple(out.shape)} for latents {tuple(z.shape)}; it "
                             f"must return one value per transition, shape {want}")
        return out.float()

    def step_costs(self, z: torch.Tensor, a: torch.Tensor, z_next: torch.Tensor,
                   target: torch.Tensor) -> torch.Tensor:
        reward = self._checked(self.reward_fn, "reward_fn", z, a, z_next)  # (B, T)
        weight = self.discount ** torch.arange(reward.shape[-1], device=reward.device, dtype=reward.dtype)
        if self.termination_fn is not None:
            with torch.no_grad():
                done = self._checked(self.termination_fn, "termination_fn", z, a, z_next).clamp(0, 1)
                alive = torch.cumprod(torch.cat([torch.ones_like(done[:, :1]), 1 - done[:, :-1]], 1), 1)
            weight = weight * alive
        return -reward * weight

    def trajectory_cost(self, z0: torch.Tensor, states: torch.Tensor, actions: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:
        return self.step_costs(previous_states(z0, states), actions, states, target).sum(-1)

    def describe(self) -> dict[str, Any]:
        name = getattr(self.reward_fn, "__name__", type(self.reward_fn).__name__)
        return {**super().describe(), "reward": name, "termination": self.termination_fn is not None,
                "discount": self.discount}


class CostFunction(Objective):
    """Any trajectory cost ``fn(z0 (B, D), states (B, T, D), actions (B, T, A), target (B, G))
    -> (B,)``; need not be differentiable (then only CEM, iCEM and MPPI accept it).

    Args:
        fn: the cost; target_dim: ``G`` (0: no target); differentiable: whether gradient
            planners may backpropagate through ``fn``.
    """

    def __init__(self, fn: Callable[..., torch.Tensor], target_dim: int = 0,
                 differentiable: bool = False) -> None:
        if not callable(fn):
            raise TypeError(f"fn must be callable, got {type(fn).__name__}")
        if isinstance(target_dim, bool) or not isinstance(target_dim, int) or target_dim < 0:
            raise ValueError(f"target_dim must be an int >= 0, got {target_dim!r}")
        self.fn, self._target_dim, self.differentiable = fn, target_dim, bool(differentiable)

    def target_dim(self, latent_dim: int) -> int:
        return self._target_dim

    def step_costs(self, z: torch.Tensor, a: torch.Tensor, z_next: torch.Tensor,
                   target: torch.Tensor) -> torch.Tensor:
        raise TypeError("a CostFunction scores whole trajectories and has no per-step costs, so the "
                        "lifted planners (grasp, latco) cannot use it; plan with cem, icem, mppi or gd")

    def trajectory_cost(self, z0: torch.Tensor, states: torch.Tensor, actions: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:
        out = self.fn(z0, states, actions, target)
        if not isinstance(out, torch.Tensor) or tuple(out.shape) != (z0.shape[0],):
            shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
            raise ValueError(f"the cost function returned {shape}; it must return one cost per problem, "
                             f"shape ({z0.shape[0]},)")
        return out.float()


def check_objective(objective: Any) -> Objective:
    """``objective`` if it is an :class:`Objective`, else a TypeError naming the choices."""
    if not isinstance(objective, Objective):
        raise TypeError(f"objective must be a grasp_agent.planners.Objective (LatentGoal, GoalInSubspace, "
                        f"Return or CostFunction), got {type(objective).__name__}")
    return objective
