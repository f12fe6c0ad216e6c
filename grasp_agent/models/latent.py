"""Learned-encoder world models: an observation codec plus latent dynamics.

:class:`LatentWorldModel` holds an :class:`~grasp_agent.models.encoders.ObsCodec` (state, pixel
or grid encoder with a decoder) and leaves the one-step dynamics ``_step`` to subclasses
(:class:`~grasp_agent.models.gru.GRUWorldModel`,
:class:`~grasp_agent.models.transformer.TransformerWorldModel`).

Training objective (for a batch of sequences ``o_0..o_L``, ``a_0..a_{L-1}``)::

    z_t   = enc(o_t)                                  encoded latents       (B, L+1, D)
    p_t   = predict(sg(z_{t-1}), a_{t-1})             one-step ("lifted")   (B, L, D)
    r_t   = rollout(sg(z_0), a_{0:L})[t]              open-loop multi-step  (B, L, D)
    loss  = recon(z, o) + recon(r, o_{1:})
          + pred_weight * (|p - sg(z_{1:})|^2 + |r - sg(z_{1:})|^2) / sg(var(z_{1:}))
          + mean_d relu(1 - std_d(z) / min_latent_std)

The encoder learns from reconstruction and the variance hinge only (``sg`` = stop-gradient;
``encoder_from_prediction=True`` lets the prediction terms train it too), the way World
Models (Ha and Schmidhuber, 2018) train the dynamics on a separately learned code. Why: the
prediction terms are smallest for latents that do not move, and dividing by the detached
variance does not remove that pull, it amplifies it once the variance is small. Measured on
WallDoor pixels (the agent covers 12 of 4096 pixels) with the encoder trained by prediction:
after 47 epochs every image had the same latent (spread 1e-5 per dimension), the decoder
returned the mean image, and every planner failed every task. The hinge keeps each latent
dimension's std over a batch at ``min_latent_std`` or more, so the decoder gets a code with a
usable scale (without it the detached encoder's latents spread by 1e-3 and the agent was not
reconstructed). Reconstructing the *predicted* latents (``recon(r, o_{1:})``) makes predictions
decodable, i.e. they stay on the encoder's manifold over several steps, which is what the
planner rolls out.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import torch

from grasp_agent.models.base import TrainableWorldModel
from grasp_agent.models.encoders import CODEC_KINDS, make_codec
from grasp_agent.models.normalizer import Normalizer

_MIN_VAR = 1e-6


class LatentWorldModel(TrainableWorldModel, metaclass=abc.ABCMeta):
    """Base class: codec + action normaliser + ``_step(z (N, D), a_norm (N, A)) -> (N, D)``.

    Args:
        obs_shape: shape of one observation (``(obs_dim,)``, ``(64, 64, 3)``, ``(7, 7, 3)``).
        action_dim: size of one model action ``A`` (``k * env_action_dim`` for action blocks).
        latent_dim: size of the latent ``D`` the planner works in.
        encoder: ``"state"``, ``"pixels"``, ``"keypoints"`` or ``"grid"`` (see
            :mod:`grasp_agent.models.encoders`).
        encoder_hidden: hidden widths of the state encoder/decoder MLPs.
        pred_weight: weight of the latent-prediction terms against reconstruction.
        min_latent_std: floor on each latent dimension's std over a batch (0 = off); the loss
            adds ``mean_d relu(1 - std_d / min_latent_std)`` (a VICReg-style variance hinge).
        encoder_from_prediction: let the latent-prediction terms train the encoder (off by
            default: they pull the latents together, see the module docstring).
    """

    def __init__(self, obs_shape: Sequence[int], action_dim: int, latent_dim: int = 32,
                 encoder: str = "state", encoder_hidden: Sequence[int] = (128, 128),
                 pred_weight: float = 1.0, min_latent_std: float = 0.1,
                 encoder_from_prediction: bool = False) -> None:
        super().__init__()
        if encoder not in CODEC_KINDS:
            raise ValueError(f"unknown encoder {encoder!r}; choose one of {CODEC_KINDS}")
        if action_dim < 1 or latent_dim < 1:
            raise ValueError(f"action_dim and latent_dim must be >= 1, got {action_dim}, {latent_dim}")
        if pred_weight < 0:
            raise ValueError(f"pred_weight must be >= 0, got {pred_weight}")
        if not 0.0 <= min_latent_std < 1.0:
            raise ValueError(f"min_latent_std must be in [0, 1) (latents lie in (-1, 1)), "
                             f"got {min_latent_std}")
        self.obs_shape = tuple(int(s) for s in obs_shape)
        self.action_dim = int(action_dim)
        self.latent_dim = int(latent_dim)
        self.encoder_kind = encoder
        self.encoder_hidden = tuple(int(h) for h in encoder_hidden)
        self.pred_weight = float(pred_weight)
        self.min_latent_std = float(min_latent_std)
        self.encoder_from_prediction = bool(encoder_from_prediction)
        self.codec = make_codec(encoder, self.obs_shape, self.latent_dim, self.encoder_hidden)
        self.a_norm = Normalizer(self.action_dim)

    sequence_training = True  # the trainer samples seq_len-step windows for sequence_loss

    # ------------------------------------------------------------------ interface
    def get_config(self) -> dict[str, Any]:
        """Constructor kwargs, for save/load (subclasses add theirs)."""
        return {"obs_shape": list(self.obs_shape), "action_dim": self.action_dim,
                "latent_dim": self.latent_dim, "encoder": self.encoder_kind,
                "encoder_hidden": list(self.encoder_hidden), "pred_weight": self.pred_weight,
                "min_latent_std": self.min_latent_std,
                "encoder_from_prediction": self.encoder_from_prediction}

    @abc.abstractmethod
    def _step(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """One step on flat batches: ``(N, D), (N, A) normalised -> (N, D)``."""

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """``(*lead, *obs_shape) -> (*lead, D)`` (usually ``(B, *obs_shape) -> (B, D)``)."""
        obs = torch.as_tensor(obs, device=self.device)
        n_obs = len(self.obs_shape)
        if obs.ndim <= n_obs:
            raise ValueError(f"encode expects a batch (B, {', '.join(map(str, self.obs_shape))}), got "
                             f"{tuple(obs.shape)}; add a batch dim with obs[None]")
        lead = obs.shape[:-n_obs]
        z = self.codec.encode(obs.reshape((-1,) + tuple(obs.shape[-n_obs:])))
        return z.reshape(lead + (self.latent_dim,))

    def _check_za(self, z: torch.Tensor, a: torch.Tensor) -> None:
        if z.shape[-1] != self.latent_dim or a.shape[-1] != self.action_dim:
            raise ValueError(f"expected z (..., {self.latent_dim}) and a (..., {self.action_dim}), "
                             f"got {tuple(z.shape)} and {tuple(a.shape)}")
        if z.shape[:-1] != a.shape[:-1]:
            raise ValueError(f"z and a leading dims differ: {tuple(z.shape[:-1])} vs "
                             f"{tuple(a.shape[:-1])}")

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``(..., D), (..., A) -> (..., D)``: all leading dims evaluated in one batched call."""
        self._check_za(z, a)
        lead = z.shape[:-1]
        out = self._step(z.reshape(-1, self.latent_dim),
                         self.a_norm(a.reshape(-1, self.action_dim).float()))
        return out.reshape(lead + (self.latent_dim,))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Decode latents ``(N, D)`` back to observation space (codec-specific layout)."""
        return self.codec.decode(z)

    # ------------------------------------------------------------------ training hooks
    @torch.no_grad()
    def fit_normalizers(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor) -> None:
        """Fit the codec's observation statistics and the action normaliser from ``(N, ...)`` data."""
        self.codec.fit(torch.as_tensor(obs).reshape((-1,) + self.obs_shape))
        self.a_norm.fit(torch.as_tensor(actions, dtype=torch.float32).reshape(-1, self.action_dim))

    def training_loss(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        """One-step loss on transitions ``(N, *obs), (N, A), (N, *obs)``; see the module docstring."""
        return self.sequence_loss(torch.stack([torch.as_tensor(obs), torch.as_tensor(next_obs)], 1),
                                  torch.as_tensor(actions)[:, None])

    def sequence_loss(self, obs_seq: torch.Tensor, actions: torch.Tensor
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        """Multi-step loss on sequences ``(B, L+1, *obs), (B, L, A)``; returns ``(loss, metrics)``."""
        obs_seq = torch.as_tensor(obs_seq, device=self.device)
        actions = torch.as_tensor(actions, device=self.device).float()
        b, length = actions.shape[:2]
        if obs_seq.shape[:2] != (b, length + 1):
            raise ValueError(f"obs_seq must be (B, L+1, ...) for actions (B, L, A); got "
                             f"{tuple(obs_seq.shape)} and {tuple(actions.shape)}")
        flat_obs = obs_seq.reshape((-1,) + self.obs_shape)
        z = self.codec.encode(flat_obs).reshape(b, length + 1, self.latent_dim)
        target = z[:, 1:].detach()
        scale = target.reshape(-1, self.latent_dim).var(0, unbiased=False).mean().clamp_min(_MIN_VAR)
        z_in = z if self.encoder_from_prediction else z.detach()
        one = self.predict(z_in[:, :-1], actions)
        multi = self.rollout(z_in[:, 0], actions) if length > 1 else one
        next_obs = obs_seq[:, 1:].reshape((-1,) + self.obs_shape)
        recon = self.codec.recon_loss(z.reshape(-1, self.latent_dim), flat_obs)
        recon_pred = self.codec.recon_loss(multi.reshape(-1, self.latent_dim), next_obs)
        pred_one = ((one - target) ** 2).mean() / scale
        pred_multi = ((multi - target) ** 2).mean() / scale
        loss = recon + recon_pred + self.pred_weight * (pred_one + pred_multi)
        spread = None
        if self.min_latent_std > 0:
            std = z.reshape(-1, self.latent_dim).std(0, unbiased=False)
            spread = torch.relu(1.0 - std / self.min_latent_std).mean()
            loss = loss + spread
        metrics = {"loss": float(loss.detach()), "recon": float(recon.detach()),
                   "recon_pred": float(recon_pred.detach()), "pred_one": float(pred_one.detach()),
                   "pred_multi": float(pred_multi.detach())}
        if spread is not None:
            metrics["spread"] = float(spread.detach())
        return loss, metrics

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return (f"obs_shape={self.obs_shape}, action_dim={self.action_dim}, latent_dim={self.latent_dim}, "
                f"encoder={self.encoder_kind!r}, params={n}")
