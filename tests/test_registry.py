"""One registry each for planners and world-model types: a name registered once (here, by a test)
works in agents, in ``make_world_model``/``train_from_env`` and in experiment configs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch

from grasp_agent import PLANNERS, MLPWorldModel, TrainableWorldModel, WorldModel, register_planner
from grasp_agent.agents import PlannerAgent, make_agent
from grasp_agent.experiments.config import ConfigError, load_config
from grasp_agent.experiments.runner import check_planner_specs
from grasp_agent.models import WORLD_MODELS, make_world_model, register_world_model, unregister_world_model
from grasp_agent.planners import Planner, unregister_planner
from grasp_agent.planners.base import rollout_cost
from grasp_agent.training import FitConfig, train_from_env


@dataclass
class ShooterConfig:
    """Random shooting: ``num_samples`` uniform action sequences, keep the cheapest."""

    num_samples: int = 64
    seed: int | None = 0
    max_batch: int = 1024


class Shooter(Planner):
    """The smallest planner: sample uniform unit action sequences, return the lowest terminal cost."""

    config_class = ShooterConfig

    def _plan(self, z0: torch.Tensor, goal: torch.Tensor, init_u: torch.Tensor | None,
              generator: torch.Generator, callback: Any, deadline: float | None
              ) -> tuple[torch.Tensor, torch.Tensor, dict[str, Any]]:
        batch, n = z0.shape[0], self.config.num_samples
        u = torch.rand((batch * n, self.horizon, self.model.action_dim), generator=generator,
                       device=self.device) * 2 - 1
        with torch.no_grad():
            cost, _ = rollout_cost(self.model, z0.repeat_interleave(n, 0), goal.repeat_interleave(n, 0),
                                   self.to_env(u), self.config.max_batch)
            pick = cost.reshape(batch, n).argmin(1)
            best = u.reshape(batch, n, self.horizon, -1)[torch.arange(batch, device=self.device), pick]
            states = self.model.rollout(z0, self.to_env(best))
        return best, states, {"iterations": 1, "model_calls": n * self.horizon}


class ShiftModel(WorldModel):
    """``z' = z + 0.1 a``: WallDoor's point mass without walls (plan-only)."""

    latent_dim = action_dim = 2

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(obs).float()

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return z + 0.1 * a


def build_tiny_mlp(obs_space: gym.spaces.Box, action_dim: int, encoder: str | None, **kwargs: Any
                   ) -> TrainableWorldModel:
    """A test model type: a one-layer MLP model; records what the registry passed it."""
    build_tiny_mlp.calls.append((obs_space.shape, action_dim, encoder, dict(kwargs)))
    return MLPWorldModel(int(obs_space.shape[0]), action_dim, hidden_sizes=(kwargs.get("width", 8),))


build_tiny_mlp.calls = []


@pytest.fixture
def shooter():
    """``test_shooter`` registered for one test, unregistered afterwards."""
    register_planner("test_shooter", Shooter)
    yield Shooter
    unregister_planner("test_shooter")
    assert "test_shooter" not in PLANNERS


@pytest.fixture
def tiny_mlp():
    """``test_tiny_mlp`` registered for one test, unregistered afterwards."""
    build_tiny_mlp.calls.clear()
    register_world_model("test_tiny_mlp", build_tiny_mlp)
    yield build_tiny_mlp
    unregister_world_model("test_tiny_mlp")
    assert "test_tiny_mlp" not in WORLD_MODELS


def walldoor() -> gym.Env:
    return gym.make("grasp_agent/WallDoor-v0", tasks="any", max_episode_steps=20)


# ------------------------------------------------------------------------- planners
def test_a_registered_planner_works_in_make_agent_and_planner_agent(shooter):
    env = walldoor()
    agent = make_agent("test_shooter", env=env, model=ShiftModel(), horizon=6,
                       planner_config=ShooterConfig(num_samples=256))
    assert type(agent.planner) is Shooter and agent.planner_name == "test_shooter"
    obs, _ = env.reset(seed=0)
    action = agent.act(obs)
    assert env.action_space.contains(action)
    # the action heads for the goal under the model
    start, goal = obs["observation"], obs["desired_goal"]
    assert np.linalg.norm(start + 0.1 * action - goal) < np.linalg.norm(start - goal)
    direct = PlannerAgent(ShiftModel(), env.action_space, planner="test_shooter", horizon=4,
                          observation_space=env.observation_space)
    assert isinstance(direct.planner, Shooter) and isinstance(direct.planner.config, ShooterConfig)
    assert env.action_space.contains(direct.act(obs))
    env.close()


def test_a_registered_planner_is_accepted_by_experiment_configs(shooter):
    cfg = load_config("quickstart_smoke",
                      ["planners={shoot: {type: test_shooter, params: {num_samples: 32}}}"])
    assert cfg.planners["shoot"].type == "test_shooter"
    check_planner_specs(cfg)
    bad = load_config("quickstart_smoke", ["planners={shoot: {type: test_shooter, params: {bogus: 1}}}"])
    with pytest.raises(ConfigError, match="num_samples"):  # the valid keys come from ShooterConfig
        check_planner_specs(bad)


def test_unknown_planner_names_list_the_registered_ones(shooter):
    with pytest.raises(ValueError, match="test_shooter") as err:
        make_agent("no_such_planner", env=walldoor(), model=ShiftModel())
    assert "grasp" in str(err.value)
    with pytest.raises(ValueError, match="test_shooter"):
        PlannerAgent(ShiftModel(), walldoor().action_space, planner="no_such_planner")
    with pytest.raises(ConfigError, match="test_shooter"):
        load_config("quickstart_smoke", ["planners={x: {type: no_such_planner}}"])


def test_registering_a_planner_name_twice_needs_overwrite(shooter):
    class Other(Shooter):
        pass

    register_planner("test_shooter", Shooter)  # the same class again is a no-op
    with pytest.raises(ValueError, match="overwrite=True"):
        register_planner("test_shooter", Other)
    with pytest.raises(ValueError, match="overwrite=True"):
        register_planner("GRASP", Other)  # names are case-insensitive
    register_planner("test_shooter", Other, overwrite=True)
    assert PLANNERS["test_shooter"] is Other
    with pytest.raises(TypeError, match="Planner"):
        register_planner("test_not_a_planner", dict)


# ------------------------------------------------------------------------- world models
def test_builtin_world_model_types_are_trainable():
    assert {"mlp", "gru", "transformer"} <= set(WORLD_MODELS)
    env = walldoor()
    for kind in ("mlp", "gru", "transformer"):
        model = make_world_model(kind, env.observation_space, env.action_space, action_block=2)
        assert isinstance(model, TrainableWorldModel) and model.action_dim == 4
    pixels = gym.spaces.Box(0, 255, (32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="'gru' or 'transformer'"):
        make_world_model("mlp", pixels, env.action_space)
    assert make_world_model("gru", pixels, env.action_space, latent_dim=4).get_config()["encoder"] == "pixels"
    env.close()


def test_a_registered_world_model_type_works_everywhere(tiny_mlp, tmp_path):
    env = walldoor()
    model = make_world_model("test_tiny_mlp", env.observation_space, env.action_space, action_block=3,
                             width=5)
    assert isinstance(model, MLPWorldModel) and model.action_dim == 6
    assert tiny_mlp.calls == [((2,), 6, None, {"width": 5})]  # the Dict's observation Box, encoder left to it
    env.close()
    cfg = load_config("quickstart_smoke", ["model.type=test_tiny_mlp"])
    assert cfg.model.type == "test_tiny_mlp"
    trained = train_from_env("grasp_agent/WallDoor-v0", model="test_tiny_mlp", n_steps=200, num_envs=4,
                             model_kwargs={"width": 4}, progress=False, run_dir=tmp_path,
                             fit_config=FitConfig(max_steps=5, batch_size=16, eval_every=5, eval_horizon=2,
                                                  eval_size=16, device="cpu"))
    assert isinstance(trained.model, MLPWorldModel) and trained.result.steps == 5
    assert (tmp_path / "model.pt").exists()


def test_unknown_world_model_types_list_the_registered_ones(tiny_mlp):
    env = walldoor()
    with pytest.raises(ValueError, match="test_tiny_mlp") as err:
        make_world_model("cnn", env.observation_space, env.action_space)
    assert "gru" in str(err.value) and "register_world_model" in str(err.value)
    with pytest.raises(ValueError, match="test_tiny_mlp"):
        train_from_env("grasp_agent/WallDoor-v0", model="cnn", n_steps=10 ** 9)  # fails before collecting
    with pytest.raises(ConfigError, match="test_tiny_mlp"):
        load_config("quickstart_smoke", ["model.type=cnn"])
    env.close()


def test_registering_a_world_model_type_twice_needs_overwrite(tiny_mlp):
    def other(obs_space, action_dim, encoder, **kwargs):
        return "not a model"

    register_world_model("test_tiny_mlp", tiny_mlp)  # the same builder again is a no-op
    with pytest.raises(ValueError, match="overwrite=True"):
        register_world_model("test_tiny_mlp", other)
    with pytest.raises(ValueError, match="overwrite=True"):
        register_world_model("MLP", other)  # names are case-insensitive
    register_world_model("test_tiny_mlp", other, overwrite=True)
    assert WORLD_MODELS["test_tiny_mlp"] is other
    env = walldoor()
    with pytest.raises(TypeError, match="test_tiny_mlp"):  # the builder must return a WorldModel
        make_world_model("test_tiny_mlp", env.observation_space, env.action_space)
    env.close()
    with pytest.raises(TypeError, match="builder"):
        register_world_model("test_not_callable", 3)

    @register_world_model("test_decorated")
    def decorated(obs_space, action_dim, encoder, **kwargs):
        return MLPWorldModel(int(obs_space.shape[0]), action_dim, hidden_sizes=(4,))

    try:
        assert WORLD_MODELS["test_decorated"] is decorated  # the decorator returns the builder
    finally:
        unregister_world_model("test_decorated")
