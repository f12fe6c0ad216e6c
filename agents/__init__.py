"""Agents behind one act/observe/predict interface; ``make_agent(name, ...)`` builds them by name."""

from grasp_agent.agents.base import Agent
from grasp_agent.agents.named import CEMAgent, GDAgent, GRASPAgent, ICEMAgent, LatCoAgent, MPPIAgent
from grasp_agent.agents.planner_agent import PlannerAgent, PlanState
from grasp_agent.agents.random_agent import GoalDirectedAgent, RandomAgent
from grasp_agent.agents.registry import agent_names, make_agent
from grasp_agent.agents.sb3_agent import SB3Agent

__all__ = ["Agent", "PlannerAgent", "PlanState", "GRASPAgent", "CEMAgent", "MPPIAgent", "GDAgent",
           "LatCoAgent", "ICEMAgent",
           "RandomAgent", "GoalDirectedAgent", "SB3Agent", "make_agent", "agent_names"]
