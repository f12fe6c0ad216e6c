"""Properties every planner shares: seeding, bounds, robustness, reaching goals, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from grasp_agent import (
    CEMConfig,
    CEMPlanner,
    GDConfig,
    GDPlanner,
    GRASPConfig,
    GRASPPlanner,
    LatCoConfig,
    LatCoPlanner,
    MPPIConfig,
    MPPIPlanner,
)
from grasp_agent.planners import ICEMConfig, ICEMPlanner
from tests.helpers import BrokenModel, LinearModel, reachable_goals

BOX = spaces.Box(-1.0, 1.0, (2,))
FAST = {
    "grasp": (GRASPPlanner, lambda **kw: GRASPConfig(iterations=60, sync_every=20, **kw)),
    "gd": (GDPlanner, lambda **kw: GDConfig(iterations=30, **kw)),
    "cem": (CEMPlanner, lambda **kw: CEMConfig(iterations=5, num_samples=64, num_elites=8, **kw)),
    "mppi": (MPPIPlanner, lambda **kw: MPPIConfig(iterations=5, num_samples=64, **kw)),
    "latco": (LatCoPlanner, lambda **kw: LatCoConfig(iterations=40, **kw)),
    "icem": (ICEMPlanner, lambda **kw: ICEMConfig(iterations=5, num_samples=64, num_elites=8, **kw)),
}
DETERMINISTIC = {"latco"}  # no random source at all: every seed gives the same plan


@pytest.fixture(params=sorted(FAST))
def kind(request):
    return request.param


def make(kind, model=None, horizon=6, space=BOX, **kw):
    cls, cfg = FAST[kind]
    return cls(model if model is not None else LinearModel(), space, horizon, config=cfg(**kw))


def test_same_seed_same_plan_other_seed_other_plan(kind):
    extra = {"init_noise": 0.3} if kind == "gd" else {}
    z0, goal = reachable_goals(LinearModel(), 3, 6)
    a = make(kind, seed=7, **extra).plan(z0, goal).actions
    b = make(kind, seed=7, **extra).plan(z0, goal).actions
    c = make(kind, seed=8, **extra).plan(z0, goal).actions
    assert torch.equal(a, b)
    assert torch.equal(a, c) if kind in DETERMINISTIC else not torch.equal(a, c)


def test_explicit_generator_overrides_config_seed(kind):
    extra = {"init_noise": 0.3} if kind == "gd" else {}
    z0, goal = reachable_goals(LinearModel(), 2, 6)
    a = make(kind, seed=1, **extra).plan(z0, goal, generator=torch.Generator().manual_seed(5)).actions
    b = make(kind, seed=2, **extra).plan(z0, goal, generator=torch.Generator().manual_seed(5)).actions
    assert torch.equal(a, b)


def test_actions_in_bounds_and_finite_with_huge_learning_rates(kind):
    space = spaces.Box(np.array([-0.5, 0.0], np.float32), np.array([0.25, 2.0], np.float32))
    kw = {"grasp": {"lr_a": 1e3, "lr_s": 1e3, "sync_lr": 1e3}, "gd": {"lr": 1e3},
          "cem": {"init_std": 1e3}, "mppi": {"noise_std": 1e3}, "latco": {"lr_a": 1e3, "lr_s": 1e3},
          "icem": {"init_std": 1e3}}[kind]
    z0, goal = reachable_goals(LinearModel(), 4, 6)
    result = make(kind, space=space, **kw).plan(z0, goal * 100)
    low, high = torch.as_tensor(space.low), torch.as_tensor(space.high)
    assert torch.isfinite(result.actions).all()
    assert torch.all(result.actions >= low) and torch.all(result.actions <= high)


def test_actions_finite_when_the_model_returns_nan_and_inf(kind):
    z0, goal = reachable_goals(LinearModel(), 3, 6)
    result = make(kind, model=BrokenModel()).plan(z0, goal, init_actions=torch.full((3, 6, 2), 0.9))
    assert torch.isfinite(result.actions).all()
    assert torch.all(result.actions.abs() <= 1.0)
    assert not torch.isnan(result.cost).any()


def test_reaches_goal_on_a_linear_system(kind):
    model = LinearModel()
    z0, goal = reachable_goals(model, 8, 10, seed=3)
    cls, _ = FAST[kind]
    cfg = {"grasp": GRASPConfig(), "gd": GDConfig(iterations=200), "cem": CEMConfig(),
           "mppi": MPPIConfig(iterations=30), "latco": LatCoConfig(iterations=400, keep_best=True),
           "icem": ICEMConfig()}[kind]
    result = cls(model, BOX, 10, config=cfg).plan(z0, goal)
    start_rms = ((z0 - goal) ** 2).mean(-1).sqrt()
    assert torch.all(start_rms > 0.4)
    # "reached": final RMS distance to the goal below 0.12 latent units for every problem. Worst
    # problem's final RMS, measured over reachable_goals seeds 3-5 x ATEN_CPU_CAPABILITY default/best
    # x 1/2 threads: GRASP 0.079-0.100 (the former bound 0.1 sat inside it), LatCo <= 0.039, iCEM
    # <= 0.034, MPPI <= 0.024, CEM <= 0.018, GD <= 0.011; kernel/thread spread <= 3e-6
    assert torch.all(result.cost.sqrt() < 0.12), result.cost.sqrt()
    # the reported cost is the true rollout cost of the returned actions
    rolled = model.rollout(z0, result.actions)[:, -1]
    torch.testing.assert_close(result.cost, ((rolled - goal) ** 2).mean(-1))


def test_chunked_batches_match_one_chunk(kind):
    z0, goal = reachable_goals(LinearModel(), 5, 6)
    extra = {"init_noise": 0.0} if kind == "gd" else {}
    whole = make(kind, max_batch=64, **extra).plan(z0, goal)
    chunked = make(kind, max_batch=2, **extra).plan(z0, goal)
    assert chunked.actions.shape == whole.actions.shape == (5, 6, 2)
    if kind in ("gd", "latco"):  # deterministic per problem: identical
        torch.testing.assert_close(chunked.actions, whole.actions)
    assert chunked.info["chunks"] == 3


def test_result_shapes_and_info(kind):
    z0, goal = reachable_goals(LinearModel(), 2, 6)
    r = make(kind).plan(z0, goal)
    assert r.actions.shape == (2, 6, 2) and r.states.shape == (2, 6, 4) and r.cost.shape == (2,)
    assert r.info["model_calls"] > 0 and r.info["wall_time_s"] > 0 and r.info["history"]
    assert r.info["cpu_time_s"] > 0


@pytest.mark.parametrize(
    "z0, goal, init, exc, match",
    [
        (np.zeros((2, 4)), torch.zeros(2, 4), None, TypeError, "z0 must be a torch.Tensor"),
        (torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 4), None, TypeError, "floating-point"),
        (torch.zeros(4), torch.zeros(2, 4), None, ValueError, r"shape \(B, latent_dim=4\)"),
        (torch.zeros(2, 3), torch.zeros(2, 3), None, ValueError, "latent_dim=4"),
        (torch.full((2, 4), float("nan")), torch.zeros(2, 4), None, ValueError, "NaN"),
        (torch.zeros(2, 4), torch.full((2, 4), float("inf")), None, ValueError, "z_goal contains NaN"),
        (torch.zeros(2, 4), torch.zeros(3, 4), None, ValueError, "batch sizes differ"),
        (torch.zeros(2, 4), torch.zeros(2, 4), torch.zeros(2, 5, 2), ValueError, "init_actions must have"),
        (torch.zeros(2, 4), torch.zeros(2, 4), torch.full((2, 6, 2), float("nan")), ValueError, "NaN"),
    ],
)
def test_bad_inputs_raise_clear_errors(kind, z0, goal, init, exc, match):
    with pytest.raises(exc, match=match):
        make(kind).plan(z0, goal, init_actions=init)


@pytest.mark.parametrize(
    "args, exc, match",
    [
        ({"horizon": 0}, ValueError, "horizon must be an int >= 1"),
        ({"horizon": 2.5}, ValueError, "horizon"),
        ({"space": spaces.Discrete(3)}, TypeError, "DiscreteToBoxWrapper"),
        ({"space": spaces.Box(-1, 1, (3,))}, ValueError, "action_dim is 2"),
        ({"space": spaces.Box(-np.inf, np.inf, (2,))}, ValueError, "finite"),
        ({"model": object()}, TypeError, "grasp_agent.WorldModel"),
    ],
)
def test_bad_construction_raises(kind, args, exc, match):
    cls, cfg = FAST[kind]
    kwargs = {"model": LinearModel(), "space": BOX, "horizon": 6, **args}
    with pytest.raises(exc, match=match):
        cls(kwargs["model"], kwargs["space"], kwargs["horizon"], config=cfg())


def test_wrong_config_type_is_rejected():
    with pytest.raises(TypeError, match="expects a GRASPConfig"):
        GRASPPlanner(LinearModel(), BOX, 5, config=GDConfig())
    with pytest.raises(ValueError, match="iterations"):
        GRASPPlanner(LinearModel(), BOX, 5, config=GRASPConfig(iterations=0))
    with pytest.raises(ValueError, match="num_elites"):
        CEMPlanner(LinearModel(), BOX, 5, config=CEMConfig(num_samples=4, num_elites=8))


def test_planning_leaves_model_weights_and_grad_flags_untouched(kind):
    from grasp_agent import MLPWorldModel

    model = MLPWorldModel(4, 2, hidden_sizes=(16,)).train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    z0, goal = reachable_goals(LinearModel(), 2, 6)
    make(kind, model=model).plan(z0, goal)
    assert model.training
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k])


def test_best_so_far_keeps_strictly_lower_finite_costs_only():
    from grasp_agent.planners.base import BestSoFar

    best = BestSoFar(torch.zeros(3, 2, 1))
    mask = best.offer(torch.ones(3, 2, 1), torch.tensor([1.0, float("nan"), float("inf")]))
    assert mask.tolist() == [True, False, False]
    best.offer(torch.full((3, 2, 1), 2.0), torch.tensor([1.0, 5.0, 0.5]))  # a tie does not replace
    assert best.u[:, 0, 0].tolist() == [1.0, 2.0, 2.0] and best.cost.tolist() == [1.0, 5.0, 0.5]
