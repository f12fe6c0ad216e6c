"""EnsembleWorldModel (K batched MLP members, disagreement) and the DisagreementPenalty objective."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
import torch

from grasp_agent.data import ReplayBuffer
from grasp_agent.models import EnsembleWorldModel, MLPWorldModel, load_world_model, make_world_model
from grasp_agent.models.io import load_into, save_world_model
from grasp_agent.planners import CEMConfig, CEMPlanner, GRASPConfig, GRASPPlanner, LatentGoal, Return
from grasp_agent.planners.penalties import DisagreementPenalty
from grasp_agent.training import FitConfig, fit_world_model

SPACE = gym.spaces.Box(-1.0, 1.0, (2,))
FIT = FitConfig(max_steps=400, batch_size=64, eval_every=400, eval_horizon=1, eval_size=64, val_fraction=0.0,
                lr=3e-3, device="cpu")


def _point_mass(seed: int = 0) -> ReplayBuffer:
    """``z' = z + 0.1 a``: 40 random walks of 20 steps from ``[-1, 1]^2`` (data in about +-1.5)."""
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(40 * 21, (2,), 2)
    for _ in range(40):
        acts = rng.uniform(-1, 1, (20, 2))
        obs = rng.uniform(-1, 1, 2) + np.concatenate([np.zeros((1, 2)), np.cumsum(0.1 * acts, 0)])
        buf.add_episode(obs.astype(np.float32), acts.astype(np.float32))
    return buf


def _small(**kwargs) -> EnsembleWorldModel:
    return EnsembleWorldModel(2, 2, num_members=kwargs.pop("num_members", 5), hidden_sizes=(32, 32), **kwargs)


@pytest.fixture(scope="module")
def trained() -> EnsembleWorldModel:
    """Trained once per module; one thread, as conftest's per-test fixture (which runs after this)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = _small(seed=0)
        fit_world_model(model, _point_mass(), FIT)
    finally:
        torch.set_num_threads(previous)
    return model


def test_predict_is_the_mean_of_the_batched_members() -> None:
    model = _small(seed=3)
    z, a = torch.randn(4, 6, 2), torch.randn(4, 6, 2)
    members = model.predict_members(z, a)
    assert members.shape == (5, 4, 6, 2) and model.disagreement(z, a).shape == (4, 6)
    torch.testing.assert_close(model.predict(z, a), members.mean(0))
    for k in range(5):  # member k is an MLP with the k-th slice of the stacked weights
        x = torch.cat([z, a], -1)
        for i, (w, b) in enumerate(zip(model.net.weights, model.net.biases)):
            x = x @ w[k] + b[k, 0]
            x = torch.nn.functional.silu(x) if i < len(model.net.weights) - 1 else x
        torch.testing.assert_close(members[k], z + x)
    assert not torch.allclose(members[0], members[1])  # members are initialised differently
    assert model.predict(torch.zeros(2), torch.zeros(2)).shape == (2,)  # no batch dims
    assert model.predict(torch.zeros(3, 1, 2), torch.zeros(1, 7, 2)).shape == (3, 7, 2)  # broadcasting


def test_disagreement_is_higher_off_distribution(trained: EnsembleWorldModel) -> None:
    """Trained on states in about [-1.5, 1.5]^2. Measured mean disagreement (seed 0): 9.4e-5 on
    [-1, 1]^2, 2.0e-2 on the square of radius 3 (210x), 1.2e-1 at radius 5."""
    gen = torch.Generator().manual_seed(1)
    a = torch.rand(1000, 2, generator=gen) * 2 - 1
    on = torch.rand(1000, 2, generator=gen) * 2 - 1
    with torch.no_grad():
        d_on = trained.disagreement(on, a).mean()
        off = [trained.disagreement(on / on.abs().max(1, keepdim=True).values * r, a).mean() for r in (3, 5)]
    assert off[0] > 20 * d_on and off[1] > off[0], (d_on, off)


def test_penalty_moves_the_plan_away_from_disagreement(trained: EnsembleWorldModel) -> None:
    """A goal outside the data: the plain plan runs to the edge of what 20 steps reach (measured
    final x = 2.47, summed disagreement 1.4e-2), the penalised one (weight 1000) stops short where
    the members still agree (x = 1.49, 5.1e-4)."""
    z0, goal = torch.tensor([[0.5, 0.0]]), torch.tensor([[3.0, 0.0]])

    def plan(weight: float) -> tuple[float, float]:
        objective = DisagreementPenalty(LatentGoal(), trained, weight)
        planner = CEMPlanner(trained, SPACE, 20, CEMConfig(seed=0), objective=objective)
        actions = planner.plan(z0, goal).actions
        with torch.no_grad():
            states = trained.rollout(z0, actions)
            prev = torch.cat([z0[:, None], states[:, :-1]], 1)
            return float(states[0, -1, 0]), float(trained.disagreement(prev, actions).sum())

    (x_free, d_free), (x_pen, d_pen) = plan(0.0), plan(1000.0)
    assert x_pen < x_free - 0.3 and d_pen < 0.5 * d_free, (x_free, d_free, x_pen, d_pen)


def test_penalty_works_with_gradient_planners_and_delegates(trained: EnsembleWorldModel) -> None:
    z0, goal = torch.tensor([[0.5, 0.0]] * 2), torch.tensor([[3.0, 0.0]] * 2)
    objective = DisagreementPenalty(LatentGoal(), trained, 1000.0)
    planner = GRASPPlanner(trained, SPACE, 10, GRASPConfig(iterations=30, seed=0), objective=objective)
    result = planner.plan(z0, goal)
    assert result.actions.shape == (2, 10, 2) and torch.isfinite(result.cost).all()
    torch.testing.assert_close(objective.pinned_state(goal), goal)  # the goal stays pinned
    assert objective.target_dim(2) == 2 and objective.differentiable
    z, a = torch.randn(2, 10, 2), torch.rand(2, 10, 2)
    inner = LatentGoal()
    zero = DisagreementPenalty(inner, trained, 0.0)
    torch.testing.assert_close(zero.step_costs(z, a, z, goal), inner.step_costs(z, a, z, goal))
    with torch.no_grad():
        extra = objective.trajectory_cost(z0, z, a, goal) - inner.trajectory_cost(z0, z, a, goal)
        prev = torch.cat([z0[:, None], z[:, :-1]], 1)
        torch.testing.assert_close(extra, 1000.0 * trained.disagreement(prev, a).sum(-1))
    reward = DisagreementPenalty(Return(lambda z, a, zn: -zn.pow(2).sum(-1)), trained, 1.0)
    assert reward.target_dim(2) == 0 and reward.pinned_state(goal) is None and reward.running
    assert objective.describe()["objective"]["kind"] == "LatentGoal"


def _count_member_calls(model: EnsembleWorldModel) -> list[int]:
    """A one-element counter of the members' batched forward calls (a hook on ``model.net``)."""
    calls = [0]
    model.net.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


