"""From an environment id to a trained world model in one call.

``train_from_env("grasp_agent/WallDoor-v0", model="gru")`` collects random experience through
a vector env, builds a model that fits the observation space (state vector, RGB pixels or
MiniGrid grid), trains it with :func:`~grasp_agent.training.loop.fit_world_model` and, given a
``run_dir``, keeps everything needed to resume or reuse the run there::

    run_dir/buffer.npz   the replay buffer (reused on a rerun)
    run_dir/train.pt     the resumable training checkpoint
    run_dir/tb/          TensorBoard logs
    run_dir/model.pt     the best model (grasp_agent.load_world_model), with env metadata
    run_dir/config.json  the resolved configuration
"""

from __future__ import annotations

import dataclasses
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from grasp_agent.data.buffer import ReplayBuffer
from grasp_agent.data.collect import collect, make_vector_env
from grasp_agent.models.base import TrainableWorldModel, check_trainable
from grasp_agent.models.io import save_world_model
from grasp_agent.models.registry import make_world_model, world_model_builder
from grasp_agent.training.loop import FitConfig, FitResult, fit_world_model
from grasp_agent.utils import atomic_json_dump

logger = logging.getLogger(__name__)


@dataclass
class TrainedWorldModel:
    """What :func:`train_from_env` returns."""

    model: TrainableWorldModel
    buffer: ReplayBuffer
    result: FitResult
    run_dir: Path | None
    action_block: int


def train_from_env(env_id: str, model: str | TrainableWorldModel = "mlp", *, n_steps: int = 20_000,
                   num_envs: int = 4, env_kwargs: dict[str, Any] | None = None, action_block: int = 1,
                   policy: Any = None, fit_config: FitConfig | None = None,
                   model_kwargs: dict[str, Any] | None = None, run_dir: str | os.PathLike | None = None,
                   resume: bool = True, seed: int = 0, progress: bool = True) -> TrainedWorldModel:
    """Collect data in ``env_id``, build and train a world model; return it with its data.

    Args:
        model: a registered model type (:data:`grasp_agent.models.WORLD_MODELS`: ``"mlp"``,
            ``"gru"``, ``"transformer"``, ...) or a built :class:`~grasp_agent.TrainableWorldModel`.
        n_steps: env steps to collect (random policy with held actions unless ``policy``).
        env_kwargs: keyword arguments of the env (e.g. ``{"obs_mode": "pixels"}``).
        action_block: env actions per model step.
        fit_config: training settings (defaults: :class:`FitConfig` with ``seed`` and
            ``action_block`` filled in).
        run_dir: keep buffer, checkpoint, logs and the final model here (nothing saved if None);
            with ``resume`` an existing buffer is reused and training resumes from its checkpoint.

    Raises:
        ValueError: ``model`` names no registered type (checked before any data is collected).
        TypeError: ``model`` (or what its type's builder returns) is not trainable; a built
            model is checked before any data is collected, with a message that lists what is missing.
    """
    if isinstance(model, str):
        world_model_builder(model)  # an unknown type fails before the data is collected
    else:
        check_trainable(model)
    cfg = fit_config or FitConfig(seed=seed)
    cfg = dataclasses.replace(cfg, action_block=action_block)
    run = Path(run_dir) if run_dir is not None else None
    buffer_path = run / "buffer.npz" if run else None
    if buffer_path is not None and resume and buffer_path.exists():
        buffer = ReplayBuffer.load(buffer_path)
        logger.info("reusing %d transitions from %s", len(buffer), buffer_path)
    else:
        buffer = collect(env_id, n_steps, policy=policy, num_envs=num_envs, seed=seed, env_kwargs=env_kwargs,
                         progress=progress)
        if buffer_path is not None:
            buffer.save(buffer_path)
    if isinstance(model, str):
        probe = make_vector_env(env_id, 1, env_kwargs)
        try:
            net = make_world_model(model, probe.single_observation_space, probe.single_action_space,
                                   action_block, **(model_kwargs or {}))
        finally:
            probe.close()
        check_trainable(net)
    else:
        net = model
    if run is not None:
        kind = model if isinstance(model, str) else type(model).__name__
        atomic_json_dump({"env_id": env_id, "model": kind,
                          "model_config": net.get_config(), "n_steps": n_steps, "num_envs": num_envs,
                          "env_kwargs": env_kwargs or {}, "action_block": action_block, "seed": seed,
                          "fit_config": dataclasses.asdict(cfg)}, run / "config.json", default=_jsonable)
    result = fit_world_model(net, buffer, cfg, logdir=run / "tb" if run else None,
                             checkpoint_path=run / "train.pt" if run else None, buffer_path=buffer_path,
                             resume=resume)
    if run is not None:
        save_world_model(net, run / "model.pt", extra={"env_id": env_id, "env_kwargs": env_kwargs or {},
                                                       "action_block": action_block,
                                                       "metrics": result.metrics})
    return TrainedWorldModel(net, buffer, result, run, action_block)


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    if isinstance(x, tuple):
        return list(x)
    return str(x)
