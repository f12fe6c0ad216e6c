"""The shared front half of every planning experiment: env, exploration data, world model, training.

Data: held uniform actions, goal-directed episodes (``data.goal_directed_fraction``), episodes
of the env's scripted policy (``data.scripted_fraction``, :data:`SCRIPTED_POLICIES`), then
optionally rounds of planner-driven collection through :class:`grasp_agent.dyna.DynaLoop`
(``data.dyna_rounds``). Training: the one trainer with the ``train`` section's
:class:`~grasp_agent.training.FitConfig` fields, then the model report on the held-out
episodes (``train.report``), written next to the saved model.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

import grasp_agent  # noqa: F401  (registers the environments)
from grasp_agent.agents.base import Agent, observation_batch_size
from grasp_agent.agents.exploration import ExplorationAgent
from grasp_agent.data import ReplayBuffer, collect
from grasp_agent.experiments.config import ConfigError
from grasp_agent.experiments.heldout import check_heldout, collect_heldout
from grasp_agent.experiments.schema import DataSection, EnvSection, ModelSection, TrainSection
from grasp_agent.models.base import TrainableWorldModel, check_trainable
from grasp_agent.models.registry import make_world_model
from grasp_agent.training.loop import FitConfig, fit_world_model
from grasp_agent.training.pipeline import report_model

logger = logging.getLogger(__name__)

#: env class name -> ``factory(env, noise=, seed=)`` of its scripted data policy
SCRIPTED_POLICIES: dict[str, Callable[..., Agent]] = {}
#: planner-driven episodes reset with seeds from ``data.seed + DYNA_SEED_OFFSET`` (disjoint from
#: the task seeds of the configs, 10_000..40_000 and their rejections)
DYNA_SEED_OFFSET = 1_000_000


def _scripted_pusher(env: gym.Env, noise: float, seed: int) -> Agent:
    from grasp_agent.envs.push_block_script import ScriptedPusher

    return ScriptedPusher.from_env(env, noise=noise, seed=seed)


SCRIPTED_POLICIES["PushBlockEnv"] = _scripted_pusher


class EpisodeMix(Agent):
    """SB3 ``predict``: a ``fraction`` of the episodes (evenly spread, episode ``e`` when
    ``floor((e + 1) f) > floor(e f)``) acted by ``scripted``, the others by ``other``; each sees
    ``episode_start`` only at the starts of its own episodes.

    Args:
        other, scripted: agents with ``predict(obs, state, episode_start, deterministic)``.
        fraction: share of the episodes for ``scripted``, in ``[0, 1]``.
    """

    def __init__(self, other: Agent, scripted: Agent, fraction: float) -> None:
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must be in [0, 1], got {fraction}")
        super().__init__(other.action_space, other.observation_space)
        self.other, self.scripted, self.fraction = other, scripted, float(fraction)
        self.episodes = 0
        self._mode: np.ndarray | None = None

    def predict(self, observation: Any, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        """Actions ``(B, A)`` for batched observations (``(A,)`` for one)."""
        n, single = observation_batch_size(observation, self.observation_space, episode_start)
        if self._mode is None or len(self._mode) != n:
            self._mode, starts = np.zeros(n, bool), np.ones(n, bool)
        else:
            starts = np.zeros(n, bool) if episode_start is None else \
                np.asarray(episode_start, bool).reshape(n)
        for i in np.flatnonzero(starts):
            e, f = self.episodes, self.fraction
            self._mode[i], self.episodes = math.floor((e + 1) * f) > math.floor(e * f), e + 1
        actions = np.zeros((n, *self.action_space.shape), self.action_space.dtype)
        for agent, mine in ((self.scripted, self._mode), (self.other, ~self._mode)):
            if mine.any():
                act, _ = agent.predict(observation, episode_start=starts & mine, deterministic=deterministic)
                actions[mine] = np.asarray(act).reshape(n, -1)[mine]
        return (actions[0] if single else actions), None

    def save(self, path: str | os.PathLike) -> None:
        raise NotImplementedError("EpisodeMix is a data-collection policy; save its two agents instead")

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


def collect_data(env: gym.Env, section: DataSection, progress: bool = False, policy: Any = None
                 ) -> ReplayBuffer:
    """Collect about ``episodes x episode_steps`` exploration steps on ``env`` into a ReplayBuffer.

    The data go through :func:`grasp_agent.data.collect` (the collector users call) with an
    :class:`~grasp_agent.agents.exploration.ExplorationAgent`: uniform actions held for
    ``action_repeat`` steps, and the ``goal_directed_fraction`` of episodes driven by a noisy
    goal-directed agent; with ``scripted_fraction``, that share of the episodes is driven by
    the env's scripted policy (:data:`SCRIPTED_POLICIES`) instead (:class:`EpisodeMix`).
    Episodes end at termination, truncation or ``episode_steps`` (a ``TimeLimit``); the step
    budget counts every env step, reset steps included. ``policy`` (an agent with SB3's
    ``predict``, e.g. a planner agent) drives every episode instead of that mix.
    """
    if policy is None:
        policy = exploration_policy(env, section)
    venv = gym.vector.SyncVectorEnv([lambda: gym.wrappers.TimeLimit(env, section.episode_steps)])
    n_steps = section.episodes * section.episode_steps
    return collect(venv, n_steps, policy=policy, seed=section.seed, capacity=n_steps + 1,
                   progress=progress)


def exploration_policy(env: gym.Env, section: DataSection) -> Agent:
    """The data policy of ``section``: held uniform actions, goal-directed and scripted episodes."""
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
    if section.scripted_fraction > 0:
        kind = type(env.unwrapped).__name__
        if kind not in SCRIPTED_POLICIES:
            raise ConfigError(f"data.scripted_fraction={section.scripted_fraction}: {kind} has no "
                              f"scripted policy (there are scripted policies for "
                              f"{sorted(SCRIPTED_POLICIES)}); set data.scripted_fraction to 0")
        try:
            scripted = SCRIPTED_POLICIES[kind](env, noise=section.scripted_noise, seed=section.seed + 2)
        except TypeError as err:
            raise ConfigError(f"data.scripted_fraction: {err}") from err
        policy = EpisodeMix(policy, scripted, section.scripted_fraction)
    return policy


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


#: ``train`` fields that configure the model report, not the trainer
REPORT_FIELDS = ("report", "report_horizons", "report_max_windows")


def fit_config(section: TrainSection, device: str) -> FitConfig:
    """The :class:`~grasp_agent.training.FitConfig` of a config's ``train`` section (the
    ``report*`` fields excluded)."""
    fields = {k: v for k, v in dataclasses.asdict(section).items() if k not in REPORT_FIELDS}
    return FitConfig(device=device, **fields)


def train_model(model: TrainableWorldModel, buffer: ReplayBuffer, section: TrainSection, device: str,
                checkpoint: str | Path | None = None, report_dir: str | Path | None = None,
                report_name: str = "model_report", report_split: Any = "touches",
                report_sets: Callable[[TrainableWorldModel], dict[str, ReplayBuffer]] | None = None
                ) -> dict[str, Any]:
    """Train ``model`` on ``buffer`` with the one trainer; returns ``train/...`` metrics.

    With ``checkpoint``, the training is saved there after every validation and resumed from
    there (see :func:`grasp_agent.training.fit_world_model`). With ``section.report`` the
    trained model is evaluated on the held-out episodes
    (:func:`grasp_agent.training.pipeline.report_model`: one logged line, ``model/nmse_H<h>``
    and ``model/diverged_H<h>`` metrics, windows split by ``report_split``) and, with
    ``report_dir``, the report is written there as ``<report_name>.json/.md/.png``;
    ``report_sets(trained model)`` gives further held-out sets for it (``data.heldout``:
    :func:`grasp_agent.experiments.heldout.collect_heldout`).
    """
    fit = fit_config(section, device)
    result = fit_world_model(model, buffer, fit, checkpoint_path=checkpoint)
    metrics = {"train/best_val_loss": result.best_val_loss, "train/steps": result.steps,
               "train/wall_time_s": result.wall_time_s, "train/transitions": len(buffer),
               "train/history": result.history}
    if section.report:
        sets = report_sets(model) if report_sets is not None else None
        metrics.update(report_model(model, buffer, fit, report_dir, report_name, section.report_horizons,
                                    section.report_max_windows, report_split, extra_sets=sets)[1])
    return metrics


def _episodes_into(source: ReplayBuffer, target: ReplayBuffer) -> None:
    """Copy every episode of ``source`` (oldest first) into ``target`` (goals are not copied)."""
    for ep in source.episode_ids():
        rows = np.flatnonzero(source.episode == ep)
        first = rows[np.argmax(source.remaining[rows])]
        length = int(source.remaining[first])
        if length < 1:
            continue
        seq = source.gather([first], length)
        target.add_episode(seq["obs"][0], seq["actions"][0], seq["rewards"][0],
                           source.terminated[int(ep)], seq["touches"][0])


def dyna_agent(env: gym.Env, model: Any, section: DataSection) -> Agent:
    """The MPC agent of the planner-driven data: ``data.dyna_planner`` on ``model``, planning
    ``dyna_horizon`` steps towards each episode's goal and replanning every ``dyna_replan_every``."""
    from grasp_agent.agents import make_agent
    from grasp_agent.experiments.config import from_dict
    from grasp_agent.experiments.planning import planner_classes, with_disagreement

    spec = section.dyna_planner
    planner_config = from_dict(planner_classes(spec.type)[1], dict(spec.params),
                               f"data.dyna_planner ({spec.type}) params")
    return make_agent(spec.type, model=model, action_space=env.action_space,
                      observation_space=env.observation_space, planner_config=planner_config,
                      horizon=section.dyna_horizon, replan_every=section.dyna_replan_every,
                      latent_goals=False, device=model.device, objective=with_disagreement(spec, model))


