"""Run an experiment from a validated config into its own run directory."""

from __future__ import annotations

import importlib
import logging
import time
from pathlib import Path
from typing import Any

import torch

from grasp_agent.experiments.config import ConfigError, check_run_settings, from_dict
from grasp_agent.experiments.run_dir import RunDir
from grasp_agent.utils import seed_everything

logger = logging.getLogger(__name__)

# experiment family -> "module:function" taking (cfg, run_dir) and returning a summary dict
EXPERIMENT_RUNNERS: dict[str, str] = {
    "quickstart": "grasp_agent.experiments.quickstart:run",
    "horizon_sweep": "grasp_agent.experiments.horizon_sweep:run",
    "sb3_compare": "grasp_agent.experiments.sb3_compare:run",
    "minigrid": "grasp_agent.experiments.minigrid_compare:run",
    "third_party": "grasp_agent.experiments.third_party:run",
}
# families whose runner skips the work an interrupted run already finished (``resume=True``)
RESUMABLE = frozenset({"horizon_sweep"})
# families whose planners get the state graph of their model's data (init: graph, cost_to_go)
GRAPH_FAMILIES = frozenset({"horizon_sweep", "third_party"})
# families whose runner takes a ``backend`` (experiments/backends.py): their cells can run on Ray
DISTRIBUTED = frozenset({"horizon_sweep"})


def check_planner_specs(cfg: Any) -> None:
    """Validate every planner's ``params`` against its config dataclass before any work starts.

    Horizon sweeps' per-env ``planner_params`` are checked too: each must name a planner of
    ``planners``, and the merged params must be valid for its type.

    Raises:
        ConfigError: naming the planner, the bad key and the valid keys.
    """
    from grasp_agent.experiments.planning import planner_classes

    specs = dict(getattr(cfg, "planners", {}) or {})
    dyna = getattr(cfg, "grasp", None)
    if dyna is not None:
        specs["grasp.planner"] = dyna.planner
    _check_graph_specs(cfg)
    for name, spec in specs.items():
        _, config_cls = planner_classes(spec.type)
        _check_ranges(from_dict(config_cls, spec.params, f"config.planners.{name}.params"),
                      f"config.planners.{name}.params")
    for env_name, case in (getattr(cfg, "envs", None) or {}).items():
        for name, params in case.planner_params.items():
            where = f"config.envs.{env_name}.planner_params.{name}"
            if name not in specs:
                raise ConfigError(f"{where}: no planner {name!r} in planners; valid names: {sorted(specs)}")
            _, config_cls = planner_classes(specs[name].type)
            _check_ranges(from_dict(config_cls, {**specs[name].params, **params}, where), where)


def _graph_specs(cfg: Any) -> list[tuple[str, Any, bool]]:
    """``(where, spec, gets a graph)`` of every planner spec of ``cfg``: only the ``planners`` of
    the :data:`GRAPH_FAMILIES` plan with the state graph of their model's data."""
    out = [(f"config.planners.{n}", spec, cfg.experiment in GRAPH_FAMILIES)
           for n, spec in (getattr(cfg, "planners", None) or {}).items()]
    if getattr(cfg, "grasp", None) is not None:
        out.append(("config.grasp.planner", cfg.grasp.planner, False))
    sections = [("config.", getattr(cfg, "data", None))]
    envs = getattr(cfg, "envs", None) or {}
    sections += [(f"config.envs.{n}.", getattr(c, "data", None)) for n, c in envs.items()]
    out += [(f"{where}data.dyna_planner", data.dyna_planner, False)
            for where, data in sections if data is not None]
    return out


def _check_graph_specs(cfg: Any) -> None:
    """``init: graph`` and ``cost_to_go`` only where the planner gets a state graph."""
    from grasp_agent.experiments.planning import needs_state_graph

    for where, spec, gets_graph in _graph_specs(cfg):
        if needs_state_graph(spec) and not gets_graph:
            raise ConfigError(f"{where}: init: graph and cost_to_go plan with the state graph of the model's "
                              f"data, which only the planners of {sorted(GRAPH_FAMILIES)} experiments get; "
                              "remove them here")


def _check_ranges(config: Any, where: str) -> None:
    """Range checks of a planner config (NaN, negative rates, bools given as strings...)."""
    from grasp_agent.validation import validate_config

    try:
        validate_config(config)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{where}: {err}") from err