def test_penalised_rollout_cost_is_one_pass_with_the_two_pass_values() -> None:
    model = _small(seed=4)
    calls = _count_member_calls(model)
    z0, goal = torch.randn(3, 2), torch.randn(3, 2)
    a = (torch.rand(3, 8, 2) * 2 - 1).requires_grad_(True)
    objective = DisagreementPenalty(LatentGoal(), model, 2.0)
    states, cost = objective.rollout_cost(model, z0, a, goal)
    assert calls[0] == 8  # one member call per step: states and disagreement from the same call
    (grad,) = torch.autograd.grad(cost.sum(), a)
    ref_states = model.rollout(z0, a)  # the two-pass reference: rollout, then disagreement again
    ref_cost = objective.trajectory_cost(z0, ref_states, a, goal)
    (ref_grad,) = torch.autograd.grad(ref_cost.sum(), a)
    torch.testing.assert_close(states, ref_states)
    torch.testing.assert_close(cost, ref_cost)
    torch.testing.assert_close(grad, ref_grad)
    assert (cost > LatentGoal().trajectory_cost(z0, states, a, goal)).all()
    calls[0] = 0
    other = _small(seed=5)  # another model than the penalised one: rollout, then the penalty
    fallback = objective.rollout_cost(other, z0, a, goal)[1]
    assert calls[0] == 1  # the penalised model's disagreement, in one batched call over (B, T)
    torch.testing.assert_close(fallback, objective.trajectory_cost(z0, other.rollout(z0, a), a, goal))


@pytest.mark.parametrize("planner", ["icem", "grasp"])
def test_penalised_planners_call_the_members_as_often_as_unpenalised(planner: str) -> None:
    """The penalty rides on the planner's own member calls: iCEM's rollouts, and GRASP's sync,
    polish and best-of choice (with ``gamma = 0`` the lifted steps skip the dense term). Before
    the one-pass rollout cost: 36 and 238 calls against 31 and 189."""
    from grasp_agent.planners import ICEMConfig, ICEMPlanner

    model = _small(seed=6)
    calls = _count_member_calls(model)
    z0, goal = torch.zeros(2, 2), torch.ones(2, 2)
    counts = []
    for objective in (LatentGoal(), DisagreementPenalty(LatentGoal(), model, 1.0)):
        if planner == "icem":
            p = ICEMPlanner(model, SPACE, 6, ICEMConfig(iterations=3, num_samples=32, seed=0),
                            objective=objective)
        else:
            config = GRASPConfig(iterations=20, sync_every=10, gamma=0.0, sigma=0.0, keep_best=True,
                                 polish_steps=3, seed=0)
            p = GRASPPlanner(model, SPACE, 6, config, objective=objective)
        calls[0] = 0
        p.plan(z0, goal)
        counts.append(calls[0])
    assert counts[1] == counts[0] + 1 and counts[0] > 10, counts  # + 1: the plan's objective probe


