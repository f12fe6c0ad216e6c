"""Which objective a planner agent minimises, picked from the env (and saved with the agent).

:func:`objective_for_env` reads the env's observation space:

* goal-``Dict`` whose ``achieved_goal`` has the observation's shape (goals are observations, as in
  this package's envs): :class:`~grasp_agent.planners.objectives.LatentGoal`, the goal encoded like
  an observation;
* goal-``Dict`` whose ``achieved_goal`` is another space (Gymnasium-Robotics: a position, the
  observation position and velocity): :class:`~grasp_agent.planners.objectives.GoalInSubspace`
  through the learned goal head (``TaskHeads.achieved``, from ``train_from_env``); the planner
  gets ``desired_goal`` as it is;
* ``Box`` observations: the predicted return through the learned reward head (and termination
  head, if trained): :class:`~grasp_agent.planners.objectives.Return`; or, with ``goal=``, a
  :class:`LatentGoal` to that fixed goal observation.

Goal objectives picked here charge the distance at every step (``running``) when the agent
replans with a receding horizon, so that it commits to reaching the goal, and at the last step
otherwise (open loop, shrinking horizon).

:func:`objective_spec` / :func:`objective_from_spec` write and rebuild the choice for
:meth:`PlannerAgent.save`: objectives built from the heads or from goal indices round-trip; a
user's own functions cannot be saved (no pickling) and must be passed again to ``load``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from gymnasium import spaces

from grasp_agent.models.base import WorldModel
from grasp_agent.planners.graph_cost import GraphCostToGo
from grasp_agent.planners.objectives import GoalInSubspace, LatentGoal, Objective, Return
from grasp_agent.planners.state_graph import StateGraph


def _head_built(heads: Any, name: str) -> bool:
    return heads is not None and heads.has(name)


def _goal_head_objective(heads: Any, running: bool) -> GoalInSubspace:
    return GoalInSubspace(heads.achieved, int(heads.goal_dim), running=running, name="goal_head")


def _reward_head_objective(heads: Any, discount: float = 1.0) -> Return:
    termination = heads.termination if _head_built(heads, "termination") else None
    return Return(heads.reward, termination, discount)


def objective_for_env(observation_space: spaces.Space | None, model: WorldModel, heads: Any = None,
                      goal: Any = None, running: bool = False) -> Objective:
    """The objective for an env with ``observation_space`` (see the module docstring).

    Args:
        model: the world model (its latent size). heads: ``TaskHeads`` or None.
        goal: the agent's fixed goal (an observation) for envs without ``desired_goal``.
        running: for goal objectives: charge the distance at every step.

    Raises:
        TypeError: a Discrete (or other non-Box) observation space.
        ValueError: no way to score plans: a goal in a subspace without a goal head, a Box env
            without a reward head and without ``goal=``; or a goal head of the wrong size.
    """
    space = observation_space
    if isinstance(space, spaces.Dict) and "desired_goal" in space.spaces:
        obs = space.spaces.get("observation")
        achieved = space.spaces.get("achieved_goal", space["desired_goal"])
        if obs is not None and tuple(achieved.shape) == tuple(obs.shape):
            return LatentGoal(running=running)
        g = int(np.prod(space["desired_goal"].shape))
        if not _head_built(heads, "goal"):
            raise ValueError(
                f"the env's goals (achieved_goal/desired_goal of shape {tuple(achieved.shape)}) live in "
                f"another space than its observations {None if obs is None else tuple(obs.shape)}, so the "
                "planner needs a map from latents to goals: pass heads= (train_from_env learns a goal head "
                "on such envs: heads=trained.heads) or objective=GoalInSubspace(...) (e.g. "
                "GoalInSubspace.from_indices([0, 1]) when the goal is the first two state entries)")
        if int(heads.goal_dim) != g:
            raise ValueError(f"the goal head predicts goals of size {heads.goal_dim} but the env's "
                             f"desired_goal has {g} entries; train the heads on this env")
        return _goal_head_objective(heads, running)
    if space is not None and not isinstance(space, (spaces.Box, spaces.Dict)):
        raise TypeError("planner agents need Box observations (or a Dict of Boxes), got "
                        f"{type(space).__name__}; one-hot or embed Discrete observations in a wrapper")
    if goal is not None:
        return LatentGoal(running=running)
    if _head_built(heads, "reward"):
        return _reward_head_objective(heads)
    raise ValueError("nothing to plan for: the env has no desired_goal, no goal= was given and there is no "
                     "reward head; pass heads= (train_from_env learns a reward head on reward-defined envs), "
                     "goal=, or objective=Return(reward_fn)")


def objective_spec(objective: Objective, heads: Any = None) -> dict[str, Any]:
    """A plain, saveable description of ``objective`` (``kind`` ``"custom"`` for user functions)."""
    if isinstance(objective, LatentGoal):
        return {"kind": "latent_goal", "running": objective.running}
    if isinstance(objective, GoalInSubspace):
        if objective.indices is not None:
            return {"kind": "goal_indices", "indices": list(objective.indices), "running": objective.running}
        if heads is not None and objective.achieved == getattr(heads, "achieved", None):
            return {"kind": "goal_head", "running": objective.running}
    if isinstance(objective, GraphCostToGo):
        inner = objective_spec(objective.objective, heads)
        if inner["kind"] != "custom":
            return {"kind": "graph_cost_to_go", "objective": inner, "weight": objective.weight,
                    "goal_nodes": objective.goal_nodes, "graph": objective.graph.state_dict()}
    if isinstance(objective, Return) and heads is not None \
            and objective.reward_fn == getattr(heads, "reward", None):
        return {"kind": "reward_head", "discount": objective.discount}
    return {"kind": "custom", "description": {k: str(v) for k, v in objective.describe().items()}}


def objective_from_spec(spec: dict[str, Any], heads: Any = None) -> Objective | None:
    """Rebuild an objective saved by :func:`objective_spec`; ``None`` for a ``"custom"`` one."""
    kind = spec.get("kind")
    if kind == "latent_goal":
        return LatentGoal(running=bool(spec["running"]))
    if kind == "goal_indices":
        return GoalInSubspace.from_indices(spec["indices"], running=bool(spec["running"]))
    if kind in ("goal_head", "reward_head"):
        if heads is None:
            raise ValueError(f"the saved objective uses the task heads ({kind}) but the file holds none")
        if kind == "goal_head":
            return _goal_head_objective(heads, bool(spec["running"]))
        return _reward_head_objective(heads, float(spec["discount"]))
    if kind == "graph_cost_to_go":
        inner = objective_from_spec(spec["objective"], heads)
        return GraphCostToGo(inner, StateGraph.from_state_dict(spec["graph"]), float(spec["weight"]),
                             int(spec["goal_nodes"]))
    if kind == "custom":
        return None
    raise ValueError(f"unknown saved objective kind {kind!r}")
