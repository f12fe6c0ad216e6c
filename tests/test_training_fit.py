"""The resumable trainer: checkpoints, resume, architecture mismatch, logging, one-call pipeline."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from grasp_agent.data import ReplayBuffer
from grasp_agent.models import GRUWorldModel, MLPWorldModel, load_world_model
from grasp_agent.training import (
    FitConfig,
    fit_world_model,
    model_from_training_checkpoint,
    train_from_env,
)

CFG = FitConfig(max_steps=20, batch_size=16, seq_len=3, eval_every=5, eval_horizon=3, eval_size=32,
                device="cpu", patience=100)


def _buffer(seed: int = 0) -> ReplayBuffer:
    """A point mass on a line: x' = clip(x + 0.1 a), 12 episodes of 20 steps."""
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(1000, (2,), 2)
    for _ in range(12):
        a = rng.uniform(-1, 1, (20, 2)).astype(np.float32)
        x = [rng.uniform(0, 1, 2)]
        for t in range(20):
            x.append(np.clip(x[-1] + 0.1 * a[t], 0, 1))
        buf.add_episode(np.array(x, np.float32), a)
    return buf


def _gru():
    return GRUWorldModel((2,), 2, latent_dim=8, encoder_hidden=(32,), input_hidden=(32,), input_dim=16)


@pytest.mark.slow
def test_resume_continues_exactly_where_it_stopped(tmp_path):
    buf = _buffer()
    torch.manual_seed(0)
    full = _gru()
    fit_world_model(full, buf, CFG)
    # same run interrupted at step 10 and resumed from the checkpoint
    torch.manual_seed(0)
    first = _gru()
    ckpt = tmp_path / "train.pt"
    fit_world_model(first, buf, dataclasses.replace(CFG, max_steps=10), checkpoint_path=ckpt)
    torch.manual_seed(123)  # a different global state must not matter
    resumed = _gru()
    res = fit_world_model(resumed, buf, CFG, checkpoint_path=ckpt)
    assert res.steps == 20
    for (k, a), b in zip(full.state_dict().items(), resumed.state_dict().values()):
        torch.testing.assert_close(a, b, msg=k)
    # the checkpoint holds the normalisers and rebuilds the best model on its own
    rebuilt = model_from_training_checkpoint(ckpt)
    torch.testing.assert_close(rebuilt.codec.obs_norm.mean, resumed.codec.obs_norm.mean)
    assert float(rebuilt.codec.obs_norm.std.min()) < 0.9  # fitted, not the identity default


def test_checkpoint_into_another_architecture_fails_clearly(tmp_path):
    buf = _buffer()
    ckpt = tmp_path / "train.pt"
    fit_world_model(_gru(), buf, dataclasses.replace(CFG, max_steps=5), checkpoint_path=ckpt)
    with pytest.raises(ValueError, match="holds a grasp_agent.models.gru:GRUWorldModel"):
        fit_world_model(MLPWorldModel(2, 2, hidden_sizes=(16,)), buf, CFG, checkpoint_path=ckpt)
    other = GRUWorldModel((2,), 2, latent_dim=6, encoder_hidden=(32,), input_hidden=(32,), input_dim=16)
    with pytest.raises(ValueError, match="latent_dim: checkpoint=8 model=6"):
        fit_world_model(other, buf, CFG, checkpoint_path=ckpt)


def test_tensorboard_logs_train_and_val_latent_errors(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    res = fit_world_model(MLPWorldModel(2, 2, hidden_sizes=(16,)), _buffer(), CFG, logdir=tmp_path / "tb")
    acc = EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    tags = set(acc.Tags()["scalars"])
    for split in ("train", "val"):
        for name in ("one_step_latent_mse", "multi_step_latent_mse", "multi_step_latent_nmse"):
            assert f"{split}/{name}" in tags
    assert {"train/loss", "val/loss"} <= tags
    assert len(acc.Scalars("val/loss")) == 4 == len(res.history["val/loss"])


def test_early_stopping_and_bad_config():
    buf = _buffer()
    res = fit_world_model(MLPWorldModel(2, 2, hidden_sizes=(16,)), buf,
                          dataclasses.replace(CFG, max_steps=400, lr=0.0, patience=2))
    assert res.stopped_early and res.steps == 15  # no progress with lr=0: stops after 3 evals
    with pytest.raises(ValueError, match="action_dim"):
        fit_world_model(MLPWorldModel(2, 3), buf, CFG)
    with pytest.raises(ValueError, match="seq_len"):
        fit_world_model(MLPWorldModel(2, 2), buf, dataclasses.replace(CFG, seq_len=0))
    one = ReplayBuffer(100, (2,), 2)
    one.add_episode(np.zeros((5, 2), np.float32), np.zeros((4, 2), np.float32))
    with pytest.raises(ValueError, match="2 episodes"):
        fit_world_model(MLPWorldModel(2, 2), one, CFG)


def test_val_fraction_zero_trains_one_episode_without_validation():
    one = ReplayBuffer(100, (2,), 2)
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (40, 2)).astype(np.float32)
    one.add_episode(np.cumsum(np.concatenate([np.zeros((1, 2)), 0.1 * a]), 0).astype(np.float32), a)
    model = MLPWorldModel(2, 2, hidden_sizes=(16,))
    res = fit_world_model(model, one, dataclasses.replace(CFG, val_fraction=0.0, lr=0.0, patience=1))
    assert res.steps == CFG.max_steps and not res.stopped_early  # no early stopping without validation
    assert np.isnan(res.best_val_loss) and np.isfinite(res.metrics["train/loss"])
    assert "val/loss" not in res.history and len(res.history["train/one_step_latent_mse"]) == 4
    with pytest.raises(ValueError, match="val_fraction"):
        fit_world_model(model, one, dataclasses.replace(CFG, val_fraction=1.0))


