"""Planner agents: one MPC agent class per planner, identical apart from the planner.

All of them are :class:`grasp_agent.agent_planner.PlannerAgent` (warm-started MPC, batched
``predict``, goal handling, save/load); only ``default_planner`` differs. ``planner_config``
takes the matching config (``CEMConfig`` for ``CEMAgent``...).

Example::

    agent = CEMAgent.from_env(env, model, horizon=50, replan_every=5,
                              planner_config=CEMConfig(iterations=5, num_samples=256))
"""

from __future__ import annotations

from grasp_agent.agent import GRASPAgent
from grasp_agent.agent_planner import PlannerAgent, PlanState


class CEMAgent(PlannerAgent):
    """MPC with the cross-entropy method (``planner_config``: ``CEMConfig``)."""

    default_planner = "cem"


class MPPIAgent(PlannerAgent):
    """MPC with MPPI (``planner_config``: ``MPPIConfig``)."""

    default_planner = "mppi"


class GDAgent(PlannerAgent):
    """MPC with gradient shooting through the rollout (``planner_config``: ``GDConfig``)."""

    default_planner = "gd"


class LatCoAgent(PlannerAgent):
    """MPC with LatCo collocation (``planner_config``: ``LatCoConfig``)."""

    default_planner = "latco"


__all__ = ["PlannerAgent", "PlanState", "GRASPAgent", "CEMAgent", "MPPIAgent", "GDAgent", "LatCoAgent"]
