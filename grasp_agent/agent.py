"""GRASPAgent: model-predictive control with the GRASP planner, usable wherever SB3 expects a policy.

Example::

    env = gymnasium.make("grasp_agent/WallDoor-v0")
    agent = GRASPAgent.from_env(env, model, horizon=50, replan_every=5,
                                planner_config=GRASPConfig(iterations=30, sync_every=15))
    obs, _ = env.reset(seed=0); agent.reset()
    obs, reward, terminated, truncated, info = env.step(agent.act(obs))
    # SB3 tooling, batched over a VecEnv (one planner call for all envs per step):
    evaluate_policy(agent, DummyVecEnv([make_env] * 2), n_eval_episodes=4)

Everything except the planner lives in :class:`~grasp_agent.agent_planner.PlannerAgent` (MPC,
warm starts, batching, goals, save/load), so GRASP, CEM, MPPI, GD and LatCo agents behave
identically apart from the planner (``agents.make_agent(name, ...)``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from grasp_agent.agent_planner import PlannerAgent, PlanState
from grasp_agent.models.base import WorldModel

__all__ = ["GRASPAgent", "PlannerAgent", "PlanState", "latent_goal_wrapped", "agent_from_env"]


def latent_goal_wrapped(env: Any) -> bool:
    """Whether ``env`` (a gym env or an SB3 VecEnv) sees observations through ``LatentGoalWrapper``."""
    from wrappers.latent_goal import LatentGoalWrapper

    if hasattr(env, "env_is_wrapped"):  # SB3 VecEnv
        flags = env.env_is_wrapped(LatentGoalWrapper)
        return bool(flags) and all(flags)
    while isinstance(env, gym.Wrapper):
        if isinstance(env, LatentGoalWrapper):
            return True
        env = env.env
    return False


def agent_from_env(cls: type[PlannerAgent], env: Any, model: WorldModel, **kwargs: Any) -> PlannerAgent:
    """Build ``cls`` with the spaces of ``env`` and ``latent_goals`` read off its wrapper chain.

    ``env`` may be a ``gym.Env`` or an SB3 ``VecEnv``; it is attached with ``set_env`` so SB3
    callbacks (``EvalCallback``) find it. Explicit ``kwargs`` win over what is read from ``env``.
    """
    kwargs.setdefault("latent_goals", latent_goal_wrapped(env))
    kwargs.setdefault("observation_space", env.observation_space)
    agent = cls(model, env.action_space, **kwargs)
    agent.set_env(env)
    return agent


class GRASPAgent(PlannerAgent):
    """:class:`PlannerAgent` with the GRASP planner (``planner_config``: a ``GRASPConfig``).

    The planner's defaults (200 iterations, the author's code) suit open-loop planning; for
    MPC with a warm start far fewer iterations per replan suffice (e.g. ``GRASPConfig(
    iterations=30, sync_every=15, sync_steps=5)``; ``experiments/benchmarks/bench_agent.py``
    measures the step time). ``time_budget_s`` makes every replan anytime.
    """

    default_planner = "grasp"
