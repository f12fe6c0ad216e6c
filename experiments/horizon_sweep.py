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
success and time to success versus ``H``, ``models/<env>.pt`` and ``cells/<env>/*.json`` (one
file per finished cell: what ``--resume`` skips).

The unit of work is a *cell* (env x mode x H x planner, :func:`run_cell`); each env's model is
trained once by :func:`train_env_model`. Both are plain functions of the config, so the cells
run in this process or as Ray tasks (``--backend ray``, see ``experiments/backends.py``) with
the same results; the driver merges them in cell order.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import torch

from grasp_agent.experiments.config import ConfigError
from grasp_agent.experiments.evaluation import sample_tasks
from grasp_agent.experiments.pipeline import make_env, train_on_env
from grasp_agent.experiments.planning import evaluate_planners, needs_state_graph
from grasp_agent.experiments.plots import line_chart
from grasp_agent.experiments.run_dir import RunDir, markdown_table
from grasp_agent.experiments.schema import HorizonSweepConfig
from grasp_agent.experiments.sweep_cells import Cell, CellStore, sweep_cells
from grasp_agent.experiments.sweep_models import import_models, saved_state_graph
from grasp_agent.planners.state_graph import StateGraph
from grasp_agent.utils import atomic_torch_save, resolve_device, seed_everything

logger = logging.getLogger(__name__)

DETAIL_COLUMNS = ("env", "mode", "horizon", "planner_horizon", "planner", "tasks", "success_rate",
                  "model_success_rate", "median_time_to_success_s", "median_plan_time_s",
                  "median_cpu_time_to_success_s", "timed_tasks",
                  "planner_failures", "model_failures", "model_mse", "model_final_dist",
                  "model_diverged")


def planning_horizon(h: int, factor: float) -> int:
    """Planning horizon for tasks of length ``h``: ``ceil(factor * h)``."""
    return int(math.ceil(factor * h - 1e-9))


def sweep_task_seed(task_seed: int, h: int) -> int:
    """First reset seed of a sweep's tasks of length ``h``: ``task_seed + 100000 h`` (disjoint per H)."""
    return task_seed + 100_000 * h


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


class ScalarLog:
    """Stands in for the run directory in a task: keeps ``log_scalar`` calls for the driver."""

    def __init__(self) -> None:
        self.scalars: list[tuple[str, float, int, str]] = []

    def log_scalar(self, tag: str, value: float, step: int, series: str = "") -> None:
        """Record one scalar (the driver replays it into TensorBoard and ``scalars.csv``)."""
        self.scalars.append((tag, float(value), int(step), series))


def train_env_model(cfg: HorizonSweepConfig, env_name: str, checkpoint: str | None = None,
                    progress: bool = False) -> tuple[dict[str, Any], list[tuple[str, float, int, str]]]:
    """Collect data on env ``env_name`` and train its world model (one task per env).

    Seeded with ``cfg.seed`` first, so the model does not depend on what ran before it in this
    process. ``checkpoint`` (``models/<env>.train.pt``) holds the state after every epoch, so
    an interrupted training continues on ``--resume``; it is used only where its directory
    exists (a worker without the run directory trains without it).

    Returns:
        The model's checkpoint dict (its ``extra["train_summary"]`` holds the ``<env>/train/...``
        metrics) and the scalars logged while training.
    """
    from grasp_agent.models.io import checkpoint_dict

    seed_everything(cfg.seed)
    torch.set_num_threads(max(1, cfg.threads))
    case = cfg.envs[env_name]
    if checkpoint is not None and not Path(checkpoint).parent.is_dir():
        checkpoint = None
    env, log = make_env(case.env), ScalarLog()
    try:
        model, metrics, buffer = train_on_env(env, case.data, case.model, case.train, cfg.device, log,
                                              series=f"{env_name}-model", progress=progress,
                                              checkpoint=checkpoint)
    finally:
        env.close()
    summary = {f"{env_name}/{k}": v for k, v in metrics.items() if k != "train/history"}
    extra: dict[str, Any] = {"env": env_name, "train_summary": summary}
    if any(needs_state_graph(spec) for spec in cfg.planners.values()):  # GRASP init: graph plans on it
        extra["state_graph"] = StateGraph.from_buffer(buffer, model.eval(), seed=cfg.seed).state_dict()
    return checkpoint_dict(model, extra=extra), log.scalars


_EVAL_ENVS: dict[str, list[Any]] = {}  # one env config's evaluation envs, reused by its cells here


def _eval_envs(section: Any, count: int) -> list[Any]:
    """``count`` envs of ``section`` (kept for the next cell of the same env in this process)."""
    key = repr(section)
    if key not in _EVAL_ENVS:
        close_eval_envs()
        _EVAL_ENVS[key] = []
    envs = _EVAL_ENVS[key]
    envs += [make_env(section) for _ in range(count - len(envs))]
    return envs[:count]


def close_eval_envs() -> None:
    """Close the evaluation envs :func:`run_cell` keeps in this process."""
    for envs in _EVAL_ENVS.values():
        for env in envs:
            env.close()
    _EVAL_ENVS.clear()


def run_cell(cfg: HorizonSweepConfig, cell: Cell, checkpoint: dict[str, Any], tasks: list[Any],
             progress: bool = False) -> dict[str, Any]:
    """Plan and execute ``tasks`` for one cell with the env's trained model (one task per cell).

    Seeded with ``cfg.seed`` and run on ``cfg.threads`` threads, so its results are the same in
    any process and in any order.

    Returns:
        ``{"row": summary row (DETAIL_COLUMNS), "records": one per task, "scalars": [...]}``.
    """
    from grasp_agent.models.io import model_from_checkpoint

    seed_everything(cfg.seed)
    torch.set_num_threads(max(1, cfg.threads))
    case, h = cfg.envs[cell.env], cell.horizon
    model = model_from_checkpoint(checkpoint, device=resolve_device(cfg.device)).eval()
    spec = cfg.planners[cell.planner]
    spec = dataclasses.replace(spec, params={**spec.params, **case.planner_params.get(cell.planner, {})})
    horizon = planning_horizon(h, cfg.horizon_factor)
    graph = saved_state_graph(checkpoint)
    rows, records = evaluate_planners(
        _eval_envs(case.env, max(1, cfg.eval.plan_batch)), model, {cell.planner: spec}, tasks, horizon,
        [cell.mode], cfg.eval.replan_every, cfg.eval.plan_batch, cfg.eval.latent_success_mse, cfg.device,
        cfg.seed, progress, desc=f"{cell.env} H={h}", timing_tasks=cfg.eval.timing_tasks, state_graph=graph)
    for r in rows + records:
        r.update(env=cell.env, horizon=h, planner_horizon=horizon)
    row = {k: rows[0][k] for k in DETAIL_COLUMNS}
    series = f"{cell.env}-{cell.planner}-{cell.mode}"
    scalars = [("eval/success_rate", row["success_rate"], h, series),
               ("plan/model_success_rate", row["model_success_rate"], h, series)]
    if not math.isnan(row["median_time_to_success_s"]):
        scalars.append(("plan/median_time_to_success_s", row["median_time_to_success_s"], h, series))
    return {"row": row, "records": records, "scalars": scalars}


def _cell_tasks(env_name: str, env: Any, todo: list[Cell], cfg: HorizonSweepConfig) -> dict[int, list[Any]]:
    """The tasks of every ``H`` of ``env_name``'s cells in ``todo`` (the same for every mode and planner).

    Raises:
        ConfigError: if an ``H`` has too few tasks that long (names the env and the fix).
    """
    tasks = {}
    for h in sorted({c.horizon for c in todo if c.env == env_name}):
        horizon = planning_horizon(h, cfg.horizon_factor)
        try:
            tasks[h] = sample_tasks(env, cfg.tasks_per_cell, h, horizon, sweep_task_seed(cfg.task_seed, h))
        except ValueError as err:
            raise ConfigError(f"horizon sweep env {env_name!r} cannot supply {cfg.tasks_per_cell} tasks "
                              f"of length >= {h}: {err}. Remove {h} from envs.{env_name}.horizons "
                              "(or lower tasks_per_cell)") from err
    return tasks


def run(cfg: HorizonSweepConfig, run_dir: RunDir, backend: Any = None) -> dict[str, Any]:
    """Run the sweep's cells on ``backend`` (default: in this process); returns headline numbers.

    Every cell's tasks are sampled first, for every env, so a cell no task can fill fails before
    any training. Each env's world model is trained once (:func:`train_env_model`) and saved to
    ``models/<env>.pt``; every cell (:func:`run_cell`) writes ``cells/...json`` as it finishes,
    and ``tasks.csv`` and the metrics are rewritten from all finished cells in cell order, so an
    interrupted run holds every finished cell and the merged files do not depend on the backend
    or on the order in which cells finished. A resumed run (``run_dir.resumed``) skips finished
    cells and reuses the saved world models; with ``cfg.models_from`` the models of another run
    are used instead of training (:func:`~grasp_agent.experiments.sweep_models.import_models`).
    """
    from tqdm.auto import tqdm

    from grasp_agent.experiments.backends import InProcessBackend, SweepPlan
    from grasp_agent.models.io import read_checkpoint

    backend = backend or InProcessBackend()
    store = CellStore(run_dir, sweep_cells(cfg))
    todo = [c for c in store.cells if c not in store.results]
    tasks = {}  # every env's tasks are sampled before any training: a bad cell fails in seconds
    for env_name in dict.fromkeys(c.env for c in todo):
        env = make_env(cfg.envs[env_name].env)
        tasks.update({(env_name, h): t for h, t in _cell_tasks(env_name, env, todo, cfg).items()})
        env.close()
    models_dir = run_dir.path / "models"
    models_dir.mkdir(exist_ok=True)
    summary: dict[str, Any] = {}
    models: dict[str, dict[str, Any] | None] = {}
    for env_name in dict.fromkeys(c.env for c in todo):
        path = models_dir / f"{env_name}.pt"
        models[env_name] = read_checkpoint(path) if run_dir.resumed and path.exists() else None
        if models[env_name] is not None:
            logger.info("[%s] loaded the world model saved by the interrupted run: %s", env_name, path)
            summary.update(models[env_name]["extra"].get("train_summary", {}))
    missing = [e for e, m in models.items() if m is None]
    if cfg.models_from is not None and missing:
        for env_name, ckpt in import_models(cfg, missing, models_dir).items():
            atomic_torch_save(ckpt, models_dir / f"{env_name}.pt")
            models[env_name] = ckpt
            summary.update(ckpt["extra"].get("train_summary", {}))
    bar = tqdm(total=len(todo), desc="cells", unit="cell", disable=not cfg.progress)

    def on_model(env_name: str, ckpt: dict[str, Any], scalars: list[tuple[str, float, int, str]]) -> None:
        atomic_torch_save(ckpt, models_dir / f"{env_name}.pt")
        (models_dir / f"{env_name}.train.pt").unlink(missing_ok=True)
        summary.update(ckpt["extra"]["train_summary"])
        for tag, value, step, series in scalars:
            run_dir.log_scalar(tag, value, step, series)

    def on_cell(cell: Cell, result: dict[str, Any]) -> None:
        store.add(cell, result)
        for tag, value, step, series in result["scalars"]:
            run_dir.log_scalar(tag, value, step, series)
        store.merge()
        bar.update(1)

    plan = SweepPlan(cfg, models, {e: str(models_dir / f"{e}.train.pt") for e in models},
                     [(c, tasks[(c.env, c.horizon)]) for c in todo])
    try:
        if plan.cells:  # (a resumed run with nothing left starts no Ray instance)
            backend.run(plan, train_env_model, run_cell, on_model, on_cell)
    finally:
        bar.close()
        close_eval_envs()
    rows = store.merge()
    for name, fig in figures(cfg, rows).items():
        run_dir.save_figure(fig, name)
    run_dir.write_results(render_results(cfg, rows))
    summary.update({f"success_rate/{r['env']}/{r['mode']}/H{r['horizon']}/{r['planner']}": r["success_rate"]
                    for r in rows})
    return summary
