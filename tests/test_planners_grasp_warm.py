"""GRASP's ``warm_iterations``: a warm-started plan (an MPC replan) refines the warm start."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from grasp_agent import GRASPConfig, GRASPPlanner
from grasp_agent.agents.planner_agent import PlannerAgent
from tests.helpers import LinearModel, RecordingModel, reachable_goals

BOX = spaces.Box(-1.0, 1.0, (2,))
T = 8


def _warm_actions(batch: int, seed: int = 7) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return 0.6 * (2 * torch.rand(batch, T, 2, generator=gen) - 1)


def test_a_warm_plan_runs_warm_iterations_from_the_rollout_of_the_warm_start():
    model = RecordingModel()
    z0, goal = reachable_goals(LinearModel(), 3, T)
    cfg = GRASPConfig(iterations=40, warm_iterations=3, lr_s=0.0, sigma=0.0, use_sync=False)
    steps = []
    warm = _warm_actions(3)
    result = GRASPPlanner(model, BOX, T, cfg).plan(z0, goal, init_actions=warm, callback=steps.append)
    assert result.info["warm"] and result.info["iterations"] == 3
    lifted = [shape for shape, _ in model.calls if len(shape) == 3 and shape[1] == T]
    assert lifted == [(3, T, 4)] * 3  # still one batched call over B x T per lifted iteration
    with torch.no_grad():
        rollout = LinearModel().rollout(z0, warm)  # (B, T, D): s_1 .. s_T
    # lr_s = 0 and no noise: the virtual states stay where they started, on the warm start's rollout
    torch.testing.assert_close(steps[0].states, rollout[:, :-1])
    cold = GRASPPlanner(LinearModel(), BOX, T, cfg).plan(z0, goal)  # no warm start: all iterations
    assert not cold.info["warm"] and cold.info["iterations"] == 40
    # warm_iterations=None (the default): a warm start is planned like a cold one
    plain = GRASPPlanner(LinearModel(), BOX, T, GRASPConfig(iterations=40, use_sync=False))
    assert plain.plan(z0, goal, init_actions=warm).info["iterations"] == 40


def test_a_warm_plan_ends_with_a_sync():
    model = LinearModel()
    z0, goal = reachable_goals(model, 2, T)
    cfg = GRASPConfig(iterations=20, sync_every=10, warm_iterations=7)
    warm = GRASPPlanner(model, BOX, T, cfg).plan(z0, goal, init_actions=_warm_actions(2))
    assert warm.info["sync_iterations"] == [6]
    cold = GRASPPlanner(model, BOX, T, cfg).plan(z0, goal)
    assert cold.info["sync_iterations"] == [9, 19]


def test_a_warm_replan_is_never_worse_than_the_last_plan_and_costs_less():
    model = LinearModel()
    z0, goal = reachable_goals(model, 5, T, seed=2)
    base = dict(iterations=60, sync_every=20, keep_best=True, keep_warm_start=True, polish_steps=5)
    first = GRASPPlanner(model, BOX, T, GRASPConfig(**base)).plan(z0, goal)
    for k in (0, 4):  # 0: the polish alone
        planner = GRASPPlanner(model, BOX, T, GRASPConfig(**base, warm_iterations=k))
        replan = planner.plan(z0, goal, init_actions=first.actions)
        assert (replan.cost <= first.cost + 1e-7).all()
        assert replan.info["iterations"] == k
        assert replan.info["model_calls"] < first.info["model_calls"] / 2  # 80 and 172 of 388
    # from a poor warm start the refinement lowers the cost (ratio 0.007-0.018 over problem seeds
    # 0-5, both kernels)
    poor = _warm_actions(5)
    cost = GRASPPlanner(model, BOX, T, GRASPConfig(**base)).trajectory_cost(z0, goal, poor)
    replan = GRASPPlanner(model, BOX, T, GRASPConfig(**base, warm_iterations=10)).plan(
        z0, goal, init_actions=poor)
    assert replan.cost.mean() < 0.1 * cost.mean()


def test_the_same_seed_gives_the_same_warm_replan():
    model = LinearModel()
    z0, goal = reachable_goals(model, 3, T)
    cfg = GRASPConfig(iterations=30, sync_every=10, warm_iterations=6, sigma=0.05, seed=4)
    warm = _warm_actions(3)
    a = GRASPPlanner(model, BOX, T, cfg).plan(z0, goal, init_actions=warm)
    b = GRASPPlanner(model, BOX, T, cfg).plan(z0, goal, init_actions=warm)
    assert torch.equal(a.actions, b.actions)


@pytest.mark.parametrize("bad", [-1, 1.5, True])
def test_warm_iterations_is_checked(bad):
    with pytest.raises((ValueError, TypeError), match="warm_iterations"):
        GRASPPlanner(LinearModel(), BOX, T, GRASPConfig(warm_iterations=bad))
    with pytest.raises((ValueError, TypeError), match="warm_polish_steps"):
        GRASPPlanner(LinearModel(), BOX, T, GRASPConfig(warm_polish_steps=bad))


def test_a_warm_plan_polishes_warm_polish_steps():
    model = LinearModel()
    z0, goal = reachable_goals(model, 2, T)
    warm = _warm_actions(2)
    warm_calls, cold_calls = [], []
    for extra in ({"warm_iterations": 0}, {"warm_iterations": 0, "warm_polish_steps": 3}):
        planner = GRASPPlanner(model, BOX, T, GRASPConfig(iterations=5, use_sync=False, polish_steps=10,
                                                          **extra))
        warm_calls.append(planner.plan(z0, goal, init_actions=warm).info["model_calls"])
        cold_calls.append(planner.plan(z0, goal).info["model_calls"])
    assert warm_calls[0] - warm_calls[1] == 7 * T  # 3 polish steps instead of 10, a rollout of T each
    assert cold_calls[0] == cold_calls[1]  # a cold plan keeps polish_steps


class _Shift(LinearModel):
    """``z' = z + 0.1 a`` on a 2-d latent (a point mass)."""

    def __init__(self) -> None:
        super().__init__(latent_dim=2, action_dim=2)
        self.a_mat.copy_(torch.eye(2))
        self.b_mat.copy_(0.1 * torch.eye(2))


