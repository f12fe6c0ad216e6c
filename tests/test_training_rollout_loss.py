"""Models that hold over long open-loop rollouts: the trainer's multi-step (rollout) loss and the
MLP's output bounding."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from grasp_agent.data import ReplayBuffer
from grasp_agent.models import GRUWorldModel, MLPWorldModel, load_world_model, save_world_model
from grasp_agent.models.mlp import soft_clamp
from grasp_agent.training import FitConfig, fit_world_model
from grasp_agent.training.loop import rollout_loss
from grasp_agent.training.metrics import latent_errors

FAST = FitConfig(max_steps=300, batch_size=64, eval_every=300, eval_horizon=1, eval_size=64, val_fraction=0.0,
                 lr=3e-3, device="cpu")


def _oscillator(episodes: int, steps: int, seed: int, noise: float) -> ReplayBuffer:
    """A damped rotation ``z' = 0.99 R(0.1) z + 0.05 a`` in 2D, observed with Gaussian noise."""
    rng = np.random.default_rng(seed)
    c, s = np.cos(0.1), np.sin(0.1)
    a_mat = 0.99 * np.array([[c, -s], [s, c]])
    buf = ReplayBuffer(episodes * (steps + 1), (2,), 2)
    for _ in range(episodes):
        z, obs, acts = rng.uniform(-1, 1, 2), [], rng.uniform(-1, 1, (steps, 2))
        for a in acts:
            obs.append(z)
            z = a_mat @ z + 0.05 * a
        obs = np.array([*obs, z]) + noise * rng.standard_normal((steps + 1, 2))
        buf.add_episode(obs.astype(np.float32), acts.astype(np.float32))
    return buf


def _integrator(seed: int = 0) -> ReplayBuffer:
    """A point mass ``z' = z + 0.1 a``: 20 episodes of 30 steps from ``[-1, 1]^2``."""
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(20 * 31, (2,), 2)
    for _ in range(20):
        acts = rng.uniform(-1, 1, (30, 2))
        obs = rng.uniform(-1, 1, 2) + np.concatenate([np.zeros((1, 2)), np.cumsum(0.1 * acts, 0)])
        buf.add_episode(obs.astype(np.float32), acts.astype(np.float32))
    return buf


def _fit(buffer: ReplayBuffer, seed: int, **kwargs) -> MLPWorldModel:
    torch.manual_seed(seed)
    model = MLPWorldModel(2, 2, hidden_sizes=(32, 32), bound_outputs=kwargs.pop("bound_outputs", False))
    fit_world_model(model, buffer, dataclasses.replace(FAST, seed=seed, **kwargs))
    return model


# ---------------------------------------------------------------------------- rollout loss
@pytest.mark.slow
def test_rollout_loss_lowers_the_50_step_error() -> None:
    """Noisy observations bias a one-step model (errors in variables); a 10-step rollout loss
    does not drift. Measured 50-step open-loop MSE on noise-free held-out episodes, 300 steps of
    batch 64, hidden (32, 32), seeds 0, 1, 2 (torch 2.13 CPU):
    one-step 5.40e-3, 2.38e-3, 4.42e-3; rollout_horizon=10 4.84e-4, 3.12e-4, 3.95e-4."""
    train, test = _oscillator(40, 60, 0, noise=0.02), _oscillator(20, 60, 100, noise=0.0)
    seq = test.gather(test.valid_starts(50), 50)
    errors = {h: [latent_errors(_fit(train, seed, rollout_horizon=h), seq["obs"], seq["actions"])
                  ["multi_step_mse"] for seed in (0, 1, 2)] for h in (1, 10)}
    assert max(errors[10]) < 0.5 * min(errors[1]), errors


def test_default_horizon_trains_bit_identically() -> None:
    buf = _integrator()
    base = _fit(buf, 0, max_steps=30)
    same = _fit(buf, 0, max_steps=30, rollout_horizon=1, rollout_discount=0.5)  # discount unused at H=1
    for key, value in base.state_dict().items():
        assert torch.equal(value, same.state_dict()[key]), key
    other = _fit(buf, 0, max_steps=30, rollout_horizon=3)
    assert not torch.equal(base.net[0].weight, other.net[0].weight)


def test_rollout_loss_formula_for_the_mlp() -> None:
    """Step 1 of the rollout is the MLP's own loss; later steps are weighted by the discount."""
    buf = _integrator()
    model = _fit(buf, 0, max_steps=20)
    w = buf.gather(buf.valid_starts(3)[:16], 3)
    obs, actions = torch.as_tensor(w["obs"]), torch.as_tensor(w["actions"])
    loss, terms = rollout_loss(model, obs, actions, horizon=3, discount=0.5)
    pred = model.rollout(obs[:, 0], actions)
    err = (((pred - obs[:, 1:]) / model.delta_norm.std) ** 2).mean(dim=(0, 2))
    own = model.sequence_loss(obs, actions)[0]
    first = model.training_loss(obs[:, 0], actions[:, 0], obs[:, 1])[0]
    torch.testing.assert_close(err[0], first)
    torch.testing.assert_close(loss, (own + 0.5 * err[1] + 0.25 * err[2]) / 1.75)
    assert set(terms) >= {"loss", "own_loss", "rollout_loss"}
    loss.backward()
    assert model.net[0].weight.grad is not None


