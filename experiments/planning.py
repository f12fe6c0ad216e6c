"""Planners of experiment configs: ``type`` is a name of :data:`grasp_agent.planners.PLANNERS`.

A config's ``planners: {x: {type: name, params: {...}}}`` builds the registered planner class
with its config dataclass filled from ``params`` (validated field by field). The GRASP
ablations are ``type: grasp`` with a switch in ``params`` (``use_noise: false``,
``stop_gradient: false``, ``use_sync: false``, ``use_goal_term: false``). A planner with
``init: graph`` (GRASP) plans from a :class:`~grasp_agent.planners.StateGraph` of the world
model's training data, passed in as ``state_graph`` (:func:`needs_state_graph`). A planner with
``disagreement: w > 0`` minimises its objective plus ``w`` times the ensemble model's
disagreement per step (:func:`with_disagreement`); one with ``cost_to_go: w > 0`` scores the
plan's final state by its path length to the goal through the state graph
(:func:`planner_objective`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

import torch

from grasp_agent.agents import PlannerAgent, make_agent
from grasp_agent.experiments.config import ConfigError, from_dict
from grasp_agent.experiments.schema import PlannerSpec
from grasp_agent.models.base import WorldModel
from grasp_agent.planners.base import Planner
from grasp_agent.planners.graph_cost import GraphCostToGo
from grasp_agent.planners.objectives import LatentGoal, Objective
from grasp_agent.planners.penalties import DisagreementPenalty
from grasp_agent.planners.registry import PLANNERS
from grasp_agent.planners.state_graph import StateGraph

logger = logging.getLogger(__name__)


def planner_classes(kind: str) -> tuple[type[Planner], type]:
    """The planner class and its config dataclass registered as ``kind``.

    Raises:
        ConfigError: for a name that is not registered (the message lists the registered ones).
    """
    if kind not in PLANNERS:
        raise ConfigError(f"unknown planner type {kind!r}; registered planners: {sorted(PLANNERS)} "
                          "(register others with grasp_agent.planners.register_planner)")
    cls = PLANNERS[kind]
    return cls, cls.config_class


def starts_from_graph(spec: PlannerSpec) -> bool:
    """Whether the planner ``spec`` is a GRASP with ``init: graph`` (it takes ``state_graph``)."""
    return spec.params.get("init") == "graph"


def needs_state_graph(spec: PlannerSpec) -> bool:
    """Whether the planner ``spec`` plans with a state graph (``init: graph`` or ``cost_to_go``)."""
    return starts_from_graph(spec) or spec.cost_to_go > 0


def _require_graph(spec: PlannerSpec, state_graph: StateGraph | None) -> None:
    if needs_state_graph(spec) and state_graph is None:
        what = "init: graph" if starts_from_graph(spec) else "cost_to_go"
        raise ConfigError(f"planner {spec.type} with {what} needs a state graph of the world "
                          "model's training data, and this run's model has none (models saved "
                          "before 2026-12-02 or trained without such a planner); train it again")


def attach_state_graph(planner: Planner, spec: PlannerSpec, state_graph: StateGraph | None) -> Planner:
    """Give ``planner`` the graph its ``init: graph`` needs (a clear error when there is none)."""
    _require_graph(spec, state_graph)
    if starts_from_graph(spec):
        planner.state_graph = state_graph
    return planner


def planner_objective(spec: PlannerSpec, model: WorldModel, objective: Objective | None = None,
                      state_graph: StateGraph | None = None) -> Objective | None:
    """What the planner ``spec`` minimises: ``objective`` (default: a goal latent), scored by
    the cost-to-go through ``state_graph`` if ``spec.cost_to_go`` (:class:`GraphCostToGo`),
    plus the disagreement penalty if ``spec.disagreement`` (:func:`with_disagreement`);
    ``objective`` unchanged when neither is set."""
    if spec.cost_to_go:
        _require_graph(spec, state_graph)
        objective = GraphCostToGo(LatentGoal() if objective is None else objective, state_graph,
                                  spec.cost_to_go)
    return with_disagreement(spec, model, objective)


def with_disagreement(spec: PlannerSpec, model: WorldModel, objective: Objective | None = None
                      ) -> Objective | None:
    """``objective`` (default: a goal latent) plus ``spec.disagreement`` times ``model``'s
    disagreement per step, or ``objective`` unchanged when ``spec.disagreement`` is 0.

    Raises:
        ConfigError: a penalty on a model without ``disagreement`` (not an ensemble).
    """
    if not spec.disagreement:
        return objective
    if not callable(getattr(model, "disagreement", None)):
        raise ConfigError(f"planner {spec.type} has disagreement: {spec.disagreement}, but the world model "
                          f"{type(model).__name__} has no disagreement(z, a); use model.type: ensemble "
                          "or set disagreement: 0")
    return DisagreementPenalty(LatentGoal() if objective is None else objective, model, spec.disagreement)


def make_planner(spec: PlannerSpec, model: WorldModel, action_space: Any, horizon: int,
                 device: str | torch.device | None = None, state_graph: StateGraph | None = None,
                 **param_overrides: Any) -> Planner:
    """Build the planner ``spec`` describes (params validated against its config dataclass)."""
    cls, config_cls = planner_classes(spec.type)
    params = {**spec.params, **param_overrides}
    config = from_dict(config_cls, params, f"planner {spec.type} params")
    planner = cls(model, action_space, horizon, config=config, device=device,
                  objective=planner_objective(spec, model, state_graph=state_graph))
    return attach_state_graph(planner, spec, state_graph)


WARMUP_ITERATIONS = 2


def make_planner_agent(spec: PlannerSpec, model: WorldModel, env: Any, horizon: int, mode: str,
                       replan_every: int, device: str | torch.device | None = None,
                       state_graph: StateGraph | None = None) -> PlannerAgent:
    """The agent a user would build for ``spec`` on ``env``: open loop, or shrinking-horizon MPC.

    ``mode`` is ``"open_loop"`` (plan once, execute ``horizon`` actions) or ``"mpc"`` (reach
    the goal by step ``horizon``, replanning the remaining steps every ``replan_every``).
    """
    cls, config_cls = planner_classes(spec.type)
    config = from_dict(config_cls, dict(spec.params), f"planner {spec.type} params")
    _require_graph(spec, state_graph)
    graph = state_graph if starts_from_graph(spec) else None
    return make_agent(spec.type, model=model, action_space=env.action_space,
                      observation_space=env.observation_space, planner_config=config, horizon=horizon,
                      open_loop=mode == "open_loop", replan_every=min(replan_every, horizon),
                      horizon_mode="shrinking", latent_goals=False, device=device,
                      objective=planner_objective(spec, model, state_graph=state_graph), state_graph=graph)


def warmup(spec: PlannerSpec, model: WorldModel, action_space: Any, horizon: int,
           device: str | torch.device | None, state_graph: StateGraph | None = None) -> None:
    """Plan one tiny problem with a short copy of ``spec`` (not timed, result discarded).

    Planners whose config has an ``iterations`` field run ``WARMUP_ITERATIONS`` of them; others
    (a user's registered planner) run their configured plan once.
    """
    fields = {f.name for f in dataclasses.fields(planner_classes(spec.type)[1])}
    short = {"iterations": WARMUP_ITERATIONS} if "iterations" in fields else {}
    planner = make_planner(spec, model, action_space, horizon, device=device, state_graph=state_graph,
                           **short)
    z = torch.zeros(1, model.latent_dim, device=planner.device)
    planner.plan(z, z)


def evaluate_planners(envs: list[Any], model: WorldModel, planners: dict[str, PlannerSpec],
                      tasks: list[Any], horizon: int, modes: list[str], replan_every: int,
                      plan_batch: int, latent_success_mse: float, device: str, seed: int,
                      progress: bool = False, desc: str = "plan", timing_tasks: int = 0,
                      state_graph: StateGraph | None = None
                      ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run every (planner, mode) on the same ``tasks``; return summary rows and task records.

    Tasks are planned in batches of ``plan_batch`` (one env of ``envs`` per task of a batch);
    each batch re-seeds the planner's generator with ``seed + batch index`` so results do not
    depend on which planners ran before. Each planner first plans one throw-away problem
    (``WARMUP_ITERATIONS`` iterations), so one-time costs (allocator, autograd and optimiser
    set-up) are not charged to the first task's time.

    With ``timing_tasks > 0`` and ``plan_batch > 1`` the first ``timing_tasks`` tasks are
    planned again, one per call, and their records get ``timed_plan_time_s``,
    ``timed_plan_cpu_s`` and ``timed_success`` (the other records NaN / None); the summary's
    time columns then come from those single-task runs (see :func:`summarize`). ``state_graph``:
    the graph of planners with ``init: graph`` (:func:`attach_state_graph`).
    """
    from tqdm.auto import tqdm

    from grasp_agent.experiments.evaluation import run_tasks, summarize

    rows, records = [], []
    combos = [(name, mode) for name in planners for mode in modes]
    timed = min(timing_tasks, len(tasks)) if plan_batch > 1 else 0
    bar = tqdm(total=len(combos) * (len(tasks) + timed), desc=desc, disable=not progress, leave=False)
    for name, mode in combos:
        agent = make_planner_agent(planners[name], model, envs[0], horizon, mode, replan_every, device,
                                   state_graph)
        warmup(planners[name], model, envs[0].action_space, horizon, device, state_graph)
        task_records = []
        for k, i in enumerate(range(0, len(tasks), plan_batch)):
            agent.reset(seed=seed + k)
            batch = tasks[i:i + plan_batch]
            task_records += run_tasks(envs, agent, batch, latent_success_mse)
            bar.update(len(batch))
        if timed:
            _time_single_tasks(envs, agent, tasks, task_records, timed, latent_success_mse, seed, bar)
        for r in task_records:
            r.update(planner=name, mode=mode, horizon=horizon)
        records += task_records
        rows.append({"planner": name, "mode": mode, "horizon": horizon, **summarize(task_records)})
        logger.info("%s %s/%s: success %.2f (model %.2f), median plan time %.3g s", desc, name, mode,
                    rows[-1]["success_rate"], rows[-1]["model_success_rate"],
                    rows[-1]["median_plan_time_s"])
    bar.close()
    return rows, records


TIMING_SEED_OFFSET = 1_000_000


def _time_single_tasks(envs: list[Any], agent: PlannerAgent, tasks: list[Any],
                       task_records: list[dict[str, Any]], count: int, latent_success_mse: float,
                       seed: int, bar: Any) -> None:
    """Plan ``tasks[:count]`` one per call and add their exact times to ``task_records``."""
    from grasp_agent.experiments.evaluation import run_tasks

    for j, record in enumerate(task_records):
        record.update(timed_plan_time_s=math.nan, timed_plan_cpu_s=math.nan, timed_success=None)
        if j >= count:
            continue
        agent.reset(seed=seed + TIMING_SEED_OFFSET + j)
        single = run_tasks(envs, agent, [tasks[j]], latent_success_mse)[0]
        record.update(timed_plan_time_s=single["plan_time_s"], timed_plan_cpu_s=single["plan_cpu_s"],
                      timed_success=single["success"])
        bar.update(1)
