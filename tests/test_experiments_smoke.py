"""Smoke runs of every experiment family with tiny budgets: outputs exist and make sense."""

from __future__ import annotations

import csv
import dataclasses
import json
import math
from collections import Counter
from pathlib import Path

import pytest
import torch

from grasp_agent.experiments.config import load_config
from grasp_agent.experiments.runner import run_experiment
from grasp_agent.planners import StateGraph

pytestmark = pytest.mark.slow


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader((path / "metrics.csv").open()))


def _check_common(path: Path) -> dict:
    for name in ("config.yaml", "metrics.json", "metrics.csv", "results.md", "scalars.csv"):
        assert (path / name).stat().st_size > 0, name
    assert list((path / "plots").glob("*.png"))
    assert list((path / "tb").rglob("events.out.tfevents*"))
    data = json.loads((path / "metrics.json").read_text())
    for row in data["rows"]:
        assert 0.0 <= row["success_rate"] <= 1.0
    return data


def test_quickstart_smoke(tmp_path: Path):
    cfg = load_config("quickstart_smoke")
    run_dir = run_experiment(cfg, tmp_path)
    data = _check_common(run_dir.path)
    rows = data["rows"]
    assert {(r["planner"], r["mode"]) for r in rows} == {
        (p, m) for p in ("grasp", "gd", "cem") for m in ("open_loop", "mpc")}
    for r in rows:
        assert r["tasks"] == cfg.tasks.count
        assert r["planner_failures"] + r["model_failures"] == round(r["tasks"] * (1 - r["success_rate"]))
        assert r["median_plan_time_s"] > 0
    tasks = list(csv.DictReader((run_dir.path / "tasks.csv").open()))
    assert len(tasks) == cfg.tasks.count * len(rows)
    text = (run_dir.path / "results.md").read_text()
    assert "| grasp | open_loop |" in text and "success (real env)" in text


def test_quickstart_is_reproducible_from_its_seed(tmp_path: Path):
    overrides = ["tasks.count=2", "eval.modes=[open_loop]", "data.episodes=10", "train.max_steps=20",
                 "planners={cem: {type: cem, params: {iterations: 3, num_samples: 32, num_elites: 4}}}"]
    cfg = load_config("quickstart_smoke", overrides)
    a = run_experiment(cfg, tmp_path / "a", tensorboard=False)
    b = run_experiment(cfg, tmp_path / "b", tensorboard=False)
    assert a.path.name == b.path.name
    ta = list(csv.DictReader((a.path / "tasks.csv").open()))
    tb = list(csv.DictReader((b.path / "tasks.csv").open()))
    drop = ("plan_time_s", "time_to_success_s", "plan_cpu_s", "cpu_time_to_success_s")
    assert [{k: v for k, v in r.items() if k not in drop} for r in ta] == \
        [{k: v for k, v in r.items() if k not in drop} for r in tb]


def test_horizon_sweep_smoke(tmp_path: Path):
    cfg = load_config("horizon_sweep_smoke")
    run_dir = run_experiment(cfg, tmp_path)
    _check_common(run_dir.path)
    rows = _rows(run_dir.path)
    cells = {(r["env"], int(r["horizon"])) for r in rows}
    assert cells == {("walldoor", 10), ("walldoor", 20), ("walldoor_pixels", 10)}
    assert {r["planner"] for r in rows} == set(cfg.planners)
    for r in rows:
        assert int(r["planner_horizon"]) == math.ceil(cfg.horizon_factor * int(r["horizon"]))
        assert int(r["tasks"]) == cfg.tasks_per_cell
    tasks = list(csv.DictReader((run_dir.path / "tasks.csv").open()))
    for t in tasks:  # every task needs at least H steps and fits the planning horizon
        assert int(t["horizon"]) <= int(t["oracle_path_length"]) <= int(t["planner_horizon"])
    timed = Counter((t["env"], t["horizon"], t["mode"], t["planner"]) for t in tasks
                    if t["timed_success"] in ("True", "False"))
    # eval.timing_tasks: 1 -> exactly one single-task timing run per (env, H, mode, planner)
    assert len(timed) == len(rows) and set(timed.values()) == {1}
    assert {int(r["timed_tasks"]) for r in rows} == {1}
    text = (run_dir.path / "results.md").read_text()
    assert "### walldoor, open-loop" in text and "### walldoor_pixels, mpc" in text
    assert "planned again one per call" in text
    assert (run_dir.path / "plots" / "success_walldoor_open_loop.png").exists()
    # a planner with init: graph -> each saved model carries the state graph of its training data
    for env in ("walldoor", "walldoor_pixels"):
        ckpt = torch.load(run_dir.path / "models" / f"{env}.pt", weights_only=True)
        graph = StateGraph.from_state_dict(ckpt["extra"]["state_graph"])
        assert graph.num_nodes > 1 and graph.num_edges > 0


