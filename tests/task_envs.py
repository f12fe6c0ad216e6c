"""Small envs and exact world models for the objective tests (pure Python and torch).

* :class:`PointGoalEnv`: a goal-Dict env in the Gymnasium-Robotics convention: ``observation`` is
  position and velocity ``(4,)``, ``achieved_goal`` / ``desired_goal`` are positions ``(2,)``.
* :class:`PointModel`: its exact dynamics as a world model (identity encoder).
* :class:`PendulumModel` / :func:`pendulum_reward`: ``Pendulum-v1``'s dynamics and reward in torch.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import torch
from gymnasium import spaces

import grasp_agent

DT, DAMP = 0.1, 0.9


class PointGoalEnv(gym.Env):
    """A point mass in ``[-1, 1]^2``: ``v' = DAMP v + DT a``, ``p' = clip(p + DT v')``; success (and
    reward 0, else -1) within 0.1 of the goal; 50 steps."""

    metadata = {"render_modes": []}

    def __init__(self, max_steps: int = 50) -> None:
        box2 = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.observation_space = spaces.Dict({
            "observation": spaces.Box(-np.inf, np.inf, (4,), np.float32),
            "achieved_goal": box2, "desired_goal": box2})
        self.action_space = spaces.Box(-1.0, 1.0, (2,), np.float32)
        self.max_steps = max_steps

    def _obs(self) -> dict[str, np.ndarray]:
        state = self.state.astype(np.float32)
        goal = self.goal.astype(np.float32)
        return {"observation": state, "achieved_goal": state[:2].copy(), "desired_goal": goal}

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.state = np.concatenate([self.np_random.uniform(-0.8, 0.8, 2), np.zeros(2)])
        self.goal = self.np_random.uniform(-0.8, 0.8, 2)
        self.t = 0
        return self._obs(), {}

    def step(self, action):
        a = np.clip(np.asarray(action, np.float64), -1, 1)
        v = DAMP * self.state[2:] + DT * a
        p = np.clip(self.state[:2] + DT * v, -1, 1)
        self.state = np.concatenate([p, v])
        self.t += 1
        success = bool(np.linalg.norm(p - self.goal) < 0.1)
        return self._obs(), float(success) - 1.0, False, self.t >= self.max_steps, {"is_success": success}


class PointModel(grasp_agent.WorldModel):
    """The exact dynamics of :class:`PointGoalEnv` (up to the position clip)."""

    latent_dim, action_dim = 4, 2

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(obs).float().reshape(-1, 4)

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        v = DAMP * z[..., 2:] + DT * a
        return torch.cat([(z[..., :2] + DT * v).clamp(-1, 1), v], dim=-1)


class PendulumModel(grasp_agent.WorldModel):
    """``Pendulum-v1``'s dynamics on its observation ``(cos th, sin th, thdot)``."""

    latent_dim, action_dim = 3, 1

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        return torch.as_tensor(obs).float().reshape(-1, 3)

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        th, thdot = torch.atan2(z[..., 1], z[..., 0]), z[..., 2]
        u = a[..., 0].clamp(-2, 2)
        thdot = (thdot + (3 * 10.0 / 2 * torch.sin(th) + 3.0 * u) * 0.05).clamp(-8, 8)
        th = th + thdot * 0.05
        return torch.stack([torch.cos(th), torch.sin(th), thdot], dim=-1)


def pendulum_reward(z: torch.Tensor, a: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
    """``Pendulum-v1``'s reward of the transition (a function of ``z`` and ``a``)."""
    th = torch.atan2(z[..., 1], z[..., 0])
    return -(th ** 2 + 0.1 * z[..., 2] ** 2 + 0.001 * a[..., 0] ** 2)
