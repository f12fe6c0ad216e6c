"""A resumable world-model trainer over a ReplayBuffer, with TensorBoard logging.

:func:`fit_world_model` samples training batches from the buffer (sequences of ``seq_len``
steps for models with a ``sequence_loss``, else transitions for ``training_loss``), holds out
whole episodes for validation, evaluates every ``eval_every`` gradient steps (validation loss,
one-step and ``eval_horizon``-step latent errors, see :mod:`grasp_agent.training.metrics`),
stops early when the validation loss stops improving, keeps the best weights, and writes a
checkpoint after every evaluation (with ``val_fraction=0`` nothing is held out: it trains for
``max_steps`` steps, evaluates the training split only, and keeps the last weights). Calling
it again with the same checkpoint path resumes: weights, optimiser, normalisers, step counter,
early-stopping state, validation episodes and random states are restored, so an interrupted
run continues as if it had not stopped.

With ``FitConfig.rollout_horizon = H > 1`` the loss targets long rollouts: every batch is a
window of ``H`` steps, the model is rolled out open-loop from the window's first (encoded)
observation, and the error of step ``t`` against the encoded observation ``t`` (divided per
dimension by the model's ``latent_scale()``, so it is in the units of its own loss; without one,
by the batch's latent std) is weighted ``rollout_discount ** (t - 1)``; the model's own loss on
the window (for the MLP the one-step error of every transition in it) takes the place of step
1, and the weights are normalised to sum to one (:func:`rollout_loss`). Latents are encoded
without gradient, so a learned encoder is trained by the model's own loss only. The default
``H = 1`` is the one-step loss, bit-identical to training without the option.

TensorBoard keys: ``train/loss`` (and the model's other loss terms) per logged step,
``val/loss``, ``{train,val}/one_step_latent_mse``, ``{train,val}/multi_step_latent_mse`` and
their ``_nmse`` (variance-normalised) versions, ``time/steps_per_s``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import math
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from grasp_agent.data.buffer import ReplayBuffer
from grasp_agent.models.base import TrainableWorldModel, WorldModel, check_trainable
from grasp_agent.training.checkpoint import load_training_checkpoint, save_training_checkpoint
from grasp_agent.training.metrics import encode_sequences, latent_errors
from grasp_agent.utils import resolve_device
from grasp_agent.validation import SEED_RANGE, ranged, validate_config

logger = logging.getLogger(__name__)

_NORMALIZER_SAMPLES = 50_000
_MIN_SCALE = 1e-6


@dataclass
class FitConfig:
    """Hyperparameters of :func:`fit_world_model`.

    Attributes:
        max_steps: maximum number of gradient steps.
        batch_size: sequences (or transitions) per step.
        seq_len: length of training sequences for models with ``sequence_loss``.
        eval_every: gradient steps between evaluations (and checkpoints).
        eval_horizon: H of the multi-step latent error.
        eval_size: validation sequences per evaluation (fixed, drawn once).
        lr, weight_decay, grad_clip: AdamW settings (``grad_clip=None`` disables clipping).
        val_fraction: share of episodes held out (at least one episode); 0 holds none out
            (no validation, no early stopping, the last weights are kept; works on a single
            episode).
        patience: evaluations without improvement of ``val/loss`` before stopping.
        min_delta: relative improvement that counts as progress.
        rollout_horizon: ``H`` of the multi-step (rollout) loss; 1 (the default) trains on the
            model's own one-step loss only (see the module docstring and :func:`rollout_loss`).
        rollout_discount: weight ``discount ** (t - 1)`` of the open-loop error of step ``t``,
            in ``(0, 1]``.
        action_block: env actions per model step (the model's ``action_dim`` must be
            ``action_block * buffer.action_dim``).
        seed: seeds the split, the batches and the evaluation set.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """

    max_steps: int = ranged(5000, ge=1)
    batch_size: int = ranged(64, ge=1)
    seq_len: int = ranged(8, ge=1)
    eval_every: int = ranged(250, ge=1)
    eval_horizon: int = ranged(10, ge=1)
    eval_size: int = ranged(512, ge=1)
    lr: float = ranged(1e-3, ge=0.0)
    weight_decay: float = ranged(0.0, ge=0.0)
    grad_clip: float | None = ranged(10.0, gt=0.0)
    val_fraction: float = ranged(0.1, ge=0.0, lt=1.0)
    patience: int = ranged(8, ge=1)
    min_delta: float = ranged(1e-3, ge=0.0, lt=1.0)
    rollout_horizon: int = ranged(1, ge=1)
    rollout_discount: float = ranged(1.0, gt=0.0, le=1.0)
    action_block: int = ranged(1, ge=1)
    seed: int = ranged(0, **SEED_RANGE)
    device: str = "auto"


@dataclass
class FitResult:
    """Outcome: best validation loss, steps run, whether it stopped early, last metrics.

    ``best_val_loss`` is NaN when nothing was held out (``val_fraction=0``); ``metrics`` then
    has the last ``train/loss``.
    """

    best_val_loss: float
    steps: int
    stopped_early: bool
    wall_time_s: float
    metrics: dict[str, float] = field(default_factory=dict)
    history: dict[str, list[float]] = field(default_factory=dict)


def _to_torch(batch: dict[str, np.ndarray], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(v, device=device) for k, v in batch.items()}


def _split_episodes(buffer: ReplayBuffer, cfg: FitConfig, rng: np.random.Generator) -> np.ndarray:
    ids = buffer.episode_ids()
    if cfg.val_fraction == 0:
        return np.zeros(0, np.int64)
    if len(ids) < 2:
        raise ValueError(f"need at least 2 episodes in the buffer to hold one out for validation, got "
                         f"{len(ids)}; collect more data, or train without validation (val_fraction=0)")
    n_val = min(max(1, int(round(len(ids) * cfg.val_fraction))), len(ids) - 1)
    return np.sort(rng.permutation(ids)[:n_val])


def _check(model: WorldModel, buffer: ReplayBuffer, cfg: FitConfig) -> None:
    if model.action_dim != cfg.action_block * buffer.action_dim:
        raise ValueError(f"model.action_dim={model.action_dim} but the buffer has {buffer.action_dim}-dim "
                         f"actions and action_block={cfg.action_block}; build the model with action_dim="
                         f"{cfg.action_block * buffer.action_dim}")


def _latent_scale(model: WorldModel, target: torch.Tensor) -> torch.Tensor:
    """``(D,)``: the model's ``latent_scale()``, else the std of the latents ``target (B, H, D)``."""
    scale_fn = getattr(model, "latent_scale", None)
    if callable(scale_fn):
        return scale_fn().detach()
    return target.reshape(-1, target.shape[-1]).std(0, unbiased=False).clamp_min(_MIN_SCALE)