def test_an_agent_plans_envs_without_a_plan_cold_and_the_others_warm():
    cfg = GRASPConfig(iterations=12, sync_every=6, warm_iterations=2)
    agent = PlannerAgent(_Shift(), spaces.Box(-1, 1, (2,)), planner_config=cfg, horizon=5, replan_every=2)
    obs = {"observation": np.zeros((2, 2), np.float32), "desired_goal": np.ones((2, 2), np.float32)}
    _, state = agent.predict(obs, episode_start=np.array([True, True]))
    assert [p.info["warm"] for _, p in agent.last_plans] == [False]  # one cold call for both envs
    _, state = agent.predict(obs, state=state, episode_start=np.array([False, False]))
    _, state = agent.predict(obs, state=state, episode_start=np.array([True, False]))
    # env 0 starts a new episode: a cold plan of all iterations; env 1 replans warm, apart
    assert [(list(idx), p.info["warm"], p.info["iterations"]) for idx, p in agent.last_plans] == [
        ([0], False, 12), ([1], True, 2)]
    _, state = agent.predict(obs, state=state, episode_start=np.array([False, False]))
    _, state = agent.predict(obs, state=state, episode_start=np.array([False, False]))
    assert [(list(idx), p.info["warm"]) for idx, p in agent.last_plans] == [([0, 1], True)]  # one call


def test_a_polish_only_replan_rolls_the_warm_start_out_once():
    """``warm_iterations=0``: one rollout gives the virtual states and the warm start's score, and
    no second scoring of the unchanged actions follows; then the polish and the plan's final cost."""
    model, steps, b = RecordingModel(), 3, 3
    z0, goal = reachable_goals(LinearModel(), b, T)
    cfg = GRASPConfig(iterations=5, use_sync=False, keep_best=True, keep_warm_start=True,
                      polish_steps=steps, warm_iterations=0)
    warm = _warm_actions(b)
    result = GRASPPlanner(model, BOX, T, cfg).plan(z0, goal, init_actions=warm)
    full_batch = [shape for shape, _ in model.calls if shape == (b, 4)]
    # warm rollout (1) + polish steps and the polish's last score (steps + 1) + the plan's cost (1),
    # T predictions each (the goal latent is the last state: no extra prediction); 64 before the
    # warm start's rollout doubled as its score
    assert len(full_batch) == (steps + 3) * T
    assert result.info["model_calls"] == (steps + 3) * T
    # the warm start's score is kept: the replan is never worse than it
    cost = GRASPPlanner(LinearModel(), BOX, T, cfg).trajectory_cost(z0, goal, warm)
    assert (result.cost <= cost + 1e-7).all()
