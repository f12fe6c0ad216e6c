"""Saving and loading world models: class, constructor config and weights in one file.

A checkpoint is a dict ``{"format", "class", "config", "state_dict", "extra"}`` written
atomically with a checksum, holding only tensors and plain data (:mod:`grasp_agent.safe_io`):
it loads with ``torch.load(weights_only=True)``, and the class it names must be a
:class:`~grasp_agent.models.base.WorldModel` from grasp_agent or an already imported module, so
a crafted file cannot run code. Loading checks the class and the config before touching the
weights, so a checkpoint of another model or another shape fails with an error that says which;
a truncated, corrupt or foreign file raises :class:`~grasp_agent.safe_io.CheckpointError`.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import os
import sys
from collections.abc import Iterator
from typing import Any

import torch

from grasp_agent.models.base import WorldModel, check_trainable
from grasp_agent.safe_io import CheckpointError, load_torch_file, require
from grasp_agent.utils import atomic_torch_save, resolve_device

CHECKPOINT_FORMAT = "grasp_agent.world_model/1"


def class_path(cls: type) -> str:
    """``module:QualName`` of a class (how checkpoints name classes)."""
    return f"{cls.__module__}:{cls.__qualname__}"


def import_class(path: str, base: type = WorldModel) -> type:
    """The class named by :func:`class_path`, which must be a subclass of ``base``.

    Only modules of grasp_agent are imported on demand; a class from any other module is found
    only if that module was imported already (import your custom model's module before loading).
    Nothing named in a file gets called unless it is such a class.

    Raises:
        CheckpointError: a malformed name, an unknown class, or one that is not a ``base``.
    """
    if not isinstance(path, str) or path.count(":") != 1:
        raise CheckpointError(f"{path!r} is not a class name of the form 'module:QualName'")
    module_name, qualname = path.split(":")
    if module_name in sys.modules:
        obj: Any = sys.modules[module_name]
    elif module_name == "grasp_agent" or module_name.startswith("grasp_agent."):
        try:
            obj = importlib.import_module(module_name)
        except ImportError as exc:
            raise CheckpointError(f"the class {path!r} cannot be found: {exc}") from exc
    else:
        raise CheckpointError(f"the class {path!r} lives in module {module_name!r}, which is not imported; "
                              f"import it before loading (only grasp_agent modules are imported on demand)")
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    if not (isinstance(obj, type) and issubclass(obj, base)):
        raise CheckpointError(f"{path!r} is not a {base.__name__} class this version knows; refusing to "
                              "build it from the file")
    return obj


def load_weights(model: WorldModel, state_dict: dict[str, torch.Tensor]) -> None:
    """``model.load_state_dict`` that names missing and unexpected entries in a ValueError.

    A checkpoint written by another version of a model class (e.g. before the pixel codec
    kept its per-pixel statistics) fails here rather than with torch's bare RuntimeError.
    """
    if not isinstance(state_dict, dict) or not all(isinstance(v, torch.Tensor) for v in state_dict.values()):
        raise CheckpointError(f"the saved weights of {type(model).__name__} are not a dict of tensors")
    mine, theirs = set(model.state_dict()), set(state_dict)
    missing, unexpected = sorted(mine - theirs), sorted(theirs - mine)
    if missing or unexpected:
        raise CheckpointError(f"the checkpoint's weights do not fit {type(model).__name__} as this version "
                         f"of grasp_agent builds it (missing: {missing or 'none'}; unexpected: "
                         f"{unexpected or 'none'}); it was saved by another version: retrain the model")
    try:
        model.load_state_dict(state_dict)
    except RuntimeError as exc:  # same names, other shapes
        raise CheckpointError(f"the checkpoint's weights do not fit {type(model).__name__}: "
                              f"{str(exc).splitlines()[-1].strip()}") from exc


def model_from_checkpoint(ckpt: dict[str, Any], device: str | torch.device = "cpu",
                          state_dict: dict[str, torch.Tensor] | None = None) -> WorldModel:
    """Rebuild a model from a :func:`checkpoint_dict` dict (``state_dict`` overrides its weights)."""
    device = resolve_device(device)
    if not isinstance(ckpt, dict) or not {"class", "config", "state_dict"} <= set(ckpt):
        raise CheckpointError("a world-model entry needs 'class', 'config' and 'state_dict'")
    cls = import_class(ckpt["class"])
    if not isinstance(ckpt["config"], dict):
        raise CheckpointError(f"the config of the saved {ckpt['class']} is not a dict")
    try:
        model = cls(**ckpt["config"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"the saved config does not build a {ckpt['class']} ({exc}); the file was "
                              "written by another version or altered") from exc
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
    """Load and sanity-check a checkpoint dict from ``path``.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: truncated, corrupt, unsafe or another kind of file.
    """
    ckpt = load_torch_file(path, "world-model checkpoint")
    ckpt = require(ckpt, ("class", "config", "state_dict", "extra"), path,
                   "grasp_agent world-model checkpoint", CHECKPOINT_FORMAT)
    return ckpt


def load_world_model(path: str | os.PathLike, device: str | torch.device = "cpu") -> WorldModel:
    """Rebuild the model stored at ``path`` (a model :func:`save_world_model` wrote).

    Raises:
        ValueError: ``device`` is unknown or not available (checked before reading the file).
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file is truncated, corrupt, unsafe, foreign, or does not rebuild.
    """
    device = resolve_device(device)
    ckpt = read_checkpoint(path)
    with _naming(path):
        return model_from_checkpoint(ckpt, device)


@contextlib.contextmanager
def _naming(path: str | os.PathLike) -> Iterator[None]:
    """Prefix the file's name to a CheckpointError raised inside that does not name it yet."""
    try:
        yield
    except CheckpointError as exc:
        if os.fspath(path) in str(exc):
            raise
        raise CheckpointError(f"world-model checkpoint {os.fspath(path)!r}: {exc}") from exc


def load_into(model: WorldModel, path: str | os.PathLike) -> dict[str, Any]:
    """Load weights from ``path`` into an existing ``model``; return the checkpoint's ``extra``.

    Raises:
        ValueError: if the checkpoint holds another class or another config (shape).
    """
    ckpt = read_checkpoint(path)
    if not isinstance(ckpt["config"], dict):
        raise CheckpointError(f"world-model checkpoint {os.fspath(path)!r}: its config is not a dict")
    if ckpt["class"] != class_path(type(model)):
        raise CheckpointError(f"checkpoint {os.fspath(path)!r} holds a {ckpt['class']}, not a "
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
    with _naming(path):
        if not isinstance(ckpt["state_dict"], dict):
            raise CheckpointError("its weights are not a dict of tensors")
        load_weights(model, {k: v.to(device) if isinstance(v, torch.Tensor) else v
                             for k, v in ckpt["state_dict"].items()})
    return ckpt["extra"]
