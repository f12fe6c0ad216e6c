"""Planners behind one interface (:class:`Planner`)."""

from grasp_agent.planners.base import Planner, rollout_cost
from grasp_agent.planners.cem import CEMConfig, CEMPlanner
from grasp_agent.planners.gd import GDConfig, GDPlanner
from grasp_agent.planners.grasp import GRASPConfig, GRASPPlanner
from grasp_agent.planners.latco import LatCoConfig, LatCoPlanner
from grasp_agent.planners.mppi import MPPIConfig, MPPIPlanner

__all__ = ["Planner", "rollout_cost", "GRASPPlanner", "GRASPConfig", "GDPlanner", "GDConfig",
           "CEMPlanner", "CEMConfig", "MPPIPlanner", "MPPIConfig", "LatCoPlanner", "LatCoConfig",
           "PLANNERS"]

#: Planner classes by the short names experiments and agents use.
PLANNERS = {"grasp": GRASPPlanner, "gd": GDPlanner, "cem": CEMPlanner, "mppi": MPPIPlanner,
            "latco": LatCoPlanner}
