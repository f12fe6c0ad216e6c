"""Small utilities shared across the package: devices, seeding, atomic file writes."""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """Turn ``"auto"``, ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``) into a ``torch.device``.

    ``"auto"`` picks CUDA when available, else CPU.

    Raises:
        ValueError: for an unknown name, or ``"cuda"`` when no GPU is visible.
    """
    if isinstance(device, torch.device):
        return device
    if not isinstance(device, str):
        raise TypeError(f"device must be a str or torch.device, got {type(device).__name__}")
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r} requested but CUDA is not available; use 'cpu' or 'auto'")
        return torch.device(device)
    raise ValueError(f"unknown device {device!r}; choose one of {DEVICE_CHOICES}")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch global generators (experiments call this once)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` seeded with ``seed`` (fresh entropy if ``None``)."""
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return gen


TMP_SUFFIX = ".tmp"
STALE_TMP_AGE_S = 3600.0  # a temporary file without a live writer older than this is a crash leftover


def _tmp_prefix(path: Path) -> str:
    return f".{path.name}."


def _writer_alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # writes are synchronous: our own leftover is from an earlier, failed write
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_tmp(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that crashed :func:`atomic_write` calls for ``path`` left behind.

    A temporary file is ``.<name>.<pid>.<random>.tmp``; it is stale when its writer process is
    gone (or is this process), or, for a name without a pid, when it is older than
    ``STALE_TMP_AGE_S``. Returns the removed paths.
    """
    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    prefix = _tmp_prefix(path)
    for tmp in path.parent.glob(f"{glob_escape(prefix)}*{TMP_SUFFIX}"):
        middle = tmp.name[len(prefix):-len(TMP_SUFFIX)].split(".")
        try:
            stale = not _writer_alive(int(middle[0])) if len(middle) == 2 and middle[0].isdigit() else \
                time.time() - tmp.stat().st_mtime > STALE_TMP_AGE_S
            if stale:
                tmp.unlink()
                removed.append(tmp)
        except FileNotFoundError:
            continue
    return removed


def glob_escape(text: str) -> str:
    """``text`` with glob metacharacters escaped."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in text)


def fsync_path(path: str | os.PathLike, directory: bool = False) -> None:
    """``fsync`` a written file (or, with ``directory``, a folder's entries; skipped where unsupported)."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write a file atomically: ``write(tmp_path)``, fsync, then rename over ``path``.

    A crash mid-write leaves the previous file intact, never a truncated one; the temporary
    files of earlier crashed writes are removed first (:func:`remove_stale_tmp`). The file
    keeps the mode of the one it replaces, or gets ``0o644`` (``mkstemp``'s private ``0o600``
    would hide results and checkpoints from the other users of a shared machine).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_tmp(path)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{_tmp_prefix(path)}{os.getpid()}.",
                               suffix=TMP_SUFFIX)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, mode)
        fsync_path(tmp_path)
        os.replace(tmp_path, path)
        fsync_path(path.parent, directory=True)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """Save ``obj`` atomically as a safe, checksummed torch file (see :mod:`grasp_agent.safe_io`)."""
    from grasp_agent.safe_io import save_torch_file

    return save_torch_file(obj, path)


def atomic_json_dump(obj: Any, path: str | os.PathLike, **kwargs: Any) -> Path:
    """``json.dump`` through :func:`atomic_write` (indent 2 unless overridden)."""
    kwargs.setdefault("indent", 2)

    def _write(p: Path) -> None:
        with open(p, "w", encoding="utf-8") as fh:
            json.dump(obj, fh, **kwargs)
            fh.write("\n")

    return atomic_write(path, _write)


def atomic_text_write(text: str, path: str | os.PathLike) -> Path:
    """Write ``text`` to ``path`` atomically."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))
