"""Plan, execute in the real environment, and score: the evaluation protocol of every experiment.

For each task (a seeded reset with ``options={"min_path_length": L}``) a planner plans from
``encode(observation)`` to ``encode(desired_goal)``; the actions are executed in the real env.

Per task we record:

- ``success``: the real env reported ``is_success`` at some step within the horizon;
- ``model_success``: the first plan reaches the goal *under the world model* (state models:
  the env's own success test on the predicted observations; pixel models with a decoder: the
  env's success test on the decoded images; otherwise latent MSE to the goal latent below
  ``latent_success_mse``);
- ``failure``: ``none``, ``model`` (the model believed the plan works, reality disagreed) or
  ``planner`` (the planner found no plan that works even under its own model);
- ``plan_time_s``: planning wall time spent on the task (batched calls split evenly), and
  ``time_to_success_s`` (the same, for successful tasks only); ``plan_cpu_s`` and
  ``cpu_time_to_success_s``: the same in process CPU time, which other jobs on the machine do
  not inflate (with one torch thread it is the planner's own compute time);
- ``model_mse`` / ``model_final_mse``: the world model's open-loop error along the executed
  trajectory (latent MSE per step, mean and last), and ``model_dist`` / ``model_final_dist``
  (the env's task metric between predicted and real observations, state models only).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from grasp_agent.agents.planner_agent import PlannerAgent
from grasp_agent.models.base import WorldModel
from grasp_agent.models.latent import LatentWorldModel

logger = logging.getLogger(__name__)

MAX_TASK_TRIES_PER_TASK = 50


@dataclass
class Task:
    """A reproducible start/goal pair: ``env.reset(seed=seed, options=options)`` recreates it."""

    seed: int
    options: dict[str, Any]
    observation: np.ndarray
    desired_goal: np.ndarray
    oracle_path_length: int | None


def sample_tasks(env: gym.Env, count: int, min_path_length: int, horizon: int, seed: int,
                 require_feasible: bool = True) -> list[Task]:
    """Sample ``count`` tasks needing at least ``min_path_length`` steps.

    Seeds ``seed, seed + 1, ...`` are tried in order; with ``require_feasible`` a task whose
    ``info["oracle_path_length"]`` exceeds ``horizon`` is skipped (no plan of that length can
    solve it).

    Raises:
        ValueError: if too few feasible tasks exist (raise ``horizon`` or lower the length).
    """
    options = {"min_path_length": int(min_path_length)} if min_path_length > 0 else {}
    tasks: list[Task] = []
    for s in range(seed, seed + MAX_TASK_TRIES_PER_TASK * count):
        obs, info = env.reset(seed=s, options=dict(options))
        oracle = info.get("oracle_path_length")
        if require_feasible and oracle is not None and oracle > horizon:
            continue
        tasks.append(Task(s, dict(options), np.array(obs["observation"]), np.array(obs["desired_goal"]),
                          None if oracle is None else int(oracle)))
        if len(tasks) == count:
            return tasks
    raise ValueError(f"found only {len(tasks)} of {count} tasks with min_path_length="
                     f"{min_path_length} and oracle length <= horizon {horizon} in "
                     f"{MAX_TASK_TRIES_PER_TASK * count} seeds; raise the horizon or lower the length")


def _state_model(model: WorldModel, obs: np.ndarray) -> bool:
    """True when the latent space is the (flat, float) observation space (identity encoder)."""
    return obs.dtype != np.uint8 and int(np.prod(obs.shape)) == model.latent_dim


def _model_success(env: gym.Env, model: WorldModel, pred: np.ndarray, goal_obs: np.ndarray,
                   goal_z: np.ndarray, latent_mse: float) -> bool:
    """Does the predicted latent trajectory ``(T, D)`` reach the goal at some step?"""
    shaped = None
    if _state_model(model, goal_obs):
        shaped = pred.reshape(pred.shape[0], *goal_obs.shape).astype(goal_obs.dtype)
    elif goal_obs.dtype == np.uint8 and goal_obs.ndim == 3 and isinstance(model, LatentWorldModel):
        with torch.no_grad():  # decoded images (N, 3, H, W) in [0, 1] -> uint8 (N, H, W, 3)
            img = model.decode(torch.as_tensor(pred, device=model.device)).clamp(0, 1)
        if tuple(img.shape[1:]) == (goal_obs.shape[2], *goal_obs.shape[:2]):
            shaped = (img * 255).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
    if shaped is not None:
        goals = np.broadcast_to(goal_obs, shaped.shape)
        reward = env.unwrapped.compute_reward(shaped, goals, {})
        return bool(np.any(np.asarray(reward) == 0.0))
    return bool(np.any(((pred - goal_z[None]) ** 2).mean(-1) < latent_mse))


@torch.no_grad()
def _model_error(env: gym.Env, model: WorldModel, observations: list[np.ndarray],
                 actions: np.ndarray) -> dict[str, float]:
    """Open-loop model error along an executed trajectory ``o_0..o_k`` with actions ``(k, A)``."""
    if len(actions) == 0:
        return {"model_mse": 0.0, "model_final_mse": 0.0}
    device = model.device
    obs = torch.as_tensor(np.stack(observations), device=device)
    z_real = model.encode(obs)
    a = torch.as_tensor(actions, device=device, dtype=torch.float32)[None]
    z_pred = model.rollout(z_real[:1], a)[0]
    mse = ((z_pred - z_real[1:]) ** 2).mean(-1).cpu().numpy()
    out = {"model_mse": float(mse.mean()), "model_final_mse": float(mse[-1])}
    metric = getattr(env.unwrapped, "goal_distance", None)
    if metric is not None and _state_model(model, observations[0]):
        pred = z_pred.cpu().numpy().reshape(-1, *observations[0].shape)
        dist = np.asarray(metric(pred.astype(observations[0].dtype), np.stack(observations[1:])))
        out.update(model_dist=float(dist.mean()), model_final_dist=float(dist[-1]))
    return out


def _stack(observations: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """A VecEnv-style batch ``{key: (B, ...)}`` of goal-dict observations."""
    return {k: np.stack([o[k] for o in observations]) for k in observations[0]}


def run_tasks(envs: list[gym.Env], agent: PlannerAgent, tasks: list[Task],
              latent_success_mse: float = 0.01) -> list[dict[str, Any]]:
    """Run ``agent`` on ``tasks`` in lockstep on ``envs`` (one env per task, ``len(envs) >= B``).

    The agent is the one users run (:class:`~grasp_agent.agents.PlannerAgent`); its settings
    are the protocol: ``open_loop=True`` plans once and executes all ``agent.horizon`` actions;
    MPC (``open_loop=False``) with ``horizon_mode="shrinking"`` plans to reach the goal by step
    ``agent.horizon``, executes ``replan_every`` actions and replans the remaining steps from
    the real observation, warm-started with the rest of the previous plan. Each step the
    observations of the envs whose episode still runs go to ``agent.predict`` as one batch, so
    every replan is one batched planner call over those envs. Episodes end at success,
    termination or ``agent.horizon`` steps.

    Returns:
        One record per task (see the module docstring for the keys).
    """
    b, horizon, model = len(tasks), agent.horizon, agent.model
    if len(envs) < b:
        raise ValueError(f"need one env per task: {len(envs)} envs for {b} tasks")
    obs_now: list[dict[str, np.ndarray]] = []
    for env, task in zip(envs, tasks):
        obs, _ = env.reset(seed=task.seed, options=dict(task.options))
        if not np.array_equal(obs["observation"], task.observation):
            raise RuntimeError(f"env reset with seed {task.seed} is not reproducible; "
                               "evaluation needs deterministic resets")
        obs_now.append(obs)
    goals = [o["desired_goal"] for o in obs_now]
    with torch.no_grad():
        goal_z = model.encode(torch.as_tensor(np.stack(goals), device=model.device)).cpu().numpy()
    trajectories = [[o["observation"]] for o in obs_now]
    executed: list[list[np.ndarray]] = [[] for _ in range(b)]
    plan_time, plan_cpu = np.zeros(b), np.zeros(b)
    success, done = np.zeros(b, dtype=bool), np.zeros(b, dtype=bool)
    steps_to_success = np.full(b, -1)
    touches = np.zeros(b, dtype=int)
    model_success = np.zeros(b, dtype=bool)
    planned = np.zeros(b, dtype=bool)
    state = agent.new_state(b)
    for step in range(horizon):
        active = np.flatnonzero(~done)
        if len(active) == 0:
            break
        part = state.select(active)
        actions, part = agent.predict(_stack([obs_now[i] for i in active]), part)
        state.assign(active, part)
        for group, result in agent.last_plans:
            envs_of = active[group]
            plan_time[envs_of] += result.info["wall_time_s"] / len(group)
            plan_cpu[envs_of] += result.info["cpu_time_s"] / len(group)
            first = ~planned[envs_of]
            if first.any():  # does the first plan reach the goal under the model?
                _score_first_plans(envs, model, envs_of[first], result.actions[torch.as_tensor(first)],
                                   [obs_now[i]["observation"] for i in envs_of[first]], goals, goal_z,
                                   latent_success_mse, model_success)
                planned[envs_of] = True
        for j, i in enumerate(active):
            obs, _, terminated, truncated, info = envs[i].step(actions[j])
            executed[i].append(actions[j])
            trajectories[i].append(obs["observation"])
            obs_now[i] = obs
            touches[i] += int(bool(info.get("touches_obstacle", False)))
            if info.get("is_success", False):
                success[i], steps_to_success[i], done[i] = True, step + 1, True
            done[i] |= bool(terminated or truncated)
    records = []
    for i, task in enumerate(tasks):
        err = _model_error(envs[i], model, trajectories[i], np.asarray(executed[i], dtype=np.float32))
        failure = "none" if success[i] else ("model" if model_success[i] else "planner")
        records.append({
            "task_seed": task.seed, "oracle_path_length": task.oracle_path_length,
            "success": bool(success[i]), "model_success": bool(model_success[i]),
            "failure": failure, "steps_to_success": int(steps_to_success[i]),
            "plan_time_s": float(plan_time[i]),
            "time_to_success_s": float(plan_time[i]) if success[i] else math.nan,
            "plan_cpu_s": float(plan_cpu[i]),
            "cpu_time_to_success_s": float(plan_cpu[i]) if success[i] else math.nan,
            "obstacle_contacts": int(touches[i]), **err,
        })
    return records


def _score_first_plans(envs: list[gym.Env], model: WorldModel, ids: np.ndarray, actions: torch.Tensor,
                       observations: list[np.ndarray], goals: list[np.ndarray], goal_z: np.ndarray,
                       latent_mse: float, out: np.ndarray) -> None:
    """Set ``out[i]`` for the envs ``ids``: does their first plan ``(n, T, A)`` reach the goal (model)?"""
    with torch.no_grad():
        z0 = model.encode(torch.as_tensor(np.stack(observations), device=model.device))
        pred = model.rollout(z0, actions.to(model.device)).cpu().numpy()
    for j, i in enumerate(ids):
        out[i] = _model_success(envs[i], model, pred[j], goals[i], goal_z[i], latent_mse)


def summarize(records: list[dict[str, Any]]) -> dict[str, Any]:
    """Aggregate task records: success rates, median time to success, failure split, model error.

    Rates use every record. The model errors average the finite ones: a long open-loop model
    rollout can overflow (an MLP far outside its data), and one such task would make the mean
    NaN; ``model_diverged`` counts those tasks instead. Times use the single-task timing runs
    when the records carry them (``timed_success`` not None: ``eval.timing_tasks``), else every
    record's own (possibly batch-amortised) time; ``timed_tasks`` says how many timing runs
    there were.
    """
    n = len(records)

    def mean(key: str) -> float:
        vals = [r[key] for r in records if key in r and r[key] is not None and math.isfinite(r[key])]
        return float(np.mean(vals)) if vals else math.nan

    timed = [r for r in records if r.get("timed_success") is not None]
    if timed:  # exact single-task times measured beside a batched run (eval.timing_tasks)
        basis, wall, cpu, ok = timed, "timed_plan_time_s", "timed_plan_cpu_s", "timed_success"
    else:
        basis, wall, cpu, ok = records, "plan_time_s", "plan_cpu_s", "success"
    times = [r[wall] for r in basis if r[ok]]
    cpu_times = [r[cpu] for r in basis if r[ok]]
    return {
        "tasks": n,
        "success_rate": mean("success"),
        "model_success_rate": mean("model_success"),
        "median_time_to_success_s": float(np.median(times)) if times else math.nan,
        "median_plan_time_s": float(np.median([r[wall] for r in basis])),
        "median_cpu_time_to_success_s": float(np.median(cpu_times)) if cpu_times else math.nan,
        "timed_tasks": len(timed),
        "planner_failures": sum(r["failure"] == "planner" for r in records),
        "model_failures": sum(r["failure"] == "model" for r in records),
        "model_mse": mean("model_mse"),
        "model_final_dist": mean("model_final_dist"),
        "model_diverged": sum(r.get("model_mse") is not None and not math.isfinite(r["model_mse"])
                              for r in records),
    }
