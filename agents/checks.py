"""Checks a planner agent makes when it is built (not at the first ``predict``).

* :func:`check_objective_fits`: the objective's targets match the env's goals; its goal map runs.
* :func:`check_state_graph`: a graph given to a planner that plans from one, built for its model.
* :func:`check_graph_start`: GRASP's ``init="graph"`` has a terminal cost to head for.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from grasp_agent.models.base import WorldModel
from grasp_agent.planners import Planner
from grasp_agent.planners.objectives import LatentGoal
from grasp_agent.planners.state_graph import StateGraph


def check_objective_fits(planner: Planner, model: WorldModel, latent_observations: bool,
                         observation_space: spaces.Space | None) -> None:
    """The planner's objective takes goals of the env's ``desired_goal`` size, is not fed latent
    observations it would encode again, and its goal map runs on a latent ``(1, D)``."""
    objective = planner.objective
    if isinstance(objective, LatentGoal):  # goal latents: the observation reader's own rules
        return
    g = objective.target_dim(model.latent_dim)
    kind = type(objective).__name__
    if latent_observations and isinstance(observation_space, spaces.Dict):
        raise ValueError(f"the {kind} objective plans from encoded observations; do not wrap the env in "
                         "LatentGoalWrapper (or pass latent_goals=False)")
    spaces_ = getattr(observation_space, "spaces", {})
    if isinstance(observation_space, spaces.Dict) and "desired_goal" in spaces_ and g > 0:
        shape = tuple(spaces_["desired_goal"].shape)
        if int(np.prod(shape)) != g:
            raise ValueError(f"the env's desired_goal has shape {shape} but the {kind} objective takes "
                             f"goals of {g} entries; build the goal map (or goal head) for this env's "
                             "achieved_goal")
    goal_map = getattr(objective, "goal_map", None)
    if goal_map is not None:
        with torch.no_grad():
            goal_map(torch.zeros(1, model.latent_dim, device=planner.device))


def check_state_graph(planner: Planner, model: WorldModel, graph: Any, planner_name: str) -> None:
    """``graph`` (or None) may be set on ``planner``: the planner takes one (GRASP), it is a
    :class:`StateGraph`, and its nodes have the model's latent size."""
    if not hasattr(planner, "state_graph"):
        raise TypeError(f"the {planner_name} planner does not plan from a state graph; only GRASP "
                        "does (GRASPConfig(init='graph'), e.g. GRASPConfig.preset('graph'))")
    if graph is None:
        return
    if not isinstance(graph, StateGraph):
        raise TypeError(f"state_graph must be a StateGraph (StateGraph.from_buffer(buffer, model)), "
                        f"got {type(graph).__name__}")
    if graph.nodes.shape[1] != model.latent_dim:
        raise ValueError(f"the state graph's nodes have {graph.nodes.shape[1]} dims but the model's "
                         f"latent has {model.latent_dim}; build the graph with this model's "
                         "encoder (StateGraph.from_buffer(buffer, model))")


def check_graph_start(planner: Planner, model: WorldModel) -> None:
    """GRASP's ``init="graph"`` heads for the state-graph node of least terminal cost, so the
    planner's objective must have a terminal cost (not a reward task's return)."""
    if getattr(planner.config, "init", None) != "graph":
        return
    objective, d = planner.objective, model.latent_dim
    z = torch.zeros(1, d, device=planner.device)
    target = torch.zeros(1, objective.target_dim(d), device=planner.device)
    with torch.no_grad():
        cost = objective.terminal_cost(z, target)
    if cost is None:
        raise ValueError(f'GRASPConfig(init="graph") heads for the state-graph node of least terminal '
                         f"cost, but the {type(objective).__name__} objective has none (a reward "
                         "task); use a goal objective, or init='line' or 'icem'")
