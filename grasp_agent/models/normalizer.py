"""Per-dimension affine normaliser fitted from data, stored as module buffers."""

from __future__ import annotations

import torch
from torch import nn

_MIN_STD = 1e-6


class Normalizer(nn.Module):
    """``x -> (x - mean) / std`` with ``mean``/``std`` of shape ``(dim,)`` kept in the state dict.

    An unfitted normaliser is the identity. :meth:`fit` takes ``(N, dim)`` data.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = int(dim)
        self.register_buffer("mean", torch.zeros(self.dim))
        self.register_buffer("std", torch.ones(self.dim))

    @torch.no_grad()
    def fit(self, x: torch.Tensor) -> None:
        """Fit to data ``(N, dim)`` (N >= 1); std is floored at 1e-6."""
        x = torch.as_tensor(x, dtype=torch.float32).reshape(-1, self.dim)
        if x.shape[0] == 0:
            raise ValueError("cannot fit a Normalizer on zero samples")
        self.mean.copy_(x.mean(0).to(self.mean.device))
        std = x.std(0, unbiased=False) if x.shape[0] > 1 else torch.ones(self.dim)
        self.std.copy_(std.clamp_min(_MIN_STD).to(self.std.device))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Normalise ``(..., dim)``."""
        return (x - self.mean) / self.std

    def inverse(self, y: torch.Tensor) -> torch.Tensor:
        """Undo :meth:`forward` on ``(..., dim)``."""
        return y * self.std + self.mean
