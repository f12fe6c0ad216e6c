"""A Dyna-style GRASP agent loop: collect with MPC, retrain the world model, repeat.

Phases, all counted in real env steps (the budget the SB3 baselines get too):

1. ``warmup_steps`` uniform-random actions;
2. then every ``train_every`` steps the world model is (re)trained (warm-started) on
   everything collected, and between trainings the agent acts by shrinking-horizon MPC: plan
   with the configured planner from ``encode(observation)`` to ``encode(desired_goal)`` to
   arrive by step ``horizon`` of the episode, execute ``replan_every`` actions, replan
   (warm-started with the rest of the plan).

Evaluation (every ``eval_every`` steps) runs the same MPC controller on the fixed evaluation
tasks through :func:`grasp_agent.experiments.evaluation.run_tasks`. Like SB3's agents, the loop logs
``rollout/ep_rew_mean`` and ``rollout/ep_len_mean`` (over the last 100 collection episodes)
and ``time/fps`` at the end of every episode. The reward is the env's own sparse reward, which
equals the SB3 agents' latent reward under the identity encoder the comparison uses.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from grasp_agent.experiments.evaluation import Task, run_tasks, shrunk_planner
from grasp_agent.experiments.pipeline import Transitions, build_model, train_model
from grasp_agent.experiments.planning import make_planner
from grasp_agent.experiments.schema import DynaSection

logger = logging.getLogger(__name__)

_STATS_WINDOW = 100  # episodes in the rollout/ep_* means (SB3's stats_window_size)


def run_dyna(env: gym.Env, eval_envs: list[gym.Env], tasks: list[Task], cfg: DynaSection,
             total_steps: int, eval_every: int, horizon: int, seed: int, device: str,
             log: Callable[[str, float, int], None]) -> list[dict[str, Any]]:
    """Run the Dyna loop on ``env`` (resets with the task options pinned); returns eval rows."""
    rng = np.random.default_rng(seed)
    space = env.action_space
    # every real transition is kept for retraining: preallocated for the whole step budget, so
    # memory is fixed up front and a retraining slices instead of re-stacking
    obs_shape = env.observation_space["observation"].shape
    obs_buf = np.zeros((total_steps, *obs_shape), np.float32)
    act_buf = np.zeros((total_steps, *space.shape), np.float32)
    next_buf = np.zeros((total_steps, *obs_shape), np.float32)
    model = build_model(cfg.model, env)
    planner = None
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    obs, _ = env.reset(seed=seed)
    plan: np.ndarray | None = None
    plan_pos = 0
    episode = episode_step = 0
    episode_return = 0.0
    finished: deque[tuple[float, int]] = deque(maxlen=_STATS_WINDOW)  # (return, length)

    def evaluate(steps: int) -> None:
        if planner is None:
            success, ret = 0.0, -float(horizon)  # no model yet: the agent cannot plan
        else:
            records = run_tasks(eval_envs, model, planner, tasks, cfg.replan_every)
            success = float(np.mean([r["success"] for r in records]))
            ret = float(np.mean([-(r["steps_to_success"] if r["success"] else horizon) for r in records]))
        rows.append({"env_steps": steps, "success_rate": success, "mean_return": ret,
                     "wall_time_s": time.perf_counter() - start})
        log("eval/success_rate", success, steps)
        log("eval/mean_reward", ret, steps)
        logger.info("grasp (dyna): %d steps, success %.2f", steps, success)

    evaluate(0)
    for step in range(1, total_steps + 1):
        if planner is None:
            action = rng.uniform(space.low, space.high).astype(space.dtype)
        else:
            if plan is None or plan_pos >= min(cfg.replan_every, len(plan)):
                with torch.no_grad():
                    z0 = model.encode(torch.as_tensor(obs["observation"][None], device=model.device))
                    g = model.encode(torch.as_tensor(obs["desired_goal"][None], device=model.device))
                # shrinking horizon: reach the goal by step `horizon` of the episode (at least
                # replan_every steps ahead once the episode runs past it)
                remaining = max(horizon - episode_step, cfg.replan_every)
                init = None
                if plan is not None and len(plan) - plan_pos == remaining:
                    init = torch.as_tensor(plan[plan_pos:][None], device=model.device)
                step_planner = planner if remaining == horizon else shrunk_planner(planner, remaining)
                result = step_planner.plan(z0, g, init_actions=init, generator=planner.generator)
                plan = result.actions[0].detach().cpu().numpy()
                plan_pos = 0
            action = plan[plan_pos].astype(space.dtype)
            plan_pos += 1
        nxt, reward, terminated, truncated, _ = env.step(action)
        episode_step += 1
        episode_return += float(reward)
        obs_buf[step - 1], act_buf[step - 1] = obs["observation"], action
        next_buf[step - 1] = nxt["observation"]
        obs = nxt
        if terminated or truncated:
            finished.append((episode_return, episode_step))
            log("rollout/ep_rew_mean", float(np.mean([r for r, _ in finished])), step)
            log("rollout/ep_len_mean", float(np.mean([n for _, n in finished])), step)
            log("time/fps", step / max(time.perf_counter() - start, 1e-9), step)
            episode += 1
            episode_return = 0.0
            obs, _ = env.reset(seed=seed + episode)
            plan, episode_step = None, 0
        if step >= cfg.warmup_steps and (step - cfg.warmup_steps) % cfg.train_every == 0:
            data = Transitions(obs_buf[:step], act_buf[:step], next_buf[:step], np.zeros(step, bool), 0.0)
            metrics = train_model(model, data, cfg.train, device)
            log("train/val_loss", metrics["train/best_val_loss"], step)
            planner = make_planner(cfg.planner, model, space, horizon, device=device)
            plan = None
        if step % eval_every == 0:
            evaluate(step)
    return rows