def test_penalty_rejects_bad_arguments(trained: EnsembleWorldModel) -> None:
    with pytest.raises(TypeError, match="disagreement"):
        DisagreementPenalty(LatentGoal(), MLPWorldModel(2, 2), 1.0)
    with pytest.raises(TypeError, match="Objective"):
        DisagreementPenalty("goal", trained, 1.0)
    with pytest.raises(ValueError, match="weight"):
        DisagreementPenalty(LatentGoal(), trained, -1.0)


def test_training_is_seeded_and_bootstrapped() -> None:
    buf = _point_mass()
    runs = []
    for _ in range(2):
        model = _small(seed=7)
        fit_world_model(model, buf, FitConfig(**{**FIT.__dict__, "max_steps": 20}))
        runs.append(model)
    for key, value in runs[0].state_dict().items():
        assert torch.equal(value, runs[1].state_dict()[key]), key
    assert int(runs[0].bootstrap_step) == 20
    model = _small(seed=7)
    model.fit_normalizers(*(torch.as_tensor(buf.transitions()[k]) for k in ("obs", "actions", "next_obs")))
    obs, act, nxt = (torch.as_tensor(buf.transitions()[k][:32]) for k in ("obs", "actions", "next_obs"))
    model.train()
    first, second = model.training_loss(obs, act, nxt)[0], model.training_loss(obs, act, nxt)[0]
    assert first != second  # fresh bootstrap weights every step
    model.eval()
    assert model.training_loss(obs, act, nxt)[0] == model.training_loss(obs, act, nxt)[0]


def test_save_load_and_registry(trained: EnsembleWorldModel, tmp_path) -> None:
    save_world_model(trained, tmp_path / "ens.pt")
    loaded = load_world_model(tmp_path / "ens.pt")
    assert isinstance(loaded, EnsembleWorldModel) and loaded.get_config() == trained.get_config()
    z, a = torch.randn(9, 2) * 3, torch.rand(9, 2)
    with torch.no_grad():
        torch.testing.assert_close(loaded.predict_members(z, a), trained.predict_members(z, a))
        torch.testing.assert_close(loaded.disagreement(z, a), trained.disagreement(z, a))
    fresh = _small(seed=0)
    load_into(fresh, tmp_path / "ens.pt")
    torch.testing.assert_close(fresh.predict(z, a), loaded.predict(z, a))
    built = make_world_model("ensemble", SPACE, SPACE, action_block=2, num_members=3, hidden_sizes=(8,),
                             bound_outputs=True)
    assert isinstance(built, EnsembleWorldModel) and built.action_dim == 4 and built.num_members == 3
    with pytest.raises(ValueError, match="state observations"):
        make_world_model("ensemble", gym.spaces.Box(0, 255, (64, 64, 3), np.uint8), SPACE)


def test_bounded_ensemble_stays_in_range(trained: EnsembleWorldModel) -> None:
    model = _small(seed=0, bound_outputs=True)
    model.load_state_dict(trained.state_dict())
    with torch.no_grad():
        states = model.rollout(torch.tensor([[5.0, -5.0]]), torch.full((1, 500, 2), 20.0))
        free = trained.rollout(torch.tensor([[5.0, -5.0]]), torch.full((1, 500, 2), 20.0))
    assert torch.isfinite(states).all() and (states <= model.bound_high + model.bound_pad + 1e-6).all()
    assert free.abs().max() > 10 * states.abs().max()
    far, a = torch.full((3, 2), 5.0), torch.zeros(3, 2)  # the bound does not hide the disagreement
    torch.testing.assert_close(model.disagreement(far, a), trained.disagreement(far, a))
    assert (model.disagreement(far, a) > 10 * model.disagreement(torch.zeros(3, 2), a)).all()


@pytest.mark.parametrize("kwargs, match", [({"num_members": 1}, "num_members"), ({"seed": -1}, "seed"),
                                           ({"bound_margin": -1.0}, "bound_margin"),
                                           ({"activation": "nope"}, "activation"),
                                           ({"action_encoding": "x"}, "action_encoding")])
def test_constructor_checks(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _small(**kwargs)


def test_interrupted_rollout_training_resumes_to_the_same_weights(tmp_path) -> None:
    """The bootstrap step counter and the rollout loss survive a checkpoint and resume."""
    buf = _point_mass()
    cfg = FitConfig(**{**FIT.__dict__, "max_steps": 30, "eval_every": 10, "rollout_horizon": 4,
                       "rollout_discount": 0.8})
    whole = _small(seed=2)
    fit_world_model(whole, buf, cfg)
    ckpt = tmp_path / "train.pt"
    fit_world_model(_small(seed=2), buf, FitConfig(**{**cfg.__dict__, "max_steps": 10}), checkpoint_path=ckpt)
    resumed = _small(seed=2)
    with torch.no_grad():  # other weights: the checkpoint overwrites them
        for p in resumed.parameters():
            p.zero_()
    fit_world_model(resumed, buf, cfg, checkpoint_path=ckpt)
    assert int(resumed.bootstrap_step) == 30
    for key, value in whole.state_dict().items():
        torch.testing.assert_close(resumed.state_dict()[key], value, rtol=0, atol=0)
