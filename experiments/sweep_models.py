"""World models a horizon sweep takes from another run instead of training them (``models_from``).

A sweep's world model depends only on its env's ``env``, ``data``, ``model`` and ``train``
sections (and the run's ``seed``); planners, horizons and the evaluation settings do not touch
it. So new planners or modes can be run on the models of a finished run without training them
again::

    python -m grasp_agent.experiments run planners_walldoor_pixels \\
        "models_from=runs/planners_walldoor_pixels-seed0-901ff8a2" "planners={...}" --resume

:func:`import_models` checks that the other run would have trained exactly the model this
config asks for (the four sections and the seed are equal), reads its ``models/<env>.pt``
(tensors only, ``weights_only=True``) and copies the model's report files next to the new
run's model. A planner with ``init: graph`` needs the state graph of the training data: a model
saved without one gets it here, from the training data collected again (seeded, so the same
data) and encoded by the model (:func:`attach_state_graph`).
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from grasp_agent.experiments.config import ConfigError, load_config, to_dict
from grasp_agent.experiments.pipeline import collect_data, make_env
from grasp_agent.experiments.planning import needs_state_graph
from grasp_agent.planners.state_graph import StateGraph

logger = logging.getLogger(__name__)

#: the parts of a sweep env entry that decide its world model
MODEL_SECTIONS = ("env", "data", "model", "train")


def source_config(models_from: str | Path) -> Any:
    """The resolved config of the run directory ``models_from`` (its ``config.yaml``).

    Raises:
        ConfigError: no such directory, no ``config.yaml`` in it, or not a horizon sweep's.
    """
    path = Path(models_from)
    if not (path / "config.yaml").is_file():
        raise ConfigError(f"models_from: {str(path)!r} is not a run directory (no config.yaml in it); "
                          "give the directory a horizon-sweep run wrote, e.g. runs/<name>-seed0-<hash>")
    try:
        cfg = load_config(path / "config.yaml")
    except ConfigError as err:
        raise ConfigError(f"models_from: the config of {str(path)!r} does not load: {err}") from err
    if cfg.experiment != "horizon_sweep":
        raise ConfigError(f"models_from: {str(path)!r} is a {cfg.experiment!r} run; only horizon-sweep "
                          "runs save models it can use")
    return cfg


def check_models_from(cfg: Any, env_names: list[str]) -> Path:
    """Check that ``cfg.models_from`` holds the trained model of every env in ``env_names``, each
    trained from the same ``env``, ``data``, ``model`` and ``train`` sections and seed as ``cfg``
    would train it. Returns the run directory; raises :class:`ConfigError` naming what differs."""
    root = Path(cfg.models_from)
    src = source_config(root)
    if src.seed != cfg.seed:
        raise ConfigError(f"models_from: {str(root)!r} trained its models with seed {src.seed}, this "
                          f"config has seed {cfg.seed}; set seed={src.seed} or train the models here")
    for name in env_names:
        if name not in src.envs:
            raise ConfigError(f"models_from: {str(root)!r} has no env {name!r} (it has "
                              f"{sorted(src.envs)}); remove models_from or the env")
        differ = [s for s in MODEL_SECTIONS
                  if to_dict(getattr(cfg.envs[name], s)) != to_dict(getattr(src.envs[name], s))]
        if differ:
            raise ConfigError(f"models_from: env {name!r} differs from {str(root)!r} in "
                              f"{', '.join(f'envs.{name}.{s}' for s in differ)}, so its model is not the "
                              "one this config trains; make those sections equal or remove models_from")
        if not (root / "models" / f"{name}.pt").is_file():
            raise ConfigError(f"models_from: {str(root / 'models' / (name + '.pt'))!r} does not exist "
                              "(that run has not finished training it); run it with --resume first")
    return root


def saved_state_graph(checkpoint: dict[str, Any]) -> StateGraph | None:
    """The :class:`StateGraph` saved in a model checkpoint's ``extra``, or ``None``."""
    graph = checkpoint["extra"].get("state_graph")
    return None if graph is None else StateGraph.from_state_dict(graph)


def attach_state_graph(checkpoint: dict[str, Any], case: Any, seed: int) -> dict[str, Any]:
    """Add ``extra["state_graph"]`` to a model checkpoint saved without one: the graph of the
    env's training data (``case.data``, collected again: seeded, so the same data) encoded by
    the checkpoint's model. Returns ``checkpoint`` (changed in place)."""
    from grasp_agent.models.io import model_from_checkpoint

    if checkpoint["extra"].get("state_graph") is None:
        model = model_from_checkpoint(checkpoint, "cpu").eval()
        env = make_env(case.env)
        try:
            buffer = collect_data(env, case.data)
        finally:
            env.close()
        checkpoint["extra"]["state_graph"] = StateGraph.from_buffer(buffer, model, seed=seed).state_dict()
    return checkpoint


def import_models(cfg: Any, env_names: list[str], models_dir: Path) -> dict[str, dict[str, Any]]:
    """The checkpoints of ``env_names`` from ``cfg.models_from`` (checked first by
    :func:`check_models_from`), with a state graph where ``cfg``'s planners need one; their
    report files are copied into ``models_dir`` (the caller saves the checkpoints there)."""
    from grasp_agent.models.io import read_checkpoint

    root = check_models_from(cfg, env_names)
    graph = any(needs_state_graph(spec) for spec in cfg.planners.values())
    out = {}
    for name in env_names:
        checkpoint = read_checkpoint(root / "models" / f"{name}.pt")
        if graph:
            attach_state_graph(checkpoint, cfg.envs[name], cfg.seed)
        checkpoint["extra"]["imported_from"] = str(root / "models" / f"{name}.pt")
        for report in (root / "models").glob(f"{name}.report.*"):
            shutil.copyfile(report, models_dir / report.name)
        logger.info("[%s] world model taken from %s (not trained here)", name, root)
        out[name] = checkpoint
    return out
