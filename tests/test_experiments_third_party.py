"""The third_party experiment: config checks before any work, the evaluator, the smoke run.

The robotics tests (PointMaze, FetchReach) need ``pip install 'grasp-agent[robotics]'`` and
skip without it. The smoke run (all stages on Pendulum) takes about 10 s, the others a few.
"""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from grasp_agent.experiments.config import ConfigError, load_config, load_raw

pytest.importorskip("stable_baselines3")


def _smoke(*overrides: str):
    return load_config("third_party_smoke", list(overrides))


@pytest.mark.parametrize("override, message", [
    ("envs.pendulum.env_steps=-5", "env_steps must be >= 1"),
    ("envs.pendulum.horizon=0", "horizon must be >= 1"),
    ("envs.pendulum.replan_every=6", "replan_every must be in [1, horizon=5]"),
    ("envs.pendulum.eval_episodes=0", "eval_episodes must be >= 1"),
    ("envs.pendulum.eval_seed=-1", "eval_seed must be >= 0"),
    ("envs.pendulum.planner_steps=[100, 401]", "planner_steps must lie in [1, env_steps=400]"),
    ("envs.pendulum.planner_steps=[0]", "planner_steps must lie in [1, env_steps=400]"),
    ("envs.pendulum.sac.eval_every=0", "sac.eval_every must be in [1, env_steps=400], got 0"),
    ("envs.pendulum.sac.eval_every=401", "sac.eval_every must be in [1, env_steps=400], got 401"),
    ("envs.pendulum.train.lr=-1", "lr"),
    ("envs.pendulum.train.lr=.nan", "lr"),
    ("envs.pendulum.train.max_step=10", "valid keys: action_block, batch_size"),
    ("envs.pendulum.train.device=cuda", "set the experiment's device"),
    ("envs.pendulum.env.id=nosuchmodule_xyz:Env-v0", "needs the module 'nosuchmodule_xyz'"),
    ("envs={}", "list at least one env"),
    ("planners.cem.type=nosuch", "planner type 'nosuch' unknown"),
    ("envs.pendulum.env_steps=1.5", "expected an int"),
])
def test_config_checks_types_and_ranges_on_load(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        _smoke(override)


def test_bad_env_id_and_planner_params_fail_before_the_run_directory(tmp_path: Path):
    from grasp_agent.experiments.runner import run_experiment

    for override, message in [("envs.pendulum.env.id=NoSuchEnv-v0", "cannot build 'NoSuchEnv-v0'"),
                              ("planners.cem.params.num_samples=-3", "num_samples"),
                              ("envs.pendulum.planner_params.nosuch={}", "no planner 'nosuch'")]:
        with pytest.raises(ConfigError, match=message):
            run_experiment(_smoke(override), tmp_path)
    assert not list(tmp_path.iterdir())


def test_bundled_full_config_is_valid_and_names_the_newest_fetchreach():
    raw = load_raw("third_party")
    ids = {name: case["env"]["id"] for name, case in raw["envs"].items()}
    assert ids["pendulum"] == "Pendulum-v1" and ids["pointmaze"].endswith("PointMaze_UMaze-v3")
    assert ids["fetchreach"].endswith("FetchReach-v4")
    pytest.importorskip("gymnasium_robotics")
    import gymnasium_robotics  # noqa: F401

    newest = max(int(i.rsplit("-v", 1)[1]) for i in gym.registry if i.startswith("FetchReach-v"))
    assert ids["fetchreach"].endswith(f"FetchReach-v{newest}")
    assert load_config("third_party").envs["fetchreach"].env_steps >= 1


class _ZeroPolicy:
    def __init__(self, space: gym.spaces.Box) -> None:
        self.space = space

    def predict(self, obs, state=None, episode_start=None, deterministic=False):
        n = len(obs["observation"]) if isinstance(obs, dict) else len(obs)
        return np.zeros((n, *self.space.shape), np.float32), state


def test_evaluate_seeds_episodes_and_records_trajectories():
    from stable_baselines3.common.vec_env import DummyVecEnv

    from grasp_agent.experiments.third_party import evaluate, model_errors
    from grasp_agent.models import MLPWorldModel

    venv = DummyVecEnv([lambda: gym.make("Pendulum-v1", max_episode_steps=12)] * 3)
    policy = _ZeroPolicy(venv.action_space)
    first, again = evaluate(policy, venv, 7, goal=False), evaluate(policy, venv, 7, goal=False)
    assert np.isnan(first["success_rate"]) and first["mean_return"] == again["mean_return"] < 0
    assert first["plan_time_per_step_s"] > 0
    trajectories = first["trajectories"]
    assert len(trajectories) == 3 and all(o.shape == (13, 3) and a.shape == (12, 1) for o, a in trajectories)
    errors = model_errors(MLPWorldModel(3, 1, hidden_sizes=(8,)), trajectories, horizon=4)
    assert set(errors) == {"one_step_mse", "multi_step_mse", "one_step_nmse", "multi_step_nmse"}
    assert all(np.isfinite(v) and v >= 0 for v in errors.values())
    assert model_errors(MLPWorldModel(3, 1), trajectories, horizon=20) == {}


@pytest.mark.parametrize("env_id, obs_dim", [("PointMaze_UMaze-v3", 4), ("FetchReach-v4", 10)])
def test_robotics_envs_reset_step_and_report_success(env_id, obs_dim):
    pytest.importorskip("gymnasium_robotics")
    from stable_baselines3.common.vec_env import DummyVecEnv

    from grasp_agent.experiments.third_party import evaluate, is_goal_env

    venv = DummyVecEnv([lambda: gym.make(f"gymnasium_robotics:{env_id}", max_episode_steps=10)] * 2)
    assert is_goal_env(venv.observation_space)
    result = evaluate(_ZeroPolicy(venv.action_space), venv, 0, goal=True)
    assert 0.0 <= result["success_rate"] <= 1.0
    assert [o.shape for o, _ in result["trajectories"]] == [(11, obs_dim)] * 2


def test_sac_her_on_fetchreach_gives_a_curve(tmp_path: Path):
    pytest.importorskip("gymnasium_robotics")
    from grasp_agent.experiments.runner import run_experiment

    cfg = _smoke("planners={}", "envs.pendulum.env.id=gymnasium_robotics:FetchReach-v4",
                 "envs.pendulum.env.max_episode_steps=null", "envs.pendulum.env_steps=150",
                 "envs.pendulum.planner_steps=null",
                 "envs.pendulum.sac.eval_every=75", "envs.pendulum.sac.params.learning_starts=60")
    run_dir = run_experiment(cfg, tmp_path, tensorboard=False)
    rows = json.loads((run_dir.path / "metrics.json").read_text())["rows"]
    assert [(r["agent"], r["env_steps"]) for r in rows] == [("sac_her", 0), ("sac_her", 75), ("sac_her", 150)]
    assert all(0.0 <= r["success_rate"] <= 1.0 for r in rows)
    assert (run_dir.path / "plots" / "pendulum.png").exists()


def test_third_party_smoke(tmp_path: Path):
    from grasp_agent.experiments.runner import run_experiment

    run_dir = run_experiment(_smoke(), tmp_path, tensorboard=False)
    rows = json.loads((run_dir.path / "metrics.json").read_text())["rows"]
    agents = {r["agent"] for r in rows}
    assert agents == {"grasp", "cem", "mppi", "sac"}
    planners = [r for r in rows if r["agent"] != "sac"]
    assert [(r["agent"], r["env_steps"]) for r in planners] == [
        (a, n) for n in (200, 400) for a in ("grasp", "cem", "mppi")]
    assert all(r["success_rate"] is None and np.isfinite(r["mean_return"]) and r["plan_time_per_step_s"] > 0
               and r["multi_step_mse"] >= 0 for r in planners)
    assert [r["env_steps"] for r in rows if r["agent"] == "sac"] == [0, 200, 400]
    text = (run_dir.path / "results.md").read_text()
    assert "Pendulum-v1" in text and "model H-step MSE" in text
    assert (run_dir.path / "config.yaml").exists() and (run_dir.path / "plots" / "pendulum.png").exists()
    # the report command reads the run back from disk (None success rates) and joins runs
    from grasp_agent.experiments.report import write_report

    report = write_report(tmp_path / "report", run_dir.path).read_text()
    assert "Mean return versus env steps" in report
    assert (tmp_path / "report" / "plots" / "pendulum.png").exists()


GRAPH = "planners.graph={type: grasp, params: {init: graph, iterations: 4, sync_every: 2, sync_steps: 1}}"


def test_a_graph_planner_is_refused_on_a_reward_env_before_any_work(tmp_path: Path):
    from grasp_agent.experiments.runner import run_experiment

    refused = (r"planners \['graph'\] start from the state graph .* Pendulum-v1 is a reward task; "
               r"list the others in config.envs.pendulum.planners")
    with pytest.raises(ConfigError, match=refused):
        run_experiment(_smoke(GRAPH), tmp_path)
    assert not list(tmp_path.iterdir())
    with pytest.raises(ConfigError, match=r"envs.pendulum.planners names planners \['nosuch'\]"):
        _smoke("envs.pendulum.planners=[nosuch]")


def test_a_graph_planner_runs_on_a_goal_env_with_the_data_graph(tmp_path: Path, caplog):
    from grasp_agent.experiments.runner import run_experiment

    walldoor = ("envs={walldoor: {env: {id: grasp_agent/WallDoor-v0, max_episode_steps: 12}, "
                "model: {type: mlp, kwargs: {hidden_sizes: [32]}}, env_steps: 300, "
                "train: {max_steps: 20, eval_every: 10, batch_size: 64, eval_size: 64}, horizon: 6, "
                "eval_episodes: 2, error_horizon: 4, sac: null, planners: [graph, ctg, cem]}}")
    ctg = "planners.ctg={type: cem, cost_to_go: 0.5, params: {iterations: 2, num_samples: 32, num_elites: 4}}"
    with caplog.at_level("INFO", logger="grasp_agent.planners.state_graph"):
        run_dir = run_experiment(_smoke(GRAPH, ctg, walldoor), tmp_path, tensorboard=False)
    rows = json.loads((run_dir.path / "metrics.json").read_text())["rows"]
    assert [r["agent"] for r in rows] == ["graph", "ctg", "cem"]  # the env's planners only, in its order
    assert all(0.0 <= r["success_rate"] <= 1.0 for r in rows)
    assert sum("state graph:" in m for m in caplog.messages) == 1  # built once from the model's data


@pytest.mark.parametrize("override, message", [
    ("planners.grasp.cost_to_go=-1", "cost_to_go must be a finite number >= 0"),
    ("planners.grasp.cost_to_go=.nan", "cost_to_go must be a finite number >= 0"),
])
def test_a_bad_cost_to_go_weight_is_refused_on_load(override, message):
    with pytest.raises(ConfigError, match=message):
        _smoke(override)