def check_components(cfg: Any) -> None:
    """Build every env and world model the config names, then discard them, before any work.

    A wrong ``env.id``, ``env.kwargs`` or ``model.kwargs`` fails here, in seconds, instead of
    after data collection and training (and before a run directory exists); so does a planner
    with a ``disagreement`` penalty on a model that has no ``disagreement`` (not an ensemble).

    Raises:
        ConfigError: naming the section and the problem.
    """
    from grasp_agent.experiments.pipeline import build_model, make_env
    from grasp_agent.experiments.planning import with_disagreement

    def penalised(data: Any, prefix: str) -> dict[str, Any]:
        """The planners of ``cfg.planners`` and ``data.dyna_planner`` that carry a penalty."""
        specs = {f"planners.{n}": spec for n, spec in (getattr(cfg, "planners", None) or {}).items()
                 if spec.disagreement}
        if data is not None and data.dyna_planner.disagreement:
            specs[f"{prefix}.data.dyna_planner"] = data.dyna_planner
        return specs

    pairs = []
    if getattr(cfg, "env", None) is not None and getattr(cfg, "model", None) is not None:
        pairs.append(("config", cfg.env, cfg.model, penalised(getattr(cfg, "data", None), "config")))
    dyna = getattr(cfg, "grasp", None)
    if getattr(cfg, "env", None) is not None and dyna is not None:
        pairs.append(("config.grasp", cfg.env, dyna.model,
                      {"grasp.planner": dyna.planner} if dyna.planner.disagreement else {}))
    for env_name, case in (getattr(cfg, "envs", None) or {}).items():
        where = f"config.envs.{env_name}"
        pairs.append((where, case.env, case.model, penalised(getattr(case, "data", None), where)))
    for where, env_section, model_section, specs in pairs:
        try:
            env = make_env(env_section)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"{where}.env: cannot build {env_section.id!r}: {err}") from err
        try:
            _check_graph_planners(cfg, where, env)
            model = build_model(model_section, env)
        except ConfigError as err:
            raise ConfigError(f"{where}.{err}") from err
        finally:
            env.close()
        for name, spec in specs.items():
            try:
                with_disagreement(spec, model)
            except ConfigError as err:
                raise ConfigError(f"{where}.model: {name} charges a disagreement penalty: {err}") from err


def _check_graph_planners(cfg: Any, where: str, env: Any) -> None:
    """Third-party envs: a planner with ``init: graph`` or ``cost_to_go`` heads for the states of
    least goal cost, so it runs on goal envs only (a reward env names its other planners in
    ``planners``)."""
    from grasp_agent.experiments.planning import needs_state_graph
    from grasp_agent.experiments.third_party import is_goal_env, selected_planners

    if cfg.experiment != "third_party" or is_goal_env(env.observation_space):
        return
    case = cfg.envs[where.rsplit(".", 1)[1]]
    graph = [n for n in selected_planners(cfg, case) if needs_state_graph(cfg.planners[n])]
    if graph:
        raise ConfigError(f"{where}: planners {graph} start from the state graph (init: graph or "
                          f"cost_to_go), which needs a goal task, but {case.env.id} is a reward task; "
                          f"list the others in {where}.planners")


def run_experiment(cfg: Any, out_dir: str | Path = "runs", tensorboard: bool = True,
                   resume: bool = False, backend: str = "inprocess", address: str | None = None,
                   num_cpus: int | None = None) -> RunDir:
    """Seed, open the run directory, run the experiment and write its results.

    With ``resume`` (horizon sweeps only) the run directory of the same config is reopened and
    the cells it already holds are not run again, so a long sweep can be run in pieces (for
    example under ``timeout``) and still give one set of results.

    ``backend="ray"`` (horizon sweeps only) runs the cells as Ray tasks: on a local Ray instance
    of ``num_cpus`` CPUs (default: the machine's), or on the running cluster at ``address``
    (``"auto"``, ``HOST:PORT`` or ``ray://HOST:PORT``), with the results of the default
    in-process backend. Ray is checked (installed, address reachable) before the run directory
    is created.

    Raises:
        ConfigError: an invalid config, or ``backend="ray"`` for another family.
        grasp_agent.experiments.backends.BackendError: Ray missing or unreachable, bad options.

    Returns:
        The closed :class:`RunDir` (``run_dir.path`` holds every output, ``run_dir.summary``
        the headline numbers).
    """
    if cfg.experiment not in EXPERIMENT_RUNNERS:
        raise ConfigError(f"no runner for experiment {cfg.experiment!r}")
    if resume and cfg.experiment not in RESUMABLE:
        raise ConfigError(f"--resume is supported for {sorted(RESUMABLE)} only, not "
                          f"{cfg.experiment!r}; run it without --resume")
    if backend != "inprocess" and cfg.experiment not in DISTRIBUTED:
        raise ConfigError(f"--backend {backend} runs {sorted(DISTRIBUTED)} only, not {cfg.experiment!r}; "
                          "run it without --backend (in this process)")
    check_run_settings(cfg)
    check_planner_specs(cfg)
    check_components(cfg)
    if getattr(cfg, "models_from", None) is not None:  # a foreign or mismatched run fails here
        from grasp_agent.experiments.sweep_models import check_models_from

        check_models_from(cfg, list(cfg.envs))
    from grasp_agent.experiments.backends import make_backend

    runner = make_backend(backend, address, num_cpus)
    runner_kwargs = {"backend": runner} if cfg.experiment in DISTRIBUTED else {}
    module_name, func_name = EXPERIMENT_RUNNERS[cfg.experiment].split(":")
    func = getattr(importlib.import_module(module_name), func_name)
    seed_everything(cfg.seed)
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, cfg.threads))
    start = time.perf_counter()
    try:
        with RunDir(out_dir, cfg, tensorboard=tensorboard, resume=resume) as run_dir:
            logger.info("run directory: %s", run_dir.path)
            summary = func(cfg, run_dir, **runner_kwargs) or {}
            run_dir.summary.update(summary)
            run_dir.summary["wall_time_s"] = time.perf_counter() - start
    finally:
        torch.set_num_threads(threads)
    return run_dir
