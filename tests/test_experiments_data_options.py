"""Experiment data and training options of issue 20: scripted episodes, planner-driven rounds
through DynaLoop, the rollout loss fields and ensembles in configs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from grasp_agent.agents.base import Agent
from grasp_agent.experiments.config import ConfigError, from_dict, load_config
from grasp_agent.experiments.horizon_sweep import ScalarLog
from grasp_agent.experiments.pipeline import (
    EpisodeMix,
    build_model,
    collect_data,
    fit_config,
    make_env,
    train_on_env,
)
from grasp_agent.experiments.schema import DataSection, EnvSection, ModelSection, PlannerSpec, TrainSection
from grasp_agent.models import EnsembleWorldModel

WALLDOOR = EnvSection(id="grasp_agent/WallDoor-v0", kwargs={"obs_mode": "state", "tasks": "any"})
PUSHBLOCK = EnvSection(id="grasp_agent/PushBlock-v0", kwargs={"obs_mode": "state"})
TINY_CEM = PlannerSpec("cem", {"iterations": 2, "num_samples": 16, "num_elites": 4})


def test_data_and_train_options_are_validated_with_clear_errors():
    for bad, match in (({"scripted_fraction": 1.5}, "scripted_fraction must be in \\[0, 1\\]"),
                       ({"scripted_noise": -0.1}, "scripted_noise must be a finite number >= 0"),
                       ({"dyna_rounds": -1}, "dyna_rounds must be >= 0"),
                       ({"dyna_steps": 0}, "dyna_steps must be >= 1"),
                       ({"dyna_horizon": 5, "dyna_replan_every": 6}, "dyna_replan_every=6 must be <="),
                       ({"dyna_planner": {"type": "nope"}}, "planner type 'nope' unknown"),
                       ({"dyna_rounds": 1, "dyna_planner": {"type": "cem", "params": {"iters": 3}}},
                        "unknown key 'iters'")):
        with pytest.raises(ConfigError, match=match):
            from_dict(DataSection, bad, "data")
    for bad, match in (({"rollout_horizon": 0}, "rollout_horizon must be >= 1"),
                       ({"rollout_discount": 0.0}, "rollout_discount must be in \\(0, 1\\]"),
                       ({"rollout_discount": 1.5}, "rollout_discount must be in \\(0, 1\\]"),
                       ({"report_horizons": []}, "report_horizons must list ints >= 1"),
                       ({"report_max_windows": 0}, "report_max_windows must be >= 1")):
        with pytest.raises(ConfigError, match=match):
            from_dict(TrainSection, bad, "train")
    fit = fit_config(from_dict(TrainSection, {"rollout_horizon": 5, "rollout_discount": 0.9}), "cpu")
    assert (fit.rollout_horizon, fit.rollout_discount, fit.device) == (5, 0.9, "cpu")  # reach the trainer


def test_ensemble_model_type_with_kwargs_in_an_experiment_config():
    cfg = load_config("quickstart_smoke", ["model.type=ensemble", "model.kwargs={num_members: 3, "
                                           "hidden_sizes: [16], bound_outputs: true}",
                                           "train.rollout_horizon=3"])
    env = make_env(cfg.env)
    model = build_model(cfg.model, env)
    assert isinstance(model, EnsembleWorldModel) and model.num_members == 3
    with pytest.raises(ConfigError, match="do not fit model type 'ensemble'"):
        build_model(ModelSection(type="ensemble", kwargs={"members": 3}), env)
    data = DataSection(episodes=6, episode_steps=40, action_repeat=5)
    train = TrainSection(max_steps=20, eval_every=10, batch_size=32, rollout_horizon=3,
                         report_horizons=[1, 5])
    trained, metrics, _ = train_on_env(env, data, cfg.model, train, "cpu", ScalarLog())
    assert isinstance(trained, EnsembleWorldModel) and metrics["train/steps"] == 20
    assert np.isfinite(metrics["model/nmse_H5"]) and metrics["model/diverged_H5"] == 0


class _Tag(Agent):
    """Acts ``value`` everywhere; records the episode starts it was shown."""

    def __init__(self, space, value: float) -> None:
        super().__init__(space)
        self.value, self.starts = value, []

    def predict(self, observation, state=None, episode_start=None, deterministic=False):
        self.starts.append(np.asarray(episode_start, bool).copy())
        return np.full((len(observation), *self.action_space.shape), self.value, np.float32), None

    def save(self, path):
        raise NotImplementedError


def test_episode_mix_spreads_scripted_episodes_and_shows_each_agent_its_own_starts():
    env = make_env(WALLDOOR)
    other, scripted = _Tag(env.action_space, 0.0), _Tag(env.action_space, 1.0)
    mix = EpisodeMix(other, scripted, 1 / 3)
    obs = np.zeros((1, 2), np.float32)
    modes = []
    for _ in range(6):  # six episodes of three steps
        acts = [mix.predict(obs, episode_start=np.array([t == 0]))[0][0, 0] for t in range(3)]
        assert len(set(acts)) == 1
        modes.append(acts[0] == 1.0)
    assert modes == [False, False, True] * 2
    assert sum(s.sum() for s in scripted.starts) == 2 and sum(s.sum() for s in other.starts) == 4
    with pytest.raises(ValueError, match="fraction"):
        EpisodeMix(other, scripted, 1.5)


def test_scripted_fraction_moves_the_block_and_fails_clearly_without_a_scripted_policy(tmp_path):
    pytest.importorskip("pybullet")
    from grasp_agent.envs.push_block_script import block_motion_fraction

    env = make_env(PUSHBLOCK)
    base = DataSection(episodes=12, episode_steps=100, action_repeat=5, seed=1)
    uniform = collect_data(env, base)
    mixed = collect_data(env, DataSection(**{**base.__dict__, "scripted_fraction": 0.5}))
    assert np.array_equal(uniform.transitions()["obs"][:1], mixed.transitions()["obs"][:1])  # same resets
    assert block_motion_fraction(mixed.transitions()) > 2 * block_motion_fraction(uniform.transitions())
    again = collect_data(env, DataSection(**{**base.__dict__, "scripted_fraction": 0.5}))
    assert np.array_equal(again.transitions()["actions"], mixed.transitions()["actions"])  # seeded
    with pytest.raises(ConfigError, match="WallDoorEnv has no scripted policy.*PushBlockEnv"):
        collect_data(make_env(WALLDOOR), DataSection(episodes=2, episode_steps=10, scripted_fraction=0.5))
    # the training reports the data's block motion, and its model report splits pushes from the rest
    data = DataSection(episodes=6, episode_steps=50, action_repeat=5, scripted_fraction=0.5)
    train = TrainSection(max_steps=10, eval_every=10, batch_size=32, report_horizons=[1, 5])
    _, metrics, _ = train_on_env(env, data, ModelSection(kwargs={"hidden_sizes": [16]}), train, "cpu",
                              ScalarLog(), checkpoint=tmp_path / "pushblock.train.pt")
    assert 0.0 < metrics["data/block_moved_fraction"] < 1.0
    report = json.loads((tmp_path / "pushblock.report.json").read_text())
    assert {"block_moves", "block_still", "contact", "no_contact"} <= set(report["groups"])


def test_planner_rounds_add_planner_transitions_through_dyna_and_the_final_training_uses_them():
    env = make_env(WALLDOOR)
    data = DataSection(episodes=6, episode_steps=40, action_repeat=5, seed=0, dyna_rounds=2, dyna_steps=60,
                       dyna_planner=TINY_CEM, dyna_horizon=8, dyna_replan_every=4, dyna_train_steps=10)
    train = TrainSection(max_steps=20, eval_every=10, batch_size=32, report=False)
    model, metrics, _ = train_on_env(env, data, ModelSection(kwargs={"hidden_sizes": [16]}), train, "cpu",
                                  ScalarLog())
    initial = len(collect_data(env, DataSection(episodes=6, episode_steps=40, action_repeat=5, seed=0)))
    assert metrics["data/dyna_transitions"] == 2 * 60
    assert metrics["train/transitions"] == initial + 120
    assert 0.0 <= metrics["data/dyna_success_rate"] <= 1.0 and metrics["train/steps"] == 20
    assert not any(k.startswith("model/") for k in metrics)  # report=False


def test_heldout_sets_are_fresh_episodes_of_each_policy_on_the_training_nmse_scale(tmp_path):
    from grasp_agent.experiments.heldout import collect_heldout, heldout_section

    env = make_env(WALLDOOR)
    data = DataSection(episodes=6, episode_steps=30, action_repeat=5, seed=0, dyna_planner=TINY_CEM,
                       dyna_horizon=8, dyna_replan_every=4, heldout=["goal_directed", "planner", "uniform"],
                       heldout_episodes=3)
    train = TrainSection(max_steps=20, eval_every=10, batch_size=32, report_horizons=[1, 5])
    model, metrics, buffer = train_on_env(env, data, ModelSection(kwargs={"hidden_sizes": [16]}), train,
                                          "cpu", ScalarLog(), checkpoint=tmp_path / "walldoor.train.pt")
    report = json.loads((tmp_path / "walldoor.report.json").read_text())
    assert {"all", "goal_directed", "planner", "uniform", "planner/contact"} <= set(report["groups"])
    assert report["groups"]["planner"]["5"]["windows"] > 0
    assert np.isclose(metrics["model/planner/nmse_H5"], report["groups"]["planner"]["5"]["nmse"])
    assert np.isclose(report["groups"]["planner"]["5"]["mse"] / report["latent_var"],
                      report["groups"]["planner"]["5"]["nmse"])  # the training held-out scale
    # never trained on: every held-out episode starts elsewhere than every training episode
    sets = collect_heldout(env, model, data)
    starts = {tuple(np.round(o, 6)) for o in buffer.obs[buffer.remaining == buffer.remaining.max()]}
    for name, held in sets.items():
        assert held.num_episodes == 3, name
        first = held.transitions()["obs"][0]
        assert tuple(np.round(first, 6)) not in starts
    again = collect_heldout(env, model, data)  # seeded: the same episodes again
    for name in sets:
        assert np.array_equal(sets[name].transitions()["actions"], again[name].transitions()["actions"])
    gd = sets["goal_directed"].transitions()["actions"]
    uni = sets["uniform"].transitions()["actions"]
    assert not np.array_equal(gd[:10], uni[:10])  # different policies
    assert heldout_section(data, "planner").seed != heldout_section(data, "uniform").seed
    for bad, match in (({"heldout": ["planner", "planner"]}, "lists a policy twice"),
                       ({"heldout": ["expert"]}, "heldout"),
                       ({"heldout_episodes": 0}, "heldout_episodes must be >= 1")):
        with pytest.raises(ConfigError, match=match):
            from_dict(DataSection, bad, "data")
    with pytest.raises(ConfigError, match="WallDoorEnv has no scripted policy"):
        train_on_env(env, DataSection(episodes=2, episode_steps=10, heldout=["scripted"]),
                     ModelSection(kwargs={"hidden_sizes": [16]}), train, "cpu", ScalarLog())
