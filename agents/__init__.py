"""Agents behind one act/observe/predict interface; ``make_agent(name, ...)`` builds them by name."""

from agents.planner_agent import CEMAgent, GDAgent, GRASPAgent, LatCoAgent, MPPIAgent, PlannerAgent, PlanState
from agents.random_agent import GoalDirectedAgent, RandomAgent
from agents.registry import AGENT_NAMES, PLANNER_AGENTS, make_agent
from agents.sb3_agent import SB3Agent
from grasp_agent.agent_base import Agent

__all__ = ["Agent", "PlannerAgent", "PlanState", "GRASPAgent", "CEMAgent", "MPPIAgent", "GDAgent",
           "LatCoAgent", "RandomAgent", "GoalDirectedAgent", "SB3Agent", "make_agent", "AGENT_NAMES",
           "PLANNER_AGENTS"]
