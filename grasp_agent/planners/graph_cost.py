"""A cost-to-go through the state graph: how far the plan's final state is from the goal along
the data, not in a straight line.

A receding-horizon plan that cannot reach the goal within its horizon is scored by where it
ends. A goal distance in a straight line is greedy: in a maze it drives the agent into the wall
between it and the goal. :class:`GraphCostToGo` scores the final state by its path length to the
goal through a :class:`~grasp_agent.planners.state_graph.StateGraph` of the training data (the
search-on-the-replay-buffer idea, Eysenbach et al. 2019, used as MPC's terminal value): with
``n`` the graph node nearest a state ``s`` and ``m`` the next node on the shortest path from
``n`` to the goal region (the ``goal_nodes`` nodes of least terminal cost of the wrapped
objective: a goal given in a subspace, such as a position, is a region of latents at any
velocity),

    ctg(s) = |s - m| + D(m)

where ``D(m)`` is ``m``'s shortest-path length to the goal region (latent distances along
the edges). Inside a node's cell its gradient points to the next node of the path, so gradient
planners (GRASP, GD, LatCo) follow the path as well as sampling ones (CEM, iCEM, MPPI).

The wrapper's costs: per step ``weight * ctg(s_{t+1})`` (GRASP's and LatCo's dense term); per
trajectory ``weight * ctg(s_T) + objective.terminal_cost(s_T)`` (the wrapped objective's own
terminal cost finishes the approach inside the goal's cell). The final state is left free (no
pinned goal latent). Distances to a goal are computed once per distinct goal (one batched
Bellman-Ford search) and kept for the next plans (``cache_size`` goals).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

import torch

from grasp_agent.planners.objectives import Objective, check_objective
from grasp_agent.planners.state_graph import StateGraph, nearest_node


class GraphCostToGo(Objective):
    """``objective``'s goal, scored by the path length to it through ``graph``; see the module
    docstring.

    Args:
        objective: a goal objective with a terminal cost (``LatentGoal``, ``GoalInSubspace``,
            or a wrapper of one): it names the goal node (its least terminal cost) and finishes
            the approach.
        graph: the :class:`StateGraph` of the model's training data, built with the same model.
        weight: the cost-to-go's weight, a finite number ``> 0``.
        goal_nodes: nodes of least terminal cost that make up the goal region.
        cache_size: goals whose distances are kept between calls.

    Raises:
        TypeError: ``objective`` is not an Objective or ``graph`` is not a StateGraph.
        ValueError: ``weight`` or ``cache_size`` out of range, or an objective without a
            terminal cost (checked at the first cost).
    """

    def __init__(self, objective: Objective, graph: StateGraph, weight: float = 1.0, goal_nodes: int = 8,
                 cache_size: int = 64) -> None:
        self.objective = check_objective(objective)
        if not isinstance(graph, StateGraph):
            raise TypeError(f"graph must be a StateGraph (StateGraph.from_buffer(buffer, model)), got "
                            f"{type(graph).__name__}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight < math.inf:
            raise ValueError(f"weight must be a finite number > 0, got {weight!r}")
        for name, value in (("goal_nodes", goal_nodes), ("cache_size", cache_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        self.goal_nodes = min(goal_nodes, graph.num_nodes)
        self.graph, self.weight, self.cache_size = graph, float(weight), cache_size
        self.differentiable = objective.differentiable
        self.running = False
        self._on_device: dict[Any, StateGraph] = {}
        self._cache: OrderedDict[tuple[Any, bytes], tuple[torch.Tensor, torch.Tensor]] = OrderedDict()
        #: the last call's target and tables: a planner scores every iteration of a plan (and an
        #: MPC agent every replan) for the same targets, so this skips the per-goal lookups
        self._last: tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] | None = None

    def target_dim(self, latent_dim: int) -> int:
        if self.graph.nodes.shape[1] != latent_dim:
            raise ValueError(f"the state graph's nodes have {self.graph.nodes.shape[1]} dims but the "
                             f"model's latent has {latent_dim}; build the graph with this model's encoder")
        return self.objective.target_dim(latent_dim)

    def _graph(self, device: torch.device) -> StateGraph:
        if device not in self._on_device:
            self._on_device[device] = self.graph.to(device)
        return self._on_device[device]

    @torch.no_grad()
    def _goal_tables(self, graph: StateGraph, target: torch.Tensor
                     ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per distinct goal of ``target`` ``(B, G)``: the next node ``(U, N)`` of every node on
        its path to the goal region and that next node's distance ``(U, N)`` to the region; and
        the index ``(B,)`` of each row's goal among the ``U``."""
        if target.shape[-1] == 0:  # no goal to head for (a reward task)
            raise ValueError(f"GraphCostToGo heads for the node of least terminal cost, but "
                             f"{type(self.objective).__name__} has no goal; wrap a goal objective")
        last = self._last
        if last is not None and last[0].shape == target.shape and last[0].dtype == target.dtype \
                and last[0].device == target.device and torch.equal(last[0], target):
            return last[1]
        unique, inverse = torch.unique(target.detach(), dim=0, return_inverse=True)
        nxt = torch.empty(unique.shape[0], graph.num_nodes, dtype=torch.long, device=target.device)
        dist = torch.empty(unique.shape[0], graph.num_nodes, dtype=target.dtype, device=target.device)
        missing = []
        for i, row in enumerate(unique):
            key = (target.device, row.cpu().numpy().tobytes())
            if key in self._cache:
                self._cache.move_to_end(key)
                nxt[i], dist[i] = self._cache[key]
            else:
                missing.append(i)
        if missing:
            goals = unique[missing]  # (U, G)
            n = graph.num_nodes
            nodes = graph.nodes.to(target.dtype)
            cost = self.objective.terminal_cost(nodes.repeat(len(missing), 1), goals.repeat_interleave(n, 0))
            if cost is None:
                raise ValueError(f"GraphCostToGo heads for the node of least terminal cost, but "
                                 f"{type(self.objective).__name__} has none; wrap a goal objective")
            region = cost.view(len(missing), n).topk(self.goal_nodes, dim=1, largest=False).indices
            d, hop = graph.next_hops(region)  # (U, N) each
            d_next = d.gather(1, hop)
            finite = torch.isfinite(d_next)
            far = torch.where(finite, d_next, torch.zeros_like(d_next)).amax(1, keepdim=True) * 2 + 1.0
            d_next = torch.where(finite, d_next, far)  # unreachable: farther than any reachable node
            for j, i in enumerate(missing):
                nxt[i], dist[i] = hop[j], d_next[j].to(target.dtype)
                self._cache[(target.device, unique[i].cpu().numpy().tobytes())] = (hop[j], dist[i].clone())
                if len(self._cache) > self.cache_size:
                    self._cache.popitem(last=False)
        self._last = (target.detach().clone(), (nxt, dist, inverse))
        return nxt, dist, inverse

    def cost_to_go(self, z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """``ctg(z)`` ``(B, ...)`` of latents ``z`` ``(B, ..., D)`` for goals ``target`` ``(B, G)``."""
        graph = self._graph(z.device)
        nxt, dist, goal = self._goal_tables(graph, target)  # (U, N), (U, N), (B,)
        b, shape = z.shape[0], z.shape[:-1]
        flat = z.reshape(b, -1, z.shape[-1])  # (B, L, D)
        nodes = graph.nodes.to(z.dtype)
        with torch.no_grad():
            near = nearest_node(nodes, flat.reshape(-1, flat.shape[-1]).detach()).view(b, -1)  # (B, L)
            row = goal.unsqueeze(1).expand_as(near)
            hop = nxt[row, near]  # (B, L): the next node on the path
            left = dist[row, near]
        return ((flat - nodes[hop]).norm(dim=-1) + left).view(shape)

    def pinned_state(self, target: torch.Tensor) -> torch.Tensor | None:
        return None

    def step_costs(self, z: torch.Tensor, a: torch.Tensor, z_next: torch.Tensor,
                   target: torch.Tensor) -> torch.Tensor:
        return self.weight * self.cost_to_go(z_next, target)

    def terminal_cost(self, z_final: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # cost_to_go has checked that the wrapped objective has a terminal cost
        return self.weight * self.cost_to_go(z_final, target) + self.objective.terminal_cost(z_final, target)

    def trajectory_cost(self, z0: torch.Tensor, states: torch.Tensor, actions: torch.Tensor,
                        target: torch.Tensor) -> torch.Tensor:
        return self.terminal_cost(states[:, -1], target)

    def describe(self) -> dict[str, Any]:
        return {"kind": type(self).__name__, "weight": self.weight, "goal_nodes": self.goal_nodes,
                "objective": self.objective.describe(), "graph_nodes": self.graph.num_nodes}
