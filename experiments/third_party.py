"""Third-party benchmarks: GRASP, CEM and MPPI agents versus SAC (+HER) on the same env steps.

``python -m grasp_agent.experiments run third_party`` (``tox -e third-party``) runs, for every env
of the config (Gymnasium's ``Pendulum-v1``, Gymnasium-Robotics' ``PointMaze_UMaze-v3`` and
``FetchReach-v4``; ``pip install 'grasp-agent[robotics]'`` for the latter two):

1. :func:`grasp_agent.training.train_from_env` collects ``env_steps`` random steps (or each of
   the budgets ``planner_steps``, for a curve) and trains a world model with its task heads
   (``heads="auto"``: a goal head where the goal lives in a subspace of the observation, a
   reward head on reward tasks);
2. every planner of ``planners`` (or the env's own ``planners`` list of them) acts through
   ``<Agent>.from_env(env, model, heads=...)`` (the agents users build; the objective is read off
   the env; a GRASP with ``init: graph`` also gets ``state_graph=trained.state_graph()``, the
   graph of the model's data, on goal envs, and a planner with ``cost_to_go`` scores its plans
   by the path length to the goal through that graph) in ``eval_episodes`` episodes run by
   SB3's ``evaluate_policy`` on a ``DummyVecEnv`` (one batched planner call per step; episode
   ``k`` is reset seed ``eval_seed + k``), recording the plan time per step and the world
   model's one-step and ``error_horizon``-step latent error on those episodes;
3. SB3's SAC (with ``HerReplayBuffer`` on goal envs) trains for the same ``env_steps`` and is
   evaluated on the same episodes every ``sac.eval_every`` steps.

The metric is the success rate (the env's ``is_success`` / ``success`` at any step) on goal
envs and the mean return on reward envs. Outputs: ``metrics.json``/``.csv`` (one row per agent
and evaluation point), ``results.md``, ``plots/<env>.png`` (metric versus env steps).
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from grasp_agent.experiments.pipeline import make_env
from grasp_agent.experiments.run_dir import RunDir, markdown_table
from grasp_agent.wrappers.success import SUCCESS_KEYS

logger = logging.getLogger(__name__)

ROBOTICS_HINT = "pip install 'grasp-agent[robotics]' (gymnasium-robotics and mujoco)"
TABLE_COLUMNS = {
    "agent": "agent", "env_steps": "env steps", "success_rate": "success", "mean_return": "mean return",
    "plan_time_per_step_s": "plan time / step (s)", "one_step_mse": "model 1-step MSE",
    "multi_step_mse": "model H-step MSE", "multi_step_nmse": "model H-step NMSE",
    "train_time_s": "train time (s)",
}


# ---------------------------------------------------------------------------- config checks
def check_env_case(case: Any) -> None:
    """Range checks of one :class:`~grasp_agent.experiments.schema.ThirdPartyEnvCase`.

    Raises:
        ValueError: naming the field and its valid range (or the package to install).
    """
    from grasp_agent.training import FitConfig
    from grasp_agent.validation import validate_config

    for name in ("env_steps", "horizon", "eval_episodes", "error_horizon"):
        if getattr(case, name) < 1:
            raise ValueError(f"{name} must be >= 1, got {getattr(case, name)}")
    if not 1 <= case.replan_every <= case.horizon:
        raise ValueError(f"replan_every must be in [1, horizon={case.horizon}], got {case.replan_every}")
    if case.planner_steps is not None and not all(1 <= n <= case.env_steps for n in case.planner_steps):
        raise ValueError(f"planner_steps must lie in [1, env_steps={case.env_steps}], "
                         f"got {case.planner_steps}")
    if case.eval_seed < 0:
        raise ValueError(f"eval_seed must be >= 0, got {case.eval_seed}")
    if case.sac is not None and not 1 <= case.sac.eval_every <= case.env_steps:
        raise ValueError(f"sac.eval_every must be in [1, env_steps={case.env_steps}], "
                         f"got {case.sac.eval_every}")
    module = case.env.id.split(":", 1)[0] if ":" in case.env.id else None
    if module is not None and importlib.util.find_spec(module) is None:
        raise ValueError(f"env.id {case.env.id!r} needs the module {module!r}: {ROBOTICS_HINT}")
    if "device" in case.train:
        raise ValueError("train.device: set the experiment's device instead")
    try:
        validate_config(FitConfig(**case.train))
    except TypeError as err:
        keys = sorted(f.name for f in dataclasses.fields(FitConfig) if f.name != "device")
        raise ValueError(f"train: {err}; valid keys: {', '.join(keys)}") from err
    except ValueError as err:
        raise ValueError(f"train: {err}") from err


def is_goal_env(space: gym.Space) -> bool:
    """A goal task: a Dict observation with ``desired_goal`` (success), else a reward task."""
    return isinstance(space, gym.spaces.Dict) and "desired_goal" in space.spaces


# ---------------------------------------------------------------------------- evaluation
class _TimedPolicy:
    """Forwards ``predict`` to ``policy`` and adds up its wall time and calls."""

    def __init__(self, policy: Any) -> None:
        self.policy, self.seconds, self.calls = policy, 0.0, 0

    def predict(self, *args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        out = self.policy.predict(*args, **kwargs)
        self.seconds += time.perf_counter() - start
        self.calls += 1
        return out


def _flat_obs(obs: Any, i: int) -> np.ndarray:
    return np.asarray(obs["observation"][i] if isinstance(obs, dict) else obs[i])


def evaluate(policy: Any, venv: Any, seed: int, goal: bool) -> dict[str, Any]:
    """Run one episode per env of ``venv`` (reset seeds ``seed + k``) with SB3's ``evaluate_policy``.

    Returns ``success_rate`` (goal envs; NaN otherwise), ``mean_return``,
    ``plan_time_per_step_s`` (``predict`` wall time per batched step) and ``trajectories``:
    per episode ``(observations (L+1, ...), actions (L, A))`` for the model error.
    """
    from stable_baselines3.common.evaluation import evaluate_policy

    n = venv.num_envs
    success, done_traj = np.zeros(n, bool), []
    obs_log: list[list[np.ndarray]] = [[] for _ in range(n)]
    act_log: list[list[np.ndarray]] = [[] for _ in range(n)]

    def callback(local: dict[str, Any], _: dict[str, Any]) -> None:
        i, info = local["i"], local["info"]
        success[i] |= any(bool(info.get(k, False)) for k in SUCCESS_KEYS)
        obs_log[i].append(_flat_obs(local["observations"], i))
        act_log[i].append(np.asarray(local["actions"][i], np.float32).reshape(-1))
        if local["done"]:
            last = info.get("terminal_observation")
            if last is not None:
                done_traj.append((np.stack(obs_log[i] + [np.asarray(last["observation"] if goal else last)]),
                                  np.stack(act_log[i])))

    timed = _TimedPolicy(policy)
    venv.seed(seed)
    returns, _ = evaluate_policy(timed, venv, n_eval_episodes=n, deterministic=True,
                                 return_episode_rewards=True, callback=callback, warn=False)
    return {"success_rate": float(success.mean()) if goal else math.nan,
            "mean_return": float(np.mean(returns)),
            "plan_time_per_step_s": timed.seconds / max(timed.calls, 1),
            "trajectories": done_traj}


def model_errors(model: Any, trajectories: list[tuple[np.ndarray, np.ndarray]], horizon: int
                 ) -> dict[str, float]:
    """One-step and ``horizon``-step latent errors of ``model`` on windows of the episodes.

    Every episode is cut into windows of ``horizon + 1`` observations (stride ``horizon``) and
    scored by :func:`grasp_agent.training.metrics.latent_errors` (``multi_step_*`` at step ``horizon``).
    """
    from grasp_agent.training.metrics import latent_errors

    obs, act = [], []
    for o, a in trajectories:
        for t in range(0, len(a) - horizon + 1, horizon):
            obs.append(o[t:t + horizon + 1])
            act.append(a[t:t + horizon])
    if not obs:
        return {}
    errors = latent_errors(model, np.stack(obs).astype(np.float32), np.stack(act))
    return {k: errors[k] for k in ("one_step_mse", "multi_step_mse", "one_step_nmse", "multi_step_nmse")}


# ---------------------------------------------------------------------------- agents
def selected_planners(cfg: Any, case: Any) -> list[str]:
    """The names of ``cfg.planners`` that run on ``case`` (its ``planners``; ``null``: all)."""
    return list(cfg.planners) if case.planners is None else list(case.planners)


def _vec_env(case: Any) -> Any:
    from stable_baselines3.common.vec_env import DummyVecEnv

    return DummyVecEnv([lambda: make_env(case.env)] * case.eval_episodes)


def run_planners(name: str, case: Any, cfg: Any, run_dir: RunDir) -> list[dict[str, Any]]:
    """Per data budget (``planner_steps``, default ``[env_steps]``): train the world model with
    ``train_from_env`` and evaluate every planner agent on it."""
    from grasp_agent.agents import make_agent
    from grasp_agent.experiments.config import from_dict
    from grasp_agent.experiments.planning import (
        needs_state_graph,
        planner_classes,
        planner_objective,
        starts_from_graph,
    )
    from grasp_agent.training import FitConfig, train_from_env

    venv = _vec_env(case)
    goal = is_goal_env(venv.observation_space)
    rows = []
    for steps in sorted(set(case.planner_steps or [case.env_steps])):
        start = time.perf_counter()
        trained = train_from_env(lambda: make_env(case.env), case.model.type, n_steps=steps, heads="auto",
                                 model_kwargs=dict(case.model.kwargs),
                                 fit_config=FitConfig(**case.train, device=cfg.device),
                                 run_dir=run_dir.path / "models" / f"{name}-{steps}", seed=cfg.seed,
                                 progress=cfg.progress)
        train_time = time.perf_counter() - start
        graph = None
        for planner in selected_planners(cfg, case):
            spec = cfg.planners[planner]
            _, config_cls = planner_classes(spec.type)
            where = f"config.envs.{name}.planner_params.{planner}"
            config = from_dict(config_cls, {**spec.params, **case.planner_params.get(planner, {})}, where)
            if needs_state_graph(spec) and graph is None:  # the data's graph, built once per model
                graph = trained.state_graph()
            agent = make_agent(spec.type, env=venv, model=trained.model, heads=trained.heads,
                               planner_config=config, horizon=case.horizon, replan_every=case.replan_every,
                               device=cfg.device,
                               state_graph=graph if starts_from_graph(spec) else None)
            agent.planner.objective = planner_objective(spec, trained.model, agent.objective, graph)
            agent.reset(seed=cfg.seed)
            t0 = time.perf_counter()
            result = evaluate(agent, venv, case.eval_seed, goal)
            errors = model_errors(trained.model, result.pop("trajectories"), case.error_horizon)
            rows.append({"env": name, "agent": planner, "env_steps": steps, **result, **errors,
                         "train_time_s": train_time, "wall_time_s": time.perf_counter() - t0})
            logger.info("%s %s (%d steps): success %.2f, return %.1f, %.3g s/step", name, planner, steps,
                        rows[-1]["success_rate"], rows[-1]["mean_return"], rows[-1]["plan_time_per_step_s"])
    venv.close()
    return rows


def make_sac(env: gym.Env, params: dict[str, Any], seed: int, device: str, tb_dir: str | None) -> Any:
    """SB3's SAC: with ``HerReplayBuffer`` (``MultiInputPolicy``) on goal envs, plain otherwise."""
    if is_goal_env(env.observation_space):
        from grasp_agent.experiments.sb3_agents import make_sb3_model

        return make_sb3_model("sac_her", env, params, seed, device, tb_dir)
    from stable_baselines3 import SAC

    return SAC("MlpPolicy", env, seed=seed, device=device, verbose=0, tensorboard_log=tb_dir, **params)


