"""The state graph (planners/state_graph.py) and GRASP's ``init="graph"`` built on it."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

import grasp_agent
from grasp_agent.agents import PlannerAgent
from grasp_agent.data import ReplayBuffer
from grasp_agent.planners import GRASPConfig, GRASPPlanner, Return, StateGraph

WALL_X0, WALL_X1, DOOR_Y0, DOOR_Y1, STEP = 0.45, 0.55, 0.8, 0.9, 0.05


def in_wall(p: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """``(..., 2)`` positions inside the wall, outside the door widened by ``margin``."""
    x, y = p[..., 0], p[..., 1]
    return (x > WALL_X0) & (x < WALL_X1) & ((y < DOOR_Y0 - margin) | (y > DOOR_Y1 + margin))


class WallModel(grasp_agent.WorldModel):
    """A point in ``[0, 1]^2`` moving ``STEP * a`` per step; a move into the wall slides along it
    (keeps its y part) like WallDoor's, or is not made."""

    latent_dim, action_dim = 2, 2

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(obs).float().reshape(-1, 2)

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        moved = (z + STEP * a).clamp(0, 1)
        slide = torch.stack([z[..., 0] + 0.0 * a[..., 0], moved[..., 1]], -1)
        slide = torch.where(in_wall(slide).unsqueeze(-1), z + 0.0 * a, slide)
        return torch.where(in_wall(moved).unsqueeze(-1), slide, moved)


