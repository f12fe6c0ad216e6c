"""The shared front half of every planning experiment: env, random data, world model, training."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

import grasp_agent  # noqa: F401  (registers the environments)
from grasp_agent.experiments.config import ConfigError
from grasp_agent.experiments.schema import DataSection, EnvSection, ModelSection, TrainSection
from grasp_agent.models.base import WorldModel
from grasp_agent.training import TrainConfig, train_world_model

logger = logging.getLogger(__name__)

# model type -> (module, class name); the class takes (obs_shape or obs_dim, action_dim, **kwargs)
MODEL_REGISTRY: dict[str, tuple[str, str]] = {
    "mlp": ("grasp_agent.models", "MLPWorldModel"),
    "gru": ("grasp_agent.models", "GRUWorldModel"),
    "transformer": ("grasp_agent.models", "TransformerWorldModel"),
    "cnn": ("grasp_agent.models", "CNNWorldModel"),
}


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


@dataclass
class Transitions:
    """Flat transition arrays ``obs (N, *obs_shape)``, ``actions (N, A)``, ``next_obs``."""

    obs: np.ndarray
    actions: np.ndarray
    next_obs: np.ndarray
    touches_obstacle: np.ndarray
    wall_time_s: float

    def __len__(self) -> int:
        return len(self.actions)


def goal_directed_episodes(episodes: int, fraction: float) -> set[int]:
    """Indices of the episodes (out of ``episodes``) a goal-directed agent drives: evenly spread,
    ``round(fraction * episodes)`` of them."""
    count = int(round(fraction * episodes))
    if count == 0:
        return set()
    return {int(i) for i in np.floor(np.arange(count) * episodes / count)}


def collect_random(env: gym.Env, section: DataSection, progress: bool = False) -> Transitions:
    """Collect ``episodes x episode_steps`` exploration transitions (``observation`` key).

    Uniform-random episodes hold each sampled action for ``action_repeat`` steps; the
    ``goal_directed_fraction`` of episodes chosen by :func:`goal_directed_episodes` act with a
    :class:`grasp_agent.agents.GoalDirectedAgent` instead. Episodes end at termination, truncation or
    ``episode_steps``; the final observation of an episode is the ``next_obs`` of its last
    transition (never the first observation of the next one).
    """
    from tqdm.auto import tqdm

    space = env.action_space
    if not isinstance(space, gym.spaces.Box):
        raise ConfigError(f"random collection needs a Box action space, got {space}; wrap "
                          "Discrete envs with grasp_agent.wrappers.DiscreteToBoxWrapper")
    rng = np.random.default_rng(section.seed)
    directed = goal_directed_episodes(section.episodes, section.goal_directed_fraction)
    agent = None
    if directed:
        from grasp_agent.agents import GoalDirectedAgent

        try:
            agent = GoalDirectedAgent(space, env.observation_space, noise=section.goal_noise,
                                      seed=section.seed + 1)
        except (TypeError, ValueError) as err:
            raise ConfigError(f"data.goal_directed_fraction > 0 does not fit this env: {err}") from err
    obs_l, act_l, next_l, touch_l = [], [], [], []
    start = time.perf_counter()
    for ep in tqdm(range(section.episodes), desc="collect", disable=not progress, leave=False):
        obs, _ = env.reset(seed=section.seed * 100_003 + ep)
        action = None
        for t in range(section.episode_steps):
            if ep in directed:
                action = agent.predict(obs)[0].astype(space.dtype)
            elif t % section.action_repeat == 0:
                action = rng.uniform(space.low, space.high).astype(space.dtype)
            nxt, _, terminated, truncated, info = env.step(action)
            obs_l.append(obs["observation"])
            act_l.append(action)
            next_l.append(nxt["observation"])
            touch_l.append(bool(info.get("touches_obstacle", False)))
            obs = nxt
            if terminated or truncated:
                break
    return Transitions(np.stack(obs_l), np.stack(act_l).astype(np.float32), np.stack(next_l),
                       np.asarray(touch_l), time.perf_counter() - start)


def build_model(section: ModelSection, env: gym.Env) -> WorldModel:
    """Construct the configured world model for ``env``'s observation and action spaces."""
    import importlib

    module_name, cls_name = MODEL_REGISTRY[section.type]
    module = importlib.import_module(module_name)
    if not hasattr(module, cls_name):
        raise ConfigError(f"model.type {section.type!r} needs {module_name}.{cls_name}, which this "
                          f"installation does not provide; use one of: mlp")
    obs_space = env.observation_space["observation"]
    action_dim = int(np.prod(env.action_space.shape))
    first = int(np.prod(obs_space.shape)) if section.type == "mlp" else tuple(obs_space.shape)
    try:
        return getattr(module, cls_name)(first, action_dim, **section.kwargs)
    except TypeError as err:
        raise ConfigError(f"model.kwargs {section.kwargs} do not fit {cls_name}: {err}") from err


