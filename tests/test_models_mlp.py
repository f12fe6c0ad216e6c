"""MLP world model: interface, training, save/load round trip and mismatch errors."""

from __future__ import annotations

import pytest
import torch

import grasp_agent
from grasp_agent.models import MLPWorldModel, load_into, load_world_model, save_world_model
from grasp_agent.models.io import checkpoint_dict
from grasp_agent.training import TrainConfig, train_world_model


def _data(n: int = 2000, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    obs = torch.rand(n, 3, generator=gen) * 2 - 1
    act = torch.rand(n, 2, generator=gen) * 2 - 1
    nxt = obs + 0.1 * torch.cat([act, act[:, :1] * act[:, 1:]], dim=1) + 0.05 * torch.sin(3 * obs)
    return obs, act, nxt


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
    result = train_world_model(model, obs, act, nxt, TrainConfig(epochs=100, lr=3e-3, seed=0, device="cpu"))
    after = ((model.predict(obs, act) - nxt) ** 2).mean().item()
    assert after < 0.02 * delta_var  # explains > 98% of the variance of the step
    assert result.history["val/loss"][-1] <= result.history["val/loss"][0]
    assert result.best_val_loss == min(result.history["val/loss"])


def test_training_is_reproducible_from_the_seed():
    obs, act, nxt = _data(500)
    outs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = MLPWorldModel(3, 2, hidden_sizes=(16,))
        train_world_model(model, obs, act, nxt, TrainConfig(epochs=3, seed=3, device="cpu"))
        outs.append(model.predict(obs[:10], act[:10]))
    torch.testing.assert_close(outs[0], outs[1])


def test_training_rejects_bad_data():
    obs, act, nxt = _data(100)
    model = MLPWorldModel(3, 2)
    with pytest.raises(ValueError, match="actions must have shape"):
        train_world_model(model, obs, act[:, :1], nxt)
    bad = obs.clone()
    bad[3, 1] = float("nan")
    with pytest.raises(ValueError, match="obs contains NaN"):
        train_world_model(model, bad, act, nxt)


def _fresh(seed: int = 0) -> MLPWorldModel:
    torch.manual_seed(seed)
    return MLPWorldModel(3, 2, hidden_sizes=(16,))


def test_interrupted_training_resumes_from_its_checkpoint_to_the_same_weights(tmp_path):
    obs, act, nxt = _data(600)
    cfg = TrainConfig(epochs=6, batch_size=64, seed=3, device="cpu", patience=100)
    whole = _fresh()
    ref = train_world_model(whole, obs, act, nxt, cfg)
    ckpt = tmp_path / "train.pt"
    first = _fresh()
    part = train_world_model(first, obs, act, nxt, TrainConfig(**{**vars(cfg), "epochs": 2}), checkpoint=ckpt)
    assert part.epochs == 2 and ckpt.exists()
    resumed_model = _fresh(seed=99)  # other initial weights: the checkpoint must overwrite them
    resumed = train_world_model(resumed_model, obs, act, nxt, cfg, checkpoint=ckpt)
    assert resumed.epochs == 6 and resumed.history == ref.history
    for key, value in whole.state_dict().items():
        torch.testing.assert_close(resumed_model.state_dict()[key], value, rtol=0, atol=0)
    # a finished checkpoint resumes to the same result without training again
    again = _fresh(seed=5)
    assert train_world_model(again, obs, act, nxt, cfg, checkpoint=ckpt).history == ref.history
    torch.testing.assert_close(again.predict(obs, act), whole.predict(obs, act), rtol=0, atol=0)


def test_training_checkpoint_for_other_data_or_model_is_refused(tmp_path):
    obs, act, nxt = _data(300)
    cfg = TrainConfig(epochs=1, seed=0, device="cpu")
    ckpt = tmp_path / "train.pt"
    train_world_model(_fresh(), obs, act, nxt, cfg, checkpoint=ckpt)
    with pytest.raises(ValueError, match="other data or settings.*data_sha256.*delete it"):
        train_world_model(_fresh(), obs + 1.0, act, nxt, cfg, checkpoint=ckpt)
    with pytest.raises(ValueError, match="other data or settings.*lr"):
        other_lr = TrainConfig(epochs=1, lr=0.5, device="cpu")
        train_world_model(_fresh(), obs, act, nxt, other_lr, checkpoint=ckpt)
    with pytest.raises(ValueError, match="differently configured.*hidden_sizes"):
        train_world_model(MLPWorldModel(3, 2, hidden_sizes=(8,)), obs, act, nxt, cfg, checkpoint=ckpt)


def test_save_load_round_trip_is_exact(tmp_path):
    obs, act, nxt = _data(300)
    model = MLPWorldModel(3, 2, hidden_sizes=(16, 16))
    train_world_model(model, obs, act, nxt, TrainConfig(epochs=2, device="cpu"))
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
    for enc in ("continuous", "onehot"):
        model = MLPWorldModel(2, 4, hidden_sizes=(64, 64), action_encoding=enc)
        train_world_model(model, obs, scores, nxt, TrainConfig(epochs=30, batch_size=256, lr=3e-3, seed=0))
        with torch.no_grad():
            errors[enc] = float((model.predict(obs[:500], scores[:500]) - nxt[:500]).abs().max())
    assert errors["onehot"] < 0.01 < errors["continuous"]  # the raw MLP blurs near-ties
    model = MLPWorldModel(2, 4, action_encoding="onehot")
    a = torch.zeros(1, 4, requires_grad=True)
    model.predict(torch.zeros(1, 2), a).sum().backward()
    assert a.grad.abs().sum() > 0  # planners still get a gradient in score space
    with pytest.raises(ValueError, match="action_encoding"):
        MLPWorldModel(2, 4, action_encoding="gumbel")
