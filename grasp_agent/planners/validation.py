"""Checks at the planner boundary: action bounds and model outputs (config fields:
:mod:`grasp_agent.validation`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from grasp_agent.models.base import WorldModel


def action_bounds(action_space: Any, action_dim: int) -> tuple[np.ndarray, np.ndarray]:
    """Return finite float32 ``(low, high)`` of shape ``(A,)`` from a Box or a (low, high) pair."""
    if isinstance(action_space, spaces.Box):
        if action_space.shape != (action_dim,):
            raise ValueError(f"action_space has shape {action_space.shape} but the model's "
                             f"action_dim is {action_dim}; they must match")
        low, high = action_space.low, action_space.high
    elif isinstance(action_space, (tuple, list)) and len(action_space) == 2:
        low, high = action_space
    else:
        raise TypeError(
            f"action_space must be a gymnasium.spaces.Box or a (low, high) pair, got "
            f"{type(action_space).__name__}; for Discrete spaces use "
            "grasp_agent.wrappers.DiscreteToBoxWrapper"
        )
    try:
        low = np.broadcast_to(np.asarray(low, dtype=np.float32), (action_dim,)).copy()
        high = np.broadcast_to(np.asarray(high, dtype=np.float32), (action_dim,)).copy()
    except ValueError as err:
        raise ValueError(f"action bounds must broadcast to ({action_dim},)") from err
    if not (np.all(np.isfinite(low)) and np.all(np.isfinite(high))):
        raise ValueError("action bounds must be finite; clip the action space (e.g. with "
                         "gymnasium.wrappers.ClipAction over a bounded Box) before planning")
    if np.any(high <= low):
        raise ValueError("every action bound needs high > low")
    with np.errstate(over="ignore"):
        width = high - low
    if not np.all(np.isfinite(width)):
        raise ValueError(f"action bounds are too wide for float32: high - low overflows to inf in dims "
                         f"{np.flatnonzero(~np.isfinite(width)).tolist()} (low={low.tolist()}, high="
                         f"{high.tolist()}); rescale the action space, e.g. with "
                         "gymnasium.wrappers.RescaleAction to [-1, 1]")
    return low, high


def check_model_output(model: WorldModel, call: str, out: Any, expected: tuple[int, ...]) -> torch.Tensor:
    """Return ``out`` if it is a floating tensor of shape ``expected``, else raise a clear error.

    A wrong shape (``(B, 1)`` or ``(B, D + 1)`` for ``(B, D)``) would otherwise broadcast
    silently against the goal and make every cost meaningless.

    Raises:
        TypeError: ``out`` is not a floating-point torch.Tensor.
        ValueError: its shape is not ``expected``.
    """
    name = f"{type(model).__name__}.{call}"
    if not isinstance(out, torch.Tensor) or not torch.is_floating_point(out):
        got = f"a tensor of {out.dtype}" if isinstance(out, torch.Tensor) else type(out).__name__
        raise TypeError(f"{name} must return a floating-point torch.Tensor, got {got}")
    if tuple(out.shape) != expected:
        raise ValueError(f"{name} returned shape {tuple(out.shape)}, expected {expected} (latent_dim="
                         f"{model.latent_dim} last); fix the model's {call} so it does not broadcast "
                         "against the goal")
    return out


def checked_rollout(model: WorldModel, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """``model.rollout(z0 (B, D), actions (B, T, A))``, checked to be ``(B, T, latent_dim)``."""
    return check_model_output(model, "rollout", model.rollout(z0, actions),
                              (actions.shape[0], actions.shape[1], model.latent_dim))