@pytest.mark.slow
def test_train_from_env_one_call_and_rerun_resumes(tmp_path):
    cfg = dataclasses.replace(CFG, max_steps=10)
    out = train_from_env("grasp_agent/WallDoor-v0", "gru", n_steps=400, num_envs=2, fit_config=cfg,
                         model_kwargs={"latent_dim": 8, "encoder_hidden": [32]}, run_dir=tmp_path,
                         progress=False, action_block=2)
    assert out.model.action_dim == 4 and out.result.steps == 10
    assert {p.name for p in tmp_path.iterdir()} >= {"buffer.npz", "train.pt", "tb", "model.pt", "config.json"}
    loaded = load_world_model(tmp_path / "model.pt")
    obs = torch.rand(3, 2)
    torch.testing.assert_close(loaded.encode(obs), out.model.encode(obs))
    assert json.loads((tmp_path / "config.json").read_text())["action_block"] == 2
    again = train_from_env("grasp_agent/WallDoor-v0", "gru", n_steps=400, num_envs=2,
                           fit_config=dataclasses.replace(cfg, max_steps=15),
                           model_kwargs={"latent_dim": 8, "encoder_hidden": [32]}, run_dir=tmp_path,
                           progress=False, action_block=2)
    assert again.result.steps == 15 and len(again.buffer) == len(out.buffer)
    with pytest.raises(ValueError, match="state observations"):
        train_from_env("grasp_agent/WallDoor-v0", "mlp", n_steps=100, num_envs=2, progress=False,
                       env_kwargs={"obs_mode": "pixels", "image_size": 16})


@pytest.mark.parametrize("bad,kind,words", [
    ({"lr": float("inf")}, ValueError, ["lr", "inf"]),
    ({"lr": float("nan")}, ValueError, ["lr", "nan"]),
    ({"grad_clip": -1.0}, ValueError, ["grad_clip", "-1"]),
    ({"weight_decay": -0.1}, ValueError, ["weight_decay"]),
    ({"max_steps": 0}, ValueError, ["max_steps", "0"]),
    ({"batch_size": True}, TypeError, ["batch_size", "bool"]),
    ({"seq_len": 2.5}, TypeError, ["seq_len"]),
    ({"val_fraction": 1.0}, ValueError, ["val_fraction"]),
    ({"min_delta": -1e-3}, ValueError, ["min_delta"]),
    ({"seed": -1}, ValueError, ["seed", "-1"]),
])
def test_fit_config_ranges_are_checked_before_any_work(bad, kind, words):
    buffer = ReplayBuffer(100, (2,), 2)
    for _ in range(3):
        buffer.add_episode(np.zeros((6, 2), np.float32), np.zeros((5, 2), np.float32))
    model = MLPWorldModel(2, 2, (8,))
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(kind) as err:
        fit_world_model(model, buffer, FitConfig(**bad))
    for word in words:
        assert word in str(err.value)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))  # nothing trained


def test_fit_config_accepts_numpy_scalars():
    buffer = ReplayBuffer(100, (2,), 2)
    for _ in range(3):
        buffer.add_episode(np.zeros((6, 2), np.float32), np.zeros((5, 2), np.float32))
    cfg = FitConfig(max_steps=np.int64(2), eval_every=np.int64(1), eval_horizon=2, lr=np.float32(1e-3))
    assert fit_world_model(MLPWorldModel(2, 2, (8,)), buffer, cfg).steps == 2