def planner_rounds(env: gym.Env, buffer: ReplayBuffer, model: TrainableWorldModel, section: DataSection,
                   train: TrainSection, device: str) -> tuple[ReplayBuffer, dict[str, Any]]:
    """``section.dyna_rounds`` rounds of planner-driven collection with :class:`grasp_agent.dyna.DynaLoop`.

    The loop starts from ``buffer``'s episodes, trains ``model`` (in place) for
    ``dyna_train_steps`` steps, then runs its iterations: ``dyna_steps`` env steps of
    receding-horizon MPC with ``dyna_planner`` on the current model towards each episode's goal
    (episodes of ``episode_steps``, resets seeded from ``seed + DYNA_SEED_OFFSET``), then a
    retrain of ``dyna_train_steps`` steps on all real data. Returns the loop's buffer (the
    initial episodes plus the planner's) and ``data/dyna_...`` metrics.
    """
    from grasp_agent.dyna import DynaConfig, DynaLoop

    fit = fit_config(train, device)
    fit = dataclasses.replace(fit, max_steps=section.dyna_train_steps,
                              eval_every=min(fit.eval_every, section.dyna_train_steps))
    capacity = len(buffer) + buffer.num_episodes + 2 * section.dyna_rounds * section.dyna_steps + 2
    collect_env = gym.wrappers.TimeLimit(env, section.episode_steps)
    agent = dyna_agent(env, model, section)
    cfg = DynaConfig(iterations=section.dyna_rounds, steps_per_iteration=section.dyna_steps, fit=fit,
                     imagined_rollouts=0, buffer_capacity=capacity, seed=section.seed + DYNA_SEED_OFFSET)
    loop = DynaLoop(collect_env, agent, model, config=cfg)
    _episodes_into(buffer, loop.buffer)
    start = time.perf_counter()
    loss = loop.retrain()
    logger.info("dyna: model trained %d steps on the initial %d transitions (val loss %.4g)",
                section.dyna_train_steps, len(buffer), loss)
    history = loop.run()
    metrics = {"data/dyna_transitions": len(loop.buffer) - len(buffer),
               "data/dyna_success_rate": float(np.mean([h.success_rate for h in history])),
               "data/dyna_wall_time_s": time.perf_counter() - start}
    return loop.buffer, metrics