def random_walks(episodes: int = 150, steps: int = 60, seed: int = 0) -> ReplayBuffer:
    """Episodes of actions held for 5 steps through :class:`WallModel`, from uniform starts."""
    rng = np.random.default_rng(seed)
    model, buffer = WallModel(), ReplayBuffer(episodes * (steps + 1), (2,), 2)
    for _ in range(episodes):
        z = torch.as_tensor(rng.uniform(0, 1, (1, 2)), dtype=torch.float32)
        while in_wall(z).any():
            z = torch.as_tensor(rng.uniform(0, 1, (1, 2)), dtype=torch.float32)
        actions = np.repeat(rng.uniform(-1, 1, (steps // 5, 2)), 5, axis=0).astype(np.float32)
        obs = [z]
        for a in actions:
            obs.append(model.predict(obs[-1], torch.as_tensor(a)[None]))
        buffer.add_episode(torch.cat(obs).numpy(), actions)
    return buffer


@pytest.fixture(scope="module")
def graph() -> StateGraph:
    return StateGraph.from_buffer(random_walks(), WallModel(), max_nodes=400)


LEFT, RIGHT = torch.tensor([[0.15, 0.2]]), torch.tensor([[0.85, 0.2]])


def goal_cost(graph: StateGraph, goal: torch.Tensor) -> torch.Tensor:
    return ((graph.nodes.unsqueeze(0) - goal.unsqueeze(1)) ** 2).mean(-1)


def test_the_shortest_path_goes_through_the_door(graph: StateGraph) -> None:
    states, reached = graph.waypoints(LEFT, goal_cost(graph, RIGHT), RIGHT, 40)
    assert states.shape == (1, 39, 2) and bool(reached.all())
    # the straight line runs through the wall; the path only clips the door's corners (a chord
    # between two nodes beside a corner), by less than the node spacing (about 0.05)
    assert not bool(in_wall(states, margin=0.05).any())
    assert float(states[0, :, 1].max()) > DOOR_Y0 - 0.05  # up to the door
    steps = (torch.cat([LEFT.unsqueeze(1), states, RIGHT.unsqueeze(1)], 1).diff(dim=1)).norm(dim=-1)
    # evenly spaced along the path (a step that cuts a bend of the path is shorter, none longer)
    assert float(steps.max()) <= 1.01 * float(steps.median())


def test_paths_are_batched_like_single_problems(graph: StateGraph) -> None:
    starts = torch.tensor([[0.15, 0.2], [0.2, 0.9], [0.9, 0.5]])
    goals = torch.tensor([[0.85, 0.2], [0.8, 0.1], [0.1, 0.1]])
    batch, _ = graph.waypoints(starts, goal_cost(graph, goals), goals, 30)
    for i in range(3):
        one, _ = graph.waypoints(starts[i:i + 1], goal_cost(graph, goals[i:i + 1]), goals[i:i + 1], 30)
        torch.testing.assert_close(batch[i:i + 1], one)


def test_unconnected_problems_start_on_the_straight_line() -> None:
    latents = torch.tensor([[0.0, 0.0], [0.1, 0.0], [1.0, 1.0], [1.1, 1.0]])
    graph = StateGraph.from_latents(latents, torch.tensor([[0, 1], [2, 3]]), max_nodes=4)
    z0, end = torch.tensor([[0.0, 0.0]]), torch.tensor([[1.1, 1.0]])
    states, reached = graph.waypoints(z0, goal_cost(graph, end), end, 4)
    assert not bool(reached.any())
    line = torch.stack([z0[0] + f * (end[0] - z0[0]) for f in (0.25, 0.5, 0.75)])
    torch.testing.assert_close(states[0], line)
    # edges are directed: the reverse of a recorded transition is not a path
    back, reached = graph.waypoints(torch.tensor([[0.1, 0.0]]), goal_cost(graph, z0), None, 4)
    assert not bool(reached.any())
    assert torch.equal(back, torch.zeros(1, 3, 2) + torch.tensor([0.1, 0.0]))


def test_a_saved_graph_reads_back_and_foreign_input_is_refused(graph: StateGraph) -> None:
    again = StateGraph.from_state_dict(graph.state_dict())
    assert torch.equal(again.nodes, graph.nodes) and torch.equal(again.src, graph.src)
    with pytest.raises(ValueError, match="not a state graph"):
        StateGraph.from_state_dict({"nodes": graph.nodes})
    with pytest.raises(ValueError, match="NaN"):
        StateGraph.from_latents(torch.tensor([[0.0, float("nan")], [1.0, 1.0]]), torch.tensor([[0, 1]]))
    with pytest.raises(ValueError, match="index"):
        StateGraph.from_latents(torch.zeros(3, 2), torch.tensor([[0, 5]]))
    with pytest.raises(ValueError, match="do not move"):
        StateGraph.from_latents(torch.zeros(3, 2), torch.tensor([[0, 1]]))


@pytest.mark.parametrize("preset", ["graph", "graph_fast"])
def test_grasp_plans_through_the_door_from_the_graph(graph: StateGraph, preset: str) -> None:
    # goals behind the wall, both ways (60 steps of at most 0.05; the paths through the door are
    # 1.2-1.5 long): from the graph every plan ends near its goal, from the paper's straight line
    # each one stays at the wall
    starts = torch.tensor([[0.15, 0.2], [0.1, 0.4], [0.85, 0.2], [0.8, 0.5]])
    goals = torch.tensor([[0.85, 0.2], [0.9, 0.3], [0.15, 0.2], [0.2, 0.3]])
    miss, syncs = {}, {}
    for init in ("graph", "line"):
        config = GRASPConfig.preset(preset, init=init)
        planner = GRASPPlanner(WallModel(), (-np.ones(2), np.ones(2)), 60, config)
        planner.state_graph = graph
        result = planner.plan(starts, goals)
        miss[init] = (planner.model.rollout(starts, result.actions)[:, -1] - goals).norm(dim=-1)
        syncs[init] = result.info["sync_iterations"]
    assert float(miss["graph"].max()) < 0.2 < 0.3 < float(miss["line"].min()), miss
    # "graph_fast" gets there without a sync: the lifted phase and the polish alone
    assert (syncs["graph"] == []) == (preset == "graph_fast"), syncs


def test_graph_start_keeps_one_batched_model_call_per_lifted_iteration(graph: StateGraph) -> None:
    model = WallModel()
    calls = []
    original = model.predict
    model.predict = lambda z, a: calls.append(tuple(z.shape)) or original(z, a)  # type: ignore[method-assign]
    config = GRASPConfig.preset("graph", use_sync=False, polish_steps=0, keep_best=False, iterations=5)
    planner = GRASPPlanner(model, (-np.ones(2), np.ones(2)), 40, config)
    planner.state_graph = graph
    planner.plan(torch.cat([LEFT, LEFT]), torch.cat([RIGHT, RIGHT]))
    assert [c for c in calls if len(c) == 3] == [(2, 40, 2)] * 5  # (the rest: single steps)


def test_graph_start_needs_a_graph_of_this_latent_and_a_goal(graph: StateGraph) -> None:
    planner = GRASPPlanner(WallModel(), (-np.ones(2), np.ones(2)), 10, GRASPConfig.preset("graph"))
    with pytest.raises(ValueError, match="state_graph = StateGraph.from_buffer"):
        planner.plan(LEFT, RIGHT)
    planner.state_graph = StateGraph.from_latents(torch.rand(5, 3), torch.tensor([[0, 1]]))
    with pytest.raises(ValueError, match="3 dims"):
        planner.plan(LEFT, RIGHT)
    reward = GRASPPlanner(WallModel(), (-np.ones(2), np.ones(2)), 10, GRASPConfig.preset("graph"),
                          objective=Return(lambda z, a, z1: -z1[..., 0]))
    reward.state_graph = graph
    with pytest.raises(ValueError, match="terminal cost"):
        reward.plan(LEFT)


def test_shrinking_mpc_plans_the_rest_with_the_graph(graph: StateGraph) -> None:
    agent = PlannerAgent(WallModel(), gym.spaces.Box(-1.0, 1.0, (2,)), planner="grasp", horizon=40,
                         replan_every=10, horizon_mode="shrinking",
                         planner_config=GRASPConfig.preset("graph"), state_graph=graph)
    assert agent.state_graph is graph and agent.planner.state_graph is graph
    short = agent._planner_for(30)
    assert short.state_graph is graph and short.horizon == 30
    agent.state_graph = None
    assert agent._planner_for(30).state_graph is None  # follows the agent's planner


def test_keep_best_never_returns_worse_than_the_warm_start(graph: StateGraph) -> None:
    good = GRASPPlanner(WallModel(), (-np.ones(2), np.ones(2)), 40, GRASPConfig.preset("graph"))
    good.state_graph = graph
    warm = good.plan(LEFT, RIGHT)
    # a weak planner (2 iterations, straight line) given the good plan as its warm start
    weak = GRASPPlanner(WallModel(), (-np.ones(2), np.ones(2)), 40,
                        GRASPConfig(iterations=2, sync_every=1, sync_lr=0.5, keep_best=True,
                                    keep_warm_start=True, seed=1))
    again = weak.plan(LEFT, RIGHT, init_actions=warm.actions)
    assert float(again.cost) <= float(warm.cost) + 1e-6
    weak.config.keep_warm_start = False  # the default: only what the solve itself found
    assert float(weak.plan(LEFT, RIGHT, init_actions=warm.actions).cost) > float(warm.cost) + 1e-3


def test_a_saved_agent_keeps_its_graph(graph: StateGraph, tmp_path) -> None:
    torch.manual_seed(0)
    model = grasp_agent.MLPWorldModel(2, 2, hidden_sizes=(16,))  # (saving needs a trainable model)
    agent = PlannerAgent(model, gym.spaces.Box(-1.0, 1.0, (2,)), planner="grasp", horizon=60,
                         open_loop=True, planner_config=GRASPConfig.preset("graph", iterations=5),
                         state_graph=graph)
    agent.save(tmp_path / "agent.pt")
    again = PlannerAgent.load(tmp_path / "agent.pt")
    assert torch.equal(again.planner.state_graph.nodes, graph.nodes)
    assert torch.equal(again.planner.state_graph.dst, graph.dst)
    first = agent.planner.plan(LEFT, RIGHT, generator=torch.Generator().manual_seed(0))
    second = again.planner.plan(LEFT, RIGHT, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first.actions, second.actions)  # the same plan


def test_an_experiment_planner_without_its_graph_is_refused() -> None:
    from grasp_agent.experiments.config import ConfigError
    from grasp_agent.experiments.planning import make_planner
    from grasp_agent.experiments.sections import PlannerSpec

    spec = PlannerSpec("grasp", {"init": "graph"})
    with pytest.raises(ConfigError, match="needs a state graph"):
        make_planner(spec, WallModel(), gym.spaces.Box(-1.0, 1.0, (2,)), 10)


def test_an_agent_checks_its_graph_and_objective_when_built(graph: StateGraph) -> None:
    box = gym.spaces.Box(-1.0, 1.0, (2,))
    config = GRASPConfig.preset("graph")
    with pytest.raises(ValueError, match="3 dims but the model's latent has 2"):
        PlannerAgent(WallModel(), box, planner="grasp", planner_config=config,
                     state_graph=StateGraph.from_latents(torch.rand(5, 3), torch.tensor([[0, 1]])))
    with pytest.raises(TypeError, match="must be a StateGraph"):
        PlannerAgent(WallModel(), box, planner="grasp", planner_config=config, state_graph=graph.nodes)
    with pytest.raises(TypeError, match="the cem planner does not plan from a state graph"):
        PlannerAgent(WallModel(), box, planner="cem", state_graph=graph)
    # a reward task has no goal node to head for: refused here, not at the first plan
    with pytest.raises(ValueError, match="Return objective has none"):
        PlannerAgent(WallModel(), box, planner="grasp", planner_config=config, state_graph=graph,
                     objective=Return(lambda z, a, z1: -z1[..., 0]))
    PlannerAgent(WallModel(), box, planner="grasp", state_graph=graph,  # the straight line: no check
                 objective=Return(lambda z, a, z1: -z1[..., 0]))
