"""From an environment to a trained world model (with task heads) in one call.

``train_from_env("Pendulum-v1", model="mlp")`` collects random experience through a vector env,
builds a model that fits the observation space (state vector, RGB pixels or MiniGrid grid),
trains it with :func:`~grasp_agent.training.loop.fit_world_model`, then trains
:class:`~grasp_agent.models.heads.TaskHeads` on its latents (a goal head for goal-Dict envs,
a reward head for reward-defined ones) so a planner can score any task. The env may be an id,
a ``gymnasium.Env`` instance or a factory. Given a ``run_dir``, it keeps everything needed to
resume or reuse the run there::

    run_dir/buffer.npz   the replay buffer (reused on a rerun)
    run_dir/train.pt     the resumable training checkpoint
    run_dir/tb/          TensorBoard logs
    run_dir/model.pt     the best model (grasp_agent.load_world_model), with env metadata and
                         the task heads (grasp_agent.models.load_task_heads)
    run_dir/config.json  the resolved configuration
    run_dir/model_report.{json,md,png}  the model's one-step and H-step errors on the episodes
                         the trainer held out (:func:`report_model`; ``report=False`` skips it)
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import torch

from grasp_agent.data.buffer import ReplayBuffer
from grasp_agent.data.collect import EnvSpec, collect, goal_dim_of, make_vector_env
from grasp_agent.models.base import TrainableWorldModel, check_trainable
from grasp_agent.models.heads import HEAD_NAMES, TaskHeads, load_task_heads
from grasp_agent.models.heads_fit import fit_task_heads
from grasp_agent.models.io import load_into, read_checkpoint, save_world_model
from grasp_agent.models.registry import make_world_model, observation_box, world_model_builder
from grasp_agent.planners.state_graph import StateGraph
from grasp_agent.training.checkpoint import read_training_checkpoint
from grasp_agent.training.loop import FitConfig, FitResult, _split_episodes, fit_world_model
from grasp_agent.training.report import Episodes, evaluate_world_model, write_model_report
from grasp_agent.utils import atomic_json_dump

logger = logging.getLogger(__name__)

#: the ``H`` of the report written after training (1 = the one-step error)
REPORT_HORIZONS = (1, 10, 50, 100)
#: windows per horizon at most in that report (a seeded subset: it stays cheap)
REPORT_MAX_WINDOWS = 500
#: held-out share when the trainer held out nothing (``val_fraction=0``): the last episodes
FALLBACK_HELD_OUT = 0.1


@dataclass
class TrainedWorldModel:
    """What :func:`train_from_env` returns; ``heads`` is None when no task head was trained."""

    model: TrainableWorldModel
    buffer: ReplayBuffer
    result: FitResult
    run_dir: Path | None
    action_block: int
    heads: TaskHeads | None = None
    seed: int = 0

    def state_graph(self, max_nodes: int = 2048, seed: int | None = None) -> StateGraph:
        """The :class:`~grasp_agent.planners.StateGraph` of the collected data, encoded by the
        trained model: what GRASP's ``init="graph"`` plans on. ``max_nodes`` farthest-point
        samples of the data's latents (seeded by ``seed``, default the run's seed) as nodes::

            trained = train_from_env("gymnasium_robotics:PointMaze_UMaze-v3")
            agent = GRASPAgent.from_env(env, trained.model, heads=trained.heads,
                                        planner_config=GRASPConfig.preset("graph"),
                                        state_graph=trained.state_graph())
        """
        return StateGraph.from_buffer(self.buffer, self.model.eval(), max_nodes=max_nodes,
                                      seed=self.seed if seed is None else seed)


def _check_spaces(envs: gym.vector.VectorEnv) -> None:
    observation_box(envs.single_observation_space,
                    "; wrap the env with an ObservationWrapper that maps them to a Box (e.g. a one-hot "
                    "vector for a Discrete space) and pass it as wrapper_class")


def _wanted_heads(heads: Any, buffer: ReplayBuffer, has_goal_space: bool, goal_env: bool) -> dict[str, bool]:
    """Resolve ``heads`` ("auto", True, False or a dict) to ``{"goal", "reward", "termination"}``.

    ``"auto"`` learns no reward head on a goal-Dict env (``goal_env``): its reward depends on the
    desired goal, which the latent does not hold; image goals are encoded by the planner instead.
    """
    has_goal = buffer.goal_dim is not None
    has_reward = bool(np.any(buffer.rewards[buffer.remaining > 0] != 0))
    has_term = any(buffer.terminated.values())
    if has_goal_space and not has_goal:
        logger.warning("the env has achieved goals but the reused buffer keeps none (an older file); "
                       "pass resume=False to collect them and learn a goal head")
    if heads == "auto" or heads is True:
        reward = has_reward and (heads is True or not goal_env)
        wanted = {"goal": has_goal, "reward": reward, "termination": reward and has_term}
        if heads is True and not any(wanted.values()):
            raise ValueError("heads=True, but the env has neither achieved goals (a Dict observation with "
                             "'achieved_goal') nor rewards (every stored reward is 0): there is no task to "
                             "learn; pass heads=False")
        return wanted
    if heads is False or heads is None:
        return dict.fromkeys(HEAD_NAMES, False)
    if not isinstance(heads, dict) or set(heads) - set(HEAD_NAMES) \
            or not all(isinstance(v, bool) for v in heads.values()):
        raise ValueError(f"heads must be 'auto', True, False or a dict of bools with keys from {HEAD_NAMES}, "
                         f"got {heads!r}")
    wanted = {name: bool(heads.get(name, False)) for name in HEAD_NAMES}
    if wanted["goal"] and not has_goal:
        raise ValueError("a goal head needs achieved goals, but the env's observations have no "
                         "'achieved_goal' entry; drop 'goal' from heads")
    if wanted["reward"] and not has_reward:
        raise ValueError("a reward head needs rewards, but every stored reward is 0; drop 'reward' from "
                         "heads")
    return wanted


def _fit_heads(net: TrainableWorldModel, buffer: ReplayBuffer, wanted: dict[str, bool], cfg: FitConfig,
               heads_kwargs: dict[str, Any] | None) -> tuple[TaskHeads | None, dict[str, float]]:
    if not any(wanted.values()):
        return None, {}
    kwargs = {"val_fraction": cfg.val_fraction, "seed": cfg.seed, **(heads_kwargs or {})}
    hidden = kwargs.pop("hidden_sizes", (128, 128))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(kwargs["seed"])  # the heads' initial weights follow the seed too
        heads = TaskHeads(net.latent_dim, net.action_dim, buffer.goal_dim if wanted["goal"] else None,
                          wanted["reward"], wanted["termination"], hidden)
    metrics = fit_task_heads(net, heads, buffer, action_block=cfg.action_block, **kwargs)
    return heads, metrics


def held_out_episodes(buffer: ReplayBuffer, cfg: FitConfig) -> np.ndarray:
    """The episode ids :func:`~grasp_agent.training.fit_world_model` holds out for validation.

    The trainer's split is the first draw of its generator seeded ``cfg.seed``, so it is
    recomputed here exactly (a training resumed from a checkpoint keeps the split it started
    with, the same one). With ``val_fraction=0`` (nothing held out) or fewer than two episodes,
    the last 10% of the episodes (at least one) stand in: those were trained on.
    """
    ids = buffer.episode_ids()
    if cfg.val_fraction > 0 and len(ids) >= 2:
        return _split_episodes(buffer, cfg, np.random.default_rng(cfg.seed))
    return ids[-max(1, int(round(FALLBACK_HELD_OUT * len(ids)))):]


def report_summary(report: dict[str, Any]) -> str:
    """One line: the nmse (and diverged windows) at every horizon of ``report["groups"]["all"]``."""
    parts = []
    for h in report["horizons"]:
        s = report["groups"]["all"][str(h)]
        parts.append(f"H={h} nmse {s['nmse']:.3g}" + (f" ({s['diverged']} of {s['windows']} diverged)"
                                                       if s["diverged"] else ""))
    return f"{report['model']} open-loop error on held-out episodes: " + ", ".join(parts)


def report_model(model: TrainableWorldModel, buffer: ReplayBuffer, cfg: FitConfig,
                 directory: str | os.PathLike | None = None, name: str = "model_report",
                 horizons: tuple[int, ...] | list[int] = REPORT_HORIZONS,
                 max_windows: int = REPORT_MAX_WINDOWS, split_fn: Any = "touches",
                 extra_sets: Mapping[str, Episodes] | None = None
                 ) -> tuple[dict[str, Any], dict[str, float]]:
    """Evaluate a trained model on the episodes its training held out; log and write the report.

    :func:`~grasp_agent.training.report.evaluate_world_model` on :func:`held_out_episodes`
    (windows split by ``split_fn``, default obstacle contact), logged as one line
    (:func:`report_summary`) and, with ``directory``, written there as ``name.json``,
    ``name.md`` and ``name.png`` (:func:`~grasp_agent.training.report.write_model_report`).
    ``extra_sets`` (``{set name: episodes}``, e.g. fresh goal-directed or planner-driven
    episodes) are evaluated too, on the held-out episodes' latent variance (one nmse scale):
    their groups join the report as ``<set>`` and ``<set>/<split group>``.

    Returns:
        The report and flat metrics ``model/nmse_H<h>``, ``model/diverged_H<h>`` (group
        ``all``) and ``model/<set>/nmse_H<h>``, ``model/<set>/diverged_H<h>`` per extra set.
    """
    report = evaluate_world_model(model, buffer, horizons=tuple(horizons), split_fn=split_fn,
                                  episodes=held_out_episodes(buffer, cfg), max_windows=max_windows,
                                  action_block=cfg.action_block, seed=cfg.seed)
    logger.info("%s", report_summary(report))
    sets = {"": "all"}
    for set_name, data in (extra_sets or {}).items():
        if not set_name or "/" in set_name or set_name in report["groups"]:
            raise ValueError(f"extra set name {set_name!r} must be non-empty, without '/', and not a "
                             f"group of the report ({sorted(report['groups'])})")
        sub = evaluate_world_model(model, data, horizons=tuple(horizons), split_fn=split_fn,
                                   max_windows=max_windows, action_block=cfg.action_block, seed=cfg.seed,
                                   latent_var=report["latent_var"])
        for group, by_h in sub["groups"].items():
            report["groups"][set_name if group == "all" else f"{set_name}/{group}"] = by_h
        logger.info("%s", report_summary({**sub, "model": f"{sub['model']} ({set_name} episodes)"}))
        sets[f"{set_name}/"] = set_name
    if directory is not None:
        paths = write_model_report(report, directory, name)
        logger.info("model report written to %s", paths["md"])
    flat: dict[str, float] = {}
    for prefix, group in sets.items():
        for h in report["horizons"]:
            s = report["groups"][group][str(h)]
            flat[f"model/{prefix}nmse_H{h}"] = float(s["nmse"])
            flat[f"model/{prefix}diverged_H{h}"] = float(s["diverged"])
    return report, flat


def _finished(model_path: Path, cfg: FitConfig) -> dict[str, Any] | None:
    """The ``extra`` of a finished run's ``model.pt`` (trained to ``cfg.max_steps`` or stopped early)."""
    if not model_path.exists():
        return None
    extra = read_checkpoint(model_path)["extra"]
    extra = extra if isinstance(extra, dict) else {}
    fit = extra.get("fit")
    if fit is None and (model_path.parent / "train.pt").exists():  # written before model.pt kept "fit"
        trainer = read_training_checkpoint(model_path.parent / "train.pt")["trainer"]
        fit = {"steps": trainer.get("step", 0), "stopped_early": trainer.get("stopped_early", False)}
    if isinstance(fit, dict) and not fit.get("stopped_early") and int(fit.get("steps", 0)) < cfg.max_steps:
        logger.info("resuming the training in %s: %d of max_steps=%d steps done", model_path.parent,
                    int(fit["steps"]), cfg.max_steps)
        return None
    return extra


