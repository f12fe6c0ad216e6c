"""Numpy renderer of the WallDoor arena and the inverse map (image -> agent position).

The arena ``[0, 1]^2`` maps to the pixel square ``[m, S - m]`` (``m`` a margin wider than the
agent dot, so the dot is never clipped by the image border). Floor, border and wall colours have
equal red and green channels; the agent is drawn red with anti-aliased coverage, so
``red - green`` is proportional to the agent's coverage in every pixel and its centroid gives the
agent position back (:meth:`WallDoorRenderer.decode_position`).
"""

from __future__ import annotations

import math

import numpy as np

from grasp_agent.envs.wall_door_geometry import WallDoorGeometry

FLOOR = np.array([235.0, 235.0, 235.0])
BORDER = np.array([120.0, 120.0, 120.0])
WALL = np.array([60.0, 60.0, 60.0])
AGENT = np.array([230.0, 30.0, 30.0])
GOAL = np.array([30.0, 170.0, 30.0])
MIN_IMAGE_SIZE = 16


class WallDoorRenderer:
    """Draws ``(S, S, 3)`` uint8 images of the arena with an agent (and optionally a goal) dot."""

    def __init__(self, geometry: WallDoorGeometry, size: int = 64) -> None:
        if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < MIN_IMAGE_SIZE:
            raise ValueError(f"image_size must be an int >= {MIN_IMAGE_SIZE}, got {size!r}")
        self.size = int(size)
        self.radius = max(1.5, self.size / 40.0)  # agent dot radius, pixels
        self.margin = math.ceil(self.radius + 1.0)
        self.scale = self.size - 2 * self.margin  # pixels per arena unit
        centers = np.arange(self.size) + 0.5
        self._centers = centers
        ax = (centers - self.margin) / self.scale  # arena x of each column centre
        ay = 1.0 - (centers - self.margin) / self.scale  # arena y of each row centre
        gx, gy = np.meshgrid(ax, ay)
        in_arena = (gx >= 0) & (gx <= 1) & (gy >= 0) & (gy <= 1)
        base = np.where(in_arena[..., None], FLOOR, BORDER)
        pts = np.stack([gx.ravel(), gy.ravel()], 1)
        wall = geometry.inside_wall(pts).reshape(gx.shape) & in_arena
        self.background = np.where(wall[..., None], WALL, base)  # float64 (S, S, 3)

    def to_pixels(self, x: float, y: float) -> tuple[float, float]:
        """Continuous ``(col, row)`` pixel coordinates of the arena point ``(x, y)``."""
        return self.margin + x * self.scale, self.margin + (1.0 - y) * self.scale

    def draw(self, agent: tuple[float, float], goal: tuple[float, float] | None = None) -> np.ndarray:
        """``(S, S, 3)`` uint8 image with the agent (red) and, if given, the goal (green) dot."""
        img = self.background.copy()
        if goal is not None:
            self._disc(img, goal, GOAL)
        self._disc(img, agent, AGENT)
        return np.rint(img).astype(np.uint8)

    def _disc(self, img: np.ndarray, pos: tuple[float, float], color: np.ndarray) -> None:
        cx, cy = self.to_pixels(float(pos[0]), float(pos[1]))
        r = self.radius
        c0, c1 = max(int(cx - r - 1), 0), min(int(cx + r + 2), self.size)
        r0, r1 = max(int(cy - r - 1), 0), min(int(cy + r + 2), self.size)
        dxs = self._centers[c0:c1] - cx
        dys = self._centers[r0:r1] - cy
        dist = np.sqrt(dys[:, None] ** 2 + dxs[None, :] ** 2)
        alpha = np.clip(r + 0.5 - dist, 0.0, 1.0)[..., None]
        win = img[r0:r1, c0:c1]
        img[r0:r1, c0:c1] = win * (1.0 - alpha) + color * alpha

    def decode_position(self, images: np.ndarray) -> np.ndarray:
        """Agent positions ``(..., 2)`` float64 from images ``(..., S, S, 3)``; NaN if no agent."""
        imgs = np.asarray(images)
        if imgs.shape[-3:] != (self.size, self.size, 3):
            raise ValueError(f"expected images (..., {self.size}, {self.size}, 3), got {imgs.shape}")
        weight = np.clip(imgs[..., 0].astype(np.float64) - imgs[..., 1].astype(np.float64), 0.0, None)
        total = weight.sum(axis=(-2, -1))
        with np.errstate(invalid="ignore", divide="ignore"):
            col = (weight.sum(axis=-2) * self._centers).sum(axis=-1) / total
            row = (weight.sum(axis=-1) * self._centers).sum(axis=-1) / total
        x = (col - self.margin) / self.scale
        y = 1.0 - (row - self.margin) / self.scale
        return np.stack([x, y], axis=-1)
