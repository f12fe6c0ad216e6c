"""Small utilities shared across the package: devices, seeding, atomic file writes."""

from __future__ import annotations

import json
import os
import random
import tempfile
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


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> Path:
    """Write a file atomically: ``write(tmp_path)`` then rename over ``path``.

    A crash mid-write leaves the previous file intact, never a truncated one. The file keeps
    the mode of the one it replaces, or gets ``0o644`` (``mkstemp``'s private ``0o600`` would
    hide results and checkpoints from the other users of a shared machine).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()
    return path


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` through :func:`atomic_write`."""
    return atomic_write(path, lambda p: torch.save(obj, p))


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
