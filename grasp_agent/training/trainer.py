"""Fitting a world model on transition batches: train/validation split and early stopping.

With ``checkpoint=<path>`` the trainer writes a resumable checkpoint (atomically) after every
epoch, and a later call with the same path, data and settings continues after the last
finished epoch with the same weights, optimiser moments, early-stopping state and shuffling
generator, so an interrupted training ends exactly as an uninterrupted one would. ``epochs``
and ``patience`` may change between the calls (to extend a training); anything else that
changes the result (the data, the seed, the batch size, the learning rate, the split) makes the
checkpoint refuse to load, with an error naming what differs.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from grasp_agent.models.base import WorldModel
from grasp_agent.utils import resolve_device

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Hyperparameters of :func:`train_world_model`.

    Attributes:
        epochs: maximum passes over the training split.
        batch_size: transitions per gradient step.
        lr: Adam learning rate.
        weight_decay: Adam (decoupled, AdamW) weight decay.
        val_fraction: share of transitions held out for validation (0 disables early stopping).
        patience: epochs without validation improvement before stopping.
        min_delta: relative improvement that counts as progress.
        seed: seed of the split, the shuffling and the weight init noise.
        device: ``"auto"``, ``"cpu"`` or ``"cuda"``.
        grad_clip: max gradient norm (``None`` = no clipping).
    """

    epochs: int = 200
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.0
    val_fraction: float = 0.1
    patience: int = 15
    min_delta: float = 1e-3
    seed: int = 0
    device: str = "auto"
    grad_clip: float | None = 10.0


@dataclass
class TrainResult:
    """Outcome of training: best validation loss, epochs run and per-epoch history."""

    best_val_loss: float
    epochs: int
    wall_time_s: float
    history: dict[str, list[float]] = field(default_factory=dict)


def _as_tensor(x: Any) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))


