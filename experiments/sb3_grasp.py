"""The GRASP arm of the SB3 comparison: :class:`grasp_agent.dyna.DynaLoop` with a PlannerAgent.

What a user would run: ``DynaLoop(env, agent, model, learner=None, DynaConfig(...))`` where the
agent is the :class:`~grasp_agent.agents.PlannerAgent` of the configured planner in
shrinking-horizon MPC (reach the goal by step ``horizon`` of the episode, replan the remaining
steps every ``replan_every``). All counted in real env steps, the budget the SB3 agents get:

1. the first ``warmup_steps`` act uniformly at random (the loop's own seeded generator);
2. every ``train_every`` steps (one Dyna iteration) the world model is retrained, warm-started,
   on every real transition so far through :func:`grasp_agent.training.fit_world_model` with
   the config's ``train`` section; between retrains the agent plans with the current model.

:class:`DynaEvalCallback` (an SB3 ``BaseCallback`` the loop calls after every env step) logs
SB3's ``rollout/ep_rew_mean`` and ``rollout/ep_len_mean`` (last 100 finished episodes) and
``time/fps`` at episode ends, and every ``eval_every`` steps runs the agent on the fixed
evaluation tasks through :func:`grasp_agent.experiments.evaluation.run_tasks`
(``eval/success_rate``, ``eval/mean_reward``). The reward is the env's own sparse reward,
which equals the SB3 agents' latent reward under the identity encoder the comparison uses.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from grasp_agent.agents import PlannerAgent
from grasp_agent.dyna import DynaConfig, DynaLoop
from grasp_agent.experiments.evaluation import Task, run_tasks
from grasp_agent.experiments.pipeline import build_model, fit_config
from grasp_agent.experiments.planning import make_planner_agent
from grasp_agent.experiments.schema import DynaSection
from grasp_agent.utils import resolve_device

logger = logging.getLogger(__name__)

STATS_WINDOW = 100  # episodes in the rollout/ep_* means (SB3's stats_window_size)


class DynaEvalCallback(BaseCallback):
    """SB3's rollout statistics and periodic evaluation for an agent run by a ``DynaLoop``.

    Reads the loop's locals (``self``: the loop, ``ep``: the running episode, ``terminated``,
    ``truncated``) that ``DynaLoop`` hands over with ``update_locals``, and uses the loop's
    env-step counter as the x axis. An evaluation that falls on a retrain boundary (the last
    step of an iteration) waits for that retrain: it runs at the next step, or at the end.

    Args:
        eval_agent: the agent evaluated (planning with the loop's model); re-seeded with
            ``eval_seed`` before every evaluation, so a result depends only on the model.
        eval_envs: one env per task. tasks: the fixed evaluation tasks.
        eval_every: env steps between evaluations (and one at step 0).
        log: ``log(tag, value, step)`` for scalars.
        eval_seed: the planner seed of every evaluation.
    """

    def __init__(self, eval_agent: PlannerAgent, eval_envs: list[gym.Env], tasks: list[Task],
                 eval_every: int, log: Callable[[str, float, int], None], eval_seed: int = 0) -> None:
        super().__init__(verbose=0)
        self.eval_agent, self.eval_envs, self.tasks = eval_agent, eval_envs, tasks
        self.eval_every, self.log, self.eval_seed = eval_every, log, eval_seed
        #: one row per evaluation: env_steps, success_rate, mean_return, wall_time_s.
        self.rows: list[dict[str, Any]] = []
        self.finished: deque[tuple[float, int]] = deque(maxlen=STATS_WINDOW)  # (return, length)
        self.pending: int | None = None  # an evaluation waiting for the retrain at its step
        self.start = time.perf_counter()

    def evaluate(self, steps: int, trained: bool) -> None:
        """Run the evaluation tasks (no trained model yet: success 0, return ``-horizon``)."""
        horizon = self.eval_agent.horizon
        if not trained:
            success, ret = 0.0, -float(horizon)  # no model yet: the agent cannot plan
        else:
            self.eval_agent.reset(seed=self.eval_seed)
            records = run_tasks(self.eval_envs, self.eval_agent, self.tasks)
            success = float(np.mean([r["success"] for r in records]))
            ret = float(np.mean([-(r["steps_to_success"] if r["success"] else horizon) for r in records]))
        self.rows.append({"env_steps": steps, "success_rate": success, "mean_return": ret,
                          "wall_time_s": time.perf_counter() - self.start})
        self.log("eval/success_rate", success, steps)
        self.log("eval/mean_reward", ret, steps)
        logger.info("grasp (dyna): %d steps, success %.2f", steps, success)

    def _on_training_start(self) -> None:
        self.start = time.perf_counter()
        loop = self.locals["self"]
        if loop.total_steps == 0:
            self.evaluate(0, trained=False)

    def _on_step(self) -> bool:
        loop, ep = self.locals["self"], self.locals["ep"]
        steps = loop.total_steps
        if self.pending is not None:  # the retrain at that step has run since
            self.evaluate(self.pending, trained=loop.iteration > 0)
            self.pending = None
        if self.locals["terminated"] or self.locals["truncated"]:
            self.finished.append((float(sum(ep["rewards"])), len(ep["actions"])))
            self.log("rollout/ep_rew_mean", float(np.mean([r for r, _ in self.finished])), steps)
            self.log("rollout/ep_len_mean", float(np.mean([n for _, n in self.finished])), steps)
            self.log("time/fps", steps / max(time.perf_counter() - self.start, 1e-9), steps)
        if steps % self.eval_every == 0:
            if steps % loop.cfg.steps_per_iteration == 0:  # a retrain follows this step
                self.pending = steps
            else:
                self.evaluate(steps, trained=loop.iteration > 0)
        return True

    def _on_training_end(self) -> None:
        if self.pending is not None:
            self.evaluate(self.pending, trained=True)
            self.pending = None


def run_grasp_dyna(env: gym.Env, eval_envs: list[gym.Env], tasks: list[Task], cfg: DynaSection,
                   total_steps: int, eval_every: int, horizon: int, options: dict[str, Any], seed: int,
                   device: str, log: Callable[[str, float, int], None]) -> list[dict[str, Any]]:
    """Run the GRASP agent's Dyna loop on ``env``; returns the evaluation rows.

    Args:
        env: the collection env (resets with ``options``, seeds ``seed + episode``).
        eval_envs: one env per evaluation task.
        total_steps: real env steps (a multiple of ``cfg.train_every``).
        horizon: the planning horizon and the evaluation episode length.
        log: ``log(tag, value, step)``; also gets ``train/model_loss`` after every retrain.

    Returns:
        Rows ``{"env_steps", "success_rate", "mean_return", "wall_time_s"}``, one per
        evaluation (step 0 and every ``eval_every`` steps).
    """
    if total_steps % cfg.train_every:
        raise ValueError(f"total_steps={total_steps} must be a multiple of train_every={cfg.train_every}")
    model = build_model(cfg.model, env).to(resolve_device(device))
    agent = make_planner_agent(cfg.planner, model, env, horizon, "mpc", cfg.replan_every, device)
    eval_agent = make_planner_agent(cfg.planner, model, env, horizon, "mpc", cfg.replan_every, device)
    iterations = total_steps // cfg.train_every
    dyna_cfg = DynaConfig(iterations=iterations, steps_per_iteration=cfg.train_every,
                          random_steps=cfg.warmup_steps, fit=fit_config(cfg.train, device),
                          imagined_rollouts=0, buffer_capacity=2 * total_steps + 2,
                          reset_options=dict(options) or None, seed=seed)
    callback = DynaEvalCallback(eval_agent, eval_envs, tasks, eval_every, log, eval_seed=seed)
    history = DynaLoop(env, agent, model, learner=None, config=dyna_cfg, callback=callback).run()
    for stats in history:
        log("train/model_loss", stats.model_loss, (stats.iteration + 1) * cfg.train_every)
    return callback.rows
