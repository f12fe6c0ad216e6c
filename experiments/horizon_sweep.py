"""Horizon sweep (the paper's Table 1 protocol) on our own tasks.

For every environment: collect random data, train its world model once; then for every task
length ``H``: sample ``tasks_per_cell`` tasks that need at least ``H`` steps (and whose oracle
path fits the planning horizon ``T = ceil(horizon_factor * H)``), and run every planner in
every mode on the *same* tasks. Success is measured by executing in the real env and, separately,
under the learned model; the model's error along the executed trajectories is reported so a
failure can be attributed to the model or the planner. Time is the median wall-clock planning
time over the successful tasks (paper: "median time to success").

Outputs: ``metrics.csv`` (one row per env x H x planner x mode), ``tasks.csv`` (one row per
task), ``results.md`` (a paper-style table per env and mode plus the detailed table), plots of
success and time to success versus ``H``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from grasp_agent.experiments.config import ConfigError
from grasp_agent.experiments.evaluation import sample_tasks
from grasp_agent.experiments.pipeline import make_env, train_on_env
from grasp_agent.experiments.planning import evaluate_planners
from grasp_agent.experiments.plots import line_chart
from grasp_agent.experiments.run_dir import RunDir, markdown_table
from grasp_agent.experiments.schema import HorizonSweepConfig, PlannerSpec
from grasp_agent.utils import resolve_device

logger = logging.getLogger(__name__)

DETAIL_COLUMNS = ("env", "mode", "horizon", "planner_horizon", "planner", "tasks", "success_rate",
                  "model_success_rate", "median_time_to_success_s", "median_plan_time_s",
                  "median_cpu_time_to_success_s", "timed_tasks",
                  "planner_failures", "model_failures", "model_mse", "model_final_dist",
                  "model_diverged")


def planning_horizon(h: int, factor: float) -> int:
    """Planning horizon for tasks of length ``h``: ``ceil(factor * h)``."""
    return int(math.ceil(factor * h - 1e-9))


def cell_text(row: dict[str, Any]) -> str:
    """``"43% / 1.2 s"`` (success / median time to success), the paper's cell format."""
    time_s = row["median_time_to_success_s"]
    time_txt = "-" if time_s is None or math.isnan(time_s) else f"{time_s:.3g} s"
    return f"{100 * row['success_rate']:.0f}% / {time_txt}"


def paper_tables(rows: list[dict[str, Any]]) -> str:
    """One table per (env, mode): rows ``H``, columns planners, cells success / time."""
    out = []
    keys = sorted({(r["env"], r["mode"]) for r in rows}, key=lambda k: (k[0], k[1] != "open_loop"))
    for env_name, mode in keys:
        sub = [r for r in rows if r["env"] == env_name and r["mode"] == mode]
        planners = list(dict.fromkeys(r["planner"] for r in sub))
        table = []
        for h in sorted({r["horizon"] for r in sub}):
            line = {"H": h}
            for p in planners:
                match = [r for r in sub if r["horizon"] == h and r["planner"] == p]
                line[p] = cell_text(match[0]) if match else "-"
            table.append(line)
        n = sub[0]["tasks"]
        out.append(f"### {env_name}, {mode.replace('_', '-')} ({n} tasks per cell; success / "
                   f"median time to success)\n\n{markdown_table(table)}")
    return "\n".join(out)


def protocol(cfg: HorizonSweepConfig) -> str:
    """How a run planned and timed its tasks, e.g. ``"one task per call"``."""
    batch, timed = cfg.eval.plan_batch, cfg.eval.timing_tasks
    if batch == 1:
        return "one task per call"
    if timed > 0:
        return (f"success over all tasks planned in batches of {batch}; times from the first "
                f"{timed} tasks of each cell planned again one per call")
    return f"times amortised over batches of {batch}"


def render_results(cfg: HorizonSweepConfig, rows: list[dict[str, Any]]) -> str:
    """The Markdown of ``results.md`` from the summary rows (also for an interrupted run)."""
    amortised = f" ({protocol(cfg)})" if cfg.eval.plan_batch > 1 else ""
    return (f"## Horizon sweep\n\nTasks need at least H steps (oracle); planning horizon "
            f"ceil({cfg.horizon_factor} H); success = goal reached when the plan is executed in the "
            "real env; time = median planning wall time over successful tasks"
            f"{amortised}"
            f".\n\n{paper_tables(rows)}\n### Details (model success, failure attribution, model "
            f"error on executed trajectories)\n\n{markdown_table(rows, DETAIL_COLUMNS)}")


