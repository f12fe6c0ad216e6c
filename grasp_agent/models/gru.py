"""Recurrent world model: the latent IS the GRU hidden state.

``encode(o)`` maps an observation to an initial hidden state ``h`` (through the codec, so the
latent is in ``(-1, 1)^D``), and one model step is a GRU cell update::

    predict(h, a) = GRUCell(x, h),   x = MLP([h, norm(a)])

Because the hidden state carries everything the model remembers, it is a Markov state: the
lifted (one-step, parallel) phase of GRASP calls ``predict`` on virtual hidden states
``(B, T, D)`` in one batched call, and ``rollout`` is exactly the serial loop of ``predict``
(the base class default), so both paths use the same transition function and no extra history.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from grasp_agent.models.latent import LatentWorldModel
from grasp_agent.models.mlp import make_mlp


class GRUWorldModel(LatentWorldModel):
    """GRU-cell latent dynamics behind the WorldModel interface.

    Args:
        obs_shape: like action_dim, latent_dim, encoder, encoder_hidden, pred_weight, min_latent_std,
            encoder_from_prediction: see
            :class:`~grasp_agent.models.latent.LatentWorldModel`. ``latent_dim`` is the GRU
            hidden size.
        input_hidden: hidden widths of the MLP that forms the GRU input from ``[h, a]``.
        input_dim: size of the GRU input ``x``.

    Example::

        model = GRUWorldModel(obs_shape=(2,), action_dim=2, latent_dim=32)
        h = model.encode(torch.zeros(5, 2))                 # (5, 32)
        h_next = model.predict(h[:, None].expand(5, 10, 32), torch.zeros(5, 10, 2))  # (5, 10, 32)
    """

    def __init__(self, obs_shape: Sequence[int], action_dim: int, latent_dim: int = 32,
                 encoder: str = "state", encoder_hidden: Sequence[int] = (128, 128),
                 pred_weight: float = 1.0, input_hidden: Sequence[int] = (128,),
                 input_dim: int = 64, min_latent_std: float = 0.1,
                 encoder_from_prediction: bool = False) -> None:
        super().__init__(obs_shape, action_dim, latent_dim, encoder, encoder_hidden, pred_weight,
                         min_latent_std, encoder_from_prediction)
        self.input_hidden = tuple(int(h) for h in input_hidden)
        self.input_dim = int(input_dim)
        self.inp = make_mlp(self.latent_dim + self.action_dim, self.input_dim, self.input_hidden, "silu")
        self.cell = nn.GRUCell(self.input_dim, self.latent_dim)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_hidden": list(self.input_hidden),
                "input_dim": self.input_dim}

    def _step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``(N, D), (N, A) -> (N, D)``: one GRU-cell update of the hidden state ``z``."""
        return self.cell(self.inp(torch.cat([z, a], dim=-1)), z)