def train_on_env(env: gym.Env, data_cfg: DataSection, model_cfg: ModelSection, train_cfg: TrainSection,
                 device: str, run_dir: Any, series: str = "", progress: bool = False,
                 checkpoint: str | Path | None = None
                 ) -> tuple[TrainableWorldModel, dict[str, Any], ReplayBuffer]:
    """Collect exploration data on ``env``, train the configured model, log ``train/...`` scalars.

    ``checkpoint`` makes the training resumable (the data collection is seeded, so a rerun
    collects the same transitions and continues the training where it stopped; with
    ``data.dyna_rounds`` the planner-driven rounds run again before it resumes). The model
    report (``train.report``) is written next to the model: beside ``checkpoint`` as
    ``<name>.report.*`` (the horizon sweep's ``models/<env>.report.*``), else in
    ``run_dir.path / "models"`` as ``model_report.*`` when ``run_dir`` has a path.

    Returns:
        The trained model, metrics (``train/...``, ``data/wall_time_s``, the share of
        transitions that touch an obstacle ``data/obstacle_contact_fraction``, on PushBlock
        the share in which the block moves ``data/block_moved_fraction``, ``data/dyna_...``
        with planner rounds, ``model/...`` from the report, and the ``train/history`` of
        validations) and the training data (the buffer).
    """
    data_env = env
    if data_cfg.env_kwargs:
        spec = env.spec
        data_env = make_env(EnvSection(id=spec.id, kwargs={**spec.kwargs, **data_cfg.env_kwargs},
                                       max_episode_steps=spec.max_episode_steps,
                                       wrappers=list(env_wrappers(env))))
    if data_cfg.heldout:
        check_heldout(data_env, data_cfg)
    start = time.perf_counter()
    buffer = collect_data(data_env, data_cfg, progress=progress)
    data_time = time.perf_counter() - start
    prefix = f"[{series}] " if series else ""
    logger.info("%scollected %d transitions in %.1f s", prefix, len(buffer), data_time)
    model = build_model(model_cfg, env)
    dyna_metrics: dict[str, Any] = {}
    if data_cfg.dyna_rounds > 0:
        buffer, dyna_metrics = planner_rounds(data_env, buffer, model, data_cfg, train_cfg, device)
        logger.info("%splanner-driven rounds added %d transitions (success %.2f) in %.1f s", prefix,
                    dyna_metrics["data/dyna_transitions"], dyna_metrics["data/dyna_success_rate"],
                    dyna_metrics["data/dyna_wall_time_s"])
    report_dir, report_name = None, "model_report"
    if checkpoint is not None:
        report_dir, report_name = Path(checkpoint).parent, Path(checkpoint).name.split(".")[0] + ".report"
    elif getattr(run_dir, "path", None) is not None:
        report_dir = Path(run_dir.path) / "models"
    push_block = type(env.unwrapped).__name__ == "PushBlockEnv" and buffer.obs_shape == (11,)
    split: Any = "touches"
    if push_block:  # pushes versus the rest, beside wall contact
        from grasp_agent.envs.push_block_script import split_by_block_motion as split
    sets = (lambda trained: collect_heldout(data_env, trained, data_cfg)) if data_cfg.heldout else None
    metrics = train_model(model, buffer, train_cfg, device, checkpoint=checkpoint, report_dir=report_dir,
                          report_name=report_name, report_split=split, report_sets=sets)
    history = metrics["train/history"]
    step = train_cfg.eval_every
    for i, (tr, va) in enumerate(zip(history.get("train/loss", []), history.get("val/loss", []))):
        run_dir.log_scalar("train/loss", tr, (i + 1) * step, series)
        run_dir.log_scalar("train/val_loss", va, (i + 1) * step, series)
    logger.info("%strained %s for %d steps in %.1f s (val loss %.4g)", prefix, model_cfg.type,
                metrics["train/steps"], metrics["train/wall_time_s"], metrics["train/best_val_loss"])
    metrics["data/wall_time_s"] = data_time
    transitions = buffer.transitions()
    metrics["data/obstacle_contact_fraction"] = float(transitions["touches"].mean())
    if push_block:
        from grasp_agent.envs.push_block_script import block_motion_fraction

        metrics["data/block_moved_fraction"] = block_motion_fraction(transitions)
        logger.info("%sthe block moves in %.1f%% of the transitions", prefix,
                    100 * metrics["data/block_moved_fraction"])
    metrics.update(dyna_metrics)
    return model, metrics, buffer