def rollout_loss(model: TrainableWorldModel, obs: torch.Tensor, actions: torch.Tensor, horizon: int,
                 discount: float = 1.0) -> tuple[torch.Tensor, dict[str, float]]:
    """Multi-step loss of windows ``obs (B, L + 1, ...)``, ``actions (B, L, A)``, ``L >= horizon``.

    ``loss = (own + sum_{t=2..H} discount^(t-1) e_t) / sum_{t=1..H} discount^(t-1)`` where ``own``
    is ``model.sequence_loss`` on the windows and ``e_t`` the mean squared error of the open-loop
    ``model.rollout`` from the first latent at step ``t``, per dimension divided by
    :func:`_latent_scale` (for :class:`~grasp_agent.models.MLPWorldModel` ``e_1`` equals its own
    one-step loss). Returns ``(loss, terms)`` with the model's terms, ``own_loss`` and
    ``rollout_loss`` (the weighted mean of ``e_2 .. e_H``).
    """
    own, terms = model.sequence_loss(obs, actions)
    if horizon == 1:
        return own, terms
    with torch.no_grad():
        z = encode_sequences(model, obs[:, :horizon + 1])  # (B, H + 1, D)
    pred = model.rollout(z[:, 0], actions[:, :horizon])  # (B, H, D)
    target = z[:, 1:]
    err = (((pred - target) / _latent_scale(model, target)) ** 2).mean(dim=(0, 2))  # (H,)
    weights = discount ** torch.arange(horizon, device=err.device, dtype=err.dtype)
    multi = (weights[1:] * err[1:]).sum()
    loss = (own + multi) / weights.sum()
    terms = {**terms, "own_loss": float(own.detach()),
             "rollout_loss": float(multi.detach() / weights[1:].sum()), "loss": float(loss.detach())}
    return loss, terms


