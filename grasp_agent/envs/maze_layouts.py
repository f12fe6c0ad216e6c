"""Maze layouts (ASCII grids as in D4RL's maze2d) and breadth-first search over their cells.

``#`` is a wall cell, ``O`` a free cell. Row 0 is the top of the picture; cell (row, col) has its
centre at world ``x = col * cell_size``, ``y = -row * cell_size`` (so the picture reads as the
top-down image).
"""

from __future__ import annotations

from collections import deque

import numpy as np

LAYOUTS: dict[str, tuple[str, ...]] = {
    "umaze": (
        "#####",
        "#OOO#",
        "###O#",
        "#OOO#",
        "#####",
    ),
    "medium": (
        "########",
        "#OO##OO#",
        "#OO#OOO#",
        "##OOO###",
        "#OO#OOO#",
        "#O#OO#O#",
        "#OOO#OO#",
        "########",
    ),
    "large": (
        "############",
        "#OOOO#OOOOO#",
        "#O##O#O#O#O#",
        "#OOOOOO#OOO#",
        "#O####O###O#",
        "#OO#O#OOOOO#",
        "##O#O#O#O###",
        "#OO#OOO#OOO#",
        "############",
    ),
}


def parse_layout(name: str) -> np.ndarray:
    """Wall grid of a named layout: bool array (rows, cols), True = wall."""
    if name not in LAYOUTS:
        raise ValueError(f"unknown maze layout {name!r}; valid layouts are {sorted(LAYOUTS)}")
    rows = LAYOUTS[name]
    return np.array([[ch == "#" for ch in row] for row in rows], dtype=bool)


def free_cells(walls: np.ndarray) -> list[tuple[int, int]]:
    """Free (row, col) cells in row-major order."""
    return [(int(r), int(c)) for r, c in zip(*np.nonzero(~walls))]


def bfs_distances(walls: np.ndarray, source: tuple[int, int]) -> np.ndarray:
    """4-connected BFS cell distances from ``source``: int array (rows, cols), -1 for walls/unreachable."""
    dist = np.full(walls.shape, -1, dtype=np.int64)
    if walls[source]:
        raise ValueError(f"BFS source {source} is a wall cell")
    dist[source] = 0
    queue = deque([source])
    while queue:
        r, c = queue.popleft()
        for dr, dc in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            nr, nc = r + dr, c + dc
            inside = 0 <= nr < walls.shape[0] and 0 <= nc < walls.shape[1]
            if inside and not walls[nr, nc] and dist[nr, nc] < 0:
                dist[nr, nc] = dist[r, c] + 1
                queue.append((nr, nc))
    return dist


def all_pairs_cell_distances(walls: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Free cells and their pairwise BFS distances: (cells, int array (n, n), -1 if unreachable)."""
    cells = free_cells(walls)
    table = np.empty((len(cells), len(cells)), dtype=np.int64)
    for i, cell in enumerate(cells):
        dist = bfs_distances(walls, cell)
        table[i] = [dist[c] for c in cells]
    return cells, table
