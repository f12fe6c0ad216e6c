"""Saving and loading world models: class, constructor config and weights in one file.

A checkpoint is a dict ``{"format", "class", "config", "state_dict", "extra"}`` written
atomically. Loading checks the class and the config before touching the weights, so a
checkpoint of another model or another shape fails with an error that says which.
"""

from __future__ import annotations

import importlib
import inspect
import os
from typing import Any

import torch

from grasp_agent.models.base import WorldModel, check_trainable
from grasp_agent.utils import atomic_torch_save

CHECKPOINT_FORMAT = "grasp_agent.world_model/1"


def class_path(cls: type) -> str:
    """``module:QualName`` of a class (how checkpoints name classes)."""
    return f"{cls.__module__}:{cls.__qualname__}"


def import_class(path: str) -> Any:
    """The class named by :func:`class_path`."""
    module_name, qualname = path.split(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def load_weights(model: WorldModel, state_dict: dict[str, torch.Tensor]) -> None:
    """``model.load_state_dict`` that names missing and unexpected entries in a ValueError.

    A checkpoint written by another version of a model class (e.g. before the pixel codec
    kept its per-pixel statistics) fails here rather than with torch's bare RuntimeError.
    """
    mine, theirs = set(model.state_dict()), set(state_dict)
    missing, unexpected = sorted(mine - theirs), sorted(theirs - mine)
    if missing or unexpected:
        raise ValueError(f"the checkpoint's weights do not fit {type(model).__name__} as this version "
                         f"of grasp_agent builds it (missing: {missing or 'none'}; unexpected: "
                         f"{unexpected or 'none'}); it was saved by another version: retrain the model")
    model.load_state_dict(state_dict)


def model_from_checkpoint(ckpt: dict[str, Any], device: str | torch.device = "cpu",
                          state_dict: dict[str, torch.Tensor] | None = None) -> WorldModel:
    """Rebuild a model from a :func:`checkpoint_dict` dict (``state_dict`` overrides its weights)."""
    model = import_class(ckpt["class"])(**ckpt["config"])
    load_weights(model, ckpt["state_dict"] if state_dict is None else state_dict)
    return model.to(device)


def _constructor_defaults(cls: type) -> dict[str, Any]:
    """The keyword defaults of ``cls.__init__``."""
    params = inspect.signature(cls.__init__).parameters.values()
    return {p.name: p.default for p in params if p.default is not inspect.Parameter.empty}


def check_saveable(model: object) -> WorldModel:
    """Validate that ``model`` can be saved; return it.

    Saveable are :class:`~grasp_agent.TrainableWorldModel` instances (their ``get_config()``
    is the constructor config) and :class:`~grasp_agent.models.ActionBlockModel` wrappers
    around a saveable model.

    Raises:
        TypeError: from :func:`~grasp_agent.models.base.check_trainable`, listing what is
            missing and how to add it.
    """
    from grasp_agent.models.blocks import ActionBlockModel  # blocks imports this module

    if isinstance(model, ActionBlockModel):
        check_saveable(model.inner)
        return model
    return check_trainable(model)


def model_config(model: WorldModel) -> dict[str, Any]:
    """The model's constructor kwargs, from its ``get_config()`` (after :func:`check_saveable`)."""
    return dict(check_saveable(model).get_config())


def checkpoint_dict(model: WorldModel, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """The serialisable checkpoint of ``model`` (weights moved to CPU)."""
    return {
        "format": CHECKPOINT_FORMAT,
        "class": class_path(type(model)),
        "config": model_config(model),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "extra": dict(extra or {}),
    }


def save_world_model(model: WorldModel, path: str | os.PathLike,
                     extra: dict[str, Any] | None = None) -> None:
    """Atomically save ``model`` (class, config, weights and ``extra``) to ``path``.

    Raises:
        TypeError: ``model`` is not saveable (see :func:`check_saveable`): the message lists what
            is missing and how to add it.
    """
    atomic_torch_save(checkpoint_dict(model, extra), path)


def read_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Load and sanity-check a checkpoint dict from ``path``."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no world-model checkpoint at {os.fspath(path)!r}")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{os.fspath(path)!r} is not a grasp_agent world-model checkpoint "
                         f"(expected format {CHECKPOINT_FORMAT!r})")
    return ckpt


def load_world_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> WorldModel:
    """Rebuild the model stored at ``path`` (a model :func:`save_world_model` wrote)."""
    return model_from_checkpoint(read_checkpoint(path), device)


def load_into(model: WorldModel, path: str | os.PathLike) -> dict[str, Any]:
    """Load weights from ``path`` into an existing ``model``; return the checkpoint's ``extra``.

    Raises:
        ValueError: if the checkpoint holds another class or another config (shape).
    """
    ckpt = read_checkpoint(path)
    if ckpt["class"] != class_path(type(model)):
        raise ValueError(f"checkpoint {os.fspath(path)!r} holds a {ckpt['class']}, not a "
                         f"{class_path(type(model))}; load it with load_world_model(path)")
    mine = model_config(model)
    # a key the checkpoint lacks (saved before the kwarg existed) takes the constructor's
    # default, exactly as load_world_model rebuilds such a checkpoint
    theirs = {**_constructor_defaults(type(model)), **ckpt["config"]}
    diff = {k: (theirs.get(k), mine.get(k)) for k in set(mine) | set(ckpt["config"])
            if theirs.get(k) != mine.get(k)}
    if diff:
        details = ", ".join(f"{k}: checkpoint={a!r} model={b!r}" for k, (a, b) in sorted(diff.items()))
        raise ValueError(f"checkpoint {os.fspath(path)!r} was saved from a differently shaped "
                         f"model ({details}); build the model with the checkpoint's config or "
                         "use load_world_model(path)")
    device = model.device
    load_weights(model, {k: v.to(device) for k, v in ckpt["state_dict"].items()})
    return ckpt["extra"]