def _loss(model: TrainableWorldModel, batch: dict[str, torch.Tensor], cfg: FitConfig
          ) -> tuple[torch.Tensor, dict[str, float]]:
    """The training loss on a batch of windows ``obs (B, L + 1, ...)``, ``actions (B, L, A)``."""
    if cfg.rollout_horizon == 1:
        return model.sequence_loss(batch["obs"], batch["actions"].float())
    return rollout_loss(model, batch["obs"], batch["actions"].float(), cfg.rollout_horizon,
                        cfg.rollout_discount)


def fit_world_model(model: WorldModel, buffer: ReplayBuffer, config: FitConfig | None = None,
                    logdir: str | os.PathLike | None = None,
                    checkpoint_path: str | os.PathLike | None = None,
                    buffer_path: str | os.PathLike | None = None, resume: bool = True) -> FitResult:
    """Train ``model`` on ``buffer``; resume from ``checkpoint_path`` if it exists and ``resume``.

    Args:
        logdir: TensorBoard log directory (no logging if None).
        checkpoint_path: where to write the resumable checkpoint after each evaluation.
        buffer_path: stored in the checkpoint as the buffer reference.

    Returns:
        :class:`FitResult`; ``model`` holds the best weights (in eval mode) afterwards.
    """
    cfg = validate_config(config or FitConfig())  # kinds and ranges of every field, before any work
    model = check_trainable(model)
    _check(model, buffer, cfg)
    device = resolve_device(cfg.device)
    model.to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    rng = np.random.default_rng(cfg.seed)
    state: dict[str, Any] = {"step": 0, "best": float("inf"), "best_state": None, "bad": 0,
                             "done": False, "stopped_early": False, "history": {}, "wall": 0.0}
    if resume and checkpoint_path is not None and os.path.exists(checkpoint_path):
        ckpt = load_training_checkpoint(checkpoint_path, model, opt)
        state = ckpt["trainer"]
        rng.bit_generator.state = state.pop("rng")
        torch.set_rng_state(state.pop("torch_rng"))
        logger.info("resumed from %s at step %d", checkpoint_path, state["step"])
    else:
        state["val_episodes"] = _split_episodes(buffer, cfg, rng).tolist()
        train_eps = np.setdiff1d(buffer.episode_ids(), state["val_episodes"])
        fit = buffer.transitions(cfg.action_block, train_eps)
        if len(fit["obs"]) > _NORMALIZER_SAMPLES:
            pick = rng.choice(len(fit["obs"]), _NORMALIZER_SAMPLES, replace=False)
            fit = {k: v[pick] for k, v in fit.items()}
        model.fit_normalizers(*(torch.as_tensor(fit[k], device=device) for k in
                                ("obs", "actions", "next_obs")))
    val_eps = np.asarray(state["val_episodes"], np.int64)
    train_eps = np.setdiff1d(buffer.episode_ids(), val_eps)
    eval_rng = np.random.default_rng(cfg.seed + 1)  # the same evaluation sets on every (re)start
    seq_len = max(cfg.seq_len if model.sequence_training else 1, cfg.rollout_horizon)
    validate = len(val_eps) > 0
    val_h = val_batch = None
    if validate:
        val_h = _to_torch(buffer.sample_sequences(cfg.eval_size, cfg.eval_horizon, eval_rng,
                                                  cfg.action_block, val_eps), device)
    train_h = _to_torch(buffer.sample_sequences(cfg.eval_size, cfg.eval_horizon, eval_rng,
                                                cfg.action_block, train_eps), device)
    if validate:
        val_batch = _to_torch(buffer.sample_sequences(cfg.eval_size, seq_len, eval_rng, cfg.action_block,
                                                      val_eps), device)
    writer = None
    if logdir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(os.fspath(logdir))
    start, step0 = time.perf_counter(), state["step"]
    history = state["history"]

    def log(key: str, value: float) -> None:
        history.setdefault(key, []).append(float(value))
        if writer is not None:
            writer.add_scalar(key, value, state["step"])

    try:
        while not state["done"] and state["step"] < cfg.max_steps:
            model.train()
            batch = _to_torch(buffer.sample_sequences(cfg.batch_size, seq_len, rng, cfg.action_block,
                                                      train_eps), device)
            loss, terms = _loss(model, batch, cfg)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            state["step"] += 1
            if state["step"] % cfg.eval_every and state["step"] < cfg.max_steps:
                continue
            for key, value in terms.items():
                log(f"train/{key}", value)
            model.eval()
            with torch.no_grad():
                splits = (("train", train_h), ("val", val_h)) if validate else (("train", train_h),)
                if validate:
                    val_loss = float(_loss(model, val_batch, cfg)[0])
                    log("val/loss", val_loss)
                for split, data in splits:
                    errs = latent_errors(model, data["obs"], data["actions"])
                    for name in ("one_step", "multi_step"):
                        log(f"{split}/{name}_latent_mse", errs[f"{name}_mse"])
                        log(f"{split}/{name}_latent_nmse", errs[f"{name}_nmse"])
            elapsed = state["wall"] + time.perf_counter() - start
            log("time/steps_per_s", (state["step"] - step0) / max(time.perf_counter() - start, 1e-9))
            if not validate:  # nothing held out: no early stopping, the last weights are kept
                logger.info("step %d: train/loss %.4g", state["step"], terms.get("loss", float("nan")))
            elif val_loss < state["best"] * (1.0 - cfg.min_delta) or state["best_state"] is None:
                state["best"], state["bad"] = val_loss, 0
                state["best_state"] = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
            else:
                state["bad"] += 1
                if state["bad"] >= cfg.patience:
                    state["done"] = state["stopped_early"] = True
                    logger.info("early stopping at step %d (best val loss %.4g)", state["step"],
                                state["best"])
            if validate:
                logger.info("step %d: val/loss %.4g, val/multi_step_latent_nmse %.4g", state["step"],
                            val_loss, history["val/multi_step_latent_nmse"][-1])
            if checkpoint_path is not None:
                _save(checkpoint_path, model, opt, state, rng, cfg, buffer_path, elapsed)
    finally:
        if writer is not None:
            writer.close()
    wall = state["wall"] + time.perf_counter() - start
    if state["best_state"] is not None:
        model.load_state_dict({k: v.to(device) for k, v in state["best_state"].items()})
    model.eval()
    last = {k: v[-1] for k, v in history.items() if v}
    return FitResult(best_val_loss=float(state["best"]) if validate else math.nan, steps=int(state["step"]),
                     stopped_early=bool(state["stopped_early"]), wall_time_s=wall, metrics=last,
                     history=history)


def _save(path: str | os.PathLike, model: WorldModel, opt: torch.optim.Optimizer, state: dict[str, Any],
          rng: np.random.Generator, cfg: FitConfig, buffer_path: Any, elapsed: float) -> None:
    trainer_state = copy.copy(state)
    trainer_state["wall"] = elapsed
    trainer_state["rng"] = rng.bit_generator.state
    trainer_state["torch_rng"] = torch.get_rng_state()
    save_training_checkpoint(path, model, opt, trainer_state, dataclasses.asdict(cfg),
                             None if buffer_path is None else os.fspath(buffer_path))