def figures(cfg: HorizonSweepConfig, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Success and median time to success versus ``H``, one figure pair per (env, mode)."""
    figs = {}
    for env_name, mode in sorted({(r["env"], r["mode"]) for r in rows}):
        sub = [r for r in rows if r["env"] == env_name and r["mode"] == mode]
        planners = list(dict.fromkeys(r["planner"] for r in sub))

        def series(key: str, sub: list[dict[str, Any]] = sub, planners: list[str] = planners
                   ) -> dict[str, tuple[list[float], list[float]]]:
            return {p: ([r["horizon"] for r in sub if r["planner"] == p],
                        [r[key] for r in sub if r["planner"] == p]) for p in planners}

        tag = f"{env_name}_{mode}"
        figs[f"success_{tag}"] = line_chart(series("success_rate"), "task length H",
                                            "success rate (real env)", f"{env_name} ({mode})")
        figs[f"time_{tag}"] = line_chart(series("median_time_to_success_s"), "task length H",
                                         "median time to success (s)", f"{env_name} ({mode})", logy=True)
    return figs


def _model_for(env_name: str, case: Any, env: Any, cfg: HorizonSweepConfig, run_dir: RunDir
               ) -> tuple[Any, dict[str, Any]]:
    """The env's world model: trained here and saved to ``models/<env>.pt``, or, when a resumed
    run already saved it, loaded from there (same weights, so the same plans). While it trains,
    ``models/<env>.train.pt`` holds the state after the last finished epoch, so a resumed run
    interrupted during training continues it instead of starting over."""
    from grasp_agent.models.io import model_from_checkpoint, read_checkpoint, save_world_model

    path = run_dir.path / "models" / f"{env_name}.pt"
    if run_dir.resumed and path.exists():
        ckpt = read_checkpoint(path)
        model = model_from_checkpoint(ckpt, device=resolve_device(cfg.device)).eval()
        logger.info("[%s] loaded the world model saved by the interrupted run: %s", env_name, path)
        return model, dict(ckpt["extra"].get("train_summary", {}))
    path.parent.mkdir(exist_ok=True)
    resumable = path.with_suffix(".train.pt")  # per-epoch training state, for --resume
    model, metrics = train_on_env(env, case.data, case.model, case.train, cfg.device, run_dir,
                                  series=f"{env_name}-model", progress=cfg.progress, checkpoint=resumable)
    summary = {f"{env_name}/{k}": v for k, v in metrics.items() if k != "train/history"}
    save_world_model(model, path, extra={"env": env_name, "train_summary": summary})
    resumable.unlink(missing_ok=True)
    return model, summary


def _cell_tasks(env_name: str, env: Any, todo: list[tuple[str, int, str]], cfg: HorizonSweepConfig
                ) -> dict[int, list[Any]]:
    """The tasks of every ``H`` in ``todo`` (the same for every mode and planner).

    Raises:
        ConfigError: if an ``H`` has too few tasks that long (names the env and the fix).
    """
    tasks = {}
    for h in sorted({h for _, h, _ in todo}):
        horizon = planning_horizon(h, cfg.horizon_factor)
        try:
            tasks[h] = sample_tasks(env, cfg.tasks_per_cell, h, horizon, cfg.task_seed + 100_000 * h)
        except ValueError as err:
            raise ConfigError(f"horizon sweep env {env_name!r} cannot supply {cfg.tasks_per_cell} tasks "
                              f"of length >= {h}: {err}. Remove {h} from envs.{env_name}.horizons "
                              "(or lower tasks_per_cell)") from err
    return tasks


def run(cfg: HorizonSweepConfig, run_dir: RunDir) -> dict[str, Any]:
    """Run the sweep; returns headline numbers (also in ``metrics.json``).

    Work runs env by env, then mode by mode (open loop first: the paper's protocol), ``H`` by
    ``H`` and planner by planner, so an interrupted run holds whole open-loop tables first;
    the metrics are rewritten after every (mode, H, planner). Every cell's tasks are sampled
    first, for every env, so a cell no task can fill fails before any training. A resumed run
    (``run_dir.resumed``) skips every (env, H, mode, planner) its rows already hold and reuses
    the saved world models.
    """
    all_rows: list[dict[str, Any]] = list(run_dir.rows)
    all_records: list[dict[str, Any]] = run_dir.read_table("tasks") if run_dir.resumed else []
    done = {(r["env"], int(r["horizon"]), r["mode"], r["planner"]) for r in all_rows}
    summary: dict[str, Any] = {}
    work = []  # every env's tasks are sampled before any training: a bad cell fails in seconds
    for env_name, case in cfg.envs.items():
        horizons = case.horizons or cfg.horizons
        todo = [(mode, h, name) for mode in cfg.eval.modes for h in horizons for name in cfg.planners
                if (env_name, h, mode, name) not in done]
        if todo:
            env = make_env(case.env)
            work.append((env_name, case, env, todo, _cell_tasks(env_name, env, todo, cfg)))
    for env_name, case, env, todo, tasks in work:
        model, train_summary = _model_for(env_name, case, env, cfg, run_dir)
        summary.update(train_summary)
        planners = {name: PlannerSpec(spec.type, {**spec.params, **case.planner_params.get(name, {})})
                    for name, spec in cfg.planners.items()}
        envs = [env] + [make_env(case.env) for _ in range(cfg.eval.plan_batch - 1)]
        for mode, h, name in todo:
            horizon = planning_horizon(h, cfg.horizon_factor)
            rows, records = evaluate_planners(
                envs, model, {name: planners[name]}, tasks[h], horizon, [mode], cfg.eval.replan_every,
                cfg.eval.plan_batch, cfg.eval.latent_success_mse, cfg.device, cfg.seed, cfg.progress,
                desc=f"{env_name} H={h}", timing_tasks=cfg.eval.timing_tasks)
            for r in rows + records:
                r.update(env=env_name, horizon=h, planner_horizon=horizon)
            row = rows[0]
            series = f"{env_name}-{name}-{mode}"
            run_dir.log_scalar("eval/success_rate", row["success_rate"], h, series)
            run_dir.log_scalar("plan/model_success_rate", row["model_success_rate"], h, series)
            time_s = row["median_time_to_success_s"]
            if not math.isnan(time_s):
                run_dir.log_scalar("plan/median_time_to_success_s", time_s, h, series)
            all_rows.append({k: row[k] for k in DETAIL_COLUMNS})
            all_records += records
            run_dir.write_table("tasks", all_records)  # tasks first: a row marks its combo done
            run_dir.add_rows(all_rows[-1:])
    for name, fig in figures(cfg, all_rows).items():
        run_dir.save_figure(fig, name)
    run_dir.write_results(render_results(cfg, all_rows))
    summary.update({f"success_rate/{r['env']}/{r['mode']}/H{r['horizon']}/{r['planner']}": r["success_rate"]
                    for r in all_rows})
    return summary
