"""GRASP's options beyond the paper: particles (best of K), the iCEM start, the polish."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from gymnasium import spaces

from grasp_agent import GRASPConfig, GRASPPlanner
from grasp_agent.planners.icem import ICEMConfig, ICEMPlanner
from tests.helpers import LinearModel, RecordingModel, reachable_goals

BOX = spaces.Box(-1.0, 1.0, (2,))
T = 8


def test_particles_run_in_one_batched_call_per_lifted_iteration():
    model = RecordingModel()
    planner = GRASPPlanner(model, BOX, T, GRASPConfig(iterations=5, use_sync=False, num_particles=4))
    z0, goal = reachable_goals(LinearModel(), 3, T)
    planner.plan(z0, goal)
    lifted = [shape for shape, _ in model.calls if len(shape) == 3 and shape[1] == T]
    assert lifted == [(12, T, 4)] * 5  # B x K problems, all T transitions, once per iteration


def test_particles_are_independent_problems():
    model = LinearModel()
    z0, goal = reachable_goals(model, 3, T)
    cfg = GRASPConfig(iterations=30, num_particles=3, sync_every=10)
    base = GRASPPlanner(model, BOX, T, cfg).plan(z0, goal)
    z0_changed = z0.clone()
    z0_changed[2] += 1.0  # another start for problem 2 only
    other = GRASPPlanner(model, BOX, T, cfg).plan(z0_changed, goal)
    assert torch.equal(base.actions[:2], other.actions[:2])
    assert not torch.equal(base.actions[2], other.actions[2])
    # the lifted loss of one particle has no gradient on another particle's variables
    planner = GRASPPlanner(model, BOX, T, cfg)
    states = torch.randn(6, T - 1, 4, requires_grad=True)
    u = torch.zeros(6, T, 2, requires_grad=True)
    dyn, goal_term = planner.lifted_loss(z0.repeat_interleave(2, 0), goal.repeat_interleave(2, 0), states, u,
                                         1.0)
    g_s, g_u = torch.autograd.grad((dyn + goal_term)[1], [states, u])
    others = [0, 2, 3, 4, 5]
    assert g_s[1].abs().sum() > 0 and g_s[others].abs().sum() == 0 and g_u[others].abs().sum() == 0


def test_best_of_k_is_chosen_by_rollout_cost():
    model = LinearModel()
    z0, goal = reachable_goals(model, 4, T)
    planner = GRASPPlanner(model, BOX, T, GRASPConfig(iterations=20, num_particles=5, particle_spread=1.0,
                                                      sync_every=10))
    result = planner.plan(z0, goal)
    costs = torch.tensor(result.info["particle_costs"])  # (B, K) full-rollout costs of every particle
    assert costs.shape == (4, 5)
    assert result.info["particle_chosen"] == costs.argmin(1).tolist()
    torch.testing.assert_close(result.cost, costs.min(1).values)
    assert len(set(map(tuple, costs.tolist()))) > 1 and (costs.std(1) > 0).all()  # particles differ


def test_icem_start_is_never_worse_than_the_search_under_the_model():
    model = LinearModel()
    z0, goal = reachable_goals(model, 6, T, seed=3)
    cfg = GRASPConfig(init="icem", iterations=40, sync_every=20, keep_best=True, icem_iterations=3,
                      icem_samples=32)
    result = GRASPPlanner(model, BOX, T, cfg).plan(z0, goal, generator=torch.Generator().manual_seed(5))
    icem = ICEMPlanner(model, BOX, T, ICEMConfig(iterations=3, num_samples=32, num_elites=25))
    search = icem.plan(z0, goal, generator=torch.Generator().manual_seed(5))  # the same draws
    assert (result.cost <= search.cost + 1e-7).all()
    # the lifted phase refines it: cost ratio 0.37-0.61 over problem seeds 3-5, both kernels
    assert result.cost.mean() < 0.8 * search.cost.mean()


def test_polish_never_raises_the_cost():
    model = LinearModel()
    z0, goal = reachable_goals(model, 4, T)
    plain = GRASPPlanner(model, BOX, T, GRASPConfig(iterations=30, sync_every=10)).plan(z0, goal)
    polish = GRASPConfig(iterations=30, sync_every=10, polish_steps=15)
    polished = GRASPPlanner(model, BOX, T, polish).plan(z0, goal)
    # mean cost ratio 0.11-0.13 over problem seeds 0-2, both kernels
    assert (polished.cost <= plain.cost + 1e-7).all() and polished.cost.mean() < 0.5 * plain.cost.mean()
    assert polished.info["model_calls"] == plain.info["model_calls"] + 16 * T


@pytest.mark.parametrize("bad", [{"num_particles": 0}, {"particle_spread": -1.0}, {"polish_steps": -1},
                                 {"init": "random"}, {"icem_samples": 1}])
def test_option_ranges_are_checked(bad):
    with pytest.raises((ValueError, TypeError)):
        GRASPPlanner(LinearModel(), BOX, T, GRASPConfig(**bad))


def test_presets_are_named_configs():
    assert GRASPConfig.preset("paper") == GRASPConfig()
    lh = GRASPConfig.preset("long_horizon", seed=3)
    assert (lh.init, lh.keep_best, lh.polish_steps, lh.seed) == ("icem", True, 10, 3)
    fast, graph = GRASPConfig.preset("graph_fast"), GRASPConfig.preset("graph")
    assert (fast.init, fast.use_sync, fast.iterations, fast.polish_steps) == ("graph", False, 30, 10)
    # the graph preset's lifted phase otherwise: states held (lr_s, no noise, no goal term)
    held = ("lr_s", "lr_a", "sigma", "gamma", "keep_best", "keep_warm_start")
    assert [getattr(fast, k) for k in held] == [getattr(graph, k) for k in held]
    # the MPC preset: graph_fast whose replans are polished only, the first plan longer
    mpc = GRASPConfig.preset("graph_mpc")
    assert (mpc.warm_iterations, mpc.polish_steps, mpc.warm_polish_steps, mpc.sync_lr) == (0, 30, 5, 0.1)
    assert dataclasses.replace(mpc, warm_iterations=None, polish_steps=10, warm_polish_steps=None,
                               sync_lr=fast.sync_lr) == fast
    with pytest.raises(ValueError, match="long_horizon"):
        GRASPConfig.preset("fast")


@pytest.mark.parametrize("entry,preset", [("grasp_graph", "graph"), ("grasp_graph_fast", "graph_fast"),
                                          ("grasp_graph_mpc", "graph_mpc"),
                                          ("grasp_long_horizon", "long_horizon")])
def test_the_planner_round_runs_the_presets_it_names(entry, preset):
    # the results pages quote planners_walldoor.yaml's entries as the presets: they must agree
    from grasp_agent.experiments.config import load_config

    spec = load_config("planners_walldoor").planners[entry]
    assert GRASPConfig(**spec.params) == GRASPConfig.preset(preset)
