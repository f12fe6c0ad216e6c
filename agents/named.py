"""Planner agents by planner: :class:`PlannerAgent` with a fixed default planner.

They differ from ``PlannerAgent(model, space, planner="cem")`` only in the default, so
``CEMAgent.load`` and ``isinstance`` checks read naturally. ``planner_config`` takes the
matching config (``CEMConfig`` for ``CEMAgent``...).

Example::

    env = gymnasium.make("grasp_agent/WallDoor-v0")
    agent = GRASPAgent.from_env(env, model, horizon=50, replan_every=5,
                                planner_config=GRASPConfig(iterations=30, sync_every=15))
    obs, _ = env.reset(seed=0); agent.reset()
    obs, reward, terminated, truncated, info = env.step(agent.act(obs))
    # SB3 tooling, batched over a VecEnv (one planner call for all envs per step):
    evaluate_policy(agent, DummyVecEnv([make_env] * 2), n_eval_episodes=4)
"""

from __future__ import annotations

from grasp_agent.agents.planner_agent import PlannerAgent


class GRASPAgent(PlannerAgent):
    """MPC with the GRASP planner (``planner_config``: a ``GRASPConfig``).

    The planner's defaults (200 iterations, the authors' code) suit open-loop planning; for
    MPC with a warm start far fewer iterations per replan suffice (e.g. ``GRASPConfig(
    iterations=30, sync_every=15, sync_steps=5)``; ``experiments/benchmarks/bench_agent.py``
    measures the step time). ``time_budget_s`` makes every replan anytime.
    """

    default_planner = "grasp"


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


class ICEMAgent(PlannerAgent):
    """MPC with iCEM, colored-noise CEM whose elites follow the warm start (``planner_config``:
    ``ICEMConfig``)."""

    default_planner = "icem"


#: The named agent class of a planner name; other registered planners use ``PlannerAgent``.
NAMED_AGENTS: dict[str, type[PlannerAgent]] = {
    cls.default_planner: cls for cls in (GRASPAgent, CEMAgent, MPPIAgent, GDAgent, LatCoAgent, ICEMAgent)}
