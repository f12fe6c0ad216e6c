"""bench_scripted_reach: the scripted policy on the sweep's tasks, against the plan's length."""

from __future__ import annotations

import sys

import pytest

from grasp_agent.experiments.benchmarks import bench_scripted_reach


def _run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture, *args: str) -> str:
    monkeypatch.setattr(sys, "argv", ["bench", *args])
    bench_scripted_reach.main()
    return capsys.readouterr().out


def test_pushblock_sweep_task_is_solved_by_the_script_only_beyond_the_plan(monkeypatch, capsys):
    out = _run(monkeypatch, capsys, "pushblock_data", "--horizon", "25", "--tasks", "1", "--max-steps", "400")
    row = [line for line in out.splitlines() if line.startswith("| 2530")]
    assert len(row) == 1
    seed, oracle, steps = (cell.strip() for cell in row[0].strip("|").split("|"))
    assert int(oracle) >= 25 and int(steps) > 32  # solved, but after the 32-step plan
    assert "solved within the plan (32 steps): 0 of 1; within 400: 1" in out
    # fewer steps allowed than the script needs: the same task is reported unsolved
    out = _run(monkeypatch, capsys, "pushblock_data", "--horizon", "25", "--tasks", "1",
               "--max-steps", str(int(steps) - 1))
    assert f"| {seed} | {oracle} | - |" in out and "0 of 1" in out


def test_an_env_without_a_scripted_policy_is_refused(monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["bench", "horizon_sweep_smoke", "--env", "walldoor", "--tasks", "1"])
    with pytest.raises(SystemExit):
        bench_scripted_reach.main()
    assert "has no scripted policy" in capsys.readouterr().err
