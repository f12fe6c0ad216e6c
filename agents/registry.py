"""Agents by name, so experiments swap them with one string.

``make_agent("grasp", env=env, model=world_model, horizon=50)`` builds a :class:`GRASPAgent`;
``"cem"``, ``"mppi"``, ``"gd"``, ``"latco"`` the same agent with that planner; ``"random"`` a
:class:`RandomAgent`; ``"goal_directed"`` a :class:`GoalDirectedAgent`; ``"sb3"`` wraps the SB3
model passed as ``model``.
"""

from __future__ import annotations

from typing import Any

from agents.planner_agent import CEMAgent, GDAgent, GRASPAgent, LatCoAgent, MPPIAgent, PlannerAgent
from agents.random_agent import GoalDirectedAgent, RandomAgent
from agents.sb3_agent import SB3Agent
from grasp_agent.agent_base import Agent

PLANNER_AGENTS: dict[str, type[PlannerAgent]] = {
    "grasp": GRASPAgent, "cem": CEMAgent, "mppi": MPPIAgent, "gd": GDAgent, "latco": LatCoAgent}
AGENT_NAMES = (*PLANNER_AGENTS, "random", "goal_directed", "sb3")


def make_agent(name: str, env: Any = None, model: Any = None, **kwargs: Any) -> Agent:
    """Build the agent called ``name`` (see the module docstring).

    Args:
        name: one of :data:`AGENT_NAMES` (case-insensitive).
        env: a gym env or SB3 VecEnv; supplies the spaces (and ``latent_goals``) and is attached
            with ``set_env``. Without it pass ``action_space=`` (and ``observation_space=``).
        model: the world model (planner agents) or the SB3 model (``"sb3"``).
        kwargs: the agent class's own arguments (``horizon``, ``planner_config``, ``seed``...).
    """
    key = name.lower()
    if key in PLANNER_AGENTS:
        if model is None:
            raise ValueError(f"make_agent({name!r}) needs model= (a grasp_agent.WorldModel)")
        cls = PLANNER_AGENTS[key]
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
        raise ValueError(f"unknown agent {name!r}; valid names: {list(AGENT_NAMES)}")
    if env is not None:
        agent.set_env(env)
    return agent
