"""Transformer world model: causal attention over a short window of (latent, action) tokens.

Each step forms a token ``x_t = W [z_t, norm(a_t)] + pos[age]`` (``age`` = 0 for the newest
token, 1 for the one before, ...), runs a pre-norm causal transformer over the last
``context`` tokens and reads the newest output: ``z_{t+1} = z_t + head(out_t)``.

How the two paths a planner uses treat history:

* ``predict(z, a)`` (GRASP's lifted, parallel phase) attends over a context of length 1, the
  current token only: every virtual state is treated as a fresh start, so all ``B x T``
  transitions are independent and evaluated in one batched call.
* ``rollout(z0, actions)`` (shooting planners, GRASP's sync phase, multi-step training)
  attends over a sliding window of the last ``context`` tokens of the rollout itself.

Because positions are embedded by age, the newest token always sees the same embedding, so
with ``context=1`` ``rollout`` equals the serial loop of ``predict`` exactly; with a longer
context, ``rollout`` uses history (tested). Training with
:meth:`~grasp_agent.models.latent.LatentWorldModel.sequence_loss` fits both paths: its
one-step term trains ``predict`` (context 1) and its open-loop term trains ``rollout``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from grasp_agent.models.latent import LatentWorldModel


class TransformerWorldModel(LatentWorldModel):
    """Causal-attention latent dynamics behind the WorldModel interface.

    Args:
        obs_shape: like action_dim, latent_dim, encoder, encoder_hidden, pred_weight, min_latent_std,
            encoder_from_prediction: see
            :class:`~grasp_agent.models.latent.LatentWorldModel`.
        context: number of past (latent, action) tokens ``rollout`` attends over (>= 1).
        d_model: token width. n_heads: attention heads. n_layers: transformer blocks.
    """

    def __init__(self, obs_shape: Sequence[int], action_dim: int, latent_dim: int = 32,
                 encoder: str = "state", encoder_hidden: Sequence[int] = (128, 128),
                 pred_weight: float = 1.0, context: int = 4, d_model: int = 64, n_heads: int = 4,
                 n_layers: int = 2, min_latent_std: float = 0.1,
                 encoder_from_prediction: bool = False) -> None:
        super().__init__(obs_shape, action_dim, latent_dim, encoder, encoder_hidden, pred_weight,
                         min_latent_std, encoder_from_prediction)
        if context < 1:
            raise ValueError(f"context must be >= 1, got {context}")
        if d_model % n_heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by n_heads ({n_heads})")
        self.context, self.d_model = int(context), int(d_model)
        self.n_heads, self.n_layers = int(n_heads), int(n_layers)
        self.tok = nn.Linear(self.latent_dim + self.action_dim, self.d_model)
        self.pos = nn.Parameter(0.02 * torch.randn(self.context, self.d_model))
        layer = nn.TransformerEncoderLayer(self.d_model, self.n_heads, 4 * self.d_model, dropout=0.0,
                                           activation="gelu", batch_first=True, norm_first=True)
        self.blocks = nn.TransformerEncoder(layer, self.n_layers, enable_nested_tensor=False)
        self.head = nn.Sequential(nn.LayerNorm(self.d_model), nn.Linear(self.d_model, self.latent_dim))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "context": self.context, "d_model": self.d_model,
                "n_heads": self.n_heads, "n_layers": self.n_layers}

    def _attend(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens ``(N, w, E)`` oldest first (``w <= context``) -> newest output ``(N, E)``."""
        w = tokens.shape[1]
        x = tokens + self.pos[:w].flip(0)  # oldest token gets age w-1, newest age 0
        mask = torch.triu(torch.ones(w, w, dtype=torch.bool, device=x.device), diagonal=1)
        return self.blocks(x, mask=mask)[:, -1]

    def _step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Context-1 step on flat batches ``(N, D), (N, A) normalised -> (N, D)``."""
        return z + self.head(self._attend(self.tok(torch.cat([z, a], dim=-1))[:, None]))

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``(B, D), (B, T, A) -> (B, T, D)``, attending over the last ``context`` steps."""
        if z0.ndim != 2 or actions.ndim != 3 or actions.shape[0] != z0.shape[0]:
            raise ValueError(f"rollout expects z0 (B, D) and actions (B, T, A), got "
                             f"{tuple(z0.shape)} and {tuple(actions.shape)}")
        self._check_za(z0, actions[:, 0])
        a_n = self.a_norm(actions.float())
        tokens: list[torch.Tensor] = []
        states = []
        z = z0
        for t in range(actions.shape[1]):
            tokens.append(self.tok(torch.cat([z, a_n[:, t]], dim=-1)))
            tokens = tokens[-self.context:]
            z = z + self.head(self._attend(torch.stack(tokens, dim=1)))
            states.append(z)
        return torch.stack(states, dim=1)
