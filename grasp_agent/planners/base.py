"""The planner interface: validation, action bounds, batching and the common result.

A planner is built with a world model, action bounds, a horizon and an objective
(:mod:`grasp_agent.planners.objectives`; default :class:`LatentGoal`, the paper's), and solves a
batch of problems ``plan(z0 (B, D), target (B, G)) -> PlanResult`` with ``actions`` ``(B, T, A)``.

Every planner here optimises *unit* actions ``u in [-1, 1]^A`` and maps them affinely to the
action space, ``a = low + (u + 1) / 2 * (high - low)``, so learning rates and sampling
variances mean the same thing for any Box. Bounds are enforced by projection: after every
update ``u`` is clamped to ``[-1, 1]`` (and NaNs replaced by 0), so the model is only ever
queried at feasible actions and the returned actions are always finite and in bounds.
"""

from __future__ import annotations

import abc
import logging
import time
from typing import Any, ClassVar

import numpy as np
import torch

from grasp_agent.models.base import WorldModel, check_world_model
from grasp_agent.planners.objectives import LatentGoal, Objective, check_objective
from grasp_agent.planners.validation import action_bounds, check_model_output, checked_rollout
from grasp_agent.types import PlanCallback, PlanResult
from grasp_agent.utils import make_generator, resolve_device
from grasp_agent.validation import validate_config

logger = logging.getLogger(__name__)


