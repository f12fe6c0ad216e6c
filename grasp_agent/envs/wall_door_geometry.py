"""Geometry of the WallDoor arena: swept collisions and the exact shortest-path oracle.

The wall is two axis-aligned boxes (below and above the door). Their interiors are forbidden;
their boundaries are free (the agent may slide along a face). The boxes extend past the arena
border so that an agent on the border line cannot slip around the end of the wall.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

INF = math.inf
EDGE_POINTS = 17  # candidate points per region edge when searching the longest task


class WallDoorGeometry:
    """Wall ``[x0, x1] x [0, 1]`` minus the door ``[y0, y1]``, inside the arena ``[0, 1]^2``.

    Args:
        wall_x, wall_thickness: centre and thickness of the wall (``0 < x0 < x1 < 1``).
        door_center, door_width: centre and height of the door (``0 < y0 < y1 < 1``).
    """

    def __init__(self, wall_x: float, wall_thickness: float, door_center: float, door_width: float) -> None:
        self.x0 = float(wall_x) - float(wall_thickness) / 2
        self.x1 = float(wall_x) + float(wall_thickness) / 2
        self.y0 = float(door_center) - float(door_width) / 2
        self.y1 = float(door_center) + float(door_width) / 2
        if not (wall_thickness > 0 and 0.0 < self.x0 < self.x1 < 1.0):
            raise ValueError(f"the wall [{self.x0}, {self.x1}] must lie strictly inside (0, 1) with "
                             f"positive thickness; got wall_x={wall_x}, wall_thickness={wall_thickness}")
        if not (door_width > 0 and 0.0 < self.y0 < self.y1 < 1.0):
            raise ValueError(f"the door [{self.y0}, {self.y1}] must lie strictly inside (0, 1) with "
                             f"positive width; got door_center={door_center}, door_width={door_width}")
        # (xlo, ylo, xhi, yhi); the y-extent runs past the border on purpose (see module doc).
        self.boxes = ((self.x0, -1.0, self.x1, self.y0), (self.x0, self.y1, self.x1, 2.0))
        self.corners = np.array([[self.x0, self.y0], [self.x1, self.y0],
                                 [self.x0, self.y1], [self.x1, self.y1]])
        self._corner_dist = self._corner_distances()

    # ------------------------------------------------------------------ dynamics
    def move(self, x: float, y: float, dx: float, dy: float) -> tuple[float, float, bool]:
        """Swept motion from ``(x, y)`` by ``(dx, dy)``; returns ``(x', y', blocked)``."""
        blocked = False
        for _ in range(3):  # at most: hit a face, slide, hit another face
            if dx == 0.0 and dy == 0.0:
                break
            t_hit, axis, hit = INF, -1, None
            for box in self.boxes:
                t, ax = _entry_time(x, y, dx, dy, box)
                if t < t_hit:
                    t_hit, axis, hit = t, ax, box
            if hit is None:
                x, y = x + dx, y + dy
                break
            blocked = True
            if axis == 0:  # hit a vertical face: stop in x, keep sliding in y
                x = hit[0] if dx > 0 else hit[2]
                y += t_hit * dy
                dx, dy = 0.0, (1.0 - t_hit) * dy
            else:
                y = hit[1] if dy > 0 else hit[3]
                x += t_hit * dx
                dx, dy = (1.0 - t_hit) * dx, 0.0
        cx, cy = min(max(x, 0.0), 1.0), min(max(y, 0.0), 1.0)
        return cx, cy, blocked or cx != x or cy != y

    def inside_wall(self, points: np.ndarray) -> np.ndarray:
        """Bool ``(N,)``: strictly inside a wall box (boundaries are free)."""
        p = np.asarray(points, dtype=np.float64)
        out = np.zeros(p.shape[0], dtype=bool)
        for xlo, ylo, xhi, yhi in self.boxes:
            out |= (p[:, 0] > xlo) & (p[:, 0] < xhi) & (p[:, 1] > ylo) & (p[:, 1] < yhi)
        return out

    # ------------------------------------------------------------------ oracle
    def visible(self, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """Bool ``(N,)``: the segments ``p -> q`` (``(N, 2)`` each) avoid every wall interior."""
        p, q = np.broadcast_arrays(np.asarray(p, np.float64), np.asarray(q, np.float64))
        d = q - p
        clear = np.ones(p.shape[0], dtype=bool)
        with np.errstate(divide="ignore", invalid="ignore"):
            for xlo, ylo, xhi, yhi in self.boxes:
                lo_t, hi_t = np.zeros(p.shape[0]), np.ones(p.shape[0])
                for k, (lo, hi) in enumerate(((xlo, xhi), (ylo, yhi))):
                    still = d[:, k] == 0.0
                    inside = (p[:, k] > lo) & (p[:, k] < hi)
                    a, b = (lo - p[:, k]) / d[:, k], (hi - p[:, k]) / d[:, k]
                    t0 = np.where(still, np.where(inside, -INF, INF), np.minimum(a, b))
                    t1 = np.where(still, np.where(inside, INF, -INF), np.maximum(a, b))
                    lo_t, hi_t = np.maximum(lo_t, t0), np.minimum(hi_t, t1)
                clear &= ~(lo_t < hi_t)
        return clear

    def geodesic(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Exact shortest collision-free path length ``(N,)`` between ``(N, 2)`` point pairs.

        Visibility graph on the door corners: the direct segment if visible, else the best
        ``a -> corner i -> ... -> corner j -> b`` with precomputed corner-to-corner distances.
        """
        a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
        n = a.shape[0]
        corners = np.repeat(self.corners, n, axis=0)  # (4N, 2): corner i for every pair
        a4, b4 = np.tile(a, (4, 1)), np.tile(b, (4, 1))
        # One vectorised visibility test for all 9N segments: a->b, a->corner, corner->b.
        vis = self.visible(np.concatenate([a, a4, corners]), np.concatenate([b, corners, b4]))
        best = np.where(vis[:n], np.linalg.norm(a - b, axis=1), INF)
        to_c = np.where(vis[n:5 * n], np.linalg.norm(a4 - corners, axis=1), INF).reshape(4, n).T
        from_c = np.where(vis[5 * n:], np.linalg.norm(b4 - corners, axis=1), INF).reshape(4, n).T
        via = to_c[:, :, None] + self._corner_dist[None] + from_c[:, None, :]
        return np.minimum(best, via.reshape(n, -1).min(axis=1))

    def shortest_path(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Waypoints ``(K, 2)`` of the shortest path from ``a`` to ``b`` (both ``(2,)``), ends
        included (Dijkstra on the visibility graph of the two points and the door corners)."""
        nodes = np.concatenate([np.asarray(a, np.float64)[None], self.corners,
                                np.asarray(b, np.float64)[None]])
        n = len(nodes)
        src, dst = np.repeat(nodes, n, axis=0), np.tile(nodes, (n, 1))
        weight = np.where(self.visible(src, dst), np.linalg.norm(src - dst, axis=1), INF).reshape(n, n)
        dist, prev, done = np.full(n, INF), np.full(n, -1), np.zeros(n, dtype=bool)
        dist[0] = 0.0
        for _ in range(n):
            u = int(np.argmin(np.where(done, INF, dist)))
            done[u] = True
            better = ~done & (dist[u] + weight[u] < dist)
            dist[better], prev[better] = dist[u] + weight[u][better], u
        path, u = [n - 1], n - 1
        while prev[u] >= 0:
            u = int(prev[u])
            path.append(u)
        return nodes[path[::-1]]

    def extreme_pairs(self) -> np.ndarray:
        """Candidate long tasks ``(M, 2, 2)``: points on the borders of the regions left and right
        of the wall, all pairs (the longest shortest paths start and end on these borders)."""
        left = _rect_border(0.0, self.x0)
        right = _rect_border(self.x1, 1.0)
        pairs = np.stack(np.broadcast_arrays(left[:, None], right[None]), axis=2)
        return pairs.reshape(-1, 2, 2)

    def _corner_distances(self) -> np.ndarray:
        """All-pairs shortest distances ``(4, 4)`` between door corners (Floyd-Warshall)."""
        dist = np.full((4, 4), INF)
        for i, j in itertools.product(range(4), range(4)):
            ci, cj = self.corners[i][None], self.corners[j][None]
            if i == j:
                dist[i, j] = 0.0
            elif self.visible(ci, cj)[0]:
                dist[i, j] = float(np.linalg.norm(ci - cj))
        for k, i, j in itertools.product(range(4), range(4), range(4)):
            dist[i, j] = min(dist[i, j], dist[i, k] + dist[k, j])
        return dist


def _entry_time(x: float, y: float, dx: float, dy: float, box: tuple[float, float, float, float]
                ) -> tuple[float, int]:
    """First ``t in [0, 1)`` where ``(x, y) + t (dx, dy)`` is strictly inside ``box`` and the axis
    whose slab it entered last (0 = x face, 1 = y face); ``(inf, -1)`` if it never enters."""
    xlo, ylo, xhi, yhi = box
    if dx == 0.0:
        if not xlo < x < xhi:
            return INF, -1
        tx0, tx1 = -INF, INF
    else:
        a, b = (xlo - x) / dx, (xhi - x) / dx
        tx0, tx1 = (a, b) if a < b else (b, a)
    if dy == 0.0:
        if not ylo < y < yhi:
            return INF, -1
        ty0, ty1 = -INF, INF
    else:
        a, b = (ylo - y) / dy, (yhi - y) / dy
        ty0, ty1 = (a, b) if a < b else (b, a)
    t0, t1 = max(tx0, ty0), min(tx1, ty1)
    if t0 >= t1 or t1 <= 0.0 or t0 >= 1.0:
        return INF, -1
    return max(t0, 0.0), (0 if tx0 >= ty0 else 1)


def _rect_border(xlo: float, xhi: float) -> np.ndarray:
    """``(4 * EDGE_POINTS, 2)`` points on the border of ``[xlo, xhi] x [0, 1]``."""
    s = np.linspace(0.0, 1.0, EDGE_POINTS)
    xs = xlo + s * (xhi - xlo)
    edges = [np.stack([xs, np.zeros_like(s)], 1), np.stack([xs, np.ones_like(s)], 1),
             np.stack([np.full_like(s, xlo), s], 1), np.stack([np.full_like(s, xhi), s], 1)]
    return np.concatenate(edges)
