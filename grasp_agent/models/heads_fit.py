"""Training :class:`~grasp_agent.models.heads.TaskHeads` on the latents of a frozen world model.

:func:`fit_task_heads` encodes the buffer's observations once (no gradient into the world model),
holds whole episodes out for validation, and keeps the weights with the lowest validation loss.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch
from torch import nn

from grasp_agent.models.heads import TaskHeads
from grasp_agent.validation import Range, check_field

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------------- fitting
_ENCODE_CHUNK = 4096
_MAX_TRANSITIONS = 200_000  # a seeded subset of larger buffers is used
_EVALS = 10  # evaluations over a fit; the best weights on the validation split are kept


def _fit_args(steps: Any, batch_size: Any, lr: Any, seed: Any, val_fraction: Any, action_block: Any
              ) -> tuple[int, int, float, int, float, int]:
    where = "fit_task_heads"
    return (check_field(f"{where} steps", steps, int, rng=Range(1)),
            check_field(f"{where} batch_size", batch_size, int, rng=Range(1)),
            check_field(f"{where} lr", lr, float, rng=Range(0.0, low_open=True)),
            check_field(f"{where} seed", seed, int, rng=Range(0, 2 ** 63 - 1)),
            check_field(f"{where} val_fraction", val_fraction, float, rng=Range(0.0, 1.0, high_open=True)),
            check_field(f"{where} action_block", action_block, int, rng=Range(1)))


@torch.no_grad()
def _encoded(model: Any, buffer: Any, starts: np.ndarray, k: int, goals: bool, device: torch.device
             ) -> dict[str, torch.Tensor]:
    """Transitions from rows ``starts (N,)``, gathered and encoded in chunks (so image
    observations are never all copied at once): ``z``, ``z_next (N, D)``, ``a (N, A)``,
    ``r (N,)``, ``episode (N,)`` and, with ``goals``, ``goals``, ``next_goals (N, G)``."""
    parts: dict[str, list[torch.Tensor]] = {}
    for i in range(0, len(starts), _ENCODE_CHUNK):
        b = buffer.gather(starts[i:i + _ENCODE_CHUNK], 1, k)
        obs = torch.as_tensor(b["obs"], device=device)
        chunk = {"z": model.encode(obs[:, 0]).float(), "z_next": model.encode(obs[:, 1]).float(),
                 "a": torch.as_tensor(b["actions"][:, 0], dtype=torch.float32, device=device),
                 "r": torch.as_tensor(b["rewards"][:, 0], dtype=torch.float32, device=device),
                 "episode": torch.as_tensor(b["episode"], device=device)}
        if goals:
            chunk["goals"] = torch.as_tensor(b["goals"][:, 0], device=device)
            chunk["next_goals"] = torch.as_tensor(b["goals"][:, 1], device=device)
        for key, value in chunk.items():
            parts.setdefault(key, []).append(value)
    return {key: torch.cat(values) for key, values in parts.items()}


def _r2(pred: torch.Tensor, target: torch.Tensor) -> float:
    """``1 - SSE / SST`` over all entries, SST around each column's mean (NaN if SST is 0)."""
    target = target.reshape(len(target), -1)
    sse = ((pred.reshape(target.shape) - target) ** 2).sum()
    sst = ((target - target.mean(0)) ** 2).sum()
    return float(1.0 - sse / sst) if float(sst) > 1e-12 else math.nan  # NaN for a constant target


def _losses(heads: TaskHeads, d: dict[str, torch.Tensor], idx: torch.Tensor | None = None
            ) -> dict[str, torch.Tensor]:
    """Per-head losses (normalised MSE, BCE) on the transitions ``idx`` of ``d`` (all if None)."""
    b = d if idx is None else {k: v[idx] for k, v in d.items()}
    out = {}
    if heads.has("goal"):
        zz = torch.cat([b["z"], b["z_next"]])
        gg = torch.cat([b["goals"], b["next_goals"]])
        out["goal"] = ((heads.goal_net(heads.z_norm(zz)) - heads.goal_norm(gg)) ** 2).mean()
    if heads.has("reward") or heads.has("termination"):
        x = heads._step_input(b["z"], b["a"], b["z_next"])
        if heads.has("reward"):
            target = heads.reward_norm(b["r"][:, None])
            out["reward"] = ((heads.reward_net(x) - target) ** 2).mean()
        if heads.has("termination"):
            out["termination"] = nn.functional.binary_cross_entropy_with_logits(
                heads.termination_net(x)[:, 0], b["done"])
    return out


@torch.no_grad()
def _metrics(heads: TaskHeads, d: dict[str, torch.Tensor], split: str) -> dict[str, float]:
    m: dict[str, float] = {}
    if heads.has("goal"):
        pred = heads.achieved(d["z"])
        m[f"{split}/goal_mse"] = float(((pred - d["goals"]) ** 2).mean())
        m[f"{split}/goal_r2"] = _r2(pred, d["goals"])
    if heads.has("reward"):
        pred = heads.reward(d["z"], d["a"], d["z_next"])
        m[f"{split}/reward_mse"] = float(((pred - d["r"]) ** 2).mean())
        m[f"{split}/reward_r2"] = _r2(pred, d["r"])
    if heads.has("termination"):
        logit = heads.termination_logit(d["z"], d["a"], d["z_next"])
        bce = nn.functional.binary_cross_entropy_with_logits(logit, d["done"])
        m[f"{split}/termination_bce"] = float(bce)
        m[f"{split}/termination_accuracy"] = float(((logit > 0).float() == d["done"]).float().mean())
    m[f"{split}/heads_loss"] = float(sum(_losses(heads, d).values()))
    return m