def test_rollout_loss_trains_a_sequence_model() -> None:
    model = GRUWorldModel((2,), 2, latent_dim=8, encoder_hidden=(16,), input_hidden=(16,), input_dim=8)
    result = fit_world_model(model, _integrator(), dataclasses.replace(FAST, max_steps=6, eval_every=3,
                                                                       rollout_horizon=4, seq_len=2))
    assert result.steps == 6 and np.isfinite(result.metrics["train/rollout_loss"])


@pytest.mark.parametrize("field, value", [("rollout_horizon", 0), ("rollout_discount", 0.0),
                                          ("rollout_discount", 1.5), ("rollout_horizon", 2.5)])
def test_rollout_options_are_validated(field: str, value: object) -> None:
    with pytest.raises((ValueError, TypeError), match=field):
        fit_world_model(MLPWorldModel(2, 2), _integrator(), dataclasses.replace(FAST, **{field: value}))


def test_rollout_horizon_longer_than_episodes_fails_clearly() -> None:
    with pytest.raises(ValueError, match="consecutive actions"):
        fit_world_model(MLPWorldModel(2, 2), _integrator(), dataclasses.replace(FAST, rollout_horizon=31))


# ---------------------------------------------------------------------------- output bounding
def test_soft_clamp_is_the_identity_inside_and_bounded_outside() -> None:
    low, high, pad = torch.tensor([-1.0, 0.0]), torch.tensor([1.0, 2.0]), torch.tensor([0.1, 0.5])
    inside = torch.tensor([[0.3, 1.9], [-1.0, 0.0]])
    assert torch.equal(soft_clamp(inside, low, high, pad), inside)
    far = torch.tensor([[1e30, -float("inf")], [float("inf"), 1e6]])
    out = soft_clamp(far, low, high, pad)
    assert torch.isfinite(out).all() and (out <= high + pad).all() and (out >= low - pad).all()
    y = torch.tensor([1.0, 2.0], requires_grad=True)  # slope 1 at the edge
    soft_clamp(y, low, high, pad).sum().backward()
    torch.testing.assert_close(y.grad, torch.ones(2))


def test_bounded_rollout_stays_finite_and_in_range_off_distribution() -> None:
    """1000 steps from outside the data with 20x out-of-range actions: the unbounded model
    extrapolates the integrator (measured max |z| = 5.7e4), the bounded one stays in the range."""
    buf = _integrator()
    free, bounded = _fit(buf, 0, max_steps=200), _fit(buf, 0, max_steps=200, bound_outputs=True)
    for key, value in free.state_dict().items():  # bounding leaves one-step training unchanged
        assert torch.equal(value, bounded.state_dict()[key]), key
    data = buf.transitions()
    states = np.concatenate([data["obs"], data["next_obs"]])
    torch.testing.assert_close(bounded.bound_low, torch.as_tensor(states.min(0)))
    torch.testing.assert_close(bounded.bound_high, torch.as_tensor(states.max(0)))
    z0, actions = torch.tensor([[5.0, -5.0]]), torch.full((1, 1000, 2), 20.0)
    with torch.no_grad():
        wild, tame = free.rollout(z0, actions), bounded.rollout(z0, actions)
    span = float((bounded.bound_high - bounded.bound_low).max())
    assert not torch.isfinite(wild).all() or wild.abs().max() > 100 * span
    assert torch.isfinite(tame).all()
    assert (tame <= bounded.bound_high + bounded.bound_pad + 1e-6).all()
    assert (tame >= bounded.bound_low - bounded.bound_pad - 1e-6).all()


def test_bounded_model_saves_and_loads(tmp_path) -> None:
    model = _fit(_integrator(), 0, max_steps=20, bound_outputs=True)
    save_world_model(model, tmp_path / "m.pt")
    loaded = load_world_model(tmp_path / "m.pt")
    assert loaded.get_config()["bound_outputs"] is True and loaded.get_config()["bound_margin"] == 0.1
    z, a = torch.randn(5, 2) * 10, torch.randn(5, 2) * 10
    torch.testing.assert_close(loaded.predict(z, a), model.predict(z, a))
    assert "bound_low" not in MLPWorldModel(2, 2).state_dict()  # unbounded checkpoints keep their keys
    with pytest.raises(ValueError, match="bound_margin"):
        MLPWorldModel(2, 2, bound_outputs=True, bound_margin=-0.1)
