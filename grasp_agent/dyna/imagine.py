"""Imagined transitions: short rollouts of the world model from real start states.

Each rollout starts at a stored real observation with the goal of its episode, picks actions
with a policy (the SB3 learner's own stochastic policy, Dyna-style, or uniform random),
predicts the next state with the world model and scores it with the env's vectorised
``compute_reward``. Rollouts are returned as whole episodes ending in a truncation.

The learner sees imagined states as observations, so the world model's latent space must be
the env's observation space: ``observation`` of shape ``(latent_dim,)`` (an identity encoder
such as ``MLPWorldModel`` on state observations). States are clipped into the observation
bounds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from grasp_agent.models.base import WorldModel

IMAGINATION_POLICIES = ("learner", "random")


def check_imaginable(model: WorldModel, observation_space: spaces.Space) -> None:
    """Raise unless imagined latents can stand in for observations of ``observation_space``."""
    if not isinstance(observation_space, spaces.Dict) or "desired_goal" not in observation_space.spaces:
        raise ValueError("imagined transitions need a goal-conditioned Dict env (observation / "
                         "achieved_goal / desired_goal with compute_reward); set imagined_rollouts=0 "
                         "for other envs")
    shape = observation_space["observation"].shape
    if shape != (model.latent_dim,):
        raise ValueError(f"imagined transitions are latents of dim {model.latent_dim}, but the env observes "
                         f"shape {shape}; use a state-observation env with an identity-encoder model (e.g. "
                         "MLPWorldModel) or set imagined_rollouts=0")


@torch.no_grad()
def imagine_episodes(model: WorldModel, starts: np.ndarray, goals: np.ndarray, horizon: int,
                     policy: Callable[[dict[str, np.ndarray]], np.ndarray],
                     compute_reward: Callable[..., np.ndarray], observation_space: spaces.Dict,
                     action_space: spaces.Box) -> list[dict[str, Any]]:
    """Roll the model out from ``starts (N, D)`` toward ``goals (N, D)`` for ``horizon`` steps.

    Returns ``N`` episodes, each ``{"obs": [T+1 dicts], "actions": (T, A), "rewards": (T,)}``.
    """
    box = observation_space["observation"]
    low, high = box.low, box.high
    device = model.device
    was_training = model.training
    model.eval()
    try:
        z = np.clip(np.asarray(starts, np.float32), low, high)
        g = np.asarray(goals, np.float32)
        obs_seq, act_seq, rew_seq = [], [], []
        for _ in range(horizon):
            obs = {"observation": z, "achieved_goal": z.copy(), "desired_goal": g}
            a = np.asarray(policy(obs), np.float32).reshape(len(z), -1)
            a = np.clip(a, action_space.low, action_space.high)
            nxt = model.predict(torch.as_tensor(z, device=device), torch.as_tensor(a, device=device))
            z_next = np.clip(np.nan_to_num(nxt.float().cpu().numpy()), low, high).astype(np.float32)
            obs_seq.append(obs)
            act_seq.append(a)
            rew_seq.append(np.asarray(compute_reward(z_next, g, None), np.float32).reshape(len(z)))
            z = z_next
        obs_seq.append({"observation": z, "achieved_goal": z.copy(), "desired_goal": g})
    finally:
        model.train(was_training)
    return [{"obs": [{k: v[i] for k, v in o.items()} for o in obs_seq],
             "actions": np.stack([a[i] for a in act_seq]),
             "rewards": np.array([r[i] for r in rew_seq], np.float32)} for i in range(len(starts))]
