"""Planners behind one interface (:class:`Planner`)."""

from grasp_agent.planners.base import Planner, rollout_cost
from grasp_agent.planners.cem import CEMConfig, CEMPlanner
from grasp_agent.planners.gd import GDConfig, GDPlanner
from grasp_agent.planners.grasp import GRASPConfig, GRASPPlanner

__all__ = ["Planner", "rollout_cost", "GRASPPlanner", "GRASPConfig", "GDPlanner", "GDConfig",
           "CEMPlanner", "CEMConfig"]
