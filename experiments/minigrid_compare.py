"""Minigrid: GRASP on the discrete relaxation versus relaxed CEM (and any other planner) and PPO.

The minigrid task has ``Discrete(4)`` moves. Planners act through
:class:`grasp_agent.wrappers.DiscreteToBoxWrapper`: an action is 4 scores in ``[-1, 1]`` and the env
executes their argmax, so the world model is trained on (and the planners optimise) the
continuous relaxation. CEM over those scores is the relaxed-CEM baseline: a Gaussian over
scores induces a categorical distribution over moves through the argmax. PPO learns on the
discrete env directly (``MultiInputPolicy`` on the Dict observation), trained with the same
task distribution and evaluated on the same tasks with the same step budget (the planning
horizon).
"""

from __future__ import annotations

import logging
from typing import Any

from grasp_agent.experiments.pipeline import make_env
from grasp_agent.experiments.plots import planner_bars
from grasp_agent.experiments.quickstart import results_table, train_and_plan
from grasp_agent.experiments.run_dir import RunDir
from grasp_agent.experiments.schema import EnvSection, MinigridConfig

logger = logging.getLogger(__name__)


def figures(cfg: MinigridConfig, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's figures: executed success per planner (and PPO)."""
    return planner_bars(cfg.env.id, rows, with_time=False)


def _ppo_row(cfg: MinigridConfig, tasks: list[Any], run_dir: RunDir) -> dict[str, Any]:
    """Train PPO on the discrete env; success on ``tasks`` within ``tasks.horizon`` steps."""
    from grasp_agent.experiments.sb3_agents import TaskOptionsWrapper, evaluate_policy_success, make_sb3_model

    discrete = EnvSection(id=cfg.env.id, kwargs=cfg.env.kwargs, max_episode_steps=cfg.env.max_episode_steps)
    options = {"min_path_length": cfg.tasks.min_path_length} if cfg.tasks.min_path_length > 0 else {}
    env = TaskOptionsWrapper(make_env(discrete), options)
    eval_env = TaskOptionsWrapper(make_env(discrete), options)
    tb_dir = str(run_dir.path / "tb" / "ppo") if run_dir.tensorboard else None
    model = make_sb3_model("ppo", env, cfg.ppo_params, cfg.seed, cfg.device, tb_dir)
    model.learn(cfg.ppo_steps, progress_bar=cfg.progress, tb_log_name="sb3")
    success, ret = evaluate_policy_success(eval_env, lambda o: model.predict(o, deterministic=True)[0],
                                           [t.seed for t in tasks], cfg.tasks.horizon)
    run_dir.log_scalar("eval/success_rate", success, cfg.ppo_steps, "ppo")
    nan = float("nan")
    return {"planner": f"ppo ({cfg.ppo_steps} env steps)", "mode": "policy", "horizon": cfg.tasks.horizon,
            "tasks": len(tasks), "success_rate": success, "model_success_rate": nan,
            "median_time_to_success_s": nan, "median_plan_time_s": nan,
            "median_cpu_time_to_success_s": nan, "planner_failures": None,
            "model_failures": None, "model_mse": nan, "model_final_dist": nan}


def run(cfg: MinigridConfig, run_dir: RunDir) -> dict[str, Any]:
    """Run the planners and PPO on the same minigrid tasks; returns success rates."""
    env, model, train_metrics, tasks, rows, records = train_and_plan(cfg, run_dir)
    t = cfg.tasks
    train_metrics.pop("train/history")
    for row in rows:
        run_dir.log_scalar("eval/success_rate", row["success_rate"], 0, f"{row['planner']}-{row['mode']}")
    if cfg.ppo_steps > 0:
        rows.append(_ppo_row(cfg, tasks, run_dir))
    run_dir.add_rows(rows)
    run_dir.write_table("tasks", records)
    for name, fig in figures(cfg, rows).items():
        run_dir.save_figure(fig, name)
    header = (f"## Minigrid: {cfg.env.id} {cfg.env.kwargs}\n\n{len(tasks)} tasks needing >= "
              f"{t.min_path_length} moves, horizon {t.horizon}; planners act on the relaxation "
              "(4 scores, argmax executed); PPO acts on the discrete env.\n\n")
    run_dir.write_results(header + results_table(rows))
    return {**train_metrics, **{f"success_rate/{r['planner']}/{r['mode']}": r["success_rate"] for r in rows}}