def test_sb3_compare_smoke(tmp_path: Path):
    cfg = load_config("sb3_compare_smoke")
    run_dir = run_experiment(cfg, tmp_path)
    _check_common(run_dir.path)
    rows = _rows(run_dir.path)
    agents = {r["agent"] for r in rows}
    assert agents == {"ppo", "sac_her", "grasp_dyna"}
    for agent in agents:
        steps = [int(r["env_steps"]) for r in rows if r["agent"] == agent]
        assert steps == list(range(0, cfg.total_steps + 1, cfg.eval_every))
    assert list((run_dir.path / "tb" / "ppo").rglob("events.out.tfevents*"))  # SB3's own logs
    # the Dyna agent logs SB3's rollout keys too, one point per finished collection episode
    with (run_dir.path / "scalars.csv").open() as f:
        dyna = [r for r in csv.DictReader(f) if r["series"] == "grasp_dyna"]
    tags = {r["tag"] for r in dyna}
    assert {"rollout/ep_rew_mean", "rollout/ep_len_mean", "time/fps", "eval/success_rate"} <= tags
    ep_len = [float(r["value"]) for r in dyna if r["tag"] == "rollout/ep_len_mean"]
    assert len(ep_len) >= cfg.total_steps // cfg.env.max_episode_steps - 1
    assert all(1 <= n <= cfg.env.max_episode_steps for n in ep_len)
    ep_rew = [float(r["value"]) for r in dyna if r["tag"] == "rollout/ep_rew_mean"]
    assert all(-cfg.env.max_episode_steps <= r <= 0 for r in ep_rew)  # sparse: -1 per step off the goal
    assert "Success rate versus env steps" in (run_dir.path / "results.md").read_text()


def test_minigrid_smoke(tmp_path: Path):
    cfg = load_config("minigrid_smoke")
    run_dir = run_experiment(cfg, tmp_path)
    _check_common(run_dir.path)
    rows = _rows(run_dir.path)
    assert [r["planner"] for r in rows] == ["grasp", "cem_relaxed", f"ppo ({cfg.ppo_steps} env steps)"]
    assert all(int(r["tasks"]) == cfg.tasks.count for r in rows)


def _tiny_sweep():
    cfg = load_config("horizon_sweep_smoke", ["horizons=[10]", "eval.plan_batch=1"])
    cfg.envs = {"walldoor": cfg.envs["walldoor"]}
    cfg.planners = {k: cfg.planners[k] for k in ("grasp", "cem")}
    return cfg


def test_interrupted_horizon_sweep_resumes_to_the_same_results(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch):
    import grasp_agent.experiments.horizon_sweep as hs

    cfg = _tiny_sweep()
    full = run_experiment(cfg, tmp_path / "full", tensorboard=False)

    real = hs.evaluate_planners
    calls = []

    def crash_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(hs, "evaluate_planners", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, tmp_path / "piece", tensorboard=False)
    partial = _rows(tmp_path / "piece" / full.path.name)
    assert [(r["mode"], r["planner"]) for r in partial] == [("open_loop", "grasp"), ("open_loop", "cem")]

    def no_training(*args, **kwargs):
        raise AssertionError("a resumed sweep must reuse the saved world model")

    calls.clear()
    monkeypatch.setattr(hs, "evaluate_planners", real)
    monkeypatch.setattr(hs, "train_on_env", no_training)
    resumed = run_experiment(cfg, tmp_path / "piece", tensorboard=False, resume=True)
    assert resumed.path == tmp_path / "piece" / full.path.name  # same directory, no "-2"
    drop = ("plan_time_s", "time_to_success_s", "median_time_to_success_s", "median_plan_time_s",
            "plan_cpu_s", "cpu_time_to_success_s", "median_cpu_time_to_success_s")

    def strip(rows):
        return [{k: v for k, v in r.items() if k not in drop} for r in rows]

    assert strip(_rows(resumed.path)) == strip(_rows(full.path))
    assert strip(list(csv.DictReader((resumed.path / "tasks.csv").open()))) == \
        strip(list(csv.DictReader((full.path / "tasks.csv").open())))
    assert "walldoor/train/steps" in json.loads((resumed.path / "metrics.json").read_text())["summary"]


