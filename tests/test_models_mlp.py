"""MLP world model: interface, training, save/load round trip and mismatch errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

import grasp_agent
from grasp_agent.data import ReplayBuffer
from grasp_agent.models import MLPWorldModel, load_into, load_world_model, save_world_model
from grasp_agent.models.io import checkpoint_dict
from grasp_agent.training import FitConfig, fit_world_model

# i.i.d. transitions are one-step episodes: multi-step metrics over one step (eval_horizon=1)
FIT = FitConfig(max_steps=40, batch_size=256, eval_every=10, eval_horizon=1, eval_size=256, patience=100,
                device="cpu")


def _data(n: int = 2000, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    obs = torch.rand(n, 3, generator=gen) * 2 - 1
    act = torch.rand(n, 2, generator=gen) * 2 - 1
    nxt = obs + 0.1 * torch.cat([act, act[:, :1] * act[:, 1:]], dim=1) + 0.05 * torch.sin(3 * obs)
    return obs, act, nxt


def _buffer(obs: torch.Tensor, act: torch.Tensor, nxt: torch.Tensor) -> ReplayBuffer:
    """The transitions ``(N, D), (N, A), (N, D)`` as N one-step episodes of a ReplayBuffer."""
    buf = ReplayBuffer(2 * len(obs), obs.shape[1:], act.shape[1])
    for o, a, n in zip(obs.numpy(), act.numpy(), nxt.numpy()):
        buf.add_episode(np.stack([o, n]), a[None])
    return buf


def _history(result) -> dict:
    """The training history without its wall-clock entries."""
    return {k: v for k, v in result.history.items() if not k.startswith("time/")}


def test_world_model_is_abstract_and_enforced():
    class Incomplete(grasp_agent.WorldModel):
        latent_dim, action_dim = 2, 2

        def encode(self, obs):
            return obs

    with pytest.raises(TypeError, match="predict"):
        Incomplete()


def test_predict_batches_over_leading_dims_and_rollout_matches():
    model = MLPWorldModel(3, 2, hidden_sizes=(32,))
    z, a = torch.randn(4, 5, 3), torch.randn(4, 5, 2)
    out = model.predict(z, a)
    assert out.shape == (4, 5, 3)
    torch.testing.assert_close(out[2, 3], model.predict(z[2, 3], a[2, 3]))
    states = model.rollout(z[:, 0], a)
    assert states.shape == (4, 5, 3)
    torch.testing.assert_close(states[:, 1], model.predict(model.predict(z[:, 0], a[:, 0]), a[:, 1]))


def test_encode_rejects_wrong_observation_size():
    with pytest.raises(ValueError, match="obs_dim=3"):
        MLPWorldModel(3, 2).encode(torch.zeros(4, 5))


def test_training_learns_the_dynamics():
    obs, act, nxt = _data()
    model = MLPWorldModel(3, 2, hidden_sizes=(64, 64))
    delta = nxt - obs
    delta_var = ((delta - delta.mean(0)) ** 2).mean().item()
    cfg = dataclasses.replace(FIT, max_steps=800, eval_every=100, lr=3e-3)
    result = fit_world_model(model, _buffer(obs, act, nxt), cfg)
    after = ((model.predict(obs, act) - nxt) ** 2).mean().item()
    # explains > 98% of the variance of the step; measured over seeds 0-2 x ATEN_CPU_CAPABILITY
    # default/best x 1/2 threads: after = 2.6e-6 to 5.0e-6 against the bound 8.0e-5
    assert after < 0.02 * delta_var
    assert result.history["val/loss"][-1] <= result.history["val/loss"][0]
    assert result.best_val_loss == pytest.approx(min(result.history["val/loss"]), rel=1e-3)


def test_training_is_reproducible_from_the_seed():
    obs, act, nxt = _data(500)
    buf = _buffer(obs, act, nxt)
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = MLPWorldModel(3, 2, hidden_sizes=(16,))
        fit_world_model(model, buf, dataclasses.replace(FIT, seed=3))
        outs.append(model.predict(obs[:10], act[:10]))
    torch.testing.assert_close(outs[0], outs[1], rtol=0, atol=0)


def test_training_rejects_bad_data():
    obs, act, nxt = _data(100)
    with pytest.raises(ValueError, match="model.action_dim=2 but the buffer has 1-dim actions"):
        fit_world_model(MLPWorldModel(3, 2), _buffer(obs, act[:, :1], nxt), FIT)
    bad = obs.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="observations contain NaN"):  # refused when stored
        _buffer(bad, act, nxt)


def _fresh(seed: int = 0) -> MLPWorldModel:
    torch.manual_seed(seed)
    return MLPWorldModel(3, 2, hidden_sizes=(16,))


def test_interrupted_training_resumes_from_its_checkpoint_to_the_same_weights(tmp_path):
    obs, act, nxt = _data(600)
    buf = _buffer(obs, act, nxt)
    cfg = dataclasses.replace(FIT, max_steps=60, batch_size=64, seed=3)
    whole = _fresh()
    ref = fit_world_model(whole, buf, cfg)
    ckpt = tmp_path / "train.pt"
    part = fit_world_model(_fresh(), buf, dataclasses.replace(cfg, max_steps=20), checkpoint_path=ckpt)
    assert part.steps == 20 and ckpt.exists()
    resumed_model = _fresh(seed=99)  # other initial weights: the checkpoint must overwrite them
    resumed = fit_world_model(resumed_model, buf, cfg, checkpoint_path=ckpt)
    assert resumed.steps == 60 and _history(resumed) == _history(ref)
    for key, value in whole.state_dict().items():
        torch.testing.assert_close(resumed_model.state_dict()[key], value, rtol=0, atol=0)
    # a finished checkpoint resumes to the same result without training again
    again = _fresh(seed=5)
    assert _history(fit_world_model(again, buf, cfg, checkpoint_path=ckpt)) == _history(ref)
    torch.testing.assert_close(again.predict(obs, act), whole.predict(obs, act), rtol=0, atol=0)
    with pytest.raises(ValueError, match="differently configured.*hidden_sizes"):
        fit_world_model(MLPWorldModel(3, 2, hidden_sizes=(8,)), buf, cfg, checkpoint_path=ckpt)


def test_save_load_round_trip_is_exact(tmp_path):
    obs, act, nxt = _data(300)
    model = MLPWorldModel(3, 2, hidden_sizes=(16, 16))
    fit_world_model(model, _buffer(obs, act, nxt), dataclasses.replace(FIT, max_steps=20))
    path = tmp_path / "wm.pt"
    save_world_model(model, path, extra={"env_id": "x"})
    loaded = load_world_model(path)
    assert isinstance(loaded, MLPWorldModel)
    torch.testing.assert_close(loaded.predict(obs, act), model.predict(obs, act), rtol=0, atol=0)
    fresh = MLPWorldModel(3, 2, hidden_sizes=(16, 16))
    assert load_into(fresh, path) == {"env_id": "x"}
    torch.testing.assert_close(fresh.predict(obs, act), model.predict(obs, act), rtol=0, atol=0)
    assert not list(tmp_path.glob("*.tmp"))


def test_loading_a_differently_shaped_checkpoint_fails_clearly(tmp_path):
    path = tmp_path / "wm.pt"
    save_world_model(MLPWorldModel(3, 2, hidden_sizes=(16,)), path)
    with pytest.raises(ValueError, match=r"hidden_sizes: checkpoint=\[16\] model=\[32\]"):
        load_into(MLPWorldModel(3, 2, hidden_sizes=(32,)), path)
    with pytest.raises(ValueError, match="obs_dim"):
        load_into(MLPWorldModel(4, 2, hidden_sizes=(16,)), path)
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(Exception, match="junk.pt|checkpoint|pickle|load"):
        load_world_model(tmp_path / "junk.pt")
    with pytest.raises(FileNotFoundError, match="no world-model checkpoint"):
        load_world_model(tmp_path / "missing.pt")


def test_a_checkpoint_from_before_a_kwarg_existed_loads_with_its_default(tmp_path):
    obs, act, _ = _data(50)
    model = MLPWorldModel(3, 2, hidden_sizes=(16,))
    ckpt = checkpoint_dict(model)
    del ckpt["config"]["activation"]  # an older version of the class had no such kwarg
    path = tmp_path / "old.pt"
    torch.save(ckpt, path)
    fresh = MLPWorldModel(3, 2, hidden_sizes=(16,))
    load_into(fresh, path)  # the missing kwarg means the default, as load_world_model reads it
    torch.testing.assert_close(fresh.predict(obs, act), model.predict(obs, act), rtol=0, atol=0)
    with pytest.raises(ValueError, match="activation: checkpoint='silu' model='tanh'"):
        load_into(MLPWorldModel(3, 2, hidden_sizes=(16,), activation="tanh"), path)


def test_loading_into_another_class_fails_clearly(tmp_path):
    class Other(MLPWorldModel):
        pass

    path = tmp_path / "wm.pt"
    save_world_model(MLPWorldModel(3, 2), path)
    with pytest.raises(ValueError, match="holds a .*MLPWorldModel"):
        load_into(Other(3, 2), path)


def test_straight_through_onehot_is_hard_forward_and_soft_backward():
    from grasp_agent.models.mlp import straight_through_onehot

    scores = torch.tensor([[0.2, 0.9, -0.5, 0.1], [0.3, 0.3, 0.1, -1.0]], requires_grad=True)
    out = straight_through_onehot(scores, 0.25)
    hard = torch.tensor([[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0]])  # ties go to the lowest index
    assert torch.equal(out.detach(), hard)
    weights = torch.tensor([1.0, -2.0, 0.5, 3.0])
    (out * weights).sum().backward()
    soft = torch.softmax(scores.detach() / 0.25, -1)
    expected = soft * (weights - (soft * weights).sum(-1, keepdim=True)) / 0.25  # softmax Jacobian
    assert torch.allclose(scores.grad, expected, atol=1e-6)


def test_onehot_action_encoding_learns_discrete_moves_exactly():
    gen = torch.Generator().manual_seed(0)
    n = 3000
    obs = torch.rand(n, 2, generator=gen)
    scores = torch.rand(n, 4, generator=gen) * 2 - 1
    moves = torch.tensor([[0.1, 0.0], [0.0, 0.1], [-0.1, 0.0], [0.0, -0.1]])
    nxt = obs + moves[scores.argmax(-1)]
    errors = {}
    buf = _buffer(obs, scores, nxt)
    cfg = dataclasses.replace(FIT, max_steps=350, eval_every=50, lr=3e-3)
    for enc in ("continuous", "onehot"):
        model = MLPWorldModel(2, 4, hidden_sizes=(64, 64), action_encoding=enc)
        fit_world_model(model, buf, cfg)
        with torch.no_grad():
            errors[enc] = float((model.predict(obs[:500], scores[:500]) - nxt[:500]).abs().max())
    # the raw MLP blurs near-ties; measured over seeds 0-2 x kernels x 1/2 threads: onehot
    # 0.0009-0.0020, continuous 0.102-0.129
    assert errors["onehot"] < 0.01 < errors["continuous"]
    model = MLPWorldModel(2, 4, action_encoding="onehot")
    a = torch.zeros(1, 4, requires_grad=True)
    model.predict(torch.zeros(1, 2), a).sum().backward()
    assert a.grad.abs().sum() > 0  # planners still get a gradient in score space
    with pytest.raises(ValueError, match="action_encoding"):
        MLPWorldModel(2, 4, action_encoding="gumbel")