def run_sac(name: str, case: Any, cfg: Any, run_dir: RunDir) -> list[dict[str, Any]]:
    """Train SAC for ``env_steps`` and evaluate it every ``sac.eval_every`` steps (and at 0)."""
    from grasp_agent.experiments.sb3_agents import train_with_evals

    env, venv = make_env(case.env), _vec_env(case)
    goal = is_goal_env(env.observation_space)
    tb_dir = str(run_dir.path / "tb" / f"{name}-sac") if run_dir.tensorboard else None
    model = make_sac(env, dict(case.sac.params), cfg.seed, cfg.device, tb_dir)
    results: list[dict[str, Any]] = []

    def scores() -> tuple[float, float]:
        results.append(evaluate(model, venv, case.eval_seed, goal))
        results[-1].pop("trajectories")
        return results[-1]["success_rate"], results[-1]["mean_return"]

    def log(tag: str, value: float, step: int) -> None:
        if not math.isnan(value):
            run_dir.log_scalar(tag, value, step, f"{name}-sac")

    curve = train_with_evals(model, case.env_steps, case.sac.eval_every, scores, log, cfg.progress)
    agent = "sac_her" if goal else "sac"
    rows = [{"env": name, "agent": agent, **row, **res} for row, res in zip(curve, results)]
    env.close()
    venv.close()
    return rows


