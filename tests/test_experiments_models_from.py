"""``models_from``: a horizon sweep plans on another run's trained world models, unchanged."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from grasp_agent.experiments.config import ConfigError, load_config
from grasp_agent.experiments.runner import run_experiment
from grasp_agent.models.io import read_checkpoint

pytestmark = pytest.mark.slow

TIMES = ("plan_time_s", "time_to_success_s", "median_time_to_success_s", "median_plan_time_s",
         "plan_cpu_s", "cpu_time_to_success_s", "median_cpu_time_to_success_s")


def _sweep(planners: tuple[str, ...]):
    cfg = load_config("horizon_sweep_smoke", ["horizons=[10]"])
    cfg.envs = {"walldoor": cfg.envs["walldoor"]}
    cfg.planners = {k: cfg.planners[k] for k in planners}
    return cfg


def _rows(path: Path) -> list[dict[str, str]]:
    return [{k: v for k, v in r.items() if k not in TIMES}
            for r in csv.DictReader((path / "metrics.csv").open())]


def test_a_sweep_on_another_runs_models_trains_nothing_and_matches_a_sweep_that_trains(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import grasp_agent.experiments.horizon_sweep as hs

    source = run_experiment(_sweep(("cem",)), tmp_path / "source", tensorboard=False)
    assert "state_graph" not in read_checkpoint(source.path / "models" / "walldoor.pt")["extra"]
    trained = run_experiment(_sweep(("grasp_graph", "grasp")), tmp_path / "trained", tensorboard=False)

    def no_training(*args, **kwargs):
        raise AssertionError("models_from must not train a world model")

    monkeypatch.setattr(hs, "train_on_env", no_training)
    cfg = _sweep(("grasp_graph", "grasp"))
    cfg.models_from = str(source.path)
    reused = run_experiment(cfg, tmp_path / "reused", tensorboard=False)
    mine = read_checkpoint(reused.path / "models" / "walldoor.pt")
    theirs = read_checkpoint(source.path / "models" / "walldoor.pt")
    for key, value in theirs["state_dict"].items():
        assert torch.equal(mine["state_dict"][key], value), key
    assert mine["extra"]["imported_from"] == str(source.path / "models" / "walldoor.pt")
    # the graph built for the imported model is the one training here would have saved
    graph = read_checkpoint(trained.path / "models" / "walldoor.pt")["extra"]["state_graph"]
    assert torch.equal(mine["extra"]["state_graph"]["nodes"], graph["nodes"])
    assert _rows(reused.path) == _rows(trained.path)
    assert sorted(p.name for p in (reused.path / "models").glob("walldoor.report.*")) == \
        sorted(p.name for p in (source.path / "models").glob("walldoor.report.*"))


def test_models_from_a_run_that_trained_another_model_fails_before_any_work(tmp_path: Path):
    source = run_experiment(_sweep(("cem",)), tmp_path / "source", tensorboard=False)
    out = tmp_path / "out"
    cfg = _sweep(("cem",))
    cfg.models_from = str(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="not a run directory"):
        run_experiment(cfg, out, tensorboard=False)
    cfg.models_from = str(source.path)
    cfg.envs["walldoor"].data.episodes += 1
    with pytest.raises(ConfigError, match=r"envs\.walldoor\.data.*remove models_from"):
        run_experiment(cfg, out, tensorboard=False)
    cfg = _sweep(("cem",))
    cfg.models_from, cfg.seed = str(source.path), 1
    with pytest.raises(ConfigError, match="seed 0"):
        run_experiment(cfg, out, tensorboard=False)
    cfg = _sweep(("cem",))
    cfg.models_from = str(source.path)
    cfg.envs["pixels"] = load_config("horizon_sweep_smoke").envs["walldoor_pixels"]
    with pytest.raises(ConfigError, match="no env 'pixels'"):
        run_experiment(cfg, out, tensorboard=False)
    (source.path / "models" / "walldoor.pt").unlink()
    cfg = _sweep(("cem",))
    cfg.models_from = str(source.path)
    with pytest.raises(ConfigError, match="does not exist"):
        run_experiment(cfg, out, tensorboard=False)
    assert not out.exists()  # no run directory was created
