"""Action blocks: one model step consumes ``k`` consecutive environment actions.

The paper's world models take 5 environment actions per model step, which shortens the
planning horizon by ``k`` (a ``T``-step plan covers ``T * k`` environment steps). Two ways to
get such a model here:

1. *Learned blocks* (the paper's way): build any model with ``action_dim = k * env_action_dim``
   and train it on blocked data, i.e. observations every ``k`` steps and the ``k`` actions in
   between concatenated in time order (``ReplayBuffer.sample_sequences(..., action_block=k)``,
   ``train_from_env(..., action_block=k)``). One network call per block.
2. *Wrapped blocks*: :class:`ActionBlockModel` turns a per-step model into a block model by
   applying it ``k`` times (its ``rollout`` runs the inner rollout, so models with history keep
   it). No retraining, ``k`` inner calls per block.

How an agent executes a block: a plan ``(B, T, k * A)`` is split with
:func:`unblock_actions` into ``(B, T * k, A)`` and the environment is stepped with each
sub-action in order (:func:`step_block` does one block, stopping early at the end of an
episode); a receding-horizon agent replans only at block boundaries.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch

from grasp_agent.models.base import WorldModel, check_world_model
from grasp_agent.models.io import class_path, import_class, model_config


def _check_k(k: int) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 1:
        raise ValueError(f"action block size k must be an int >= 1, got {k!r}")
    return int(k)


def block_action_space(space: gym.spaces.Box, k: int) -> gym.spaces.Box:
    """The Box of one block: ``space`` ``(A,)`` tiled ``k`` times to ``(k * A,)``."""
    k = _check_k(k)
    if not isinstance(space, gym.spaces.Box) or len(space.shape) != 1:
        raise TypeError(f"action blocks need a flat Box action space, got {space}")
    return gym.spaces.Box(np.tile(space.low, k), np.tile(space.high, k), dtype=space.dtype)


def unblock_actions(actions: Any, k: int) -> Any:
    """``(..., T, k * A) -> (..., T * k, A)`` (tensor or ndarray): the env actions in order."""
    k = _check_k(k)
    if actions.shape[-1] % k:
        raise ValueError(f"last dim {actions.shape[-1]} is not a multiple of the block size k={k}")
    a = actions.shape[-1] // k
    return actions.reshape(tuple(actions.shape[:-2]) + (actions.shape[-2] * k, a))


def step_block(env: gym.Env, block: np.ndarray, k: int) -> tuple[Any, float, bool, bool, dict, int]:
    """Execute one block ``(k * A,)`` in ``env``: ``k`` steps unless the episode ends first.

    Returns ``(obs, total_reward, terminated, truncated, info, steps_taken)`` of the last step.
    """
    subs = unblock_actions(np.asarray(block)[None], k)
    total, obs, info = 0.0, None, {}
    terminated = truncated = False
    steps = 0
    for a in subs:
        obs, reward, terminated, truncated, info = env.step(a)
        total += float(reward)
        steps += 1
        if terminated or truncated:
            break
    return obs, total, bool(terminated), bool(truncated), info, steps


class ActionBlockModel(WorldModel):
    """Wrap a per-step model so that one step consumes ``k`` env actions.

    Args:
        inner: the per-step :class:`~grasp_agent.WorldModel`, or the ``{"class", "config"}``
            dict :meth:`get_config` writes (used when loading a checkpoint).
        k: actions per block; ``action_dim = k * inner.action_dim``.

    ``predict(z, a)`` applies ``inner.predict`` ``k`` times (batched over leading dims);
    ``rollout`` unblocks the actions, runs ``inner.rollout`` over ``T * k`` steps and keeps
    every ``k``-th state. Any :class:`~grasp_agent.WorldModel` plans wrapped; saving the
    wrapper (:func:`~grasp_agent.save_world_model`) needs a saveable inner model
    (a :class:`~grasp_agent.TrainableWorldModel`).
    """

    def __init__(self, inner: WorldModel | dict[str, Any], k: int = 5) -> None:
        super().__init__()
        if isinstance(inner, dict):
            inner = import_class(inner["class"])(**inner["config"])
        self.inner = check_world_model(inner)
        self.k = _check_k(k)
        self.latent_dim = self.inner.latent_dim
        self.action_dim = self.k * self.inner.action_dim

    def get_config(self) -> dict[str, Any]:
        """``{"inner": {"class", "config"}, "k"}`` (TypeError if the inner model is not saveable)."""
        return {"inner": {"class": class_path(type(self.inner)), "config": model_config(self.inner)},
                "k": self.k}

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """Same latent space as the inner model."""
        return self.inner.encode(obs)

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``(..., D), (..., k * A) -> (..., D)``: ``k`` inner steps."""
        if a.shape[-1] != self.action_dim:
            raise ValueError(f"block actions must have last dim k*A = {self.action_dim}, got "
                             f"{tuple(a.shape)}")
        subs = a.reshape(tuple(a.shape[:-1]) + (self.k, self.inner.action_dim))
        for i in range(self.k):
            z = self.inner.predict(z, subs[..., i, :])
        return z

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """``(B, D), (B, T, k * A) -> (B, T, D)``: the inner rollout sampled every ``k`` steps."""
        states = self.inner.rollout(z0, unblock_actions(actions, self.k))
        return states[:, self.k - 1::self.k]
