"""A graph over the latent states of the data: where GRASP's virtual states can start.

GRASP optimises virtual states, so it can start from any state path, not only from actions.
The paper starts on the straight line to the goal; where the straight line runs through a wall
the lifted objective settles there (WallDoor's door crossings). The data the world model was
trained on show which states follow which: :class:`StateGraph` keeps ``N`` representative
latents (farthest-point samples of the data) as nodes and an edge ``i -> j`` wherever a recorded
transition leads from the cell of node ``i`` to the cell of node ``j``. A shortest path in it
(edge length: the latent distance between the nodes) runs where the data went, through the
door; :meth:`StateGraph.waypoints` resamples it to ``T`` evenly spaced states, GRASP's
``init="graph"`` (the idea of planning over the replay buffer: Eysenbach et al., "Search on
the Replay Buffer", 2019).

All searches are batched over problems: one Bellman-Ford relaxation over all ``E`` edges per
hop, ``(B, E)`` tensors, no Python loop over nodes or problems.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

GRAPH_FORMAT = "grasp_agent.state_graph/1"


def farthest_points(z: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    """Indices ``(min(k, N),)`` of ``k`` farthest-point samples of ``z`` ``(N, D)`` (first one random)."""
    n = z.shape[0]
    k = min(k, n)
    picked = torch.empty(k, dtype=torch.long)
    picked[0] = int(torch.randint(n, (1,), generator=generator))
    nearest = ((z - z[picked[0]]) ** 2).sum(-1)
    for i in range(1, k):
        picked[i] = int(nearest.argmax())
        nearest = torch.minimum(nearest, ((z - z[picked[i]]) ** 2).sum(-1))
    return picked


def nearest_node(nodes: torch.Tensor, z: torch.Tensor, chunk: int = 8192) -> torch.Tensor:
    """Index ``(M,)`` of the node of ``nodes`` ``(N, D)`` nearest to each row of ``z`` ``(M, D)``."""
    return torch.cat([torch.cdist(z[i:i + chunk], nodes).argmin(1) for i in range(0, z.shape[0], chunk)])


class StateGraph:
    """Directed graph over latent states; see the module docstring.

    Args:
        nodes: ``(N, D)`` node latents.
        src: ``(E,)`` edge starts (node indices).
        dst: ``(E,)`` edge ends (node indices), ``src != dst``.
    """

    def __init__(self, nodes: torch.Tensor, src: torch.Tensor, dst: torch.Tensor) -> None:
        nodes, src, dst = torch.as_tensor(nodes), torch.as_tensor(src), torch.as_tensor(dst)
        if nodes.ndim != 2 or nodes.shape[0] < 2:
            raise ValueError(f"a StateGraph needs nodes of shape (N >= 2, D), got {tuple(nodes.shape)}")
        if not torch.isfinite(nodes).all():
            raise ValueError("the StateGraph's node latents contain NaN or inf; encode finite observations")
        if src.shape != dst.shape or src.ndim != 1 or src.numel() == 0:
            raise ValueError(f"a StateGraph needs edge ends src, dst of one shape (E >= 1,), got "
                             f"{tuple(src.shape)} and {tuple(dst.shape)}")
        n = nodes.shape[0]
        if bool((src < 0).any() or (src >= n).any() or (dst < 0).any() or (dst >= n).any()):
            raise ValueError(f"StateGraph edge ends must index the {n} nodes")
        self.nodes = nodes.float()
        self.src, self.dst = src.long(), dst.long()
        self.length = (self.nodes[self.src] - self.nodes[self.dst]).norm(dim=-1)

    @property
    def num_nodes(self) -> int:
        return self.nodes.shape[0]

    @property
    def num_edges(self) -> int:
        return self.src.shape[0]

    # ------------------------------------------------------------------ building
    @classmethod
    def from_latents(cls, latents: torch.Tensor, pairs: torch.Tensor, max_nodes: int = 2048,
                     seed: int = 0) -> StateGraph:
        """Build from latents ``(M, D)`` and the index pairs ``(P, 2)`` of latents that follow one
        another in the data (``pairs[p] = (i, j)``: ``latents[j]`` was reached from
        ``latents[i]``): ``max_nodes`` farthest-point samples of the latents as nodes, an edge
        wherever a pair changes the nearest node."""
        latents, pairs = torch.as_tensor(latents).float(), torch.as_tensor(pairs).long()
        if latents.ndim != 2 or latents.shape[0] < 2:
            raise ValueError(f"latents must be (M >= 2, D), got {tuple(latents.shape)}")
        if pairs.ndim != 2 or pairs.shape[1] != 2 or pairs.shape[0] == 0:
            raise ValueError(f"pairs must be (P >= 1, 2) latent indices, got {tuple(pairs.shape)}")
        if bool((pairs < 0).any() or (pairs >= latents.shape[0]).any()):
            raise ValueError(f"pairs must index the {latents.shape[0]} latents")
        if max_nodes < 2:
            raise ValueError(f"max_nodes must be >= 2, got {max_nodes}")
        if not torch.isfinite(latents).all():
            raise ValueError("the latents contain NaN or inf; encode finite observations")
        generator = torch.Generator().manual_seed(seed)
        nodes = latents[farthest_points(latents, max_nodes, generator)]
        cell = nearest_node(nodes, latents)
        a, b = cell[pairs[:, 0]], cell[pairs[:, 1]]
        moved = a != b
        if not bool(moved.any()):
            raise ValueError("no transition leaves its node's cell: the data do not move; collect "
                             "more varied data or raise max_nodes")
        edges = torch.unique(torch.stack([a[moved], b[moved]], 1), dim=0)
        graph = cls(nodes, edges[:, 0], edges[:, 1])
        logger.info("state graph: %d nodes, %d edges from %d latents", graph.num_nodes, graph.num_edges,
                    latents.shape[0])
        return graph

    @classmethod
    @torch.no_grad()
    def from_buffer(cls, buffer: Any, model: Any, max_nodes: int = 2048, seed: int = 0,
                    batch_size: int = 4096) -> StateGraph:
        """Build from every transition of a :class:`~grasp_agent.data.ReplayBuffer`, each stored
        observation encoded once by ``model.encode`` (in batches of ``batch_size``)."""
        first = buffer.valid_starts(1)
        if len(first) == 0:
            raise ValueError("the replay buffer holds no transitions; collect data first")
        rows = np.unique(np.concatenate([first, (first + 1) % buffer.capacity]))
        device = getattr(model, "device", torch.device("cpu"))
        obs = buffer.obs[rows]
        latents = torch.cat([model.encode(torch.as_tensor(obs[i:i + batch_size], device=device))
                             .float().cpu() for i in range(0, len(obs), batch_size)])
        after = (first + 1) % buffer.capacity
        pairs = np.stack([np.searchsorted(rows, first), np.searchsorted(rows, after)], 1)
        return cls.from_latents(latents, torch.as_tensor(pairs), max_nodes, seed)

    def state_dict(self) -> dict[str, Any]:
        """Plain tensors for a checkpoint (``torch.load(weights_only=True)`` reads them back)."""
        return {"format": GRAPH_FORMAT, "nodes": self.nodes.cpu(), "src": self.src.cpu(),
                "dst": self.dst.cpu()}

    @classmethod
    def from_state_dict(cls, state: Any) -> StateGraph:
        """Rebuild from :meth:`state_dict` (checked: a foreign dict raises ``ValueError``)."""
        if not isinstance(state, dict) or state.get("format") != GRAPH_FORMAT:
            raise ValueError(f"not a state graph (expected format {GRAPH_FORMAT!r}); build one with "
                             "StateGraph.from_buffer(buffer, model)")
        return cls(state["nodes"], state["src"], state["dst"])

    def to(self, device: Any) -> StateGraph:
        """This graph with its tensors on ``device``."""
        graph = StateGraph.__new__(StateGraph)
        graph.nodes, graph.src, graph.dst, graph.length = (t.to(device) for t in
                                                           (self.nodes, self.src, self.dst, self.length))
        return graph

    # ------------------------------------------------------------------ search
    def distances_to(self, goals: torch.Tensor) -> torch.Tensor:
        """Shortest-path length ``(B, N)`` from every node to node ``goals[b]`` (``goals``
        ``(B,)``), or to the nearest of the nodes ``goals[b, :]`` (``(B, K)``: a goal region);
        ``inf`` where no goal can be reached. Batched Bellman-Ford on the edges."""
        b, n = goals.shape[0], self.num_nodes
        dist = torch.full((b, n), math.inf, device=self.nodes.device)
        dist.scatter_(1, goals.view(b, -1), 0.0)
        src = self.src.expand(b, -1)
        for _ in range(n):
            relaxed = dist.scatter_reduce(1, src, dist[:, self.dst] + self.length, "amin", include_self=True)
            if torch.equal(relaxed, dist):
                break
            dist = relaxed
        return dist

    def paths(self, starts: torch.Tensor, goals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shortest paths from node ``starts[b]`` to node ``goals[b]`` (each ``(B,)``).

        Returns:
            ``(path (B, L), reached (B,))``: node indices from the start, padded with the last
            node; ``reached`` is False where no path exists (the path is then the start alone).
        """
        dist, hop = self.next_hops(goals)
        b = goals.shape[0]
        rows = torch.arange(b, device=dist.device)
        reached = torch.isfinite(dist[rows, starts])
        cur = starts.clone()
        path = [cur]
        for _ in range(self.num_nodes):
            live = reached & (cur != goals)
            if not bool(live.any()):
                break
            cur = torch.where(live, hop[rows, cur], cur)
            path.append(cur)
        return torch.stack(path, 1), reached

    def next_hops(self, goals: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Shortest-path length ``(B, N)`` from every node to node ``goals[b]`` (or the region
        ``goals[b, :]``, :meth:`distances_to`) and every node's next node on that path ``(B, N)``
        (the node itself at a goal and where no goal can be reached)."""
        dist = self.distances_to(goals)
        b = goals.shape[0]
        # the next hop of every node: the out-edge with the least length + distance left
        through = dist[:, self.dst] + self.length  # (B, E)
        best = torch.full_like(dist, math.inf).scatter_reduce(1, self.src.expand(b, -1), through, "amin")
        on_path = (through <= best[:, self.src]) & torch.isfinite(through)
        edge_ids = torch.arange(self.num_edges, device=dist.device).expand(b, -1)
        pick = torch.full((b, self.num_nodes), -1, dtype=torch.long, device=dist.device)
        pick = pick.scatter_reduce(1, self.src.expand(b, -1), torch.where(on_path, edge_ids, -1), "amax")
        own = torch.arange(self.num_nodes, device=dist.device).expand(b, -1)
        hop = torch.where(pick >= 0, self.dst[pick.clamp_min(0)], own)
        return dist, torch.where(dist == 0, own, hop)

    def waypoints(self, z0: torch.Tensor, goal_cost: torch.Tensor, end: torch.Tensor | None,
                  steps: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``steps - 1`` states ``(B, steps - 1, D)`` evenly spaced (by latent distance) along the
        shortest path from ``z0`` ``(B, D)`` to the node of least ``goal_cost`` ``(B, N)``, then on
        to ``end`` ``(B, D)`` (a pinned final latent) if given; and ``reached`` ``(B,)``.

        The path runs ``z0 -> nearest node -> ... -> goal node [-> end]``; where no path exists
        it is the straight segment ``z0 -> end`` (or ``z0`` held) and ``reached`` is False.
        """
        nodes = self.nodes.to(z0.dtype)
        starts, goals = nearest_node(nodes, z0), goal_cost.argmin(1)
        path, reached = self.paths(starts, goals)
        points = [z0.unsqueeze(1), nodes[path]]
        if end is not None:
            points.append(end.unsqueeze(1))
        pts = torch.cat(points, 1)  # (B, L, D)
        if end is not None:  # no path: the straight segment from z0 to the end
            pts = torch.where(reached.view(-1, 1, 1), pts,
                              torch.cat([z0.unsqueeze(1).expand_as(pts[:, :-1]), end.unsqueeze(1)], 1))
        else:
            pts = torch.where(reached.view(-1, 1, 1), pts, z0.unsqueeze(1).expand_as(pts))
        seg = (pts[:, 1:] - pts[:, :-1]).norm(dim=-1)  # (B, L-1)
        arc = torch.cat([torch.zeros_like(seg[:, :1]), seg.cumsum(1)], 1)  # (B, L)
        frac = torch.arange(1, steps, device=z0.device, dtype=z0.dtype) / steps
        at = frac.unsqueeze(0) * arc[:, -1:]  # (B, steps-1) arc positions
        idx = torch.searchsorted(arc.contiguous(), at.contiguous(), right=True).clamp(1, arc.shape[1] - 1)
        lo, hi = idx - 1, idx
        a_lo, a_hi = arc.gather(1, lo), arc.gather(1, hi)
        w = ((at - a_lo) / (a_hi - a_lo).clamp_min(1e-12)).clamp(0, 1).unsqueeze(-1)
        d = pts.shape[-1]
        p_lo = pts.gather(1, lo.unsqueeze(-1).expand(-1, -1, d))
        p_hi = pts.gather(1, hi.unsqueeze(-1).expand(-1, -1, d))
        return p_lo + w * (p_hi - p_lo), reached
