"""Dyna checkpoints committed as one unit, loaded safely, resumed exactly.

Layout of a checkpoint directory::

    checkpoint.json          the pointer: {"format", "version", "files": {name: sha256}}
    v000003/state.pt         loop state, world model, random states, SB3 learner tensors
    v000003/real_buffer.npz  the real-transition ReplayBuffer (ring rows kept)
    v000003/learner_buffer.npz  the SB3 learner's replay buffer arrays (HER included)

:func:`write_checkpoint` writes a new version directory (every file flushed and fsynced), then
replaces ``checkpoint.json`` atomically, then deletes the older versions: a kill at any point
leaves either the previous checkpoint or the new one, never a mix. :func:`read_checkpoint`
verifies every file against the SHA-256 the pointer lists, so a file from another version (a
mixed checkpoint) or a damaged one is refused with :class:`~grasp_agent.safe_io.CheckpointError`.
Unfinished version directories and ``.*.tmp`` files of crashed saves are removed on the next
save or load.

Nothing is unpickled: ``state.pt`` loads with ``torch.load(weights_only=True)`` and the SB3
learner is saved as tensors (``get_parameters()``: policy and optimiser states, plus its torch
variables such as SAC's ``log_ent_coef`` and the counters ``num_timesteps``, ``_n_updates``,
``_episode_num``, ``_current_progress_remaining``) and its replay buffer as plain numpy arrays.
With these, a resumed SAC (+HER) learner is bit-identical to an uninterrupted one when driven
by :class:`~grasp_agent.dyna.DynaLoop` (``train``/``predict`` draw from the global numpy/torch
generators, which the state also restores). Not restored, because Dyna never uses them: the
action-space sampler's generator, ``action_noise`` state (TD3/DDPG), ``_last_obs`` and the
episode-statistics deques of ``learn()``, and the logger.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from grasp_agent.safe_io import CheckpointError, load_torch_file, read_checked, require, write_checked
from grasp_agent.utils import atomic_json_dump, fsync_path, remove_stale_tmp

POINTER_FILE = "checkpoint.json"
POINTER_FORMAT = "grasp_agent.dyna_checkpoint/2"
STATE_FILE, BUFFER_FILE, LEARNER_BUFFER_FILE = "state.pt", "real_buffer.npz", "learner_buffer.npz"
LEGACY_FILES = ("dyna_state.pt", "learner_buffer.pkl", "learner.zip")
VERSION_RE = re.compile(r"^v(\d{6})$")
LEARNER_COUNTERS = ("num_timesteps", "_n_updates", "_episode_num", "_current_progress_remaining")


def has_checkpoint(directory: str | os.PathLike) -> bool:
    """Whether ``directory`` holds a Dyna checkpoint (or one of the old, unsafe layout)."""
    directory = Path(directory)
    return (directory / POINTER_FILE).exists() or any((directory / f).exists() for f in LEGACY_FILES)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _read_pointer(directory: Path) -> dict[str, Any]:
    path = directory / POINTER_FILE
    remove_stale_tmp(path)
    try:
        pointer = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"Dyna checkpoint pointer {os.fspath(path)!r} is unreadable ({exc}); the "
                              "checkpoint is damaged: delete the directory to start over") from exc
    if not isinstance(pointer, dict) or pointer.get("format") != POINTER_FORMAT \
            or not isinstance(pointer.get("files"), dict) \
            or not VERSION_RE.match(str(pointer.get("version"))):
        raise CheckpointError(f"{os.fspath(path)!r} is not a Dyna checkpoint pointer (format "
                              f"{POINTER_FORMAT!r} with 'version' and 'files')")
    return pointer


def _clean(directory: Path, keep: str | None) -> None:
    """Remove version directories other than ``keep`` (finished older ones, crashed newer ones)."""
    for child in directory.iterdir() if directory.is_dir() else ():
        if child.is_dir() and VERSION_RE.match(child.name) and child.name != keep:
            shutil.rmtree(child, ignore_errors=True)
    remove_stale_tmp(directory / POINTER_FILE)


def write_checkpoint(directory: str | os.PathLike, state: dict[str, Any], buffer: Any,
                     learner: Any = None) -> Path:
    """Commit ``state`` (plain data and tensors), the real ``buffer`` and ``learner`` as one unit.

    Returns the new version directory.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    current = _read_pointer(directory)["version"] if (directory / POINTER_FILE).exists() else None
    numbers = [int(m.group(1)) for c in directory.iterdir() if (m := VERSION_RE.match(c.name))]
    version = f"v{max(numbers, default=0) + 1:06d}"
    _clean(directory, current)  # crashed, never-committed versions
    target = directory / version
    target.mkdir()
    payload = dict(state, version=version)
    if learner is not None:
        payload["learner"] = learner_state(learner)
    from grasp_agent.safe_io import save_torch_file

    save_torch_file(payload, target / STATE_FILE)
    buffer.save(target / BUFFER_FILE)
    if learner is not None:
        save_sb3_buffer(learner.replay_buffer, target / LEARNER_BUFFER_FILE)
    fsync_path(target, directory=True)
    files = {p.name: _sha256(p) for p in sorted(target.iterdir())}
    atomic_json_dump({"format": POINTER_FORMAT, "version": version, "files": files}, directory / POINTER_FILE)
    _clean(directory, version)
    return target


