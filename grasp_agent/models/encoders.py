"""Observation codecs: an encoder into the planner's latent space and a decoder back.

A codec bundles ``encode(obs) (N, *obs_shape) -> (N, D)``, ``decode(z) (N, D) -> output`` and
``recon_loss(z, obs) -> scalar``, so a latent world model can train its encoder by
reconstruction (the part of the objective that stops the latent space from collapsing, see
:class:`~grasp_agent.models.latent.LatentWorldModel`). Four kinds:

* ``"state"``: flat float vectors, an MLP over normalised features, MSE reconstruction in the
  normalised space (so every feature counts equally whatever its units).
* ``"pixels"``: RGB images ``(N, H, W, 3)`` uint8 (H = W = 64 by default, any multiple of 16),
  a 4-layer stride-2 CNN, a mirrored transposed-CNN decoder, MSE on per-pixel standardised
  values (each pixel's mean and std over the data, std floored at ``PIXEL_STD_FLOOR``). On
  raw pixels a small moving object (WallDoor's agent: 12 of 4096 pixels) is worth less to
  the loss than the static background, and the encoder learned to ignore it: every image got
  the same latent (spread 1e-5 across tasks) and every planner failed. Standardised, a pixel
  that never changes is worth nothing and each changing pixel counts equally.
* ``"keypoints"``: the same images, a spatial-softmax encoder whose latent is the image
  coordinates of ``D / 2`` learned keypoints (:mod:`grasp_agent.models.keypoints`), so latent
  distance is distance in the image: what a goal cost in latent space needs.
* ``"grid"``: MiniGrid encodings ``(N, H, W, 3)`` of integer (object, colour, state) codes,
  one-hot per channel, a small CNN, and a per-cell cross-entropy decoder.

Latents leave every encoder through ``tanh`` so they live in ``(-1, 1)^D``, the range of a GRU
hidden state; the recurrent model can use the encoder output directly as its state. The pixel
and grid encoders put a LayerNorm before the ``tanh``: their many input features otherwise
drive the pre-activations far out early in training, the ``tanh`` saturates at +-1 and the
encoder stops learning (observed: every grid mapped to the same corner of the cube). Use
``latent_dim >= 4`` with them (the LayerNorm removes two degrees of freedom per latent).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from grasp_agent.models.mlp import make_mlp
from grasp_agent.models.normalizer import Normalizer

CODEC_KINDS = ("state", "pixels", "keypoints", "grid")
# MiniGrid's OBJECT_TO_IDX has 11 entries, COLOR_TO_IDX 6, STATE_TO_IDX 3.
GRID_CHANNEL_SIZES = (11, 6, 3)
_PIXEL_SCALE = 1.0 / 255.0
PIXEL_STD_FLOOR = 0.02  # [0, 1] pixel units: pixels that (almost) never change stay near 0
_FIT_CHUNK = 1024  # images per chunk when fitting the pixel statistics


class ObsCodec(nn.Module):
    """Base class: subclasses set ``obs_shape`` and ``latent_dim`` and implement the methods."""

    obs_shape: tuple[int, ...]
    latent_dim: int

    def check_obs(self, obs: torch.Tensor) -> torch.Tensor:
        """Validate a batch ``(N, *obs_shape)``; return it as a tensor on the codec's device."""
        obs = torch.as_tensor(obs, device=self._device())
        if tuple(obs.shape[1:]) != self.obs_shape:
            raise ValueError(f"{type(self).__name__} expects observations of shape (N, "
                             f"{', '.join(map(str, self.obs_shape))}), got {tuple(obs.shape)}; "
                             "pass the 'observation' entry of the env's Dict observation, batched")
        return obs

    def _device(self) -> torch.device:
        for p in self.parameters():
            return p.device
        return torch.device("cpu")

    def fit(self, obs: torch.Tensor) -> None:
        """Fit data-dependent statistics (no-op unless overridden)."""

    def encode(self, obs: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def recon_loss(self, z: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:  # pragma: no cover
        raise NotImplementedError


class StateCodec(ObsCodec):
    """MLP encoder/decoder for flat observations ``(N, obs_dim)``."""

    def __init__(self, obs_dim: int, latent_dim: int, hidden_sizes: Sequence[int] = (128, 128),
                 activation: str = "silu") -> None:
        super().__init__()
        self.obs_shape = (int(obs_dim),)
        self.latent_dim = int(latent_dim)
        self.obs_norm = Normalizer(self.obs_shape[0])
        self.enc = make_mlp(self.obs_shape[0], self.latent_dim, hidden_sizes, activation)
        self.dec = make_mlp(self.latent_dim, self.obs_shape[0], tuple(reversed(hidden_sizes)), activation)

    def fit(self, obs: torch.Tensor) -> None:
        self.obs_norm.fit(torch.as_tensor(obs, dtype=torch.float32).reshape(-1, self.obs_shape[0]))

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """``(N, obs_dim) -> (N, D)``."""
        return torch.tanh(self.enc(self.obs_norm(self.check_obs(obs).float())))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, D) -> (N, obs_dim)`` in observation units."""
        return self.obs_norm.inverse(self.dec(z))

    def recon_loss(self, z: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        target = self.obs_norm(self.check_obs(obs).float())
        return ((self.dec(z) - target) ** 2).mean()


def _conv_stack(in_ch: int, channels: Sequence[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for ch in channels:
        layers += [nn.Conv2d(in_ch, ch, 4, stride=2, padding=1), nn.SiLU()]
        in_ch = ch
    return nn.Sequential(*layers)


class StandardisedImageCodec(ObsCodec):
    """Base of the image codecs: RGB ``(N, H, W, 3)`` uint8, reconstructed per-pixel standardised.

    Holds the per-pixel mean and std buffers ``(3, H, W)`` (fitted by :meth:`fit`; unfitted:
    identity) and the loss; subclasses implement ``encode`` and ``_decode_standardised(z) ->
    (N, 3, H, W)``.
    """

    def _init_image_stats(self, image_size: int) -> None:
        self.obs_shape = (int(image_size), int(image_size), 3)
        self.register_buffer("pixel_mean", torch.zeros(3, image_size, image_size))
        self.register_buffer("pixel_std", torch.ones(3, image_size, image_size))

    def _pixels(self, obs: torch.Tensor) -> torch.Tensor:
        """``(N, H, W, 3)`` uint8 -> ``(N, 3, H, W)`` float in [0, 1]."""
        return obs.permute(0, 3, 1, 2).float() * _PIXEL_SCALE

    @torch.no_grad()
    def fit(self, obs: torch.Tensor) -> None:
        """Per-pixel mean and std (floored at ``PIXEL_STD_FLOOR``) of images ``(N, H, W, 3)``.

        Accumulated in float64 over chunks, so memory stays at one chunk of float images.
        """
        obs = self.check_obs(torch.as_tensor(obs))
        if obs.shape[0] == 0:
            raise ValueError("cannot fit the pixel statistics on zero images")
        total = torch.zeros(self.pixel_mean.shape, dtype=torch.float64, device=obs.device)
        total_sq = torch.zeros_like(total)
        for chunk in obs.split(_FIT_CHUNK):
            x = self._pixels(chunk).double()
            total += x.sum(0)
            total_sq += (x * x).sum(0)
        mean = total / obs.shape[0]
        std = (total_sq / obs.shape[0] - mean * mean).clamp_min(0).sqrt().clamp_min(PIXEL_STD_FLOOR)
        self.pixel_mean.copy_(mean.to(self.pixel_mean))
        self.pixel_std.copy_(std.to(self.pixel_std))

    def _decode_standardised(self, z: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, D) -> (N, 3, H, W)`` pixel values (about [0, 1])."""
        return self._decode_standardised(z) * self.pixel_std + self.pixel_mean

    def standardise(self, obs: torch.Tensor) -> torch.Tensor:
        """``(N, H, W, 3)`` uint8 -> ``(N, 3, H, W)`` per-pixel standardised values."""
        return (self._pixels(self.check_obs(obs)) - self.pixel_mean) / self.pixel_std

    def recon_loss(self, z: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        """MSE between decoded and true images, both standardised per pixel."""
        return ((self._decode_standardised(z) - self.standardise(obs)) ** 2).mean()


class PixelCodec(StandardisedImageCodec):
    """CNN encoder and transposed-CNN decoder for RGB images ``(N, H, W, 3)`` uint8.

    Four stride-2 convolutions take 64x64 to 4x4; a linear layer maps the features to ``D``.
    """

    def __init__(self, image_size: int = 64, latent_dim: int = 32,
                 channels: Sequence[int] = (16, 32, 64, 64)) -> None:
        super().__init__()
        stride = 2 ** len(channels)
        if image_size % stride:
            raise ValueError(f"image_size must be a multiple of {stride} for {len(channels)} "
                             f"stride-2 layers, got {image_size}")
        self._init_image_stats(image_size)
        self.latent_dim = int(latent_dim)
        self.channels = tuple(int(c) for c in channels)
        self.feat_hw = image_size // stride
        feat = self.channels[-1] * self.feat_hw ** 2
        self.enc = _conv_stack(3, self.channels)
        self.enc_out = nn.Sequential(nn.Linear(feat, self.latent_dim), nn.LayerNorm(self.latent_dim))
        self.dec_in = nn.Linear(self.latent_dim, feat)
        layers: list[nn.Module] = []
        rev = list(reversed(self.channels))
        for a, b in zip(rev, rev[1:] + [3]):
            layers += [nn.ConvTranspose2d(a, b, 4, stride=2, padding=1), nn.SiLU()]
        self.dec = nn.Sequential(*layers[:-1])  # no activation after the last layer

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """``(N, H, W, 3)`` uint8 -> ``(N, D)``."""
        x = self.enc(self._pixels(self.check_obs(obs)))
        return torch.tanh(self.enc_out(x.flatten(1)))

    def _decode_standardised(self, z: torch.Tensor) -> torch.Tensor:
        x = self.dec_in(z.reshape(-1, self.latent_dim))
        return self.dec(x.reshape(-1, self.channels[-1], self.feat_hw, self.feat_hw))


class GridCodec(ObsCodec):
    """One-hot CNN encoder and per-cell classifier decoder for MiniGrid ``(N, H, W, 3)`` codes."""

    def __init__(self, grid_size: Sequence[int] = (7, 7), latent_dim: int = 32,
                 channels: Sequence[int] = (32, 64), hidden: int = 128) -> None:
        super().__init__()
        h, w = (int(s) for s in grid_size)
        self.obs_shape = (h, w, 3)
        self.latent_dim = int(latent_dim)
        self.channels = tuple(int(c) for c in channels)
        self.n_classes = sum(GRID_CHANNEL_SIZES)
        layers: list[nn.Module] = []
        in_ch = self.n_classes
        for ch in self.channels:
            layers += [nn.Conv2d(in_ch, ch, 3, padding=1), nn.SiLU()]
            in_ch = ch
        self.enc = nn.Sequential(*layers)
        self.enc_out = nn.Sequential(nn.Linear(in_ch * h * w, hidden), nn.SiLU(),
                                     nn.Linear(hidden, self.latent_dim), nn.LayerNorm(self.latent_dim))
        self.dec = nn.Sequential(nn.Linear(self.latent_dim, hidden), nn.SiLU(),
                                 nn.Linear(hidden, h * w * self.n_classes))

    def _one_hot(self, obs: torch.Tensor) -> torch.Tensor:
        codes = obs.long()
        for c, size in enumerate(GRID_CHANNEL_SIZES):
            if codes[..., c].min() < 0 or codes[..., c].max() >= size:
                raise ValueError(f"grid channel {c} has codes outside [0, {size}); expected "
                                 "MiniGrid (object, colour, state) indices, not RGB pixels")
        planes = [F.one_hot(codes[..., c], size) for c, size in enumerate(GRID_CHANNEL_SIZES)]
        return torch.cat(planes, dim=-1).permute(0, 3, 1, 2).float()

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """``(N, H, W, 3)`` integer codes -> ``(N, D)``."""
        x = self.enc(self._one_hot(self.check_obs(obs)))
        return torch.tanh(self.enc_out(x.flatten(1)))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, D) -> (N, H, W, 3)`` most likely codes."""
        logits = self._logits(z)
        parts = torch.split(logits, GRID_CHANNEL_SIZES, dim=-1)
        return torch.stack([p.argmax(-1) for p in parts], dim=-1)

    def _logits(self, z: torch.Tensor) -> torch.Tensor:
        h, w, _ = self.obs_shape
        return self.dec(z.reshape(-1, self.latent_dim)).reshape(-1, h, w, self.n_classes)

    def recon_loss(self, z: torch.Tensor, obs: torch.Tensor) -> torch.Tensor:
        codes = self.check_obs(obs).long()
        parts = torch.split(self._logits(z), GRID_CHANNEL_SIZES, dim=-1)
        total = z.new_zeros(())
        for c, p in enumerate(parts):
            target = codes[..., c].reshape(-1)
            # Inverse-sqrt-frequency class weights: the agent and goal are one cell in ~50, and
            # without reweighting "all floor" is a deep local minimum the encoder collapses into.
            freq = torch.bincount(target, minlength=p.shape[-1]).float().clamp_min(1.0)
            weight = (freq.sum() / freq).sqrt()
            total = total + F.cross_entropy(p.reshape(-1, p.shape[-1]), target, weight=weight)
        return total / len(parts)


def make_codec(kind: str, obs_shape: Sequence[int], latent_dim: int,
               hidden_sizes: Sequence[int] = (128, 128)) -> ObsCodec:
    """Build the codec for ``kind`` (one of ``CODEC_KINDS``) and ``obs_shape``."""
    obs_shape = tuple(int(s) for s in obs_shape)
    if kind == "state":
        if len(obs_shape) != 1:
            raise ValueError(f"encoder='state' needs a flat observation shape, got {obs_shape}; "
                             "use encoder='pixels' for images or 'grid' for MiniGrid grids")
        return StateCodec(obs_shape[0], latent_dim, hidden_sizes)
    if kind in ("pixels", "keypoints"):
        from grasp_agent.models.keypoints import KeypointCodec  # it builds on this module

        if len(obs_shape) != 3 or obs_shape[2] != 3 or obs_shape[0] != obs_shape[1]:
            raise ValueError(f"encoder={kind!r} needs square RGB images (S, S, 3), got {obs_shape}")
        return (PixelCodec if kind == "pixels" else KeypointCodec)(obs_shape[0], latent_dim)
    if kind == "grid":
        if len(obs_shape) != 3 or obs_shape[2] != 3:
            raise ValueError(f"encoder='grid' needs MiniGrid encodings (H, W, 3), got {obs_shape}")
        return GridCodec(obs_shape[:2], latent_dim)
    raise ValueError(f"unknown encoder {kind!r}; choose one of {CODEC_KINDS}")