def train_from_env(env: EnvSpec | None = None, model: str | TrainableWorldModel = "mlp", *,
                   n_steps: int = 20_000, num_envs: int = 4, env_kwargs: dict[str, Any] | None = None,
                   wrapper_class: Any = None, action_block: int = 1, policy: Any = None,
                   fit_config: FitConfig | None = None, model_kwargs: dict[str, Any] | None = None,
                   heads: str | bool | dict[str, bool] = "auto", heads_kwargs: dict[str, Any] | None = None,
                   run_dir: str | os.PathLike | None = None, resume: bool = True, seed: int = 0,
                   progress: bool = True, env_id: str | None = None, report: bool = True,
                   report_horizons: tuple[int, ...] | list[int] = REPORT_HORIZONS) -> TrainedWorldModel:
    """Collect data in ``env``, build and train a world model and its task heads; return them.

    Args:
        env: an env id, a ``gymnasium.Env`` instance (one sub-env, ``num_envs`` is set to 1; it is
            not closed here) or a zero-argument factory (``num_envs`` copies); Box observations,
            or a Dict with an ``observation`` Box (state or image) and optionally ``achieved_goal``.
            ``env_id=`` is the older name of this argument.
        model: a registered model type (:data:`grasp_agent.models.WORLD_MODELS`: ``"mlp"``,
            ``"gru"``, ``"transformer"``, ...) or a built :class:`~grasp_agent.TrainableWorldModel`.
        n_steps: env steps to collect (random policy with held actions unless ``policy``).
        env_kwargs: keyword arguments of the env (e.g. ``{"obs_mode": "pixels"}``) or the factory.
        wrapper_class: applied to each sub-env (like SB3's ``make_vec_env``).
        action_block: env actions per model step.
        fit_config: training settings (defaults: :class:`FitConfig` with ``seed`` and
            ``action_block`` filled in).
        heads: ``"auto"``: on a goal-Dict env a goal head (none for image goals, which planners
            encode); on other envs a reward head (and a termination head if some episodes
            terminated) when there are rewards; ``True``: every head the data supports;
            ``False``: none; or a dict such as ``{"goal": True, "reward": True}``.
        heads_kwargs: keywords of :func:`~grasp_agent.models.heads_fit.fit_task_heads` (``steps``,
            ``batch_size``, ``lr``, ...) and ``hidden_sizes`` of the heads.
        run_dir: keep buffer, checkpoint, logs and the final model here (nothing saved if None);
            with ``resume`` an existing buffer is reused, training resumes from its checkpoint,
            and a finished run (``model.pt`` trained to ``max_steps``) is reused as it is.
        report: after training, evaluate the model on the held-out episodes (:func:`report_model`:
            one-step and ``report_horizons``-step errors, logged in one line, written to
            ``run_dir/model_report.*`` and kept in ``result.metrics`` as ``model/...``).

    Raises:
        ValueError: ``model`` names no registered type (checked before any data is collected);
            bad ``heads``, or heads requested for an env with neither achieved goals nor rewards.
        TypeError: ``model`` is not trainable; ``env`` is not an id, env or factory, the factory
            returns something else, or the observations are not Box (e.g. Discrete).
    """
    if env_id is not None:
        if env is not None:
            raise TypeError("pass the env once: env= (or positionally), or the older env_id=, not both")
        env = env_id
    if env is None:
        raise TypeError("train_from_env needs an env: an id, a gymnasium.Env or a factory returning one")
    if isinstance(model, str):
        world_model_builder(model)  # an unknown type fails before the data is collected
    else:
        check_trainable(model)
    cfg = dataclasses.replace(fit_config or FitConfig(seed=seed), action_block=action_block)
    run = Path(run_dir) if run_dir is not None else None
    buffer_path = run / "buffer.npz" if run else None
    is_instance = isinstance(env, gym.Env)
    if is_instance and num_envs != 1:
        logger.info("an env instance is one env: collecting with num_envs=1 (pass a factory for more)")
        num_envs = 1
    envs = make_vector_env(env, num_envs, env_kwargs, wrapper_class)
    try:
        _check_spaces(envs)
        obs_space, act_space = envs.single_observation_space, envs.single_action_space
        kind = env if isinstance(env, str) else type(envs.envs[0].unwrapped).__name__
        if buffer_path is not None and resume and buffer_path.exists():
            buffer = ReplayBuffer.load(buffer_path)
            logger.info("reusing %d transitions from %s", len(buffer), buffer_path)
        else:
            buffer = collect(envs, n_steps, policy=policy, seed=seed, progress=progress)
            if buffer_path is not None:
                buffer.save(buffer_path)
    finally:
        if not is_instance:  # an instance belongs to the caller (closing envs would close it)
            envs.close()
    has_goal_space = goal_dim_of(obs_space) is not None
    goal_env = isinstance(obs_space, gym.spaces.Dict) and "achieved_goal" in obs_space.spaces
    wanted = _wanted_heads(heads, buffer, has_goal_space, goal_env)
    if isinstance(model, str):
        net = check_trainable(make_world_model(model, obs_space, act_space, action_block,
                                               **(model_kwargs or {})))
    else:
        net = model
    meta = {"env_id": kind, "env_type": "id" if isinstance(env, str) else
            "instance" if is_instance else "factory", "env_kwargs": env_kwargs or {},
            "action_block": action_block}
    done = _finished(run / "model.pt", cfg) if run is not None and resume else None
    if done is not None:
        logger.info("reusing the trained model in %s (pass resume=False to retrain)", run)
        try:
            load_into(net, run / "model.pt")
        except ValueError as exc:
            raise ValueError(f"{exc}; or pass resume=False to retrain in {run}") from exc
        fit = done.get("fit") or {}
        result = FitResult(float(fit.get("best_val_loss", math.nan)), int(fit.get("steps", 0)),
                           bool(fit.get("stopped_early", False)), float(fit.get("wall_time_s", 0.0)),
                           dict(done.get("metrics") or {}))
        task_heads = load_task_heads(run / "model.pt", net.device)
        stored = set(task_heads.heads) if task_heads is not None else set()
        if stored == {k for k, v in wanted.items() if v}:
            return TrainedWorldModel(net, buffer, result, run, action_block, task_heads, seed)
        logger.info("the saved task heads %s differ from the requested %s: fitting them", sorted(stored),
                    sorted(k for k, v in wanted.items() if v))
    else:
        if run is not None:
            atomic_json_dump({**meta, "model": model if isinstance(model, str) else type(model).__name__,
                              "model_config": net.get_config(), "n_steps": n_steps, "num_envs": num_envs,
                              "seed": seed, "heads": heads, "heads_kwargs": heads_kwargs or {},
                              "fit_config": dataclasses.asdict(cfg)}, run / "config.json", default=_jsonable)
        result = fit_world_model(net, buffer, cfg, logdir=run / "tb" if run else None,
                                 checkpoint_path=run / "train.pt" if run else None, buffer_path=buffer_path,
                                 resume=resume)
    task_heads, head_metrics = _fit_heads(net, buffer, wanted, cfg, heads_kwargs)
    result.metrics.update(head_metrics)
    if report:
        result.metrics.update(report_model(net, buffer, cfg, run, horizons=report_horizons)[1])
    if run is not None:
        extra = {**meta, "metrics": result.metrics,
                 "fit": {"best_val_loss": result.best_val_loss, "steps": result.steps,
                         "stopped_early": result.stopped_early, "wall_time_s": result.wall_time_s}}
        if task_heads is not None:
            extra["task_heads"] = task_heads.to_checkpoint()
        save_world_model(net, run / "model.pt", extra=extra)
    return TrainedWorldModel(net, buffer, result, run, action_block, task_heads, seed)


def _jsonable(x: Any) -> Any:
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    if isinstance(x, tuple):
        return list(x)
    return str(x)