def fit_task_heads(model: Any, heads: TaskHeads, buffer: Any, steps: int = 1000, batch_size: int = 256,
                   lr: float = 1e-3, seed: int = 0, val_fraction: float = 0.1, action_block: int = 1
                   ) -> dict[str, float]:
    """Train ``heads`` on the latents of ``model`` over the transitions of ``buffer``; return metrics.

    The latents ``z_t = model.encode(o_t)`` are computed once under ``no_grad`` (the world model
    is not changed). The goal head learns ``z_t -> achieved_goal_t`` (the buffer needs
    ``goal_dim``), the reward head ``(z_t, a_t, z_{t+1}) -> r_t`` (rewards summed over an
    ``action_block``), the termination head whether ``o_{t+1}`` ends a terminated episode. Whole
    episodes (``val_fraction``) are held out; the weights with the lowest validation loss of
    ten evaluations are kept. Batches and the split are drawn from ``seed``.

    Returns:
        ``{"val/goal_r2", "val/goal_mse", "val/reward_r2", "val/reward_mse",
        "val/termination_bce", "val/termination_accuracy", "val/heads_loss"}`` for the heads
        built, the ``train/`` versions, and ``train/heads_transitions``; with ``val_fraction=0`` only
        ``train/``.

    Raises:
        ValueError: an argument out of range, sizes that do not match the model or buffer, a
            goal head on a buffer without goals, a termination head on a buffer without
            terminated episodes, or too few episodes to hold one out.
    """
    steps, batch_size, lr, seed, val_fraction, k = _fit_args(steps, batch_size, lr, seed, val_fraction,
                                                             action_block)
    if not isinstance(heads, TaskHeads):
        raise TypeError(f"heads must be TaskHeads, got {type(heads).__name__}")
    if (heads.latent_dim, heads.action_dim) != (model.latent_dim, model.action_dim):
        raise ValueError(f"heads are built for latent_dim={heads.latent_dim}, action_dim={heads.action_dim} "
                         f"but the model has {model.latent_dim}, {model.action_dim}")
    if model.action_dim != k * buffer.action_dim:
        raise ValueError(f"model.action_dim={model.action_dim} but the buffer has {buffer.action_dim}-dim "
                         f"actions and action_block={k}")
    if heads.has("goal") and getattr(buffer, "goal_dim", None) != heads.goal_dim:
        raise ValueError(f"the goal head predicts {heads.goal_dim} numbers but the buffer keeps "
                         f"goal_dim={buffer.goal_dim}; collect from an env whose observations have an "
                         "'achieved_goal' entry (ReplayBuffer(..., goal_dim=G))")
    starts = buffer.valid_starts(1, k)
    if len(starts) == 0:
        raise ValueError(f"the buffer has no transition of {k} actions; collect data first")
    done = buffer.remaining[starts] == k
    done &= np.array([buffer.terminated.get(int(e), False) for e in buffer.episode[starts]], bool)
    if heads.has("termination") and not done.any():
        raise ValueError("the termination head needs terminated episodes, but no episode in the buffer "
                         "ended in a terminal state (only time limits or cut-offs); build the heads "
                         "without termination=True")
    rng = np.random.default_rng(seed)
    ids = buffer.episode_ids()
    val_ids = np.zeros(0, np.int64)
    if val_fraction > 0:
        if len(ids) < 2:
            raise ValueError(f"need at least 2 episodes to hold one out for validation, got {len(ids)}; "
                             "collect more data or pass val_fraction=0")
        n_val = min(max(1, int(round(len(ids) * val_fraction))), len(ids) - 1)
        val_ids = rng.permutation(ids)[:n_val]
    if len(starts) > _MAX_TRANSITIONS:
        pick = np.sort(rng.choice(len(starts), _MAX_TRANSITIONS, replace=False))
        starts, done = starts[pick], done[pick]
    device = model.device
    was_training = model.training
    model.eval()
    try:
        d = _encoded(model, buffer, starts, k, heads.has("goal"), device)
    finally:
        model.train(was_training)
    d["done"] = torch.as_tensor(done, dtype=torch.float32, device=device)
    is_val = torch.isin(d.pop("episode"), torch.as_tensor(val_ids, device=device))
    train = {key: v[~is_val] for key, v in d.items()}
    val = {key: v[is_val] for key, v in d.items()}
    heads.to(device)
    heads.fit_normalizers(train["z"], train["a"], torch.cat([train["goals"], train["next_goals"]])
                          if heads.has("goal") else None, train["r"])
    opt = torch.optim.Adam(heads.parameters(), lr=lr)
    gen = torch.Generator(device=device).manual_seed(seed)
    n_train = len(train["z"])
    best, best_state = float("inf"), None
    checks = {max(1, round(steps * (i + 1) / _EVALS)) for i in range(_EVALS)}
    for step in range(1, steps + 1):
        heads.train()
        idx = torch.randint(0, n_train, (batch_size,), generator=gen, device=device)
        loss = sum(_losses(heads, train, idx).values())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if val_ids.size and step in checks:
            heads.eval()
            with torch.no_grad():
                val_loss = float(sum(_losses(heads, val).values()))
            if val_loss < best:
                best = val_loss
                best_state = {key: v.detach().clone() for key, v in heads.state_dict().items()}
    if best_state is not None:
        heads.load_state_dict(best_state)
    heads.eval()
    metrics = {"train/heads_transitions": float(n_train), **_metrics(heads, train, "train")}
    if val_ids.size:
        metrics.update(_metrics(heads, val, "val"))
    logger.info("task heads %s: %s", list(heads.heads),
                ", ".join(f"{key} {v:.4g}" for key, v in metrics.items() if key.startswith("val/")))
    return metrics