def read_checkpoint(directory: str | os.PathLike, expected_format: str) -> tuple[dict[str, Any], Path]:
    """Verify the committed version of ``directory``; return its state dict and its folder.

    Raises:
        CheckpointError: an old pickle-based layout, a damaged pointer, a missing file, or a file
            whose checksum differs from the pointer's (a mixed or damaged checkpoint).
    """
    directory = Path(directory)
    if not (directory / POINTER_FILE).exists():
        legacy = [f for f in LEGACY_FILES if (directory / f).exists()]
        if legacy:
            raise CheckpointError(f"{os.fspath(directory)!r} holds a Dyna checkpoint of the old layout "
                                  f"({', '.join(legacy)}), which loads through pickle and could run code; "
                                  "it cannot be resumed safely: start a new run in an empty directory")
        raise FileNotFoundError(f"no Dyna checkpoint in {os.fspath(directory)!r} (no {POINTER_FILE})")
    pointer = _read_pointer(directory)
    version = pointer["version"]
    _clean(directory, version)
    folder = directory / version
    for name, digest in pointer["files"].items():
        path = folder / name
        if "/" in name or "\\" in name or name.startswith(".") or not path.is_file():
            raise CheckpointError(f"Dyna checkpoint {os.fspath(directory)!r}: {name!r} of version "
                                  f"{version} is missing; the checkpoint is incomplete: delete the "
                                  "directory to start over")
        if _sha256(path) != digest:
            raise CheckpointError(f"Dyna checkpoint {os.fspath(directory)!r}: {os.fspath(path)!r} does not "
                                  f"match the checksum that version {version} committed; the checkpoint is "
                                  "mixed (a file of another save) or damaged: restore it or start over")
    if STATE_FILE not in pointer["files"] or BUFFER_FILE not in pointer["files"]:
        raise CheckpointError(f"Dyna checkpoint {os.fspath(directory)!r} version {version} lists no "
                              f"{STATE_FILE} or {BUFFER_FILE}")
    state = load_torch_file(folder / STATE_FILE, "Dyna checkpoint state")
    require(state, ("version", "config", "model", "counters", "history", "goals", "rng", "action_rng",
                    "planner_rng", "agent_timesteps", "global_rng"), folder / STATE_FILE,
            "Dyna checkpoint state", expected_format)
    if state["version"] != version:
        raise CheckpointError(f"{os.fspath(folder / STATE_FILE)!r} says version {state['version']!r}, the "
                              f"pointer {version!r}: the checkpoint is mixed; start over")
    return state, folder


# ---------------------------------------------------------------------------- the SB3 learner
def learner_state(learner: Any) -> dict[str, Any]:
    """The learner's tensors and counters (see the module docstring)."""
    _, variables = learner._get_torch_save_params()
    return {"class": f"{type(learner).__module__}:{type(learner).__qualname__}",
            "params": {name: {k: (v.detach().cpu() if isinstance(v, torch.Tensor) else v)
                              for k, v in sd.items()}
                       for name, sd in learner.get_parameters().items()},
            "variables": {name: _getattr(learner, name).detach().cpu().clone() for name in variables},
            "counters": {name: getattr(learner, name) for name in LEARNER_COUNTERS if hasattr(learner, name)}}


