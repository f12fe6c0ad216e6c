"""Horizon-sweep cells on Ray (``--backend ray``): the same per-task results and the same resume
as the in-process run, and clear errors when Ray is missing or the cluster unreachable.

One local Ray instance serves the module (2 CPUs, no dashboard, a 200 MB object store, no
usage stats); the sweep then uses that session instead of starting its own.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import pytest

from grasp_agent.experiments.__main__ import main
from grasp_agent.experiments.config import ConfigError, load_config
from grasp_agent.experiments.runner import run_experiment

TIME_KEYS = {"plan_time_s", "time_to_success_s", "plan_cpu_s", "cpu_time_to_success_s", "timed_plan_time_s",
             "timed_plan_cpu_s", "median_time_to_success_s", "median_plan_time_s",
             "median_cpu_time_to_success_s"}
PER_TASK = ("success", "model_success", "steps_to_success", "failure")


@pytest.fixture(scope="module")
def ray_session():
    """A local 2-CPU Ray instance for the whole module, shut down afterwards."""
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(address="local", num_cpus=2, include_dashboard=False, object_store_memory=200 * 1024 ** 2,
             log_to_driver=False)
    yield ray
    ray.shutdown()


def _table(run: Path, name: str) -> list[dict[str, str]]:
    """Rows of ``<name>.csv`` without the timing columns (times differ between any two runs)."""
    with (run / f"{name}.csv").open(newline="") as f:
        return [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in csv.DictReader(f)]


def _tiny_sweep():
    """Four cells: WallDoor, H = 10, GRASP and CEM, open loop and MPC."""
    cfg = load_config("horizon_sweep_smoke", ["horizons=[10]"])
    cfg.envs = {"walldoor": cfg.envs["walldoor"]}
    cfg.planners = {k: cfg.planners[k] for k in ("grasp", "cem")}
    return cfg


@pytest.mark.slow
def test_smoke_sweep_on_ray_matches_the_in_process_run(ray_session, tmp_path: Path):
    # the smoke config with two of its six planners (12 of 36 cells: both envs, state and pixel
    # models, both modes), to keep the file within CI's budget; the full smoke config gives
    # identical per-task results too (`run horizon_sweep_smoke --backend ray --num-cpus 2`)
    cfg = load_config("horizon_sweep_smoke")
    cfg.planners = {k: cfg.planners[k] for k in ("grasp", "cem")}
    serial = run_experiment(cfg, tmp_path / "serial", tensorboard=False).path
    on_ray = run_experiment(cfg, tmp_path / "ray", tensorboard=False, backend="ray", num_cpus=2).path
    assert on_ray.name == serial.name
    tasks, ray_tasks = _table(serial, "tasks"), _table(on_ray, "tasks")
    assert len(tasks) == len(ray_tasks) == cfg.tasks_per_cell * len(_table(serial, "metrics"))
    key = ("env", "mode", "horizon", "planner", "task_seed")
    for a, b in zip(tasks, ray_tasks):  # same order (cell order, not completion order), same outcome
        assert [a[k] for k in key + PER_TASK] == [b[k] for k in key + PER_TASK]
    assert tasks == ray_tasks  # and every other per-task column (model error, contacts, ...)
    assert _table(serial, "metrics") == _table(on_ray, "metrics")
    rows = [json.loads((p / "metrics.json").read_text())["rows"] for p in (serial, on_ray)]
    assert [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in rows[0]] == \
        [{k: v for k, v in r.items() if k not in TIME_KEYS} for r in rows[1]]
    # each model was trained once, by one task: one training curve per env, as in-process
    def curve(run):
        return [(r["series"], r["step"], r["value"]) for r in csv.DictReader((run / "scalars.csv").open())
                if r["tag"] == "train/val_loss"]
    assert sorted(curve(serial)) == sorted(curve(on_ray))
    saved = {p.name for p in (on_ray / "models").iterdir()}
    assert {n for n in saved if n.endswith(".pt")} == {"walldoor.pt", "walldoor_pixels.pt"}
    assert {n for n in saved if not n.endswith(".pt")} == {p.name for p in (serial / "models").iterdir()
                                                            if not p.name.endswith(".pt")}  # the reports
    assert len(list((on_ray / "cells").rglob("*.json"))) == len(rows[0])
    assert "### walldoor_pixels, mpc" in (on_ray / "results.md").read_text()


def test_interrupted_ray_sweep_resumes_in_process(ray_session, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch):
    import grasp_agent.experiments.horizon_sweep as hs

    cfg = _tiny_sweep()
    full = run_experiment(cfg, tmp_path / "full", tensorboard=False).path
    real_add, added = hs.CellStore.add, []

    def interrupt_after_two(self, cell, result):  # the driver is stopped after two cells arrived
        if len(added) == 2:
            raise KeyboardInterrupt
        added.append(cell)
        real_add(self, cell, result)

    monkeypatch.setattr(hs.CellStore, "add", interrupt_after_two)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, tmp_path / "piece", tensorboard=False, backend="ray")
    piece = tmp_path / "piece" / full.name
    assert len(_table(piece, "metrics")) == 2 and (piece / "models" / "walldoor.pt").exists()

    ran = []
    real_cell = hs.run_cell

    def spy(cfg, cell, *args, **kwargs):
        ran.append(cell)
        return real_cell(cfg, cell, *args, **kwargs)

    def no_training(*args, **kwargs):
        raise AssertionError("a resumed sweep must reuse the world model the Ray run saved")

    monkeypatch.setattr(hs.CellStore, "add", real_add)
    monkeypatch.setattr(hs, "run_cell", spy)
    monkeypatch.setattr(hs, "train_env_model", no_training)
    resumed = run_experiment(cfg, tmp_path / "piece", tensorboard=False, resume=True).path
    assert resumed == piece
    assert sorted(ran) == sorted(set(hs.sweep_cells(cfg)) - set(added))  # only the unfinished cells
    assert _table(resumed, "tasks") == _table(full, "tasks")
    assert _table(resumed, "metrics") == _table(full, "metrics")
    assert "walldoor/train/best_val_loss" in json.loads((resumed / "metrics.json").read_text())["summary"]


def test_without_ray_the_error_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str]):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` raises ImportError
    code = main(["run", "horizon_sweep_smoke", "--out", str(tmp_path), "--backend", "ray", "--num-cpus", "2"])
    assert code == 2
    assert "pip install 'grasp-agent[ray]'" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())  # failed before creating a run directory


def test_unreachable_address_fails_fast_naming_the_fix(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    pytest.importorskip("ray")
    code = main(["run", "horizon_sweep_smoke", "--out", str(tmp_path), "--backend", "ray",
                 "--address", "ray://127.0.0.1:1"])  # loopback, a port nothing listens on
    assert code == 2
    err = capsys.readouterr().err
    assert "cannot reach a Ray cluster at 'ray://127.0.0.1:1'" in err and "ray start --head" in err
    assert not list(tmp_path.iterdir())


def test_backend_options_are_checked(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"--backend ray runs \['horizon_sweep'\] only"):
        run_experiment(load_config("quickstart_smoke"), tmp_path, backend="ray")
    from grasp_agent.experiments.backends import BackendError, make_backend

    with pytest.raises(BackendError, match="options of --backend ray"):
        make_backend("inprocess", num_cpus=2)
    with pytest.raises(BackendError, match="drop --num-cpus or --address"):
        make_backend("ray", address="auto", num_cpus=2)
    with pytest.raises(BackendError, match="expected 'auto', HOST:PORT"):
        make_backend("ray", address="ray://no-port")


def test_tasks_ask_for_gpus_only_where_the_cluster_has_them():
    from types import SimpleNamespace

    from grasp_agent.experiments.backends import CELL_GPUS, BackendError, RayBackend

    backend = RayBackend.__new__(RayBackend)  # no Ray needed: only cluster_resources is read
    backend.ray = SimpleNamespace(cluster_resources=lambda: {"CPU": 16.0, "GPU": 2.0})
    cfg = SimpleNamespace(device="auto", threads=1)
    train, cell = backend.resources(cfg)
    assert train == {"num_cpus": 1.0, "num_gpus": 1.0} and cell == {"num_cpus": 1.0, "num_gpus": CELL_GPUS}
    cfg.device = "cpu"
    assert backend.resources(cfg) == ({"num_cpus": 1.0, "num_gpus": 0.0}, {"num_cpus": 1.0, "num_gpus": 0.0})
    backend.ray = SimpleNamespace(cluster_resources=lambda: {"CPU": 2.0})
    cfg.device = "auto"  # no GPU anywhere: CPU tasks, and device auto picks the CPU inside them
    assert backend.resources(cfg)[1] == {"num_cpus": 1.0, "num_gpus": 0.0}
    cfg.device = "cuda"
    with pytest.raises(BackendError, match="has no GPUs"):
        backend.resources(cfg)
    cfg.device, cfg.threads = "cpu", 4
    with pytest.raises(BackendError, match="threads: 4 .* 2 CPUs"):
        backend.resources(cfg)
