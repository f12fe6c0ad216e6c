"""Fixed MiniGrid layouts (built with minigrid's ``Grid`` API) and their rendering helpers.

Each layout is a deterministic 19 x 19 grid, so one world model serves every episode of a
layout. Coordinates are minigrid's ``(col, row)`` with ``row`` increasing downward.

* ``"four_rooms"``: minigrid's FourRooms with its four gaps at fixed places.
* ``"two_rooms"``: one vertical wall with a single gap near the top (the grid analogue of
  WallDoor).
* ``"snake_rooms"``: 3 x 3 rooms of 5 x 5 cells chained by doors in a serpentine order, so the
  farthest pairs are ~60 moves apart.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from minigrid.core.grid import Grid
from minigrid.core.world_object import Goal, Wall
from minigrid.utils.rendering import fill_coords, point_in_circle

GRID_SIZE = 19
TILE_PIXELS = 16  # minigrid tile size used for the full-resolution frame
AGENT_COLOR = (255, 0, 0)
AGENT_RADIUS = 0.45  # fraction of a tile (large enough to stay visible at 64 px)


def _frame(size: int) -> Grid:
    grid = Grid(size, size)
    grid.wall_rect(0, 0, size, size)
    return grid


def _four_rooms() -> Grid:
    grid = _frame(GRID_SIZE)
    mid = GRID_SIZE // 2
    grid.vert_wall(mid, 0)
    grid.horz_wall(0, mid)
    for gap in ((mid, 4), (mid, 13), (3, mid), (14, mid)):
        grid.set(*gap, None)
    return grid


def _two_rooms() -> Grid:
    grid = _frame(GRID_SIZE)
    grid.vert_wall(GRID_SIZE // 2, 0)
    grid.set(GRID_SIZE // 2, 3, None)
    return grid


def _snake_rooms() -> Grid:
    grid = _frame(GRID_SIZE)
    for k in (6, 12):
        grid.vert_wall(k, 0)
        grid.horz_wall(0, k)
    # Serpentine room order: row 0 left->right, row 1 right->left, row 2 left->right.
    gaps = [(6, 3), (12, 3), (15, 6), (12, 9), (6, 9), (3, 12), (6, 15), (12, 15)]
    for gap in gaps:
        grid.set(*gap, None)
    return grid


LAYOUTS: dict[str, Callable[[], Grid]] = {
    "four_rooms": _four_rooms,
    "two_rooms": _two_rooms,
    "snake_rooms": _snake_rooms,
}


def build_layout(name: str) -> Grid:
    """The minigrid ``Grid`` of layout ``name``; ``ValueError`` naming the valid layouts."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown layout {name!r}; valid layouts are {sorted(LAYOUTS)}")
    return LAYOUTS[name]()


def free_mask(grid: Grid) -> np.ndarray:
    """Bool ``(rows, cols)``: True where the agent may stand (no wall)."""
    mask = np.ones((grid.height, grid.width), dtype=bool)
    for row in range(grid.height):
        for col in range(grid.width):
            if isinstance(grid.get(col, row), Wall):
                mask[row, col] = False
    return mask


def area_resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """``(n_out, n_in)`` area-averaging weights (rows sum to 1) for resizing one image axis."""
    scale = n_in / n_out
    starts = np.arange(n_out)[:, None] * scale
    pixel = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(pixel + 1, starts + scale) - np.maximum(pixel, starts), 0.0, None)
    return overlap / scale


class MiniGridRenderer:
    """Renders a layout with minigrid's tiles, the agent as a red disc, at any output size.

    ``frame(agent, goal)`` is the full-resolution frame (``TILE_PIXELS`` per cell); ``observe``
    is the same scene without the goal tile, area-resized to ``(size, size, 3)`` and cached per
    cell, so a pixel step costs one array copy.
    """

    def __init__(self, grid: Grid, size: int) -> None:
        self.grid = grid
        self.size = int(size)
        self.background = grid.render(TILE_PIXELS, agent_pos=None)
        rows, cols = self.background.shape[:2]
        self._ry = area_resize_matrix(rows, self.size)
        self._rx = area_resize_matrix(cols, self.size)
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        half = (self._ry @ self.background.reshape(rows, cols * 3).astype(np.float64))
        self._background_small = np.einsum("lk,ikc->ilc", self._rx, half.reshape(self.size, cols, 3))
        self.cell_px = (self.size / grid.width, self.size / grid.height)

    def frame(self, agent: tuple[int, int], goal: tuple[int, int] | None = None) -> np.ndarray:
        """Full-resolution ``(rows * 16, cols * 16, 3)`` uint8 frame."""
        img = self.background.copy()
        if goal is not None:
            img[self._tile(goal)] = self.grid.render_tile(Goal(), tile_size=TILE_PIXELS)
        fill_coords(img[self._tile(agent)], point_in_circle(0.5, 0.5, AGENT_RADIUS), AGENT_COLOR)
        return img

    def observe(self, agent: tuple[int, int]) -> np.ndarray:
        """``(size, size, 3)`` uint8 observation of the agent at cell ``(col, row)`` (a copy)."""
        key = (int(agent[0]), int(agent[1]))
        if key not in self._cache:
            # Only the agent's tile differs from the background: resize that difference alone.
            rows, cols = self._tile(key)
            tile = self.background[rows, cols].astype(np.float64)
            with_agent = tile.copy()
            fill_coords(with_agent, point_in_circle(0.5, 0.5, AGENT_RADIUS), AGENT_COLOR)
            delta = np.einsum("ij,jkc,lk->ilc", self._ry[:, rows], with_agent - tile, self._rx[:, cols],
                              optimize=True)
            self._cache[key] = np.clip(np.rint(self._background_small + delta), 0, 255).astype(np.uint8)
        return self._cache[key].copy()

    def decode_cell(self, images: np.ndarray) -> np.ndarray:
        """Agent cells ``(..., 2)`` float64 ``(col, row)`` from observations ``(..., S, S, 3)``
        (centroid of red-minus-green intensity; NaN where no agent is visible)."""
        imgs = np.asarray(images)
        if imgs.shape[-3:] != (self.size, self.size, 3):
            raise ValueError(f"expected images (..., {self.size}, {self.size}, 3), got {imgs.shape}")
        weight = np.clip(imgs[..., 0].astype(np.float64) - imgs[..., 1].astype(np.float64), 0.0, None)
        centers = np.arange(self.size) + 0.5
        total = weight.sum(axis=(-2, -1))
        with np.errstate(invalid="ignore", divide="ignore"):
            cx = (weight.sum(axis=-2) * centers).sum(axis=-1) / total
            cy = (weight.sum(axis=-1) * centers).sum(axis=-1) / total
        return np.stack([np.floor(cx / self.cell_px[0]), np.floor(cy / self.cell_px[1])], axis=-1)

    def _tile(self, cell: tuple[int, int]) -> tuple[slice, slice]:
        col, row = int(cell[0]), int(cell[1])
        return (slice(row * TILE_PIXELS, (row + 1) * TILE_PIXELS),
                slice(col * TILE_PIXELS, (col + 1) * TILE_PIXELS))
