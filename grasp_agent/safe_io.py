"""Files that load safely and say what is wrong with them.

Every file grasp_agent writes (world models, training checkpoints, agents, Dyna state, replay
buffers) ends with a checksum trailer: ``TRAILER_MAGIC`` followed by the SHA-256 of everything
before it. Loading verifies the trailer before parsing anything, so a truncated file or one with
a flipped byte is refused instead of loading silently.

Torch files hold only tensors and plain data and load with ``torch.load(weights_only=True)``:
a crafted file cannot run code. Values that are not plain data are stored as tagged plain dicts
and rebuilt on load (:func:`to_plain` / :func:`from_plain`): numpy arrays and scalars (dtype,
shape, raw bytes) and Gymnasium spaces (``Box`` low/high/shape/dtype, ``Discrete``,
``MultiDiscrete``, ``MultiBinary``, ``Dict``, ``Tuple``). Anything else is refused when saving.

Whatever goes wrong while reading (truncated, corrupt, foreign, unsafe, or a missing entry)
raises :class:`CheckpointError`, a ``ValueError`` that names the file and the problem.

Example::

    >>> import tempfile, numpy as np
    >>> path = tempfile.mkdtemp() + "/x.pt"
    >>> save_torch_file({"a": np.arange(3)}, path)
    >>> load_torch_file(path, "test file")["a"]
    array([0, 1, 2])
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import zipfile
from pathlib import Path, PurePath
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from grasp_agent.utils import atomic_write, remove_stale_tmp

TRAILER_MAGIC = b"\n#grasp_agent.sha256\n"
DIGEST_SIZE = 32
TAG = "__grasp_agent__"
ZIP_END = b"PK\x05\x06"  # end-of-central-directory record: the last 22 bytes of a zip without comment
ZIP_END_SIZE = 22


class CheckpointError(ValueError):
    """A file that cannot be loaded: truncated, corrupt, foreign, unsafe or missing an entry.

    The message names the file, what is wrong with it and what to do.
    """


# ---------------------------------------------------------------------------- plain data
def _array_plain(arr: np.ndarray, scalar: bool = False) -> dict[str, Any]:
    if arr.dtype.hasobject:
        raise TypeError(f"cannot store a numpy array of dtype object (shape {arr.shape}) safely; "
                        "convert it to numbers or lists first")
    return {TAG: "ndarray", "dtype": arr.dtype.str, "shape": list(arr.shape), "scalar": scalar,
            "data": np.ascontiguousarray(arr).tobytes()}


def _space_plain(space: spaces.Space) -> dict[str, Any]:
    if isinstance(space, spaces.Box):
        return {TAG: "space", "type": "Box", "low": _array_plain(space.low), "high": _array_plain(space.high),
                "shape": list(space.shape), "dtype": np.dtype(space.dtype).str}
    if isinstance(space, spaces.Discrete):
        return {TAG: "space", "type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiDiscrete):
        return {TAG: "space", "type": "MultiDiscrete", "nvec": _array_plain(space.nvec),
                "start": _array_plain(space.start), "dtype": np.dtype(space.dtype).str}
    if isinstance(space, spaces.MultiBinary):
        return {TAG: "space", "type": "MultiBinary", "n": to_plain(space.n)}
    if isinstance(space, spaces.Dict):
        return {TAG: "space", "type": "Dict",
                "spaces": [[k, _space_plain(s)] for k, s in space.spaces.items()]}
    if isinstance(space, spaces.Tuple):
        return {TAG: "space", "type": "Tuple", "spaces": [_space_plain(s) for s in space.spaces]}
    raise TypeError(f"cannot store a {type(space).__name__} space; supported: Box, Discrete, "
                    "MultiDiscrete, MultiBinary, Dict, Tuple")


def to_plain(obj: Any) -> Any:
    """``obj`` with numpy values and spaces replaced by tagged plain dicts (see the module docstring).

    Raises:
        TypeError: for an object that is neither plain data, a tensor, numpy nor a space.
    """
    if obj is None or isinstance(obj, (bool, int, float, str, bytes, torch.Tensor, torch.dtype,
                                       torch.device, torch.Size)):
        return obj
    if isinstance(obj, np.ndarray):
        return _array_plain(obj)
    if isinstance(obj, np.generic):
        return _array_plain(np.asarray(obj), scalar=True)
    if isinstance(obj, spaces.Space):
        return _space_plain(obj)
    if isinstance(obj, PurePath):
        return os.fspath(obj)
    if isinstance(obj, dict):
        if TAG in obj:
            raise TypeError(f"a dict key may not be {TAG!r} (reserved for tagged values)")
        return {k: to_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return type(obj)(to_plain(v) for v in obj)
    raise TypeError(f"cannot store a {type(obj).__module__}.{type(obj).__qualname__} in a safe file: "
                    "only tensors, numbers, strings, bytes, None, numpy arrays, Gymnasium spaces and "
                    "lists/tuples/dicts of them")


def _space_from_plain(d: dict[str, Any]) -> spaces.Space:
    kind = d["type"]
    if kind == "Box":
        return spaces.Box(from_plain(d["low"]), from_plain(d["high"]), tuple(d["shape"]),
                          np.dtype(d["dtype"]))
    if kind == "Discrete":
        return spaces.Discrete(int(d["n"]), start=int(d["start"]))
    if kind == "MultiDiscrete":
        return spaces.MultiDiscrete(from_plain(d["nvec"]), np.dtype(d["dtype"]), start=from_plain(d["start"]))
    if kind == "MultiBinary":
        return spaces.MultiBinary(from_plain(d["n"]))
    if kind == "Dict":
        return spaces.Dict({k: _space_from_plain(s) for k, s in d["spaces"]})
    if kind == "Tuple":
        return spaces.Tuple([_space_from_plain(s) for s in d["spaces"]])
    raise ValueError(f"unknown space type {kind!r}")


def from_plain(obj: Any) -> Any:
    """Invert :func:`to_plain`."""
    if isinstance(obj, dict):
        tag = obj.get(TAG)
        if tag == "ndarray":
            dtype = np.dtype(obj["dtype"])
            if dtype.hasobject:
                raise ValueError("an ndarray entry with dtype object")
            arr = np.frombuffer(obj["data"], dtype).reshape(obj["shape"]).copy()
            return arr[()] if obj["scalar"] else arr
        if tag == "space":
            return _space_from_plain(obj)
        if tag is not None:
            raise ValueError(f"unknown tagged entry {tag!r}")
        return {k: from_plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return type(obj)(from_plain(v) for v in obj)
    return obj


# ---------------------------------------------------------------------------- checksummed files
def write_checked(path: str | os.PathLike, body: bytes) -> Path:
    """Atomically write ``body`` followed by its checksum trailer (flushed and fsynced)."""
    digest = hashlib.sha256(body).digest()

    def write(p: Path) -> None:
        with open(p, "wb") as fh:
            fh.write(body)
            fh.write(TRAILER_MAGIC + digest)

    return atomic_write(path, write)


def read_checked(path: str | os.PathLike, what: str) -> bytes:
    """The body of a file written by :func:`write_checked`, after verifying its checksum.

    A file without the trailer is accepted only if it ends like a complete zip archive (files
    written before checksums were added); anything else raises :class:`CheckpointError`.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise FileNotFoundError(f"no {what} at {name!r}")
    remove_stale_tmp(name)
    try:
        with open(name, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise CheckpointError(f"cannot read {what} {name!r}: {exc}") from exc
    tail = len(TRAILER_MAGIC) + DIGEST_SIZE
    if len(data) >= tail and data[-tail:-DIGEST_SIZE] == TRAILER_MAGIC:
        body = data[:-tail]
        if hashlib.sha256(body).digest() != data[-DIGEST_SIZE:]:
            raise CheckpointError(f"{what} {name!r} is corrupt: its SHA-256 checksum does not match the "
                                  "content (a changed byte or a partly copied file); restore it from a "
                                  "good copy or write it again")
        return body
    if TRAILER_MAGIC in data[-2 * tail:]:
        raise CheckpointError(f"{what} {name!r} is corrupt: its checksum trailer is damaged or the file "
                              "was truncated; restore it from a good copy or write it again")
    if len(data) >= ZIP_END_SIZE and data[-ZIP_END_SIZE:-ZIP_END_SIZE + 4] == ZIP_END:
        return data  # written before checksums: still a complete archive
    detail = "it is empty" if not data else "it has no grasp_agent checksum and is not a complete archive"
    raise CheckpointError(f"{name!r} is not a readable {what}: {detail} (truncated, corrupt, or another "
                          "kind of file); pass a file grasp_agent wrote, or write it again")


def save_torch_file(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` of ``to_plain(obj)``, written atomically with a checksum trailer."""
    buf = io.BytesIO()
    torch.save(to_plain(obj), buf)
    return write_checked(path, buf.getvalue())


def load_torch_file(path: str | os.PathLike, what: str) -> Any:
    """Verify and load a file written by :func:`save_torch_file` (``weights_only=True``, on CPU).

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: truncated, corrupt, foreign, or holding objects other than plain data.
    """
    name = os.fspath(path)
    body = read_checked(path, what)
    try:
        obj = torch.load(io.BytesIO(body), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"refusing to load {what} {name!r}: it holds Python objects other than "
                              f"tensors and plain data, which could run code when loaded ({first[:200]}); "
                              "only load files from grasp_agent, and re-save older files with the version "
                              "that wrote them") from exc
    except (RuntimeError, EOFError, ValueError, TypeError, KeyError, AttributeError, IndexError, OSError,
            zipfile.BadZipFile, UnicodeDecodeError) as exc:
        raise CheckpointError(f"{name!r} is not a readable {what}: torch cannot parse it "
                              f"({type(exc).__name__}: {str(exc)[:200]}); it is truncated, corrupt or "
                              "another kind of file") from exc
    try:
        return from_plain(obj)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CheckpointError(f"{what} {name!r} holds a malformed tagged entry ({exc}); write it again"
                              ) from exc


def require(payload: Any, keys: tuple[str, ...], path: str | os.PathLike, what: str,
            expected_format: str) -> dict[str, Any]:
    """Check that ``payload`` is a dict of ``expected_format`` holding ``keys``; return it.

    Raises:
        CheckpointError: another kind of file (wrong or no ``format``), or a missing entry.
    """
    name = os.fspath(path)
    if not isinstance(payload, dict) or payload.get("format") != expected_format:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise CheckpointError(f"{name!r} is not a {what} (expected format {expected_format!r}, found "
                              f"{found!r})")
    missing = [k for k in keys if k not in payload]
    if missing:
        raise CheckpointError(f"{what} {name!r} lacks the entries {missing}; it is incomplete or was "
                              "written by another version: write it again")
    return payload
