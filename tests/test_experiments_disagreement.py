"""A planner's ``disagreement`` penalty in experiment configs (PlannerSpec.disagreement)."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import gymnasium as gym
import pytest
import torch

from grasp_agent.experiments.config import ConfigError, load_config
from grasp_agent.experiments.planning import make_planner, make_planner_agent
from grasp_agent.experiments.runner import run_experiment
from grasp_agent.experiments.schema import PlannerSpec
from grasp_agent.models import EnsembleWorldModel, MLPWorldModel
from grasp_agent.planners import CEMConfig, CEMPlanner, LatentGoal
from grasp_agent.planners.penalties import DisagreementPenalty

SPACE = gym.spaces.Box(-1.0, 1.0, (2,))
CEM = {"iterations": 4, "num_samples": 64, "num_elites": 8}


@pytest.mark.parametrize("value, match", [(-1.0, "finite number >= 0"), (".nan", "finite number >= 0"),
                                          ("true", "disagreement")])
def test_a_bad_weight_fails_when_the_config_loads(value, match):
    with pytest.raises(ConfigError, match=match):
        load_config("horizon_sweep_smoke", [f"planners.cem.disagreement={value}"])


def test_a_penalty_on_a_model_without_disagreement_fails_before_any_work(tmp_path: Path):
    cfg = load_config("horizon_sweep_smoke", ["planners.cem.disagreement=10"])
    with pytest.raises(ConfigError, match=r"envs\.walldoor\.model: planners\.cem .*model\.type: ensemble"):
        run_experiment(cfg, tmp_path, tensorboard=False)
    assert not any(tmp_path.iterdir())
    cfg = load_config("sb3_compare_smoke", ["grasp.planner.disagreement=1"])
    with pytest.raises(ConfigError, match=r"config\.grasp\.model: grasp\.planner"):
        run_experiment(cfg, tmp_path, tensorboard=False)
    assert not any(tmp_path.iterdir())


def test_the_spec_plans_exactly_as_the_penalty_objective_a_user_would_build():
    model = EnsembleWorldModel(2, 2, num_members=4, hidden_sizes=(16, 16), seed=0)
    z0, goal = torch.zeros(3, 2), torch.full((3, 2), 0.5)
    plans = {}
    for weight in (0.0, 50.0):
        planner = make_planner(PlannerSpec("cem", CEM, disagreement=weight), model, SPACE, horizon=6)
        planner.generator.manual_seed(0)
        plans[weight] = planner.plan(z0, goal).actions
    by_hand = CEMPlanner(model, SPACE, 6, config=CEMConfig(**CEM),
                         objective=DisagreementPenalty(LatentGoal(), model, 50.0))
    by_hand.generator.manual_seed(0)
    assert torch.equal(plans[50.0], by_hand.plan(z0, goal).actions)
    assert not torch.equal(plans[50.0], plans[0.0])
    assert isinstance(make_planner(PlannerSpec("cem", CEM), model, SPACE, 6).objective, LatentGoal)


def test_the_agent_of_a_spec_carries_the_penalty_and_a_plain_model_is_refused():
    env = gym.make("grasp_agent/WallDoor-v0", obs_mode="state", tasks="any")
    dim = env.observation_space["observation"].shape[0] if isinstance(
        env.observation_space, gym.spaces.Dict) else env.observation_space.shape[0]
    ensemble = EnsembleWorldModel(dim, 2, num_members=3, hidden_sizes=(16,), seed=0)
    agent = make_planner_agent(PlannerSpec("cem", CEM, disagreement=2.0), ensemble, env, 10, "mpc", 5)
    assert isinstance(agent.objective, DisagreementPenalty) and agent.objective.weight == 2.0
    with pytest.raises(ConfigError, match="has no disagreement"):
        make_planner_agent(PlannerSpec("cem", CEM, disagreement=2.0), MLPWorldModel(dim, 2), env, 10,
                           "mpc", 5)
    env.close()


@pytest.mark.slow
def test_a_sweep_with_an_ensemble_runs_penalised_and_plain_planners_side_by_side(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture):
    cfg = load_config("horizon_sweep_smoke", [
        "horizons=[10]", "eval.modes=[open_loop]",
        "envs.walldoor.model={type: ensemble, kwargs: {hidden_sizes: [32, 32], num_members: 3}}"])
    cfg.envs = {"walldoor": cfg.envs["walldoor"]}
    cfg.planners = {"cem": cfg.planners["cem"], "grasp": cfg.planners["grasp"]}
    cfg.planners["cem_penalised"] = PlannerSpec("cem", dict(cfg.planners["cem"].params), disagreement=100.0)
    cfg.planners["grasp_penalised"] = PlannerSpec("grasp", dict(cfg.planners["grasp"].params),
                                                  disagreement=100.0)
    run = run_experiment(cfg, tmp_path, tensorboard=False)
    rows = {r["planner"]: r for r in csv.DictReader((run.path / "metrics.csv").open())}
    assert set(rows) == {"cem", "cem_penalised", "grasp", "grasp_penalised"}
    resolved = (run.path / "config.yaml").read_text()
    assert "disagreement: 100.0" in resolved
    # the weight-tuning benchmark plans on the run's saved ensemble, on tasks of its own seeds
    from grasp_agent.experiments.benchmarks import bench_disagreement

    monkeypatch.setattr(sys, "argv", ["bench", str(run.path), "--planner", "cem", "--weights", "0,100",
                                      "--horizon", "10", "--tasks", "2"])
    bench_disagreement.main()
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| cem")]
    assert [line.split(" | ")[0] for line in lines] == ["| cem, w = 0", "| cem, w = 100"]
    assert all(float(line.split(" | ")[4].rstrip(" |")) > 0 for line in lines)  # CPU s per plan
    # a variant of the planner (--set) and a state graph of another size (--graph-nodes)
    monkeypatch.setattr(sys, "argv", ["bench", str(run.path), "--planner", "grasp", "--weights", "100",
                                      "--horizon", "10", "--tasks", "2", "--timing-tasks", "1",
                                      "--set", "init=graph", "--set", "iterations=3", "--graph-nodes", "16"])
    bench_disagreement.main()
    out = capsys.readouterr().out
    assert "init=graph, iterations=3, 16-node graph" in out
    rows = [line.split(" | ")[0] for line in out.splitlines() if line.startswith("| grasp")]
    assert rows == ["| grasp, w = 100"]
    # bad variants stop before any planning, naming the problem
    for extra, match in [(["--set", "no_such_field=1"], "no_such_field"),
                         (["--set", "iterations"], "KEY=VALUE"), (["--set", "iterations=0"], "iterations"),
                         (["--graph-nodes", "16"], "init: graph")]:
        monkeypatch.setattr(sys, "argv", ["bench", str(run.path), "--planner", "cem", "--horizon", "10",
                                          "--tasks", "2", *extra])
        with pytest.raises(SystemExit):
            bench_disagreement.main()
        assert match in capsys.readouterr().err