# ---------------------------------------------------------------------------- results
def _metric(row: dict[str, Any]) -> str:
    """``"success_rate"`` for goal tasks, ``"mean_return"`` when the row has no success rate
    (NaN in a fresh run, None once read back from metrics.json)."""
    success = row.get("success_rate")
    return "mean_return" if success is None or math.isnan(success) else "success_rate"


def results_markdown(cfg: Any, rows: list[dict[str, Any]]) -> str:
    """Per env: every agent at its largest budget, then the metric of every agent versus env steps."""
    parts = ["## Third-party benchmarks: planner agents versus SAC (+HER) on the same env steps\n"]
    for name, case in cfg.envs.items():
        sub = sorted((r for r in rows if r["env"] == name), key=lambda r: r["env_steps"])
        if not sub:
            continue
        agents = list(dict.fromkeys(r["agent"] for r in rows if r["env"] == name))
        finals = [[r for r in sub if r["agent"] == a][-1] for a in agents]
        key = _metric(sub[0])
        parts.append(f"### {case.env.id} ({key.replace('_', ' ')}; {case.eval_episodes} episodes, seeds "
                     f"{case.eval_seed}..; model error H = {case.error_horizon})\n\n"
                     + markdown_table([{v: r.get(k) for k, v in TABLE_COLUMNS.items()} for r in finals],
                                      list(TABLE_COLUMNS.values())))
        steps = sorted({r["env_steps"] for r in sub})
        parts.append(f"{key.replace('_', ' ').capitalize()} versus env steps (planners: world-model data; "
                     "SAC: training steps):\n\n" + markdown_table(
                         [{"env steps": n, **{a: next((r[key] for r in sub if r["agent"] == a
                                                       and r["env_steps"] == n), None) for a in agents}}
                          for n in steps], floatfmt=".4g"))
    return "\n".join(parts)


