"""Planners behind one interface (:class:`Planner`)."""

from grasp_agent.planners.base import Planner, rollout_cost

__all__ = ["Planner", "rollout_cost"]
