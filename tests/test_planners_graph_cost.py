"""GraphCostToGo (planners/graph_cost.py): the path length to the goal through the state graph
as a plan's terminal cost, so short receding-horizon plans head for the door, not the wall."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from grasp_agent.planners import (
    CEMConfig,
    CEMPlanner,
    GRASPConfig,
    GRASPPlanner,
    LatentGoal,
    Return,
    StateGraph,
)
from grasp_agent.planners.graph_cost import GraphCostToGo
from tests.test_planners_state_graph import DOOR_Y0, WallModel, random_walks

# beside the wall, the goal just behind it: 0.3 apart in a straight line, about 1.6 through the door
START, GOAL = torch.tensor([[0.35, 0.2]]), torch.tensor([[0.65, 0.2]])
BOUNDS = (-np.ones(2), np.ones(2))


@pytest.fixture(scope="module")
def graph() -> StateGraph:
    return StateGraph.from_buffer(random_walks(), WallModel(), max_nodes=400)


def test_the_cost_to_go_measures_the_way_through_the_door(graph: StateGraph) -> None:
    ctg = GraphCostToGo(LatentGoal(), graph)
    near_wall = float(ctg.cost_to_go(START, GOAL))
    assert near_wall > 1.2 > 0.3  # the detour, not the straight 0.3
    at_door = float(ctg.cost_to_go(torch.tensor([[0.45, 0.85]]), GOAL))
    assert at_door < near_wall - 0.4  # closer along the path while farther in a straight line
    assert float(ctg.cost_to_go(GOAL, GOAL)) < 0.1
    # batched over problems and steps like one at a time, each row its own goal
    z = torch.stack([torch.cat([START, GOAL]), torch.cat([GOAL, START])])  # (2, 2, 2)
    goals = torch.cat([GOAL, START])
    batch = ctg.cost_to_go(z, goals)
    for b in range(2):
        torch.testing.assert_close(batch[b], ctg.cost_to_go(z[b:b + 1], goals[b:b + 1])[0])


@pytest.mark.parametrize("kind", ["cem", "grasp"])
def test_short_plans_head_for_the_door_with_it_not_into_the_wall(graph: StateGraph, kind: str) -> None:
    """12 steps of at most 0.05 cannot reach the goal: the straight-line goal cost ends the plan
    at the wall, the cost-to-go ends it on the way to the door."""
    end_y = {}
    for name, objective in (("plain", LatentGoal()), ("ctg", GraphCostToGo(LatentGoal(), graph))):
        if kind == "cem":
            config = CEMConfig(iterations=8, num_samples=256, num_elites=16, seed=0)
            planner = CEMPlanner(WallModel(), BOUNDS, 12, config, objective=objective)
        else:
            config = GRASPConfig(iterations=150, sync_every=50, seed=0)
            planner = GRASPPlanner(WallModel(), BOUNDS, 12, config, objective=objective)
        result = planner.plan(START, GOAL)
        end_y[name] = float(planner.model.rollout(START, result.actions)[0, -1, 1])
    assert end_y["ctg"] > 0.2 + 0.3 and end_y["plain"] < 0.2 + 0.1, end_y
    assert end_y["ctg"] < DOOR_Y0 + 0.1


def test_distances_are_searched_once_per_goal(graph: StateGraph, monkeypatch) -> None:
    ctg = GraphCostToGo(LatentGoal(), graph, cache_size=2)
    calls = []
    original = StateGraph.next_hops
    monkeypatch.setattr(StateGraph, "next_hops",
                        lambda self, goals: calls.append(len(goals)) or original(self, goals))
    z = torch.rand(6, 5, 2)
    ctg.terminal_cost(z[:, -1], GOAL.repeat(6, 1))
    ctg.terminal_cost(z[:, -1], GOAL.repeat(6, 1))
    assert calls == [1]  # six rows, one goal, searched once, then cached
    ctg.step_costs(z, torch.zeros(6, 5, 2), z, torch.cat([GOAL.repeat(3, 1), START.repeat(3, 1)]))
    assert calls == [1, 1]  # only the new goal


def test_bad_input_is_refused(graph: StateGraph) -> None:
    with pytest.raises(ValueError, match="weight must be a finite number > 0"):
        GraphCostToGo(LatentGoal(), graph, weight=0.0)
    with pytest.raises(TypeError, match="must be a StateGraph"):
        GraphCostToGo(LatentGoal(), graph.nodes)
    with pytest.raises(ValueError, match="2 dims but the model's latent has 3"):
        GraphCostToGo(LatentGoal(), graph).target_dim(3)
    reward = GraphCostToGo(Return(lambda z, a, z1: -z1[..., 0]), graph)
    with pytest.raises(ValueError, match="has no goal; wrap a goal objective"):
        reward.terminal_cost(START, torch.zeros(1, 0))


def test_from_env_takes_it_for_any_planner_and_a_saved_agent_keeps_it(graph: StateGraph, tmp_path) -> None:
    import gymnasium as gym

    import grasp_agent
    from grasp_agent.agents import ICEMAgent
    from grasp_agent.planners import ICEMConfig

    torch.manual_seed(0)
    model = grasp_agent.MLPWorldModel(2, 2, hidden_sizes=(16,))  # latent = the (x, y) position
    env = gym.make("grasp_agent/WallDoor-v0", max_episode_steps=20)
    agent = ICEMAgent.from_env(env, model, horizon=8, cost_to_go=graph,
                               planner_config=ICEMConfig(iterations=2, num_samples=32, num_elites=4))
    assert isinstance(agent.objective, GraphCostToGo) and agent.objective.graph is graph
    obs, _ = env.reset(seed=0)
    action, _ = agent.predict(obs)
    assert env.action_space.contains(np.asarray(action, np.float32))
    agent.save(tmp_path / "agent.pt")
    again = ICEMAgent.load(tmp_path / "agent.pt")
    assert isinstance(again.objective, GraphCostToGo) and again.objective.weight == 1.0
    assert torch.equal(again.objective.graph.nodes, graph.nodes)
    z, goal = torch.tensor([[0.3, 0.3]]), torch.tensor([[0.7, 0.3]])
    first = agent.planner.plan(z, goal, generator=torch.Generator().manual_seed(0))
    second = again.planner.plan(z, goal, generator=torch.Generator().manual_seed(0))
    assert torch.equal(first.actions, second.actions)  # the same plan
    with pytest.raises(ValueError, match="2 dims but the model's latent has 4"):
        ICEMAgent.from_env(env, grasp_agent.MLPWorldModel(4, 2, hidden_sizes=(16,)), cost_to_go=graph)


def test_a_goal_region_is_the_nearest_of_its_nodes(graph: StateGraph) -> None:
    region = torch.tensor([[3, 50, 200], [7, 7, 7]])
    dist, hop = graph.next_hops(region)
    singles = torch.stack([graph.distances_to(region[:, k]) for k in range(3)]).amin(0)
    torch.testing.assert_close(dist, singles)
    assert torch.equal(hop[0, region[0]], region[0])  # a goal node stays where it is
    # every other reachable node's next hop is one edge on, and no farther from the region
    reachable = torch.isfinite(dist[0]) & (dist[0] > 0)
    nodes = torch.nonzero(reachable).squeeze(1)
    step = (graph.nodes[nodes] - graph.nodes[hop[0, nodes]]).norm(dim=-1)
    torch.testing.assert_close(dist[0, hop[0, nodes]] + step, dist[0, nodes])
