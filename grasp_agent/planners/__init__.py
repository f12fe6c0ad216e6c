"""Planners behind one interface (:class:`Planner`) and one registry (:data:`PLANNERS`)."""

from grasp_agent.planners.base import Planner, rollout_cost
from grasp_agent.planners.cem import CEMConfig, CEMPlanner
from grasp_agent.planners.gd import GDConfig, GDPlanner
from grasp_agent.planners.graph_cost import GraphCostToGo
from grasp_agent.planners.grasp import GRASPConfig, GRASPPlanner
from grasp_agent.planners.icem import ICEMConfig, ICEMPlanner
from grasp_agent.planners.latco import LatCoConfig, LatCoPlanner
from grasp_agent.planners.mppi import MPPIConfig, MPPIPlanner
from grasp_agent.planners.objectives import CostFunction, GoalInSubspace, LatentGoal, Objective, Return
from grasp_agent.planners.penalties import DisagreementPenalty
from grasp_agent.planners.registry import (
    PLANNERS,
    config_class,
    planner_class,
    planner_name,
    register_planner,
    resolve_planner,
    unregister_planner,
)
from grasp_agent.planners.state_graph import StateGraph

for _name, _cls in (("grasp", GRASPPlanner), ("gd", GDPlanner), ("cem", CEMPlanner),
                    ("mppi", MPPIPlanner), ("latco", LatCoPlanner), ("icem", ICEMPlanner)):
    register_planner(_name, _cls)

__all__ = ["Planner", "rollout_cost", "GRASPPlanner", "GRASPConfig", "GDPlanner", "GDConfig",
           "CEMPlanner", "CEMConfig", "MPPIPlanner", "MPPIConfig", "LatCoPlanner", "LatCoConfig",
           "ICEMPlanner", "ICEMConfig", "Objective", "LatentGoal", "GoalInSubspace", "Return", "CostFunction",
           "DisagreementPenalty", "StateGraph", "GraphCostToGo",
           "PLANNERS", "register_planner", "unregister_planner", "planner_class", "config_class",
           "planner_name", "resolve_planner"]
