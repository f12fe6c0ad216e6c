"""Agents by name, so experiments swap them with one string.

Every planner in :data:`grasp_agent.planners.PLANNERS` is an agent name:
``make_agent("grasp", env=env, model=world_model, horizon=50)`` builds a :class:`GRASPAgent`,
``"cem"`` a :class:`CEMAgent`..., and a planner registered with
:func:`grasp_agent.planners.register_planner` a :class:`PlannerAgent` around it. Besides them:
``"random"`` (:class:`RandomAgent`), ``"goal_directed"`` (:class:`GoalDirectedAgent`) and
``"sb3"`` (wraps the SB3 model passed as ``model``).
"""

from __future__ import annotations

from typing import Any

from grasp_agent.agents.base import Agent
from grasp_agent.agents.named import NAMED_AGENTS
from grasp_agent.agents.planner_agent import PlannerAgent
from grasp_agent.agents.random_agent import GoalDirectedAgent, RandomAgent
from grasp_agent.agents.sb3_agent import SB3Agent
from grasp_agent.planners.registry import PLANNERS

#: Agent names that are not planners.
OTHER_AGENTS = ("random", "goal_directed", "sb3")


def agent_names() -> list[str]:
    """Every name :func:`make_agent` accepts: the registered planners, then the others."""
    return [*PLANNERS, *OTHER_AGENTS]


def make_agent(name: str, env: Any = None, model: Any = None, **kwargs: Any) -> Agent:
    """Build the agent called ``name`` (see the module docstring).

    Args:
        name: a registered planner name or one of ``random``, ``goal_directed``, ``sb3``
            (case-insensitive).
        env: a gym env or SB3 VecEnv; supplies the spaces (and ``latent_goals``) and is attached
            with ``set_env``. Without it pass ``action_space=`` (and ``observation_space=``).
        model: the world model (planner agents) or the SB3 model (``"sb3"``).
        kwargs: the agent class's own arguments (``horizon``, ``planner_config``, ``seed``...).
    """
    key = name.lower() if isinstance(name, str) else name
    if key in PLANNERS:
        if model is None:
            raise ValueError(f"make_agent({name!r}) needs model= (a grasp_agent.WorldModel)")
        cls = NAMED_AGENTS.get(key, PlannerAgent)
        if cls is PlannerAgent:
            kwargs.setdefault("planner", key)
        if env is not None:
            return cls.from_env(env, model, **kwargs)
        if "action_space" not in kwargs:
            raise ValueError(f"make_agent({name!r}) needs env= or action_space=")
        return cls(model, **kwargs)
    if key in ("random", "goal_directed"):
        if env is not None:
            kwargs.setdefault("action_space", env.action_space)
            kwargs.setdefault("observation_space", env.observation_space)
        if "action_space" not in kwargs:
            raise ValueError(f"make_agent({name!r}) needs env= or action_space=")
        agent: Agent = (RandomAgent if key == "random" else GoalDirectedAgent)(**kwargs)
    elif key == "sb3":
        if model is None:
            raise ValueError("make_agent('sb3') needs model= (a stable_baselines3 model)")
        agent = SB3Agent(model, **kwargs)
    else:
        raise ValueError(f"unknown agent {name!r}; valid names: {agent_names()}")
    if env is not None:
        agent.set_env(env)
    return agent
