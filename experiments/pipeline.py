"""The shared front half of every planning experiment: env, exploration data, world model, training."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any

import gymnasium as gym

import grasp_agent  # noqa: F401  (registers the environments)
from grasp_agent.agents.exploration import ExplorationAgent
from grasp_agent.data import ReplayBuffer, collect
from grasp_agent.experiments.config import ConfigError
from grasp_agent.experiments.schema import DataSection, EnvSection, ModelSection, TrainSection
from grasp_agent.models.base import TrainableWorldModel, check_trainable
from grasp_agent.models.registry import make_world_model
from grasp_agent.training.loop import FitConfig, fit_world_model

logger = logging.getLogger(__name__)

def env_wrappers(env: gym.Env) -> list[str]:
    """The config names of the wrappers :func:`make_env` applied to ``env`` (outermost last)."""
    from grasp_agent.wrappers import DiscreteToBoxWrapper

    names = []
    while isinstance(env, gym.Wrapper):
        if isinstance(env, DiscreteToBoxWrapper):
            names.append("discrete_to_box")
        env = env.env
    return names[::-1]


def make_env(section: EnvSection) -> gym.Env:
    """``gymnasium.make`` the configured env (time-limit override applied)."""
    kwargs = dict(section.kwargs)
    if section.max_episode_steps is not None:
        kwargs["max_episode_steps"] = section.max_episode_steps
    try:
        env = gym.make(section.id, **kwargs)
    except gym.error.Error as err:
        raise ConfigError(f"env.id {section.id!r}: {err}") from err
    for name in section.wrappers:
        if name == "discrete_to_box":
            from grasp_agent.wrappers import DiscreteToBoxWrapper

            env = DiscreteToBoxWrapper(env)
    return env


def collect_data(env: gym.Env, section: DataSection, progress: bool = False) -> ReplayBuffer:
    """Collect about ``episodes x episode_steps`` exploration steps on ``env`` into a ReplayBuffer.

    The data go through :func:`grasp_agent.data.collect` (the collector users call) with an
    :class:`~grasp_agent.agents.exploration.ExplorationAgent`: uniform actions held for
    ``action_repeat`` steps, and the ``goal_directed_fraction`` of episodes driven by a noisy
    goal-directed agent. Episodes end at termination, truncation or ``episode_steps`` (a
    ``TimeLimit``); the step budget counts every env step, reset steps included.
    """
    space = env.action_space
    if not isinstance(space, gym.spaces.Box):
        raise ConfigError(f"exploration data needs a Box action space, got {space}; wrap "
                          "Discrete envs with grasp_agent.wrappers.DiscreteToBoxWrapper")
    try:
        policy = ExplorationAgent(space, env.observation_space, action_repeat=section.action_repeat,
                                  goal_directed_fraction=section.goal_directed_fraction,
                                  goal_noise=section.goal_noise, seed=section.seed)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"data settings do not fit this env: {err}") from err
    venv = gym.vector.SyncVectorEnv([lambda: gym.wrappers.TimeLimit(env, section.episode_steps)])
    n_steps = section.episodes * section.episode_steps
    return collect(venv, n_steps, policy=policy, seed=section.seed, capacity=n_steps + 1,
                   progress=progress)


def build_model(section: ModelSection, env: gym.Env) -> TrainableWorldModel:
    """Construct the registered model type ``section.type`` for ``env``'s spaces."""
    try:
        model = make_world_model(section.type, env.observation_space, env.action_space, **section.kwargs)
    except TypeError as err:
        raise ConfigError(f"model.kwargs {section.kwargs} do not fit model type {section.type!r}: "
                          f"{err}") from err
    except ValueError as err:
        raise ConfigError(f"model: {err}") from err
    try:
        return check_trainable(model)
    except TypeError as err:
        raise ConfigError(f"model.type {section.type!r}: {err}") from err


def fit_config(section: TrainSection, device: str) -> FitConfig:
    """The :class:`~grasp_agent.training.FitConfig` of a config's ``train`` section."""
    return FitConfig(device=device, **dataclasses.asdict(section))


def train_model(model: TrainableWorldModel, buffer: ReplayBuffer, section: TrainSection, device: str,
                checkpoint: str | Path | None = None) -> dict[str, Any]:
    """Train ``model`` on ``buffer`` with the one trainer; returns ``train/...`` metrics.

    With ``checkpoint``, the training is saved there after every validation and resumed from
    there (see :func:`grasp_agent.training.fit_world_model`).
    """
    result = fit_world_model(model, buffer, fit_config(section, device), checkpoint_path=checkpoint)
    return {"train/best_val_loss": result.best_val_loss, "train/steps": result.steps,
            "train/wall_time_s": result.wall_time_s, "train/transitions": len(buffer),
            "train/history": result.history}


def train_on_env(env: gym.Env, data_cfg: DataSection, model_cfg: ModelSection, train_cfg: TrainSection,
                 device: str, run_dir: Any, series: str = "", progress: bool = False,
                 checkpoint: str | Path | None = None) -> tuple[TrainableWorldModel, dict[str, Any]]:
    """Collect exploration data on ``env``, train the configured model, log ``train/...`` scalars.

    ``checkpoint`` makes the training resumable (the data collection is seeded, so a rerun
    collects the same transitions and continues the training where it stopped).

    Returns:
        The trained model and metrics (``train/...``, ``data/wall_time_s``, the share of
        transitions that touch an obstacle ``data/obstacle_contact_fraction``, and the
        ``train/history`` of validations).
    """
    data_env = env
    if data_cfg.env_kwargs:
        spec = env.spec
        data_env = make_env(EnvSection(id=spec.id, kwargs={**spec.kwargs, **data_cfg.env_kwargs},
                                       max_episode_steps=spec.max_episode_steps,
                                       wrappers=list(env_wrappers(env))))
    start = time.perf_counter()
    buffer = collect_data(data_env, data_cfg, progress=progress)
    data_time = time.perf_counter() - start
    prefix = f"[{series}] " if series else ""
    logger.info("%scollected %d transitions in %.1f s", prefix, len(buffer), data_time)
    model = build_model(model_cfg, env)
    metrics = train_model(model, buffer, train_cfg, device, checkpoint=checkpoint)
    history = metrics["train/history"]
    step = train_cfg.eval_every
    for i, (tr, va) in enumerate(zip(history.get("train/loss", []), history.get("val/loss", []))):
        run_dir.log_scalar("train/loss", tr, (i + 1) * step, series)
        run_dir.log_scalar("train/val_loss", va, (i + 1) * step, series)
    logger.info("%strained %s for %d steps in %.1f s (val loss %.4g)", prefix, model_cfg.type,
                metrics["train/steps"], metrics["train/wall_time_s"], metrics["train/best_val_loss"])
    metrics["data/wall_time_s"] = data_time
    metrics["data/obstacle_contact_fraction"] = float(buffer.transitions()["touches"].mean())
    return model, metrics