def train_model(model: WorldModel, data: Transitions, section: TrainSection, device: str,
                checkpoint: str | Path | None = None) -> dict[str, Any]:
    """Train ``model`` on ``data``; returns ``train/...`` metrics.

    With ``checkpoint``, the training is saved there after every epoch and resumed from there
    (see :mod:`grasp_agent.training.trainer`).
    """
    cfg = TrainConfig(epochs=section.epochs, batch_size=section.batch_size, lr=section.lr,
                      weight_decay=section.weight_decay, val_fraction=section.val_fraction,
                      patience=section.patience, seed=section.seed, device=device)
    obs = torch.as_tensor(data.obs)
    nxt = torch.as_tensor(data.next_obs)
    result = train_world_model(model, obs, torch.as_tensor(data.actions), nxt, cfg, checkpoint=checkpoint)
    return {"train/best_val_loss": result.best_val_loss, "train/epochs": result.epochs,
            "train/wall_time_s": result.wall_time_s, "train/transitions": len(data),
            "train/history": result.history}


def train_on_env(env: gym.Env, data_cfg: DataSection, model_cfg: ModelSection, train_cfg: TrainSection,
                 device: str, run_dir: Any, series: str = "", progress: bool = False,
                 checkpoint: str | Path | None = None) -> tuple[WorldModel, dict[str, Any]]:
    """Collect random data on ``env``, train the configured model, log ``train/...`` scalars.

    ``checkpoint`` makes the training resumable (the data collection is seeded, so a rerun
    collects the same transitions and continues the training where it stopped).

    Returns:
        The trained model and metrics (``train/...``, ``data/wall_time_s``, the share of
        transitions that touch an obstacle ``data/obstacle_contact_fraction``, and the per-epoch
        ``train/history``).
    """
    data_env = env
    if data_cfg.env_kwargs:
        spec = env.spec
        data_env = make_env(EnvSection(id=spec.id, kwargs={**spec.kwargs, **data_cfg.env_kwargs},
                                       max_episode_steps=spec.max_episode_steps,
                                       wrappers=list(env_wrappers(env))))
    data = collect_random(data_env, data_cfg, progress=progress)
    logger.info("%scollected %d transitions in %.1f s", f"[{series}] " if series else "", len(data),
                data.wall_time_s)
    model = build_model(model_cfg, env)
    metrics = train_model(model, data, train_cfg, device, checkpoint=checkpoint)
    history = metrics["train/history"]
    for epoch, (tr, va) in enumerate(zip(history["train/loss"], history.get("val/loss", [])), 1):
        run_dir.log_scalar("train/loss", tr, epoch, series)
        run_dir.log_scalar("train/val_loss", va, epoch, series)
    logger.info("%strained %s for %d epochs in %.1f s (val loss %.4g)", f"[{series}] " if series else "",
                model_cfg.type, metrics["train/epochs"], metrics["train/wall_time_s"],
                metrics["train/best_val_loss"])
    metrics["data/wall_time_s"] = data.wall_time_s
    metrics["data/obstacle_contact_fraction"] = float(np.mean(data.touches_obstacle))
    return model, metrics