def rollout_cost(model: WorldModel, z0: torch.Tensor, target: torch.Tensor, actions: torch.Tensor,
                 chunk: int, objective: Objective | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The objective's cost of many action sequences after their serial rollout, chunked to bound
    memory.

    Args:
        z0: ``(M, D)`` start latents; target: ``(M, G)`` (``G = 0`` for objectives without one);
        actions: ``(M, T, A)`` env units; chunk: at most this many sequences per rollout call;
        objective: default :class:`~grasp_agent.planners.objectives.LatentGoal`, whose cost is
            ``mean_d (s_T - g)^2``.

    Returns:
        ``cost (M,)`` (``inf`` where non-finite) and the final states ``(M, D)``.
    """
    objective = LatentGoal() if objective is None else objective
    costs, finals = [], []
    for i in range(0, actions.shape[0], chunk):
        states, cost = objective.rollout_cost(model, z0[i:i + chunk], actions[i:i + chunk],
                                              target[i:i + chunk])
        costs.append(cost)
        finals.append(states[:, -1])
    return finite_or_inf(torch.cat(costs)), torch.cat(finals)


def finite_or_inf(cost: torch.Tensor) -> torch.Tensor:
    """``cost`` with every NaN and infinity replaced by ``+inf`` (a cost that never wins)."""
    return torch.where(torch.isfinite(cost), cost, torch.full_like(cost, float("inf")))


def past(deadline: float | None) -> bool:
    """Whether the ``time.perf_counter()`` ``deadline`` (``None``: no deadline) has passed."""
    return deadline is not None and time.perf_counter() > deadline


class BestSoFar:
    """The lowest-cost unit actions seen per problem: the ``keep_best`` option of every planner.

    Args:
        u: ``(B, T, A)`` initial unit actions; they count as cost ``inf``, so the first finite
            cost offered replaces them.
    """

    def __init__(self, u: torch.Tensor) -> None:
        self.u = u.detach().clone()
        self.cost = torch.full((u.shape[0],), float("inf"), device=u.device)

    @torch.no_grad()
    def offer(self, u: torch.Tensor, cost: torch.Tensor) -> torch.Tensor:
        """Keep ``u`` ``(B, T, A)`` where its ``cost`` ``(B,)`` is finite and strictly lower than
        the best so far; returns that mask ``(B,)``."""
        cost = finite_or_inf(cost)
        better = cost < self.cost
        self.cost[better] = cost[better]
        self.u[better] = u[better]
        return better


class Planner(abc.ABC):
    """Base class of all planners; subclasses implement :meth:`_plan` for one chunk.

    Args:
        model: a :class:`~grasp_agent.WorldModel`.
        action_space: a ``gymnasium.spaces.Box`` with finite bounds (or a ``(low, high)`` pair)
            whose shape is ``(model.action_dim,)``.
        horizon: number of actions ``T >= 1`` to plan.
        config: the planner's config dataclass (``config_class``); defaults if ``None``.
        device: ``None`` (follow the model), ``"auto"``, ``"cpu"`` or ``"cuda"``; a device other
            than the model's moves the model.
        objective: what to minimise (:mod:`grasp_agent.planners.objectives`); default
            :class:`~grasp_agent.planners.objectives.LatentGoal`.
    """

    config_class: ClassVar[type]
    #: Whether the planner differentiates the objective (then it needs a differentiable one).
    uses_gradients: ClassVar[bool] = False

    @property
    def plans_warm_starts_apart(self) -> bool:
        """Whether a warm-started plan runs another schedule than a cold one (GRASP's
        ``warm_iterations``), so an MPC agent plans envs without a plan in a call of their own."""
        return False

    def __init__(self, model: WorldModel, action_space: Any, horizon: int, config: Any = None,
                 device: str | torch.device | None = None, objective: Objective | None = None) -> None:
        self.model = check_world_model(model)
        if isinstance(horizon, bool) or not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise ValueError(f"horizon must be an int >= 1, got {horizon!r}")
        self.horizon = int(horizon)
        if config is None:
            config = self.config_class()
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} expects a {self.config_class.__name__}, got "
                            f"{type(config).__name__}")
        self.config = config
        self._validate_config()
        self.device = resolve_device(device) if device is not None else self.model.device
        if self.model.device != self.device:
            self.model.to(self.device)
        low, high = action_bounds(action_space, model.action_dim)
        self.low = torch.as_tensor(low, device=self.device)
        self.high = torch.as_tensor(high, device=self.device)
        self.generator = make_generator(getattr(self.config, "seed", None), self.device)
        self.objective = LatentGoal() if objective is None else objective

    @property
    def objective(self) -> Objective:
        """The :class:`~grasp_agent.planners.objectives.Objective` minimised by :meth:`plan`."""
        return self._objective

    @objective.setter
    def objective(self, objective: Objective) -> None:
        objective = check_objective(objective)
        if self.uses_gradients and not objective.differentiable:
            raise TypeError(f"{type(self).__name__} differentiates its objective, but "
                            f"{type(objective).__name__} is not differentiable; plan with a sampling planner "
                            "(cem, icem, mppi) or pass a differentiable objective")
        objective.target_dim(self.model.latent_dim)  # e.g. goal indices out of range
        self._objective = objective

    # ----------------------------------------------------------------- hooks and helpers
    def _validate_config(self) -> None:
        """Check every config field by kind and range (:func:`~grasp_agent.planners.validation.
        validate_config`; numpy scalars become Python numbers in a copy). Subclasses extend it
        with checks across fields. Runs at construction and at the start of every ``plan``.

        Raises:
            TypeError: a field of the wrong kind; ValueError: a value out of its range.
        """
        self.config = validate_config(self.config)

    @abc.abstractmethod
    def _plan(self, z0: torch.Tensor, goal: torch.Tensor, init_u: torch.Tensor | None,
              generator: torch.Generator, callback: PlanCallback | None,
              deadline: float | None) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        """Plan one chunk; return unit actions ``(B, T, A)``, states ``(B, T, D)`` and info."""

    def to_env(self, u: torch.Tensor) -> torch.Tensor:
        """Unit actions ``[-1, 1]`` -> env units (differentiable)."""
        return self.low + (u + 1.0) * 0.5 * (self.high - self.low)

    def to_unit(self, a: torch.Tensor) -> torch.Tensor:
        """Env-unit actions -> unit actions ``[-1, 1]``."""
        return 2.0 * (a - self.low) / (self.high - self.low) - 1.0

    @staticmethod
    def project_(u: torch.Tensor) -> torch.Tensor:
        """In place: replace NaN/inf by a bound (NaN -> 0) and clamp to ``[-1, 1]``."""
        torch.nan_to_num_(u, nan=0.0, posinf=1.0, neginf=-1.0)
        return u.clamp_(-1.0, 1.0)

    def initial_u(self, batch: int, init_u: torch.Tensor | None) -> torch.Tensor:
        """Initial unit actions ``(B, T, A)``: the (projected) warm start, or zeros (mid-range)."""
        if init_u is None:
            return torch.zeros(batch, self.horizon, self.model.action_dim, device=self.device)
        return self.project_(init_u.clone())

    @torch.no_grad()
    def trajectory_cost(self, z0: torch.Tensor, target: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """The objective's cost ``(B,)`` of unit actions ``u`` ``(B, T, A)`` after their rollout from
        ``z0`` ``(B, D)`` (:func:`rollout_cost` for ``target`` ``(B, G)``, chunked by
        ``config.max_batch``)."""
        chunk = getattr(self.config, "max_batch", z0.shape[0])
        return rollout_cost(self.model, z0, target, self.to_env(u), chunk, self.objective)[0]

    def terminal_cost(self, z0: torch.Tensor, target: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """The older name of :meth:`trajectory_cost` (kept for planners written against it)."""
        return self.trajectory_cost(z0, target, u)

    def rollout(self, z0: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """The model's serial rollout ``(B, T, D)`` of unit actions ``u`` ``(B, T, A)`` from ``z0``
        ``(B, D)``, its shape checked (differentiable w.r.t. ``u``)."""
        return checked_rollout(self.model, z0, self.to_env(u))

    def randn(self, shape: tuple[int, ...], generator: torch.Generator) -> torch.Tensor:
        """Standard normal samples drawn from ``generator`` and placed on the planner device."""
        return torch.randn(shape, generator=generator, device=generator.device).to(self.device)

    def for_horizon(self, horizon: int) -> Planner:
        """A copy of this planner (same model, bounds, config, device and objective) that plans
        ``horizon`` steps: shrinking-horizon MPC plans the steps left with it."""
        return type(self)(self.model, (self.low.cpu().numpy(), self.high.cpu().numpy()), horizon,
                          config=self.config, device=self.device, objective=self.objective)

    # ----------------------------------------------------------------- public API
    def reset_generator(self, seed: int | None = None) -> None:
        """Re-seed the planner's own generator (``config.seed`` if ``seed`` is None)."""
        seed = getattr(self.config, "seed", None) if seed is None else seed
        self.generator = make_generator(seed, self.device)

    def _check_tensor(self, name: str, x: Any, width: int, hint: str, label: str = "") -> torch.Tensor:
        """``x`` as a finite float32 ``(B, width)`` tensor on the planner device, or a clear error."""
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of shape (B, {width}), got "
                            f"{type(x).__name__}; convert with torch.as_tensor(x)")
        if not torch.is_floating_point(x):
            raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}; {hint}")
        if x.ndim != 2 or x.shape[1] != width:
            raise ValueError(f"{name} must have shape (B, {label}{width}), got {tuple(x.shape)}; {hint}")
        x = x.detach().to(self.device, torch.float32)
        if not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or inf (in float32, where planning happens: "
                             f"|x| > {torch.finfo(torch.float32).max:.3g} overflows); check the "
                             "observation/encoder")
        return x

    def _check_inputs(self, z0: Any, target: Any, init_actions: Any
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        d, a_dim, t = self.model.latent_dim, self.model.action_dim, self.horizon
        z0 = self._check_tensor("z0", z0, d, "add a batch dim with x[None] if needed; encode observations "
                                "with model.encode() first", "latent_dim=")
        g = self.objective.target_dim(d)
        kind = type(self.objective).__name__
        if g == 0:
            if target is not None and (not isinstance(target, torch.Tensor) or target.numel() > 0):
                raise ValueError(f"the {kind} objective takes no target; pass target=None")
            target = torch.zeros(z0.shape[0], 0, device=self.device)
        elif target is None:
            raise ValueError(f"the {kind} objective needs a target of shape (B, {g}); got None")
        else:
            latent = isinstance(self.objective, LatentGoal)
            hint = f"the {kind} objective takes targets of size {g}" + (
                " (goal latents: encode goals with model.encode())" if latent else "")
            target = self._check_tensor("z_goal" if latent else "target", target, g, hint,
                                        "latent_dim=" if latent else "")
        out = [z0, target]
        if out[0].shape[0] != out[1].shape[0]:
            raise ValueError(f"z0 and z_goal/target batch sizes differ: {out[0].shape[0]} vs "
                             f"{out[1].shape[0]}")
        init_u = None
        if init_actions is not None:
            if not isinstance(init_actions, torch.Tensor) or not torch.is_floating_point(
                    init_actions):
                raise TypeError("init_actions must be a floating-point torch.Tensor "
                                f"(B, T={t}, A={a_dim})")
            expected = (out[0].shape[0], t, a_dim)
            if tuple(init_actions.shape) != expected:
                raise ValueError(f"init_actions must have shape {expected}, got "
                                 f"{tuple(init_actions.shape)}")
            if not torch.isfinite(init_actions).all():
                raise ValueError("init_actions contains NaN or inf")
            a = torch.minimum(torch.maximum(init_actions.detach().to(self.device, torch.float32),
                                            self.low), self.high)
            init_u = self.to_unit(a)
        return out[0], out[1], init_u

    @torch.no_grad()
    def _check_model(self, z0: torch.Tensor) -> None:
        """Once per ``plan``: one ``predict`` on up to two starts ``(b, D)`` with mid-range actions
        must return ``(b, D)`` floats. Planners also check every rollout they consume, but a
        serial rollout built on a misshapen ``predict`` fails inside the model, unclearly."""
        z = z0[:2]
        a = self.to_env(torch.zeros(z.shape[0], self.model.action_dim, device=self.device))
        check_model_output(self.model, "predict", self.model.predict(z, a), tuple(z.shape))

    def _check_objective(self, z0: torch.Tensor, target: torch.Tensor) -> None:
        """Once per ``plan``: the objective's cost of a probe trajectory (no model call) must be
        ``(b,)``, and differentiable w.r.t. states and actions for a gradient planner."""
        b = min(2, z0.shape[0])
        grad = self.uses_gradients
        with torch.set_grad_enabled(grad):
            states = z0[:b].unsqueeze(1).repeat(1, self.horizon, 1).requires_grad_(grad)
            u = torch.zeros(b, self.horizon, self.model.action_dim, device=self.device, requires_grad=grad)
            cost = self.objective.trajectory_cost(z0[:b], states, self.to_env(u), target[:b])
        kind = type(self.objective).__name__
        if not isinstance(cost, torch.Tensor) or tuple(cost.shape) != (b,):
            raise ValueError(f"the {kind} objective returned {getattr(cost, 'shape', type(cost).__name__)} "
                             f"for {b} problems; it must return one cost per problem")
        if grad and not cost.requires_grad:
            raise ValueError(f"the {kind} objective's cost has no gradient w.r.t. states or actions, so "
                             f"{type(self).__name__} cannot optimise it; make reward_fn / the goal map "
                             "differentiable torch code (no numpy, no .item(), no torch.no_grad) or plan "
                             "with a sampling planner (cem, icem, mppi)")

    def plan(self, z0: torch.Tensor, target: torch.Tensor | None = None,
             init_actions: torch.Tensor | None = None, generator: torch.Generator | None = None,
             callback: PlanCallback | None = None) -> PlanResult:
        """Plan actions from ``z0`` that minimise the objective for ``target``.

        Args:
            z0: ``(B, D)`` start latents; target: ``(B, G)`` per-problem targets of the objective
                (goal latents ``(B, D)`` for the default :class:`LatentGoal`; ``None`` for an
                objective without one, such as :class:`Return`).
            init_actions: optional ``(B, T, A)`` warm start in env units (clipped to bounds).
            generator: random source; the planner's own (seeded from ``config.seed``) if None.
            callback: called with a :class:`~grasp_agent.types.PlanStep` after each update.

        Raises:
            TypeError, ValueError: invalid inputs or config (the message names the problem), or
                a model whose ``predict``/``rollout`` returns the wrong type or shape (checked
                with one extra ``predict`` on up to two starts, not counted in ``model_calls``).

        Returns:
            :class:`~grasp_agent.types.PlanResult`; ``actions`` finite and inside the bounds.
        """
        self._validate_config()  # the config may have been edited since construction
        z0, goal, init_u = self._check_inputs(z0, target, init_actions)
        self._check_model(z0)
        self._check_objective(z0, goal)
        gen = self.generator if generator is None else generator
        budget = getattr(self.config, "time_budget_s", None)
        start, cpu_start = time.perf_counter(), time.process_time()
        deadline = None if budget is None else start + budget
        chunk = getattr(self.config, "max_batch", z0.shape[0])
        was_training = self.model.training
        # Planning differentiates w.r.t. actions and states only: freezing the weights skips
        # their (wasted) gradients and leaves the user's model .grad untouched.
        grad_flags = [p.requires_grad for p in self.model.parameters()]
        self.model.eval().requires_grad_(False)
        try:
            parts = []
            for i in range(0, z0.shape[0], chunk):
                sl = slice(i, i + chunk)
                parts.append(self._plan(z0[sl], goal[sl], None if init_u is None else init_u[sl],
                                        gen, callback, deadline))
        finally:
            self.model.train(was_training)
            for param, flag in zip(self.model.parameters(), grad_flags):
                param.requires_grad_(flag)
        u = self.project_(torch.cat([p[0] for p in parts]).detach())
        actions = self.to_env(u)
        with torch.no_grad():
            cost, _ = rollout_cost(self.model, z0, goal, actions, chunk, self.objective)
        info = _merge_info([p[2] for p in parts], [p[0].shape[0] for p in parts])
        info["wall_time_s"] = time.perf_counter() - start
        # CPU seconds of this process (all its threads): unlike wall time, not inflated when
        # other jobs share the cores, so timings from a loaded machine stay comparable.
        info["cpu_time_s"] = time.process_time() - cpu_start
        info["model_calls"] = info.get("model_calls", 0) + self.horizon
        states = torch.nan_to_num(torch.cat([p[1] for p in parts]).detach())
        return PlanResult(actions=actions, states=states, cost=cost, info=info)


def _merge_info(infos: list[dict[str, Any]], sizes: list[int]) -> dict[str, Any]:
    """Merge chunk infos: counters add up, per-iteration histories average by chunk size."""
    if len(infos) == 1:
        return dict(infos[0])
    merged: dict[str, Any] = {"chunks": len(infos)}
    total = float(sum(sizes))
    for key, value in infos[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            merged[key] = sum(i[key] for i in infos) if key.endswith(("calls", "_s")) else value
        elif key == "history":
            merged[key] = {
                name: [sum(i[key][name][k] * s for i, s in zip(infos, sizes)) / total
                       for k in range(min(len(i[key][name]) for i in infos))]
                for name in value}
        else:
            merged[key] = value
    return merged
