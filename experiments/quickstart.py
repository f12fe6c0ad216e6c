"""Quickstart: random data on one env -> world model -> GRASP / GD / CEM -> executed success.

``python -m grasp_agent.experiments run quickstart`` (``tox -e quickstart``) collects random-policy data
on WallDoor, trains an MLP world model, samples tasks that need a minimum number of steps,
plans open loop (and/or MPC) with every configured planner from ``encode(observation)`` to
``encode(desired_goal)``, executes each plan in the real env and writes the results table,
per-task records and plots into the run directory.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from grasp_agent.experiments.evaluation import sample_tasks
from grasp_agent.experiments.pipeline import make_env, train_on_env
from grasp_agent.experiments.planning import evaluate_planners
from grasp_agent.experiments.plots import line_chart, planner_bars
from grasp_agent.experiments.run_dir import RunDir, markdown_table
from grasp_agent.experiments.schema import QuickstartConfig

logger = logging.getLogger(__name__)

TABLE_COLUMNS = {
    "planner": "planner", "mode": "mode", "tasks": "tasks", "success_rate": "success (real env)",
    "model_success_rate": "success (model)", "median_time_to_success_s": "median time to success (s)",
    "median_cpu_time_to_success_s": "median CPU time to success (s)",
    "median_plan_time_s": "median plan time (s)", "planner_failures": "planner failures",
    "model_failures": "model failures", "model_final_dist": "model error at end (dist)",
}


def results_table(rows: list[dict[str, Any]]) -> str:
    """The Markdown results table with human column names."""
    renamed = [{TABLE_COLUMNS[k]: r.get(k) for k in TABLE_COLUMNS} for r in rows]
    return markdown_table(renamed, list(TABLE_COLUMNS.values()))


def figures(cfg: QuickstartConfig, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The run's figures that its rows determine: success and planning time per planner."""
    return planner_bars(cfg.env.id, rows, with_time=True)


def train_and_plan(cfg: Any, run_dir: RunDir
                   ) -> tuple[Any, Any, dict[str, Any], list[Any], list[Any], list[Any]]:
    """Make the env, train the world model, sample ``cfg.tasks`` and evaluate ``cfg.planners``.

    Shared by the quickstart and the minigrid experiment (configs with ``env``, ``data``,
    ``model``, ``train``, ``tasks``, ``eval`` and ``planners`` sections). Returns
    ``(env, model, train_metrics, tasks, rows, records)``.
    """
    env = make_env(cfg.env)
    model, train_metrics, _ = train_on_env(env, cfg.data, cfg.model, cfg.train, cfg.device, run_dir,
                                        progress=cfg.progress)
    t = cfg.tasks
    tasks = sample_tasks(env, t.count, t.min_path_length, t.horizon, t.seed, t.require_feasible)
    envs = [env] + [make_env(cfg.env) for _ in range(min(cfg.eval.plan_batch, len(tasks)) - 1)]
    rows, records = evaluate_planners(
        envs, model, cfg.planners, tasks, t.horizon, cfg.eval.modes, cfg.eval.replan_every,
        cfg.eval.plan_batch, cfg.eval.latent_success_mse, cfg.device, cfg.seed, cfg.progress,
        timing_tasks=cfg.eval.timing_tasks)
    return env, model, train_metrics, tasks, rows, records


def run(cfg: QuickstartConfig, run_dir: RunDir) -> dict[str, Any]:
    """Run the quickstart; returns the summary (also in ``metrics.json``)."""
    start = time.perf_counter()
    env, model, train_metrics, tasks, rows, records = train_and_plan(cfg, run_dir)
    t = cfg.tasks
    for row in rows:
        series = f"{row['planner']}-{row['mode']}"
        run_dir.log_scalar("eval/success_rate", row["success_rate"], 0, series)
        run_dir.log_scalar("plan/model_success_rate", row["model_success_rate"], 0, series)
        run_dir.log_scalar("plan/median_plan_time_s", row["median_plan_time_s"], 0, series)
    run_dir.add_rows(rows)
    run_dir.write_table("tasks", records)
    for name, fig in figures(cfg, rows).items():
        run_dir.save_figure(fig, name)
    history = train_metrics.pop("train/history")
    run_dir.save_figure(line_chart(
        {name: (list(range(1, len(v) + 1)), v) for name, v in
         (("train", history["train/loss"]), ("validation", history.get("val/loss", []))) if v},
        "epoch", "loss (normalised delta MSE)", "world-model training", logy=True), "train_loss")
    oracle = [task.oracle_path_length for task in tasks]
    header = (f"## Quickstart: {cfg.env.id}\n\n{len(tasks)} tasks needing >= {t.min_path_length} "
              f"steps (oracle lengths {min(oracle)}-{max(oracle)}), horizon {t.horizon}, "
              f"{train_metrics['train/transitions']} random transitions, model {cfg.model.type} "
              f"(val loss {train_metrics['train/best_val_loss']:.3g}). Success is measured by "
              "executing the plan in the real env; 'model' failures are plans that reach the goal "
              "under the world model but not in the env.\n\n")
    run_dir.write_results(header + results_table(rows))
    return {**train_metrics, "wall_time_s": time.perf_counter() - start,
            **{f"success_rate/{r['planner']}/{r['mode']}": r["success_rate"] for r in rows}}