def figures(cfg: Any, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """One figure per env: the metric versus env steps, one line (or point) per agent."""
    from grasp_agent.experiments.plots import line_chart

    figs = {}
    for name, case in cfg.envs.items():
        sub = sorted((r for r in rows if r["env"] == name), key=lambda r: r["env_steps"])
        if not sub:
            continue
        key = _metric(sub[0])
        agents = list(dict.fromkeys(r["agent"] for r in rows if r["env"] == name))
        series = {a: ([r["env_steps"] for r in sub if r["agent"] == a],
                      [r[key] for r in sub if r["agent"] == a]) for a in agents}
        figs[name] = line_chart(series, "env steps", key.replace("_", " "),
                                f"{case.env.id}: {key.replace('_', ' ')} vs env steps")
    return figs


def run(cfg: Any, run_dir: RunDir) -> dict[str, Any]:
    """Every env: planner agents on a trained model, then SAC; returns the final metric per agent."""
    rows: list[dict[str, Any]] = []
    stages: list[tuple[str, Callable[..., list[dict[str, Any]]]]] = [("planners", run_planners),
                                                                      ("sac", run_sac)]
    for name, case in cfg.envs.items():
        for stage, func in stages:
            skip = not selected_planners(cfg, case) if stage == "planners" else case.sac is None
            if skip:
                continue
            new = func(name, case, cfg, run_dir)
            rows += new
            run_dir.add_rows(new)
    for name, fig in figures(cfg, rows).items():
        run_dir.save_figure(fig, name)
    run_dir.write_results(results_markdown(cfg, rows))
    summary = {}
    for r in rows:
        goal = not math.isnan(r["success_rate"])
        key = f"final_success/{r['env']}/{r['agent']}" if goal else f"final_return/{r['env']}/{r['agent']}"
        summary[key] = r["success_rate"] if goal else r["mean_return"]
    return summary
