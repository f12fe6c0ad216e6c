"""Run directories: deterministic names, atomic metrics, CSV/Markdown, TensorBoard, plots, CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from grasp_agent.experiments.__main__ import main
from grasp_agent.experiments.config import load_config
from grasp_agent.experiments.plots import bar_chart, line_chart
from grasp_agent.experiments.run_dir import RunDir, markdown_table, rows_to_csv, run_name


def test_run_names_are_deterministic_and_config_sensitive():
    a, b = load_config("quickstart"), load_config("quickstart")
    assert run_name(a) == run_name(b)
    assert run_name(a).startswith("quickstart-seed0-")
    assert run_name(load_config("quickstart", ["tasks.count=3"])) != run_name(a)


def test_run_dir_writes_everything(tmp_path: Path):
    cfg = load_config("quickstart_smoke")
    with RunDir(tmp_path, cfg) as rd:
        rd.log_scalar("eval/success_rate", 0.5, 1, series="grasp")
        rd.add_rows([{"planner": "grasp", "success_rate": 0.5, "t": float("nan")}])
        rd.add_rows([{"planner": "cem", "success_rate": 0.25, "extra": 1}])
        rd.write_results("# results\n")
        rd.save_figure(bar_chart(["a", "b"], [0.1, 0.2], "y", "t"), "bars")
    assert load_config(rd.path / "config.yaml") == cfg
    data = json.loads((rd.path / "metrics.json").read_text())
    assert [r["planner"] for r in data["rows"]] == ["grasp", "cem"]
    assert data["rows"][0]["t"] is None  # NaN is written as null, JSON stays valid
    rows = list(csv.DictReader((rd.path / "metrics.csv").open()))
    assert rows[1]["extra"] == "1" and rows[0]["extra"] == ""
    assert (rd.path / "plots" / "bars.png").read_bytes()[:4] == b"\x89PNG"
    assert list((rd.path / "tb" / "grasp").glob("events.out.tfevents*"))
    assert "eval/success_rate" in (rd.path / "scalars.csv").read_text()
    # a second run of the same config never overwrites the first
    rd2 = RunDir(tmp_path, cfg, tensorboard=False)
    assert rd2.path.name == rd.path.name + "-2"


def test_metrics_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    cfg = load_config("quickstart_smoke")
    rd = RunDir(tmp_path, cfg, tensorboard=False)
    rd.add_rows([{"a": 1}])
    before = (rd.path / "metrics.json").read_text()

    def boom(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(json, "dump", boom)
    with pytest.raises(RuntimeError):
        rd.add_rows([{"a": 2}])
    assert (rd.path / "metrics.json").read_text() == before  # old file intact
    assert not [p for p in rd.path.iterdir() if p.name.endswith(".tmp")]


def test_atomic_files_are_readable_and_keep_the_mode_they_replace(tmp_path: Path):
    from grasp_agent.utils import atomic_text_write

    path = atomic_text_write("a", tmp_path / "results.md")
    assert path.stat().st_mode & 0o777 == 0o644  # not mkstemp's private 0o600
    path.chmod(0o640)
    atomic_text_write("b", path)
    assert path.stat().st_mode & 0o777 == 0o640 and path.read_text() == "b"


def test_line_chart_keeps_a_series_colour_when_an_earlier_series_has_no_points():
    import matplotlib.colors as mcolors

    fig = line_chart({"never": ([25, 50], [float("nan"), None]), "grasp": ([25, 50], [0.9, 0.6])},
                     "H", "s", "t")
    (line,) = fig.axes[0].lines
    assert line.get_label() == "grasp"
    assert mcolors.same_color(line.get_color(), "C1")  # the colour grasp has where "never" has points


def test_markdown_and_csv_helpers():
    md = markdown_table([{"p": "grasp", "s": 0.12345, "t": None}])
    assert md.splitlines()[0] == "| p | s | t |" and "| grasp | 0.123 | - |" in md
    assert rows_to_csv([{"a": 1}, {"b": 2}]).splitlines() == ["a,b", "1,", ",2"]


def test_cli_show_and_invalid_config(capsys: pytest.CaptureFixture[str]):
    assert main(["show", "quickstart", "tasks.count=5"]) == 0
    assert "count: 5" in capsys.readouterr().out
    assert main(["run", "quickstart", "tasks.bogus=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown key 'bogus'" in err and "min_path_length" in err
    assert main(["list"]) == 0
    assert "quickstart_smoke" in capsys.readouterr().out


def test_report_rerenders_a_partial_sweep(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    cfg = load_config("horizon_sweep_smoke")
    rd = RunDir(tmp_path, cfg, tensorboard=False)
    base = {"env": "walldoor", "mode": "open_loop", "horizon": 10, "planner_horizon": 15, "tasks": 2,
            "model_success_rate": 1.0, "median_plan_time_s": 0.2, "planner_failures": 0,
            "model_failures": 1, "model_mse": 0.01, "model_final_dist": 0.02}
    rd.add_rows([{**base, "planner": "grasp", "success_rate": 0.5, "median_time_to_success_s": 0.25},
                 {**base, "planner": "cem", "success_rate": 0.0, "median_time_to_success_s": float("nan")}])
    rd.close()
    assert main(["report", str(rd.path)]) == 0
    out = capsys.readouterr().out
    assert "| 10 | 50% / 0.25 s | 0% / - |" in out
    assert main(["report", str(tmp_path / "nope")]) == 2


def test_report_merges_runs_of_one_family(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    paths = []
    for override, agent, success in (("grasp=null", "sac_her", 0.5), ("algos={}", "grasp_dyna", 0.75)):
        rd = RunDir(tmp_path, load_config("sb3_compare_smoke", [override]), tensorboard=False)
        rd.add_rows([{"agent": agent, "env_steps": s, "success_rate": success * s / 200, "mean_return": -1.0,
                      "wall_time_s": 1.0} for s in (0, 100, 200)])
        rd.close()
        paths.append(str(rd.path))
    assert main(["report", *paths, "--out", str(tmp_path / "published")]) == 0
    out = capsys.readouterr().out
    assert "| 200 | 0.5 | 0.75 |" in out  # one curve table, a column per agent from both runs
    assert (tmp_path / "published" / "plots" / "success_vs_steps.png").read_bytes()[:4] == b"\x89PNG"
    sweep = RunDir(tmp_path, load_config("horizon_sweep_smoke"), tensorboard=False)
    sweep.close()
    assert main(["report", paths[0], str(sweep.path)]) == 2
    assert "different experiments" in capsys.readouterr().err


def _sweep_run(tmp_path: Path, overrides: list[str], success: dict[tuple[int, str], float]) -> Path:
    rd = RunDir(tmp_path, load_config("horizon_sweep_smoke", overrides), tensorboard=False)
    base = {"env": "walldoor", "mode": "open_loop", "planner_horizon": 15, "tasks": 2,
            "model_success_rate": 1.0, "median_plan_time_s": 0.2, "planner_failures": 0,
            "model_failures": 0, "model_mse": 0.01, "model_final_dist": 0.02}
    rd.add_rows([{**base, "horizon": h, "planner": p, "success_rate": s, "median_time_to_success_s": 0.3}
                 for (h, p), s in success.items()])
    rd.close()
    return rd.path


def test_report_out_joins_pieces_last_run_wins_and_writes_plots_and_configs(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    first = _sweep_run(tmp_path / "runs", ["seed=1", "eval.plan_batch=1"],
                       {(10, "grasp"): 0.5, (10, "cem"): 0.25})
    rerun = _sweep_run(tmp_path / "runs", ["seed=2"], {(10, "cem"): 1.0, (20, "cem"): 0.0})
    out = tmp_path / "published"
    assert main(["report", str(first), str(rerun), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "| 10 | 50% / 0.3 s | 100% / 0.3 s |" in captured.out  # cem H=10 from the later run
    assert "| 20 | - | 0% / 0.3 s |" in captured.out
    assert "1 cell(s) held by several runs" in captured.err
    md = (out / "results.md").read_text()
    assert "| 10 | 50% / 0.3 s | 100% / 0.3 s |" in md
    # every source is listed with its protocol, which may differ between pieces
    assert f"`{first.name}` ([config](configs/{first.name}.yaml), one task per call)" in md
    assert (f"`{rerun.name}` ([config](configs/{rerun.name}.yaml), success over all tasks planned in "
            "batches of 2") in md
    assert md.count("| walldoor | open_loop | 10 | 15 | cem |") == 1  # the detail table has no duplicate
    for name in ("success_walldoor_open_loop", "time_walldoor_open_loop"):
        assert (out / "plots" / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert load_config(out / "configs" / f"{rerun.name}.yaml").seed == 2
    assert main(["report", str(tmp_path / "nope"), "--out", str(out)]) == 2
