"""Keypoint codec: a spatial-softmax encoder whose latent is where things are in the image.

A planner's goal cost is the distance between latents, so the latent geometry has to follow
the scene. A CNN autoencoder with a dense bottleneck does not give that: on WallDoor pixels
its latents reconstructed the agent (0.23 px off) yet latent distance did not track the
agent's position (correlation -0.04), and every planner failed. Here the encoder ends in a
spatial softmax (deep spatial autoencoders, Finn et al., 2016): each of ``K = D / 2`` feature
maps becomes a distribution over image positions, and its expected ``(x, y)`` is one keypoint.
The encoder sees the per-pixel standardised image, in which everything static is 0 and a
moving object stands out, so the keypoint maps find it from the first step (on raw WallDoor
pixels they settled on the walls, softened into near-uniform maps, and the latents spread by
1e-4). The decoder draws each keypoint as a Gaussian blob on a grid and turns the blobs (through two
local convolutions, plus a learned background) into the standardised image, so a keypoint is
only useful to the reconstruction where it sits on something that moves, and moving the thing
moves the latent by the same image distance.

Shapes: images ``(N, S, S, 3)`` uint8 (``S`` even); features and blobs on an ``S/2 x S/2``
grid; latent ``(N, 2K)`` ordered ``x_1, y_1, ..., x_K, y_K`` in ``(-1, 1)`` (``-1`` = left or
top edge), the range a GRU hidden state has.
"""

from __future__ import annotations

import torch
from torch import nn

from grasp_agent.models.encoders import StandardisedImageCodec

_EPS = 1e-5


class KeypointCodec(StandardisedImageCodec):
    """Spatial-softmax keypoint encoder and blob-rendering decoder for RGB images.

    Args:
        image_size: side ``S`` of the square images (even).
        latent_dim: ``D = 2K`` for ``K`` keypoints (even, >= 2).
        channels: widths of the two convolutions before the keypoint maps.
        blob_std: std of the decoder's Gaussian blobs, in the ``(-1, 1)`` image coordinates.
    """

    def __init__(self, image_size: int = 64, latent_dim: int = 16, channels: tuple[int, int] = (16, 32),
                 blob_std: float = 0.08) -> None:
        super().__init__()
        if image_size % 2 or image_size < 4:
            raise ValueError(f"image_size must be even and >= 4, got {image_size}")
        if latent_dim % 2 or latent_dim < 2:
            raise ValueError(f"encoder='keypoints' needs an even latent_dim (x and y of each "
                             f"keypoint), got {latent_dim}")
        if blob_std <= 0:
            raise ValueError(f"blob_std must be > 0, got {blob_std}")
        self._init_image_stats(image_size)
        self.latent_dim = int(latent_dim)
        self.num_keypoints = self.latent_dim // 2
        self.channels = tuple(int(c) for c in channels)
        self.blob_std = float(blob_std)
        c1, c2 = self.channels
        k = self.num_keypoints
        self.enc = nn.Sequential(nn.Conv2d(3, c1, 4, stride=2, padding=1), nn.SiLU(),
                                 nn.Conv2d(c1, c2, 3, padding=1), nn.SiLU(), nn.Conv2d(c2, k, 1))
        self.log_temperature = nn.Parameter(torch.zeros(()))
        self.dec = nn.Sequential(nn.Conv2d(k, c2, 3, padding=1), nn.SiLU(),
                                 nn.ConvTranspose2d(c2, 3, 4, stride=2, padding=1))
        # what does not move with any keypoint (the standardised image away from them)
        self.background = nn.Parameter(torch.zeros(3, image_size, image_size))
        grid = torch.linspace(-1.0, 1.0, image_size // 2)
        self.register_buffer("grid", grid, persistent=False)

    def keypoint_maps(self, obs: torch.Tensor) -> torch.Tensor:
        """``(N, S, S, 3)`` uint8 -> ``(N, K, S/2, S/2)`` softmax weights (each map sums to 1)."""
        logits = self.enc(self.standardise(obs))
        n, k, h, w = logits.shape
        logits = logits.reshape(n, k, h * w)
        # each map standardised over its positions: the temperature then sets how peaked a
        # map is whatever the scale of the features (raw logits left some maps uniform and
        # others saturated, and those keypoints stopped learning)
        logits = (logits - logits.mean(-1, keepdim=True)) / (logits.std(-1, keepdim=True) + _EPS)
        weights = torch.softmax(logits / self.log_temperature.exp(), dim=-1)
        return weights.reshape(n, k, h, w)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """``(N, S, S, 3)`` uint8 -> ``(N, 2K)`` expected keypoint coordinates."""
        maps = self.keypoint_maps(obs)
        x = (maps.sum(-2) * self.grid).sum(-1)  # marginal over rows, then E[x]: (N, K)
        y = (maps.sum(-1) * self.grid).sum(-1)
        return torch.stack([x, y], dim=-1).reshape(-1, self.latent_dim)

    def render(self, z: torch.Tensor) -> torch.Tensor:
        """``(N, 2K) -> (N, K, S/2, S/2)`` Gaussian blobs centred on the keypoints."""
        xy = z.reshape(-1, self.num_keypoints, 2)
        gx = torch.exp(-((self.grid - xy[..., 0:1]) ** 2) / (2 * self.blob_std ** 2))  # (N, K, W)
        gy = torch.exp(-((self.grid - xy[..., 1:2]) ** 2) / (2 * self.blob_std ** 2))  # (N, K, H)
        return gy.unsqueeze(-1) * gx.unsqueeze(-2)

    def _decode_standardised(self, z: torch.Tensor) -> torch.Tensor:
        return self.dec(self.render(z)) + self.background