def _fingerprint(cfg: TrainConfig, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor
                 ) -> dict[str, Any]:
    """What a resumed training must share with the interrupted one (data digest and settings)."""
    step = max(1, obs.shape[0] // 256)  # a strided sample keeps the digest cheap for images
    digest = hashlib.sha256()
    for x in (obs[::step], next_obs[::step], actions):
        digest.update(str(tuple(x.shape)).encode())
        digest.update(x.detach().cpu().contiguous().numpy().tobytes())
    return {"n": int(obs.shape[0]), "data_sha256": digest.hexdigest(), "seed": cfg.seed,
            "batch_size": cfg.batch_size, "lr": cfg.lr, "weight_decay": cfg.weight_decay,
            "val_fraction": cfg.val_fraction, "min_delta": cfg.min_delta, "grad_clip": cfg.grad_clip}


def _resume_state(path: str | os.PathLike, model: WorldModel, opt: torch.optim.Optimizer,
                  fingerprint: dict[str, Any]) -> dict[str, Any]:
    """Load the trainer state of the checkpoint at ``path`` into ``model`` and ``opt``."""
    from grasp_agent.training.checkpoint import read_training_checkpoint, restore_training_state

    ckpt = read_training_checkpoint(path)
    saved = ckpt["trainer"].get("fingerprint", {})
    diff = sorted(k for k in set(saved) | set(fingerprint) if saved.get(k) != fingerprint.get(k))
    if diff:
        raise ValueError(f"training checkpoint {os.fspath(path)!r} was written for other data or "
                         f"settings ({', '.join(diff)} differ); delete it to train from scratch or "
                         "pass another checkpoint path")
    state = restore_training_state(ckpt, path, model, opt)["trainer"]
    logger.info("resuming training from %s after epoch %d (best val %.4g)", os.fspath(path),
                state["epoch"], state["best"])
    return state


def train_world_model(model: WorldModel, obs: Any, actions: Any, next_obs: Any,
                      config: TrainConfig | None = None,
                      checkpoint: str | os.PathLike | None = None) -> TrainResult:
    """Train ``model`` on transitions ``(N, *obs_shape), (N, A), (N, *obs_shape)``.

    The model provides ``training_loss(obs, actions, next_obs) -> (loss, metrics)`` and, if it
    has normalisers, ``fit_normalizers(obs, actions, next_obs)`` (called on the training split).
    The weights with the best validation loss are restored at the end. With ``checkpoint``,
    the training state is saved there after every epoch and resumed from there when the file
    exists (see the module docstring); the caller deletes it once the model is saved.

    Raises:
        ValueError: misaligned or non-finite data, or a checkpoint written for other data,
            settings or another model.
    """
    cfg = config or TrainConfig()
    obs, actions, next_obs = (_as_tensor(x) for x in (obs, actions, next_obs))
    n = obs.shape[0]
    if not (actions.shape[0] == next_obs.shape[0] == n) or n < 2:
        raise ValueError(f"need N >= 2 aligned transitions, got obs {tuple(obs.shape)}, actions "
                         f"{tuple(actions.shape)}, next_obs {tuple(next_obs.shape)}")
    if actions.ndim != 2 or actions.shape[1] != model.action_dim:
        raise ValueError(f"actions must have shape (N, {model.action_dim}), got {tuple(actions.shape)}")
    for name, x in (("obs", obs), ("actions", actions), ("next_obs", next_obs)):
        if torch.is_floating_point(x) and not torch.isfinite(x).all():
            raise ValueError(f"{name} contains NaN or inf; clean the data before training")
    device = resolve_device(cfg.device)
    model.to(device)
    gen = torch.Generator().manual_seed(cfg.seed)
    perm = torch.randperm(n, generator=gen)
    n_val = int(round(n * cfg.val_fraction)) if cfg.val_fraction > 0 else 0
    n_val = min(max(n_val, 1 if cfg.val_fraction > 0 else 0), n - 1)
    val_idx, train_idx = perm[:n_val], perm[n_val:]
    if hasattr(model, "fit_normalizers"):
        model.fit_normalizers(obs[train_idx].to(device), actions[train_idx].to(device).float(),
                              next_obs[train_idx].to(device))
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    history: dict[str, list[float]] = {"train/loss": [], "val/loss": []}
    best, best_state, bad_epochs, start = float("inf"), None, 0, time.perf_counter()
    first_epoch, stopped, elapsed = 1, False, 0.0
    fingerprint = _fingerprint(cfg, obs, actions, next_obs) if checkpoint is not None else {}
    if checkpoint is not None and os.path.exists(checkpoint):
        state = _resume_state(checkpoint, model, opt, fingerprint)
        history, best, bad_epochs = state["history"], state["best"], state["bad_epochs"]
        best_state = state["best_state"]
        gen.set_state(state["generator"])
        first_epoch, elapsed = state["epoch"] + 1, state["wall_time_s"]
        stopped = n_val > 0 and bad_epochs >= cfg.patience  # with this call's patience

    def save(epoch: int) -> None:
        if checkpoint is None:
            return
        from grasp_agent.training.checkpoint import save_training_checkpoint

        save_training_checkpoint(checkpoint, model, opt, {
            "epoch": epoch, "best": best, "best_state": best_state, "bad_epochs": bad_epochs,
            "history": history, "generator": gen.get_state(),
            "wall_time_s": elapsed + time.perf_counter() - start, "fingerprint": fingerprint},
            config=dict(vars(cfg)))

    def batches(idx: torch.Tensor, shuffle: bool):
        order = idx[torch.randperm(len(idx), generator=gen)] if shuffle else idx
        for i in range(0, len(order), cfg.batch_size):
            b = order[i:i + cfg.batch_size]
            yield obs[b].to(device), actions[b].to(device).float(), next_obs[b].to(device)

    epoch = first_epoch - 1
    for epoch in range(first_epoch, 1 if stopped else cfg.epochs + 1):
        model.train()
        total, count = 0.0, 0
        for o, a, o2 in batches(train_idx, shuffle=True):
            loss, _ = model.training_loss(o, a, o2)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
            opt.step()
            total += float(loss.detach()) * len(o)
            count += len(o)
        history["train/loss"].append(total / count)
        if n_val == 0:
            save(epoch)
            continue
        model.eval()
        with torch.no_grad():
            v_total = sum(float(model.training_loss(o, a, o2)[0]) * len(o)
                          for o, a, o2 in batches(val_idx, shuffle=False))
        val = v_total / n_val
        history["val/loss"].append(val)
        if val < best * (1.0 - cfg.min_delta):
            best, best_state, bad_epochs = val, copy.deepcopy(model.state_dict()), 0
        else:
            bad_epochs += 1
            stopped = bad_epochs >= cfg.patience
        save(epoch)
        if stopped:
            logger.info("early stopping at epoch %d (best val %.4g)", epoch, best)
            break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(best_val_loss=best if n_val else history["train/loss"][-1], epochs=epoch,
                       wall_time_s=elapsed + time.perf_counter() - start, history=history)
