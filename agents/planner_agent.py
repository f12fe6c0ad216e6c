"""A model-predictive-control agent around any :class:`~grasp_agent.planners.Planner`.

Per env it keeps the current plan ``(T, A)`` and how many of its actions were executed. An
env replans when it has no plan (first step, after ``episode_start`` or :meth:`reset`), when
``replan_every`` actions were executed (MPC), or, with ``open_loop=True`` (the paper's
protocol: plan once, execute), when all ``T`` actions were executed. All envs that replan at
a step are planned in ONE ``planner.plan`` call (two when the planner plans warm starts apart,
``Planner.plans_warm_starts_apart``: GRASP with ``warm_iterations``, and only some envs have a
plan). The warm start of a
replan is the unexecuted tail of the previous plan shifted to the front, the end refilled
(``tail_fill``: the mid-range action ``"zero"`` or a repeat of the ``"last"`` planned action);
envs without a previous plan start from the mid-range action, which is the planners' own cold
start.

The planner minimises the agent's ``objective`` (:mod:`grasp_agent.planners.objectives`): a goal
latent by default; :meth:`PlannerAgent.from_env` picks it from the env (:mod:`grasp_agent.agents.tasks`:
a goal in the ``achieved_goal`` space through a goal head, a predicted return through a reward
head). A model that takes ``k`` env actions per step (``action_block``, see
:mod:`grasp_agent.models.blocks`) plans ``(B, T, k * A)``; the agent executes the ``k`` actions of
a block one env step at a time and replans only at block boundaries, so ``horizon`` and
``replan_every`` count model steps (blocks) and a plan covers ``T * k`` env steps.

Planning is deterministic given the planner's seeded generator, so ``deterministic`` in
:meth:`predict` is accepted and ignored.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from grasp_agent.agents.base import Agent
from grasp_agent.agents.checks import check_graph_start, check_objective_fits, check_state_graph
from grasp_agent.agents.mpc_state import (  # noqa: F401  (PlanState, latent_goal_wrapped: public here too)
    HORIZON_MODES,
    TAIL_FILLS,
    PlanState,
    block_size,
    latent_goal_wrapped,
    shifted_plans,
)
from grasp_agent.agents.observations import GoalObservationReader
from grasp_agent.agents.tasks import objective_for_env
from grasp_agent.models.base import WorldModel
from grasp_agent.models.blocks import block_action_space
from grasp_agent.planners import Planner
from grasp_agent.planners.graph_cost import GraphCostToGo
from grasp_agent.planners.objectives import LatentGoal, Objective
from grasp_agent.planners.registry import planner_name, resolve_planner
from grasp_agent.planners.state_graph import StateGraph
from grasp_agent.types import PlanResult

logger = logging.getLogger(__name__)


class PlannerAgent(Agent):
    """MPC with a world model and any planner (see the module docstring).

    Args:
        model: the :class:`~grasp_agent.WorldModel`.
        action_space: the env's ``Box`` action space (use ``DiscreteToBoxWrapper`` for Discrete).
        planner: a short name, a ``Planner`` subclass, or a built ``Planner`` instance (then
            ``horizon``/``planner_config``/``device`` are taken from it); ``None`` uses the
            class's ``default_planner`` (``"grasp"`` here, ``"cem"`` for ``CEMAgent``...).
        planner_config: the planner's config dataclass (copied, never mutated); defaults if None.
        horizon: planning horizon ``T``.
        replan_every: actions executed between replans in MPC mode (``1..T``).
        open_loop: plan once and execute all ``T`` actions before replanning.
        warm_start: seed each replan with the shifted previous plan.
        tail_fill: ``"zero"`` (mid-range action) or ``"last"`` (repeat the last planned action).
        goal: a fixed goal (same form as one observation) for envs without ``desired_goal``.
        latent_goals: observations are already latents (see :mod:`grasp_agent.agents.observations`).
        observation_space: the env's observation space (validates shapes; optional).
        time_budget_s: wall-clock budget per planner call (anytime planning); overrides the
            config's ``time_budget_s``.
        horizon_mode: what ``horizon`` means when replanning. ``"receding"`` (default): every
            plan covers the next ``horizon`` steps, so the arrival step moves with each replan.
            ``"shrinking"``: the goal is to be reached by step ``horizon`` of a window that
            starts at the episode start; each replan plans only the steps left in the window
            (warm-started with the unexecuted rest of the previous plan), and once the window is
            used up a new one of ``horizon`` steps starts. With a cost on the final state only,
            shrinking MPC commits to an arrival step, which receding MPC never does.
        device: planner device (``None`` follows the model).
        objective: what the planner minimises (:mod:`grasp_agent.planners.objectives`); ``None``
            keeps a built planner's objective, else a goal latent (:class:`LatentGoal`).
            ``from_env`` picks one from the env.
        action_block: env actions per model step ``k``; ``None`` infers it from the model's
            ``action_dim`` (a multiple of the env's action size).
        heads: the ``TaskHeads`` the objective uses (saved with the agent); optional.
        state_graph: the :class:`~grasp_agent.planners.StateGraph` GRASP's ``init="graph"``
            plans on (``train_from_env(...).state_graph()`` or ``StateGraph.from_buffer(buffer,
            model)``; saved with the agent); only for planners that take one.
    """

    default_planner: str = "grasp"

    def __init__(self, model: WorldModel, action_space: spaces.Box,
                 planner: str | type[Planner] | Planner | None = None, planner_config: Any = None,
                 horizon: int = 50, replan_every: int = 1, open_loop: bool = False,
                 warm_start: bool = True, tail_fill: str = "zero", goal: Any = None,
                 latent_goals: bool | None = None, observation_space: spaces.Space | None = None,
                 time_budget_s: float | None = None, device: str | torch.device | None = None,
                 horizon_mode: str = "receding", objective: Objective | None = None,
                 action_block: int | None = None, heads: Any = None, state_graph: Any = None) -> None:
        if not isinstance(action_space, spaces.Box):
            raise TypeError(f"planner agents need a Box action space, got {type(action_space).__name__}; "
                            "wrap Discrete envs in grasp_agent.wrappers.DiscreteToBoxWrapper")
        super().__init__(action_space, observation_space)
        self.action_block = block_size(model, action_space, action_block)
        k = self.action_block
        plan_space = action_space if k == 1 else block_action_space(action_space, k)
        if isinstance(planner, Planner):
            if planner.model is not model:
                raise ValueError("the given planner was built for another world model; pass the same model")
            self.planner = planner
            self.planner.config = dataclasses.replace(planner.config)
        else:
            cls = resolve_planner(self.default_planner if planner is None else planner)
            config = cls.config_class() if planner_config is None else dataclasses.replace(planner_config)
            self.planner = cls(model, plan_space, horizon, config, device=device)
        if objective is not None or not isinstance(planner, Planner):
            self.planner.objective = LatentGoal() if objective is None else objective
        self.heads = heads
        self.model = model
        if state_graph is not None:
            self.state_graph = state_graph
        self.horizon = self.planner.horizon
        if isinstance(replan_every, bool) or not isinstance(replan_every, (int, np.integer)) \
                or not 1 <= replan_every <= self.horizon:
            raise ValueError(f"replan_every must be an int in [1, horizon={self.horizon}], got "
                             f"{replan_every!r}")
        if tail_fill not in TAIL_FILLS:
            raise ValueError(f"unknown tail_fill {tail_fill!r}; valid: {list(TAIL_FILLS)}")
        if horizon_mode not in HORIZON_MODES:
            raise ValueError(f"unknown horizon_mode {horizon_mode!r}; valid: {list(HORIZON_MODES)}")
        self.horizon_mode = horizon_mode
        self._short_planners: dict[int, Planner] = {}
        self.replan_every = int(replan_every)
        self.open_loop = bool(open_loop)
        self.warm_start = bool(warm_start)
        self.tail_fill = tail_fill
        self.reader = GoalObservationReader(model, observation_space, latent_goals)
        self.reader.check_encodes()
        check_objective_fits(self.planner, model, self.reader.latent, observation_space)
        check_graph_start(self.planner, model)
        self.goal = None if goal is None else np.asarray(goal)
        if time_budget_s is not None:
            self.time_budget_s = time_budget_s
        self.last_plan: PlanResult | None = None
        #: ``(env indices, result)`` of every planner call made by the last :meth:`predict`.
        self.last_plans: list[tuple[np.ndarray, PlanResult]] = []
        self.plan_calls = 0

    # ------------------------------------------------------------------ settings
    @property
    def planner_name(self) -> str:
        """Short name of the planner class (``grasp``, ``cem``...; the class name otherwise)."""
        return planner_name(type(self.planner)) or type(self.planner).__name__

    @property
    def objective(self) -> Objective:
        """The planner's :class:`~grasp_agent.planners.objectives.Objective`."""
        return self.planner.objective

    def _target_dim(self) -> int | None:
        """``None`` for goal latents (the reader's own rules), else the objective's target size."""
        if isinstance(self.objective, LatentGoal):
            return None
        return self.objective.target_dim(self.model.latent_dim)

    @property
    def state_graph(self) -> StateGraph | None:
        """The planner's :class:`~grasp_agent.planners.StateGraph` (``None``: none, or a planner
        that takes none)."""
        return getattr(self.planner, "state_graph", None)

    @state_graph.setter
    def state_graph(self, graph: StateGraph | None) -> None:
        check_state_graph(self.planner, self.model, graph, self.planner_name)
        self.planner.state_graph = graph

    @property
    def time_budget_s(self) -> float | None:
        """Wall-clock budget per planner call (``None`` = run all iterations)."""
        return getattr(self.planner.config, "time_budget_s", None)

    @time_budget_s.setter
    def time_budget_s(self, value: float | None) -> None:
        if not hasattr(self.planner.config, "time_budget_s"):
            raise TypeError(f"{type(self.planner.config).__name__} has no time_budget_s")
        if value is not None and (isinstance(value, bool) or not value > 0):
            raise ValueError(f"time_budget_s must be a positive number of seconds or None, got {value!r}")
        self.planner.config.time_budget_s = None if value is None else float(value)

    def set_goal(self, goal: Any) -> None:
        """Fix the goal used when observations carry no ``desired_goal`` (``None`` clears it)."""
        self.goal = None if goal is None else np.asarray(goal)

    def reset(self, seed: int | None = None) -> None:
        """Drop every plan; with ``seed``, re-seed the planner's generator too."""
        super().reset(seed)
        if seed is not None:
            self.planner.reset_generator(int(seed))

    @classmethod
    def from_env(cls, env: Any, model: WorldModel, heads: Any = None, running: bool | None = None,
                 cost_to_go: StateGraph | None = None, **kwargs: Any) -> PlannerAgent:
        """Build with the spaces of ``env`` (a ``gym.Env`` or an SB3 ``VecEnv``).

        ``latent_goals`` is read off the wrapper chain (``LatentGoalWrapper``), the objective is
        picked from the env (:func:`~grasp_agent.agents.tasks.objective_for_env`: a goal latent,
        a goal in the ``achieved_goal`` space through ``heads``' goal head, or the return
        predicted by ``heads``' reward head) unless ``objective=`` is given, and the env is
        attached with ``set_env`` so SB3 callbacks (``EvalCallback``) find it. Explicit
        ``kwargs`` win over what is read from ``env``. Shapes and the objective are checked
        here, not at the first ``predict``.

        With ``planner_config=GRASPConfig.preset("graph")`` pass ``state_graph=`` too
        (``train_from_env(...).state_graph()``): the plan starts along the data's shortest path to
        the node nearest the goal (goal tasks only).

        Args:
            heads: ``TaskHeads`` (``train_from_env(...).heads``) for envs whose goals are not
                observations, or whose task is a reward.
            running: goal objectives picked here: charge the goal distance at every step
                (default: yes when replanning with a receding horizon, so MPC commits to the
                goal; no for ``open_loop`` or ``horizon_mode="shrinking"``).
            cost_to_go: a :class:`~grasp_agent.planners.StateGraph` of the model's data: score
                the plan's final state by its path length to the goal through it
                (:class:`~grasp_agent.planners.GraphCostToGo`, weight 1) instead of the straight
                goal distance, for receding-horizon MPC where walls stand between agent and goal
                (any planner; goal tasks only).
        """
        kwargs.setdefault("latent_goals", latent_goal_wrapped(env))
        kwargs.setdefault("observation_space", env.observation_space)
        if kwargs.get("objective") is None:
            mpc = not kwargs.get("open_loop", False) and kwargs.get("horizon_mode", "receding") == "receding"
            objective = objective_for_env(env.observation_space, model, heads, kwargs.get("goal"),
                                          mpc if running is None else running)
            if isinstance(objective, LatentGoal) and running is None:
                objective = LatentGoal()  # goals that are observations: the paper's terminal cost
            kwargs["objective"] = objective
        if cost_to_go is not None:
            kwargs["objective"] = GraphCostToGo(kwargs["objective"], cost_to_go)
        agent = cls(model, env.action_space, heads=heads, **kwargs)
        agent.set_env(env)
        return agent

    def save(self, path: Any) -> None:
        """Atomically save model, planner class and config, and the agent settings to ``path``."""
        from grasp_agent.agents.io import save_planner_agent

        save_planner_agent(self, path)

    @classmethod
    def load(cls, path: Any, device: str | torch.device = "cpu", objective: Objective | None = None
             ) -> PlannerAgent:
        """Rebuild an agent written by :meth:`save` (its own class, e.g. ``GRASPAgent``); pass
        ``objective`` again when it was the user's own functions (they are not saved)."""
        from grasp_agent.agents.io import load_planner_agent

        agent = load_planner_agent(path, device, objective)
        if not isinstance(agent, cls):
            raise TypeError(f"{path!r} holds a {type(agent).__name__}, not a {cls.__name__}; load it with "
                            f"{type(agent).__name__}.load or grasp_agent.agents.io.load_planner_agent")
        return agent

    # ------------------------------------------------------------------ MPC
    def new_state(self, batch_size: int) -> PlanState:
        """A state of ``batch_size`` envs, none of which has a plan."""
        t, a = self.horizon, self.model.action_dim
        mid = self.planner.to_env(torch.zeros(batch_size, t, a, device=self.planner.device))
        return PlanState(mid, np.zeros(batch_size, np.int64), np.zeros(batch_size, bool),
                         np.zeros(batch_size, np.int64))

    def _warm_start(self, state: PlanState, idx: np.ndarray) -> torch.Tensor | None:
        """``(len(idx), T, A)`` shifted previous plans (mid-range where there is none)."""
        if not self.warm_start or not state.valid[idx].any():
            return None
        return shifted_plans(state, idx, self.planner.to_env, self.tail_fill)

    def _needs_plan(self, state: PlanState) -> np.ndarray:
        limit = self.horizon if self.open_loop else self.replan_every
        need = ~state.valid | (state.executed >= limit)
        if self.horizon_mode == "shrinking":
            need |= state.elapsed >= self.horizon
        return need

    def _planner_for(self, horizon: int) -> Planner:
        """The agent's planner, or a copy of it (same model, bounds, config) for a shorter horizon."""
        if horizon == self.horizon:
            return self.planner
        if horizon not in self._short_planners:
            self._short_planners[horizon] = self.planner.for_horizon(horizon)
        short = self._short_planners[horizon]
        if short.objective is not self.planner.objective:
            short.objective = self.planner.objective
        if hasattr(short, "state_graph"):  # GRASP's init="graph": the graph set on the agent's planner
            short.state_graph = self.planner.state_graph
        return short

    def _replan(self, state: PlanState, idx: np.ndarray, z0: torch.Tensor, z_goal: torch.Tensor | None
                ) -> None:
        """Plan for the envs ``idx`` (one planner call per distinct horizon) and store the plans."""
        self.last_plans = []
        if self.horizon_mode == "receding":
            groups = [idx]
            valid = state.valid[idx]
            if self.planner.plans_warm_starts_apart and valid.any() and not valid.all():
                groups = [idx[~valid], idx[valid]]
            for group in groups:
                sel = torch.as_tensor(group, device=z0.device)
                result = self.planner.plan(z0[sel], None if z_goal is None else z_goal[sel],
                                           init_actions=self._warm_start(state, group))
                state.actions[sel] = result.actions.detach()
                self.last_plans.append((group, result))
        else:
            fresh = ~state.valid[idx] | (state.elapsed[idx] >= self.horizon)
            state.elapsed[idx[fresh]] = 0  # a new window (episode start or the old one used up)
            start = state.elapsed[idx]
            for s in np.unique(start):  # envs at the same window step share one planner call
                group = idx[start == s]
                sel = torch.as_tensor(group, device=z0.device)
                rows = sel.to(state.actions.device)
                keep = state.valid[group] & (state.elapsed[group] > 0)
                init = None
                if self.warm_start and keep.any():  # the unexecuted rest of the previous plan
                    mid = self.planner.to_env(torch.zeros_like(state.actions[rows, s:]))
                    init = torch.where(torch.as_tensor(keep, device=mid.device).view(-1, 1, 1),
                                       state.actions[rows, s:], mid)
                planner = self._planner_for(self.horizon - int(s))
                result = planner.plan(z0[sel], None if z_goal is None else z_goal[sel], init_actions=init,
                                      generator=self.planner.generator)
                state.actions[rows, s:] = result.actions.detach()
                self.last_plans.append((group, result))
        state.executed[idx], state.valid[idx] = 0, True
        self.last_plan = self.last_plans[-1][1]
        self.plan_calls += len(self.last_plans)

    def predict(self, observation: Any, state: PlanState | None = None,
                episode_start: np.ndarray | None = None, deterministic: bool = False
                ) -> tuple[np.ndarray, PlanState]:
        """Actions for one observation ``-> (A,)`` or a VecEnv batch ``-> (B, A)``.

        Args:
            state: the :class:`PlanState` returned by the previous call. ``None`` with
                ``episode_start=None`` uses the agent's own state (plain ``predict(obs)``
                loops); ``None`` with ``episode_start`` given starts fresh (SB3 evaluators).
            episode_start: ``(B,)`` bools; those envs drop their plan and warm start.
            deterministic: ignored (planning is seeded and deterministic).
        """
        z0, z_goal, single = self.reader.read(observation, self.goal, self.planner.device, self._target_dim())
        b = z0.shape[0]
        own = state is None and episode_start is None
        if own:
            state = self._state
        if state is not None and not isinstance(state, PlanState):
            raise TypeError(f"state must be the PlanState returned by predict (or None), got "
                            f"{type(state).__name__}")
        if state is None or state.batch_size != b:
            state = self.new_state(b)
        if episode_start is not None:
            starts = np.asarray(episode_start, dtype=bool).reshape(-1)
            if starts.shape[0] != b:
                raise ValueError(f"episode_start has {starts.shape[0]} entries for {b} observations")
            state.valid[starts] = False
            state.sub[starts] = 0
        need = self._needs_plan(state) & (state.sub == 0)  # blocks are executed whole
        self.last_plans = []
        if need.any():
            self._replan(state, np.flatnonzero(need), z0, z_goal)
        rows = torch.arange(b, device=state.actions.device)
        step = state.elapsed if self.horizon_mode == "shrinking" else state.executed
        cols = torch.as_tensor(step, device=state.actions.device)
        block = state.actions[rows, cols].cpu().numpy()  # (B, k * A)
        k = self.action_block
        if k > 1:
            block = block.reshape(b, k, -1)[np.arange(b), state.sub]
        actions = self.clip_actions(block)
        state.sub += 1
        done = state.sub >= k  # the block is executed: the next model step
        state.sub[done] = 0
        state.executed += done
        state.elapsed += done
        if own:
            self._state = state
        return (actions[0] if single else actions), state
