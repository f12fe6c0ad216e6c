"""The side-by-side planning-time benchmark on a finished sweep run (bench_plan_time)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from grasp_agent.experiments.config import load_config
from grasp_agent.experiments.runner import run_experiment


@pytest.mark.slow
def test_planners_are_timed_task_by_task_on_the_runs_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture) -> None:
    from grasp_agent.experiments.benchmarks import bench_plan_time

    cfg = load_config("horizon_sweep_smoke", ["horizons=[10]", "eval.modes=[open_loop]"])
    cfg.envs = {"walldoor": cfg.envs["walldoor"]}
    cfg.planners = {"cem": cfg.planners["cem"], "grasp": cfg.planners["grasp"]}
    run = run_experiment(cfg, tmp_path, tensorboard=False)
    monkeypatch.setattr(sys, "argv", ["bench", str(run.path), "--planners", "grasp,cem", "--horizons", "10",
                                      "--tasks", "3"])
    bench_plan_time.main()
    rows = [line.split(" | ") for line in capsys.readouterr().out.splitlines() if line.startswith("| 10 |")]
    assert [r[1] for r in rows] == ["grasp", "cem"]
    assert all(r[2].endswith("/3") and float(r[3]) > 0 for r in rows)  # success of 3 tasks, CPU s per task
    assert rows[0][5] == "1.00 |"  # the first planner is the reference of the ratios
    # other planners for the run's model, from the command line
    monkeypatch.setattr(sys, "argv", ["bench", str(run.path), "--planners", "cem_short", "--horizons", "10",
                                      "--tasks", "1", "--override",
                                      "planners={cem_short: {type: cem, params: {iterations: 2}}}"])
    bench_plan_time.main()
    assert "| 10 | cem_short | " in capsys.readouterr().out
    # a planner the run did not define stops before any planning, naming the run's planners
    monkeypatch.setattr(sys, "argv", ["bench", str(run.path), "--planners", "cem,icem"])
    with pytest.raises(SystemExit):
        bench_plan_time.main()
    assert "['icem'] are not in" in capsys.readouterr().err