def test_sweep_interrupted_while_training_resumes_the_training(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch):
    import grasp_agent.experiments.pipeline as pipeline
    import grasp_agent.training.loop as loop

    cfg = _tiny_sweep()
    cfg.planners = {"cem": cfg.planners["cem"]}
    train = cfg.envs["walldoor"].train
    assert train.max_steps >= 3 * train.eval_every
    full = run_experiment(cfg, tmp_path / "full", tensorboard=False)
    real = pipeline.fit_world_model

    def one_validation_then_crash(model, buffer, config, **kwargs):
        real(model, buffer, dataclasses.replace(config, max_steps=config.eval_every), **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "fit_world_model", one_validation_then_crash)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, tmp_path / "piece", tensorboard=False)
    models = tmp_path / "piece" / full.path.name / "models"
    assert (models / "walldoor.train.pt").exists() and not (models / "walldoor.pt").exists()

    resumed_at = []
    real_load = loop.load_training_checkpoint

    def spy(*args, **kwargs):
        ckpt = real_load(*args, **kwargs)
        resumed_at.append(ckpt["trainer"]["step"])
        return ckpt

    monkeypatch.setattr(pipeline, "fit_world_model", real)
    monkeypatch.setattr(loop, "load_training_checkpoint", spy)
    resumed = run_experiment(cfg, tmp_path / "piece", tensorboard=False, resume=True)
    assert resumed_at == [train.eval_every]  # the training went on after its first validation
    assert (models / "walldoor.pt").exists() and not (models / "walldoor.train.pt").exists()
    full_summary = json.loads((full.path / "metrics.json").read_text())["summary"]
    summary = json.loads((resumed.path / "metrics.json").read_text())["summary"]
    for key in ("walldoor/train/best_val_loss", "walldoor/train/steps"):
        assert summary[key] == full_summary[key]  # the resumed training ends where the whole one did
    assert [r["success_rate"] for r in _rows(resumed.path)] == [r["success_rate"] for r in _rows(full.path)]


def test_resume_refuses_an_edited_config_and_other_experiments(tmp_path: Path):
    from grasp_agent.experiments.config import ConfigError
    from grasp_agent.experiments.run_dir import RunDir

    cfg = _tiny_sweep()
    rd = RunDir(tmp_path, cfg, tensorboard=False)
    rd.close()
    (rd.path / "config.yaml").write_text((rd.path / "config.yaml").read_text().replace("seed: 0", "seed: 1"))
    with pytest.raises(ConfigError, match="differs"):
        RunDir(tmp_path, cfg, tensorboard=False, resume=True)
    with pytest.raises(ConfigError, match="--resume is supported"):
        run_experiment(load_config("quickstart_smoke"), tmp_path, resume=True)


def test_sweep_cell_without_enough_tasks_fails_before_any_training(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch):
    import grasp_agent.experiments.horizon_sweep as hs
    from grasp_agent.experiments.config import ConfigError

    def no_training(*args, **kwargs):
        raise AssertionError("tasks must be sampled (and fail) before any world model is trained")

    monkeypatch.setattr(hs, "train_on_env", no_training)
    cfg = _tiny_sweep()
    cfg.envs["walldoor"].horizons = [10, 400]  # no WallDoor task needs 400 steps
    expected = r"'walldoor' cannot supply .* length >= 400.*envs.walldoor.horizons"
    with pytest.raises(ConfigError, match=expected):
        run_experiment(cfg, tmp_path, tensorboard=False)
