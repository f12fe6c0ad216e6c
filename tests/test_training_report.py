"""The model-evaluation report: H-step open-loop errors, divergence counts, splits, files."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import grasp_agent
from grasp_agent.data import ReplayBuffer
from grasp_agent.models import MLPWorldModel
from grasp_agent.training import FitConfig, fit_world_model
from grasp_agent.training.metrics import latent_errors
from grasp_agent.training.report import evaluate_world_model, format_model_report, write_model_report


def _episodes(n: int = 6, steps: int = 30, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """A point mass ``z' = z + 0.1 a``; a step *touches* when it ends with ``|x| > 1``."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        acts = rng.uniform(-1, 1, (steps, 2)).astype(np.float32)
        obs = (rng.uniform(-1, 1, 2) + np.concatenate([np.zeros((1, 2)), np.cumsum(0.1 * acts, 0)]))
        out.append({"obs": obs.astype(np.float32), "actions": acts, "touches": np.abs(obs[1:, 0]) > 1})
    return out


def _buffer(episodes: list[dict[str, np.ndarray]]) -> ReplayBuffer:
    buf = ReplayBuffer(10_000, (2,), 2)
    for ep in episodes:
        buf.add_episode(ep["obs"], ep["actions"], touches=ep["touches"])
    return buf


class Scaled(grasp_agent.WorldModel):
    """``z' = factor * z + 0.1 a``: exact for factor 1, explodes for factor > 1."""

    latent_dim = action_dim = 2

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def encode(self, obs):
        return obs.float()

    def predict(self, z, a):
        return self.factor * z + 0.1 * a


@pytest.fixture(scope="module")
def model() -> MLPWorldModel:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(0)
        net = MLPWorldModel(2, 2, hidden_sizes=(16, 16))
        fit_world_model(net, _buffer(_episodes(12, seed=1)), FitConfig(
            max_steps=100, batch_size=64, eval_every=100, eval_horizon=1, eval_size=32, val_fraction=0.0,
            lr=3e-3, device="cpu"))
    finally:
        torch.set_num_threads(previous)
    return net


def test_report_matches_latent_errors_and_splits(model: MLPWorldModel) -> None:
    buf = _buffer(_episodes())
    report = evaluate_world_model(model, buf, horizons=(1, 10, 29), split_fn="touches", max_windows=10_000)
    assert report["horizons"] == [1, 10, 29] and set(report["groups"]) == {"all", "contact", "no_contact"}
    for h in (1, 10, 29):
        seq = buf.gather(buf.valid_starts(h), h)
        ref = latent_errors(model, seq["obs"], seq["actions"])
        stats = report["groups"]["all"][str(h)]
        assert stats["windows"] == len(seq["obs"]) == 6 * (31 - h) and stats["diverged"] == 0
        np.testing.assert_allclose(stats["mse"], ref["multi_step_mse"], rtol=1e-5)
        np.testing.assert_allclose(stats["nmse"], stats["mse"] / report["latent_var"])
        split = [report["groups"][g][str(h)]["windows"] for g in ("contact", "no_contact")]
        assert sum(split) == stats["windows"] and min(split) > 0
    assert report["groups"]["all"]["29"]["nmse"] > report["groups"]["all"]["1"]["nmse"]
    assert model.training is False


def test_episodes_and_buffer_give_the_same_report(model: MLPWorldModel) -> None:
    eps = _episodes()
    model.train()
    a = evaluate_world_model(model, eps, horizons=(1, 5), max_windows=50, seed=3)
    assert model.training  # the mode is restored
    b = evaluate_world_model(model, _buffer(eps), horizons=(1, 5), max_windows=50, seed=3)
    assert a == b and a["groups"]["all"]["5"]["windows"] == 50
    picked = evaluate_world_model(model, _buffer(eps), horizons=(1,), episodes=[0, 1])
    assert picked["groups"]["all"]["1"]["windows"] == 60


def test_divergence_is_counted_and_kept_out_of_the_mean() -> None:
    eps = _episodes()
    exact = evaluate_world_model(Scaled(1.0), eps, horizons=(1, 30))
    assert exact["groups"]["all"]["30"]["mse"] < 1e-10 and exact["groups"]["all"]["30"]["diverged"] == 0
    wild = evaluate_world_model(Scaled(3.0), eps, horizons=(1, 10, 30), divergence_threshold=100.0)
    by_h = wild["groups"]["all"]
    assert by_h["1"]["diverged"] == 0 and by_h["10"]["diverged"] == by_h["10"]["windows"]
    assert np.isnan(by_h["30"]["mse"]) and by_h["30"]["diverged"] == by_h["30"]["windows"]
    inf = evaluate_world_model(Scaled(1e30), eps, horizons=(5,), divergence_threshold=1e38)
    assert inf["groups"]["all"]["5"]["diverged"] == inf["groups"]["all"]["5"]["windows"]  # overflow


def test_write_report_files(model: MLPWorldModel, tmp_path) -> None:
    report = evaluate_world_model(model, _episodes(), horizons=(1, 10, 100), split_fn="touches")
    assert report["groups"]["all"]["100"]["windows"] == 0  # longer than every episode
    paths = write_model_report(report, tmp_path / "run", name="model_report")
    assert {p.name for p in paths.values()} >= {"model_report.json", "model_report.md"}
    saved = json.loads(paths["json"].read_text())
    assert saved["groups"]["all"]["100"]["mse"] is None and saved["groups"]["all"]["10"]["windows"] > 0
    text = paths["md"].read_text()
    assert "| contact | 10 |" in text and text == format_model_report(report)
    if "png" in paths:
        assert paths["png"].read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(p.name for p in paths.values())


def test_custom_split_and_bad_input(model: MLPWorldModel) -> None:
    eps = _episodes()

    def right(windows):
        return {"right": windows["obs"][:, 0, 0] > 0}

    report = evaluate_world_model(model, eps, horizons=(1, 5), split_fn=right)
    assert 0 < report["groups"]["right"]["5"]["windows"] < report["groups"]["all"]["5"]["windows"]
    for bad in ((), (0,), (1.5,), (True,)):
        with pytest.raises(ValueError, match="horizons"):
            evaluate_world_model(model, eps, horizons=bad)
    with pytest.raises(ValueError, match="unknown split"):
        evaluate_world_model(model, eps, split_fn="walls")
    with pytest.raises(ValueError, match="shape"):
        evaluate_world_model(model, eps, horizons=(1,), split_fn=lambda w: {"x": np.ones(3, bool)})
    with pytest.raises(ValueError, match="divergence_threshold"):
        evaluate_world_model(model, eps, divergence_threshold=0.0)
    with pytest.raises(TypeError, match="episodes"):
        evaluate_world_model(model, [{"obs": np.zeros((3, 2))}])


def test_ensembles_report_their_disagreement(model: MLPWorldModel) -> None:
    ens = grasp_agent.models.EnsembleWorldModel(2, 2, num_members=3, hidden_sizes=(8,), seed=0)
    eps = _episodes()
    report = evaluate_world_model(ens, eps, horizons=(1, 10), split_fn="touches")
    for group in ("all", "contact", "no_contact"):
        assert report["groups"][group]["10"]["disagreement"] > 0
    assert "| disagreement |" in format_model_report(report)
    assert "disagreement" not in evaluate_world_model(model, eps, horizons=(1,))["groups"]["all"]["1"]
    assert "disagreement" not in format_model_report(evaluate_world_model(model, eps, horizons=(1,)))
