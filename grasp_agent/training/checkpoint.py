"""Training checkpoints: everything needed to resume a run exactly where it stopped.

A checkpoint is one file written atomically, a dict with

* ``model``: the world-model checkpoint (class, constructor config, weights; the weights
  include the fitted normalisers, which are module buffers) as in :mod:`grasp_agent.models.io`,
* ``optimizer``: the optimiser state, ``trainer``: step counter, best validation loss and
  weights, early-stopping counter, history, the validation episodes and the random states,
* ``config``: the training config, ``buffer``: a reference (path) to the replay buffer.

The file holds only tensors and plain data (random states and numpy arrays are stored as
tagged plain data, see :mod:`grasp_agent.safe_io`) and ends with a checksum: it loads with
``torch.load(weights_only=True)``, and a truncated, corrupt or foreign file raises
:class:`~grasp_agent.safe_io.CheckpointError` naming the file. Loading into a model of another
class or another shape fails before anything is modified, with an error naming both.
"""

from __future__ import annotations

import os
from typing import Any

import torch

from grasp_agent.models.base import WorldModel
from grasp_agent.models.io import checkpoint_dict, class_path, model_config, model_from_checkpoint
from grasp_agent.safe_io import CheckpointError, load_torch_file, require
from grasp_agent.utils import atomic_torch_save

TRAIN_CHECKPOINT_FORMAT = "grasp_agent.training/1"


def save_training_checkpoint(path: str | os.PathLike, model: WorldModel, optimizer: torch.optim.Optimizer,
                             trainer_state: dict[str, Any], config: dict[str, Any],
                             buffer_ref: str | None = None) -> None:
    """Atomically write a resumable training checkpoint to ``path``."""
    payload = {"format": TRAIN_CHECKPOINT_FORMAT, "model": checkpoint_dict(model),
               "optimizer": optimizer.state_dict(), "trainer": trainer_state, "config": dict(config),
               "buffer": None if buffer_ref is None else os.fspath(buffer_ref)}
    atomic_torch_save(payload, path)


def read_training_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and validate the checkpoint dict at ``path`` (no model is touched).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: truncated, corrupt, unsafe or another kind of file (world-model files
            load with ``grasp_agent.load_world_model``).
    """
    ckpt = load_torch_file(path, "training checkpoint")
    require(ckpt, ("model", "optimizer", "trainer", "config"), path,
            "grasp_agent training checkpoint (world-model files load with grasp_agent.load_world_model)",
            TRAIN_CHECKPOINT_FORMAT)
    if not isinstance(ckpt["model"], dict) or not {"class", "config", "state_dict"} <= set(ckpt["model"]) \
            or not isinstance(ckpt["trainer"], dict):
        raise CheckpointError(f"training checkpoint {os.fspath(path)!r} has a malformed 'model' or 'trainer' "
                              "entry; write it again")
    return ckpt


def check_compatible(model: WorldModel, ckpt: dict[str, Any], path: str | os.PathLike) -> None:
    """Raise ValueError if ``ckpt`` was written by another model class or configuration."""
    saved_cls, mine_cls = ckpt["model"]["class"], class_path(type(model))
    if saved_cls != mine_cls:
        raise ValueError(f"training checkpoint {os.fspath(path)!r} holds a {saved_cls}, but the model "
                         f"to resume is a {mine_cls}; build the same architecture or start a new run "
                         "with another checkpoint path")
    saved, mine = ckpt["model"]["config"], model_config(model)
    diff = sorted(k for k in set(saved) | set(mine) if saved.get(k) != mine.get(k))
    if diff:
        details = ", ".join(f"{k}: checkpoint={saved.get(k)!r} model={mine.get(k)!r}" for k in diff)
        raise ValueError(f"training checkpoint {os.fspath(path)!r} was written by a differently "
                         f"configured {saved_cls} ({details}); build the model with the checkpoint's "
                         "config or start a new run with another checkpoint path")


def restore_training_state(ckpt: dict[str, Any], path: str | os.PathLike, model: WorldModel,
                           optimizer: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    """Restore ``model`` (and ``optimizer``) from an already read checkpoint dict; return it.

    ``path`` only names the file in the error raised for an incompatible model.
    """
    check_compatible(model, ckpt, path)
    device = model.device
    try:
        model.load_state_dict({k: v.to(device) for k, v in ckpt["model"]["state_dict"].items()})
        if optimizer is not None:
            optimizer.load_state_dict(ckpt["optimizer"])
    except (RuntimeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CheckpointError(f"training checkpoint {os.fspath(path)!r} does not fit the model or its "
                              f"optimiser ({type(exc).__name__}: {str(exc)[:200]})") from exc
    return ckpt


def load_training_checkpoint(path: str | os.PathLike, model: WorldModel,
                             optimizer: torch.optim.Optimizer | None = None) -> dict[str, Any]:
    """Restore ``model`` (and ``optimizer``) from ``path``; return the checkpoint dict."""
    return restore_training_state(read_training_checkpoint(path), path, model, optimizer)


def model_from_training_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu"
                                   ) -> WorldModel:
    """Rebuild the (best) model stored in a training checkpoint, whatever its class."""
    ckpt = read_training_checkpoint(path)
    best = ckpt["trainer"].get("best_state") or ckpt["model"]["state_dict"]
    return model_from_checkpoint(ckpt["model"], device, state_dict=best).eval()
