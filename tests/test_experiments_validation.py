"""Experiment configs are validated whole before any work: ranges, names, devices, components.

Every case goes through the command line (``grasp-agent run <config> key=value``) and must exit
with status 2, name the offending key, and leave no run directory behind.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from grasp_agent.experiments.__main__ import main

CASES = [
    # (override, words the message must contain)
    ("planners.grasp.params.iterations=-5", ["planners.grasp.params", "iterations", "-5"]),
    ("planners.grasp.params.lr_s=.nan", ["lr_s", "nan"]),
    ("planners.grasp.params.sigma=-1", ["sigma", "-1"]),
    ("planners.grasp.params.time_budget_s=0", ["time_budget_s"]),
    ("planners.grasp.params.time_budget_s=.nan", ["time_budget_s"]),
    ("planners.grasp.params.use_noise=maybe", ["use_noise", "bool"]),
    ("planners.cem.params.num_samples=0", ["num_samples"]),
    ("planners.grasp.params.sync_mode=sgd", ["sync_mode", "sgd"]),
    ("planners.grasp.params.bogus=1", ["bogus"]),
    ("planners.x.type=nope", ["nope", "registered"]),
    ("device=tpu", ["device", "tpu"]),
    ("seed=-1", ["seed", "-1"]),
    ("threads=-3", ["threads", "-3"]),
    ("name=../x", ["name", "../x"]),
    ("name=a/b", ["name", "a/b"]),
    ("train.max_steps=-1", ["max_steps", "-1"]),
    ("train.val_fraction=2", ["val_fraction"]),
    ("train.batch_size=0", ["batch_size", "0"]),
    ("train.lr=.inf", ["lr"]),
    ("model.type=cnn", ["cnn", "mlp"]),
    ("model.kwargs={hidden_sizes: [8], bogus: 1}", ["model.kwargs", "bogus"]),
    ("env.id=grasp_agent/Nope-v0", ["env", "Nope"]),
    ("data.goal_directed_fraction=1.5", ["goal_directed_fraction"]),
    ("tasks.count=0", ["tasks.count"]),
    ("eval.modes=[]", ["eval.modes"]),
]


@pytest.mark.parametrize("override,words", CASES, ids=[c[0] for c in CASES])
def test_bad_config_fails_before_any_work(override: str, words: list[str], tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]):
    out = tmp_path / "runs"
    assert main(["run", "quickstart_smoke", override, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid config")
    for word in words:
        assert word in err, (word, err)
    assert not out.exists()  # nothing was written: no partial run directory


def test_a_good_config_passes_every_check(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["show", "quickstart_smoke", "seed=3", "name=my-run.v2"]) == 0
    assert "name: my-run.v2" in capsys.readouterr().out