def _getattr(obj: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        obj = getattr(obj, part)
    return obj


def restore_learner(learner: Any, saved: Any, where: str) -> None:
    """Load :func:`learner_state` output into ``learner`` (the same algorithm and network sizes)."""
    if not isinstance(saved, dict) or not {"class", "params", "variables", "counters"} <= set(saved):
        raise CheckpointError(f"{where}: the checkpoint holds no SB3 learner state, but the loop has a "
                              "learner")
    mine = f"{type(learner).__module__}:{type(learner).__qualname__}"
    if saved["class"] != mine:
        raise CheckpointError(f"{where}: the checkpoint's learner is a {saved['class']}, the loop's a "
                              f"{mine}; build the same learner to resume")
    try:
        learner.set_parameters(saved["params"], exact_match=True, device=learner.device)
        for name, value in saved["variables"].items():
            with torch.no_grad():
                _getattr(learner, name).copy_(value)
    except (ValueError, RuntimeError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"{where}: the saved learner does not fit this one ({type(exc).__name__}: "
                              f"{str(exc)[:200]}); build it with the same policy and sizes") from exc
    for name, value in saved["counters"].items():
        setattr(learner, name, value)


def _buffer_fields(buffer: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    arrays, scalars = {}, {}
    for name, value in vars(buffer).items():
        if isinstance(value, np.ndarray):
            if value.dtype.hasobject:
                if any(bool(v) for v in value.ravel()):
                    raise TypeError(f"{type(buffer).__name__}.{name} holds Python objects (e.g. info dicts "
                                    "of copy_info_dict=True), which cannot be checkpointed safely; build "
                                    "the buffer without them")
                continue  # all empty: nothing to save
            arrays[name] = value
        elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
            for key, arr in value.items():
                arrays[f"{name}/{key}"] = arr
        elif isinstance(value, (bool, int, float, str)) or value is None:
            scalars[name] = value
    return arrays, scalars


def save_sb3_buffer(buffer: Any, path: str | os.PathLike) -> None:
    """Write an SB3 (Dict/HER) replay buffer's arrays and counters to a checksummed ``.npz``."""
    arrays, scalars = _buffer_fields(buffer)
    meta = {"class": type(buffer).__name__, "scalars": scalars}
    out = io.BytesIO()
    np.savez(out, __meta__=np.array(json.dumps(meta)), **arrays)
    write_checked(path, out.getvalue())


def load_sb3_buffer_into(buffer: Any, path: str | os.PathLike) -> None:
    """Fill ``buffer`` (built by the learner) from :func:`save_sb3_buffer` output; shapes must match."""
    name = os.fspath(path)
    body = read_checked(path, "SB3 replay buffer")
    try:
        with np.load(io.BytesIO(body), allow_pickle=False) as data:
            meta = json.loads(str(data["__meta__"]))
            saved = {k: data[k] for k in data.files if k != "__meta__"}
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise CheckpointError(f"{name!r} is not a readable SB3 replay buffer ({type(exc).__name__}: "
                              f"{str(exc)[:200]})") from exc
    if meta.get("class") != type(buffer).__name__:
        raise CheckpointError(f"{name!r} holds a {meta.get('class')}, the learner has a "
                              f"{type(buffer).__name__}")
    mine, _ = _buffer_fields(buffer)
    if set(mine) != set(saved):
        raise CheckpointError(f"{name!r} has arrays {sorted(saved)}, the learner's buffer {sorted(mine)}")
    for key, arr in saved.items():
        if arr.shape != mine[key].shape or arr.dtype != mine[key].dtype:
            raise CheckpointError(f"{name!r}: {key} is {arr.dtype}{arr.shape}, the learner's buffer has "
                                  f"{mine[key].dtype}{mine[key].shape}; build it with the same size and "
                                  "spaces")
    for key, arr in saved.items():
        mine[key][...] = arr
    for key, value in meta["scalars"].items():
        if hasattr(buffer, key) and isinstance(getattr(buffer, key), type(value)):
            setattr(buffer, key, value)
