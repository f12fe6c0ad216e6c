"""The model contract: ``WorldModel`` is what planning needs, ``TrainableWorldModel`` what training
and saving need, checked once at the boundary with an error that lists what is missing."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces

from grasp_agent import (
    DynaLoop,
    GRASPConfig,
    GRASPPlanner,
    RandomAgent,
    TrainableWorldModel,
    WorldModel,
    load_world_model,
    save_world_model,
    train_from_env,
)
from grasp_agent.data import ReplayBuffer
from grasp_agent.models import ActionBlockModel, check_trainable
from grasp_agent.training import FitConfig, fit_world_model

BOX = spaces.Box(-1.0, 1.0, (2,), np.float32)
FIT = FitConfig(max_steps=150, batch_size=32, eval_every=50, eval_horizon=3, eval_size=32, lr=1e-2,
                device="cpu", patience=100, seed=0)
MISSING = ("training_loss", "get_config")


class PlanOnlyModel(WorldModel):
    """A user's model that implements only what planning needs: ``z' = z + 0.1 a``."""

    latent_dim = action_dim = 2

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.float()

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return z + 0.1 * a


class LossOnlyModel(PlanOnlyModel):
    """Has a loss but no ``get_config``: still not trainable (it could not be saved)."""

    def training_loss(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        loss = ((self.predict(obs, actions) - next_obs) ** 2).mean()
        return loss, {"loss": float(loss.detach())}


class DeltaModel(TrainableWorldModel):
    """The smallest trainable model: ``z' = z + W [z, a]`` on state observations."""

    def __init__(self, obs_dim: int = 2, action_dim: int = 2) -> None:
        super().__init__()
        self.latent_dim, self.action_dim = obs_dim, action_dim
        self.net = torch.nn.Linear(obs_dim + action_dim, obs_dim)
        torch.nn.init.zeros_(self.net.weight)
        torch.nn.init.zeros_(self.net.bias)
        self.normalizer_calls: list[int] = []

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return obs.float()

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return z + self.net(torch.cat([z, a], -1))

    def training_loss(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        loss = ((self.predict(self.encode(obs), actions) - next_obs.float()) ** 2).mean()
        return loss, {"loss": float(loss.detach())}

    def get_config(self) -> dict[str, Any]:
        return {"obs_dim": self.latent_dim, "action_dim": self.action_dim}

    def fit_normalizers(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor) -> None:
        self.normalizer_calls.append(len(obs))


def _buffer(seed: int = 0) -> ReplayBuffer:
    """A point mass in the unit square, ``x' = clip(x + 0.1 a)``: 10 episodes of 20 steps."""
    rng = np.random.default_rng(seed)
    buf = ReplayBuffer(1000, (2,), 2)
    for _ in range(10):
        a = rng.uniform(-1, 1, (20, 2)).astype(np.float32)
        x = [rng.uniform(0.3, 0.7, 2)]
        for t in range(20):
            x.append(np.clip(x[-1] + 0.1 * a[t], 0, 1))
        buf.add_episode(np.array(x, np.float32), a)
    return buf


def _assert_lists_missing(err: pytest.ExceptionInfo, missing: tuple[str, ...] = MISSING) -> None:
    """The message names the model, what it lacks and how to add it."""
    msg = str(err.value)
    assert "PlanOnlyModel" in msg or "LossOnlyModel" in msg, msg
    for name in missing:
        assert f"{name}(" in msg, msg
    assert "TrainableWorldModel" in msg and "Subclass" in msg, msg


def test_a_plan_only_model_plans():
    torch.manual_seed(0)
    z0, goal = torch.zeros(2, 2), torch.tensor([[0.5, 0.0], [0.0, -0.5]])
    result = GRASPPlanner(PlanOnlyModel(), BOX, 8, GRASPConfig(iterations=30)).plan(z0, goal)
    assert result.actions.shape == (2, 8, 2) and torch.isfinite(result.actions).all()
    final = PlanOnlyModel().rollout(z0, result.actions)[:, -1]
    assert (final - goal).norm(dim=-1).max() < (z0 - goal).norm(dim=-1).min()


def test_fit_world_model_rejects_a_plan_only_model_listing_what_is_missing():
    with pytest.raises(TypeError) as err:
        fit_world_model(PlanOnlyModel(), _buffer(), FIT)
    _assert_lists_missing(err)


def test_check_trainable_lists_only_what_is_missing():
    with pytest.raises(TypeError) as err:
        check_trainable(LossOnlyModel())
    msg = str(err.value)
    assert "lacks get_config" in msg and "lacks training_loss" not in msg, msg
    model = DeltaModel()
    assert check_trainable(model) is model
    with pytest.raises(TypeError, match="grasp_agent.WorldModel"):
        check_trainable(torch.nn.Linear(2, 2))


def test_train_from_env_rejects_a_plan_only_model_before_collecting():
    with pytest.raises(TypeError) as err:
        train_from_env("grasp_agent/WallDoor-v0", model=PlanOnlyModel(), n_steps=10 ** 9, num_envs=1,
                       progress=False)  # would take hours if it collected first
    _assert_lists_missing(err)


def test_dyna_loop_rejects_a_plan_only_model():
    env = gym.make("grasp_agent/WallDoor-v0")
    try:
        with pytest.raises(TypeError) as err:
            DynaLoop(env, RandomAgent(env.action_space, env.observation_space, seed=0), PlanOnlyModel())
        _assert_lists_missing(err)
    finally:
        env.close()


def test_save_world_model_rejects_a_plan_only_model(tmp_path):
    path = tmp_path / "model.pt"
    with pytest.raises(TypeError) as err:
        save_world_model(PlanOnlyModel(), path)
    _assert_lists_missing(err)
    assert not path.exists()
    wrapped = ActionBlockModel(PlanOnlyModel(), k=2)  # plans wrapped, but cannot be saved
    assert wrapped.predict(torch.zeros(1, 2), torch.ones(1, 4)).shape == (1, 2)
    with pytest.raises(TypeError) as err:
        save_world_model(wrapped, path)
    _assert_lists_missing(err)


def test_abstract_training_hooks_are_enforced():
    class NoConfig(TrainableWorldModel):
        latent_dim = action_dim = 2

        def encode(self, obs):
            return obs

        def predict(self, z, a):
            return z

        def training_loss(self, obs, actions, next_obs):
            return obs.sum(), {}

    with pytest.raises(TypeError, match="get_config"):
        NoConfig()


def test_a_minimal_trainable_model_trains_and_round_trips(tmp_path):
    buf = _buffer()
    torch.manual_seed(0)
    model = DeltaModel()
    data = {k: torch.as_tensor(v) for k, v in buf.transitions().items()}
    with torch.no_grad():
        before, _ = model.training_loss(data["obs"], data["actions"], data["next_obs"])
    result = fit_world_model(model, buf, FIT)
    with torch.no_grad():
        after, _ = model.training_loss(data["obs"], data["actions"], data["next_obs"])
    assert result.steps > 0 and np.isfinite(result.best_val_loss)
    assert float(after) < 0.2 * float(before)
    assert len(model.normalizer_calls) == 1 and 0 < model.normalizer_calls[0] < len(buf)  # training split
    save_world_model(model, tmp_path / "delta.pt", extra={"note": "test"})
    loaded = load_world_model(tmp_path / "delta.pt")
    assert type(loaded) is DeltaModel and loaded.get_config() == model.get_config()
    z, a = torch.rand(5, 2), torch.rand(5, 2) * 2 - 1
    torch.testing.assert_close(loaded.predict(z, a), model.predict(z, a))
    blocked = ActionBlockModel(model, k=2)
    save_world_model(blocked, tmp_path / "blocked.pt")
    torch.testing.assert_close(load_world_model(tmp_path / "blocked.pt").predict(z, torch.cat([a, a], -1)),
                               blocked.predict(z, torch.cat([a, a], -1)))
