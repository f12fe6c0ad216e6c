"""The model report after training: train_from_env and the experiments' training evaluate the
model on the episodes the trainer held out, log one line and write the report next to the model."""

from __future__ import annotations

import json
import logging

import numpy as np

from grasp_agent.experiments.pipeline import collect_data, make_env, train_model
from grasp_agent.experiments.schema import DataSection, EnvSection, TrainSection
from grasp_agent.models import MLPWorldModel
from grasp_agent.training import FitConfig
from grasp_agent.training.checkpoint import read_training_checkpoint
from grasp_agent.training.pipeline import held_out_episodes, train_from_env

FIT = FitConfig(max_steps=20, eval_every=10, batch_size=32, eval_horizon=2, eval_size=32)
WALLDOOR = EnvSection(id="grasp_agent/WallDoor-v0", kwargs={"obs_mode": "state", "tasks": "any"})


def _walldoor():
    return make_env(WALLDOOR)


def test_train_from_env_writes_the_report_on_the_trainers_held_out_episodes(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="grasp_agent.training.pipeline"):
        trained = train_from_env(_walldoor, "mlp", n_steps=800, num_envs=2, fit_config=FIT, heads=False,
                                 model_kwargs={"hidden_sizes": (16,)}, run_dir=tmp_path, progress=False,
                                 report_horizons=(1, 5))
    report = json.loads((tmp_path / "model_report.json").read_text())
    assert report["horizons"] == [1, 5] and set(report["groups"]) == {"all", "contact", "no_contact"}
    assert (tmp_path / "model_report.md").exists() and (tmp_path / "model_report.png").exists()
    assert trained.result.metrics["model/nmse_H1"] == report["groups"]["all"]["1"]["nmse"]
    assert "open-loop error on held-out episodes: H=1 nmse" in caplog.text  # the one-line summary
    # the held-out episodes are the ones the trainer kept out (as its checkpoint records them)
    saved = read_training_checkpoint(tmp_path / "train.pt")["trainer"]["val_episodes"]
    held = held_out_episodes(trained.buffer, FIT)
    assert held.tolist() == list(saved) and len(held) >= 1
    windows = report["groups"]["all"]["1"]["windows"]
    rows = trained.buffer.valid_starts(1, 1, held)
    assert windows == min(len(rows), 500)  # only held-out transitions were evaluated


def test_report_false_writes_nothing_and_no_validation_falls_back_to_the_last_episodes(tmp_path):
    trained = train_from_env(_walldoor, "mlp", n_steps=400, num_envs=1, fit_config=FIT, heads=False,
                             model_kwargs={"hidden_sizes": (16,)}, run_dir=tmp_path, progress=False,
                             report=False)
    assert not list(tmp_path.glob("model_report*"))
    assert not any(k.startswith("model/") for k in trained.result.metrics)
    ids = trained.buffer.episode_ids()
    no_val = FitConfig(val_fraction=0.0)
    assert held_out_episodes(trained.buffer, no_val).tolist() == ids[-max(1, round(0.1 * len(ids))):].tolist()


def test_experiment_training_writes_the_report_beside_the_model(tmp_path):
    env = _walldoor()
    buffer = collect_data(env, DataSection(episodes=8, episode_steps=40, action_repeat=5))
    model = MLPWorldModel(2, 2, hidden_sizes=(16,))
    section = TrainSection(max_steps=20, eval_every=10, batch_size=32, report_horizons=[1, 10],
                           report_max_windows=50)
    metrics = train_model(model, buffer, section, "cpu", report_dir=tmp_path, report_name="walldoor.report")
    report = json.loads((tmp_path / "walldoor.report.json").read_text())
    assert report["groups"]["all"]["10"]["windows"] <= 50  # max_windows keeps it cheap
    assert np.isclose(metrics["model/nmse_H10"], report["groups"]["all"]["10"]["nmse"])
    off = train_model(MLPWorldModel(2, 2, hidden_sizes=(16,)), buffer,
                      TrainSection(max_steps=10, eval_every=10, batch_size=32, report=False), "cpu",
                      report_dir=tmp_path / "off")
    assert not (tmp_path / "off").exists() and "model/nmse_H1" not in off
