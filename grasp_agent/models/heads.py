"""Learned task heads on a world model's latent: achieved goal, reward and termination.

A world model predicts latents; a task is defined on what the env reports. :class:`TaskHeads`
maps latents back to those quantities so a planner can score imagined trajectories of any
Gymnasium env:

* goal head ``achieved(z (..., D)) -> (..., G)``: the env's ``achieved_goal`` of the state,
* reward head ``reward(z, a, z_next) -> (...)``: the reward of the transition,
* termination head ``termination(z, a, z_next) -> (...)``: the probability that it ends the
  episode in a terminal state.

Each head is a small MLP on normalised inputs (:class:`~grasp_agent.models.normalizer.Normalizer`
fitted on the data) and differentiable end to end.
:func:`~grasp_agent.models.heads_fit.fit_task_heads` trains them on the latents of a frozen
world model; ``train_from_env`` does it for you and stores the heads in
``model.pt`` (``extra["task_heads"]``, read back with :func:`load_task_heads`)::

    heads = TaskHeads(model.latent_dim, model.action_dim, reward=True)
    metrics = fit_task_heads(model, heads, buffer, steps=1000)   # {"val/reward_r2": ..., ...}
    r = heads.reward(z, a, z_next)                               # (...) differentiable
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from grasp_agent.models.io import read_checkpoint
from grasp_agent.models.mlp import make_mlp
from grasp_agent.models.normalizer import Normalizer
from grasp_agent.safe_io import CheckpointError
from grasp_agent.utils import resolve_device

logger = logging.getLogger(__name__)

HEADS_FORMAT = "grasp_agent.task_heads/1"
#: Names of the heads, as used in ``train_from_env(heads={...})`` and in metric keys.
HEAD_NAMES = ("goal", "reward", "termination")
_ACTIVATION = "silu"


def _is_int(x: Any) -> bool:
    return isinstance(x, (int, np.integer)) and not isinstance(x, (bool, np.bool_))


def _how_to_build(name: str) -> str:
    arg = {"goal": "goal_dim=G", "reward": "reward=True", "termination": "termination=True"}[name]
    return (f"build them with TaskHeads(..., {arg}) and train them with fit_task_heads, or pass "
            f"heads={{{name!r}: True}} to train_from_env")


class TaskHeads(nn.Module):
    """Goal, reward and termination heads on latents ``z (..., D)`` and actions ``a (..., A)``.

    Args:
        latent_dim: ``D``, the world model's ``latent_dim``.
        action_dim: ``A``, the world model's ``action_dim`` (``action_block`` env actions).
        goal_dim: ``G``, the size of the env's flat ``achieved_goal``; ``None`` builds no goal head.
        reward: build a reward head. termination: build a termination head.
        hidden_sizes: hidden widths of each head's MLP (SiLU).

    Raises:
        ValueError: a size below 1, or no head requested at all.
    """

    def __init__(self, latent_dim: int, action_dim: int, goal_dim: int | None = None, reward: bool = False,
                 termination: bool = False, hidden_sizes: Sequence[int] = (128, 128)) -> None:
        super().__init__()
        for name, value in (("latent_dim", latent_dim), ("action_dim", action_dim)):
            if not _is_int(value) or value < 1:
                raise ValueError(f"TaskHeads {name} must be an int >= 1, got {value!r}")
        if goal_dim is not None and (not _is_int(goal_dim) or goal_dim < 1):
            raise ValueError(f"TaskHeads goal_dim must be None or an int >= 1, got {goal_dim!r}")
        for name, value in (("reward", reward), ("termination", termination)):
            if not isinstance(value, bool):
                raise TypeError(f"TaskHeads {name} must be a bool, got {value!r}")
        hidden = [int(h) for h in hidden_sizes]
        if not all(h >= 1 for h in hidden):
            raise ValueError(f"hidden_sizes must be ints >= 1, got {hidden_sizes!r}")
        if goal_dim is None and not reward and not termination:
            raise ValueError("TaskHeads needs at least one head: goal_dim=G, reward=True or termination=True")
        self.latent_dim, self.action_dim = int(latent_dim), int(action_dim)
        self.goal_dim = None if goal_dim is None else int(goal_dim)
        self.hidden_sizes = tuple(hidden)
        self.z_norm, self.a_norm = Normalizer(self.latent_dim), Normalizer(self.action_dim)
        step_in = 2 * self.latent_dim + self.action_dim
        self.goal_net = make_mlp(self.latent_dim, self.goal_dim, hidden, _ACTIVATION) if goal_dim else None
        self.goal_norm = Normalizer(self.goal_dim) if goal_dim else None
        self.reward_net = make_mlp(step_in, 1, hidden, _ACTIVATION) if reward else None
        self.reward_norm = Normalizer(1) if reward else None
        self.termination_net = make_mlp(step_in, 1, hidden, _ACTIVATION) if termination else None

    # ------------------------------------------------------------------ queries
    @property
    def heads(self) -> tuple[str, ...]:
        """Names of the heads built, in :data:`HEAD_NAMES` order."""
        return tuple(n for n, net in zip(HEAD_NAMES, (self.goal_net, self.reward_net, self.termination_net))
                     if net is not None)

    def has(self, name: str) -> bool:
        """Whether the head ``name`` (``"goal"``, ``"reward"`` or ``"termination"``) was built."""
        return name in self.heads

    def _require(self, name: str) -> None:
        if not self.has(name):
            raise ValueError(f"these TaskHeads have no {name} head (built: {list(self.heads)}); "
                             + _how_to_build(name))

    def _check(self, z: torch.Tensor, a: torch.Tensor | None = None, z_next: torch.Tensor | None = None
               ) -> None:
        if z.shape[-1:] != (self.latent_dim,):
            raise ValueError(f"z must be (..., {self.latent_dim}), got {tuple(z.shape)}")
        if a is not None and a.shape != z.shape[:-1] + (self.action_dim,):
            raise ValueError(f"a must be {tuple(z.shape[:-1]) + (self.action_dim,)} to match z "
                             f"{tuple(z.shape)}, got {tuple(a.shape)}")
        if z_next is not None and z_next.shape != z.shape:
            raise ValueError(f"z_next must have z's shape {tuple(z.shape)}, got {tuple(z_next.shape)}")

    def _step_input(self, z: torch.Tensor, a: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
        self._check(z, a, z_next)
        return torch.cat([self.z_norm(z.float()), self.a_norm(a.float()), self.z_norm(z_next.float())], -1)

    def achieved(self, z: torch.Tensor) -> torch.Tensor:
        """The achieved goal ``(..., G)`` of latents ``z (..., D)``."""
        self._require("goal")
        self._check(z)
        return self.goal_norm.inverse(self.goal_net(self.z_norm(z.float())))

    def reward(self, z: torch.Tensor, a: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
        """Reward ``(...)`` of the transitions ``z (..., D), a (..., A) -> z_next (..., D)``."""
        self._require("reward")
        return self.reward_norm.inverse(self.reward_net(self._step_input(z, a, z_next)))[..., 0]

    def termination_logit(self, z: torch.Tensor, a: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
        """Logit ``(...)`` of :meth:`termination` (for a numerically stable loss)."""
        self._require("termination")
        return self.termination_net(self._step_input(z, a, z_next))[..., 0]

    def termination(self, z: torch.Tensor, a: torch.Tensor, z_next: torch.Tensor) -> torch.Tensor:
        """Probability in ``[0, 1]`` ``(...)`` that the transition ends the episode (terminal)."""
        return torch.sigmoid(self.termination_logit(z, a, z_next))

    @torch.no_grad()
    def fit_normalizers(self, z: torch.Tensor, a: torch.Tensor, goals: torch.Tensor | None = None,
                        rewards: torch.Tensor | None = None) -> None:
        """Fit the normalisers on ``z (N, D)``, ``a (N, A)``, ``goals (N, G)`` and ``rewards (N,)``."""
        self.z_norm.fit(z)
        self.a_norm.fit(a)
        if self.goal_norm is not None and goals is not None:
            self.goal_norm.fit(goals)
        if self.reward_norm is not None and rewards is not None:
            self.reward_norm.fit(rewards.reshape(-1, 1))

    # ------------------------------------------------------------------ saving
    def get_config(self) -> dict[str, Any]:
        """The constructor keywords (plain data)."""
        return {"latent_dim": self.latent_dim, "action_dim": self.action_dim, "goal_dim": self.goal_dim,
                "reward": self.has("reward"), "termination": self.has("termination"),
                "hidden_sizes": list(self.hidden_sizes)}

    def to_checkpoint(self) -> dict[str, Any]:
        """``{"format", "config", "state_dict"}``: tensors and plain data only (``weights_only`` loads it)."""
        return {"format": HEADS_FORMAT, "config": self.get_config(),
                "state_dict": {k: v.detach().cpu().clone() for k, v in self.state_dict().items()}}

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any], device: str | torch.device = "cpu") -> TaskHeads:
        """Rebuild heads from :meth:`to_checkpoint` output (in eval mode, on ``device``).

        Raises:
            CheckpointError: a malformed entry, another format, or weights that do not fit.
        """
        device = resolve_device(device)
        if not isinstance(ckpt, dict) or ckpt.get("format") != HEADS_FORMAT \
                or not isinstance(ckpt.get("config"), dict) or not isinstance(ckpt.get("state_dict"), dict):
            raise CheckpointError(f"not a {HEADS_FORMAT} entry (a dict with format, config and state_dict)")
        try:
            heads = cls(**ckpt["config"])
        except (TypeError, ValueError) as exc:
            raise CheckpointError(f"the saved task-head config does not build TaskHeads ({exc})") from exc
        state = ckpt["state_dict"]
        mine, theirs = set(heads.state_dict()), set(state)
        if mine != theirs or not all(isinstance(v, torch.Tensor) for v in state.values()):
            raise CheckpointError(f"the saved task-head weights do not fit TaskHeads{tuple(heads.heads)} "
                                  f"(missing: {sorted(mine - theirs)}, unexpected: {sorted(theirs - mine)})")
        try:
            heads.load_state_dict(state)
        except RuntimeError as exc:
            raise CheckpointError(f"the saved task-head weights do not fit: "
                                  f"{str(exc).splitlines()[-1].strip()}") from exc
        return heads.to(device).eval()

    def extra_repr(self) -> str:
        return f"latent_dim={self.latent_dim}, action_dim={self.action_dim}, heads={list(self.heads)}"


def load_task_heads(path: str | os.PathLike, device: str | torch.device = "cpu") -> TaskHeads | None:
    """The heads saved in the world-model file at ``path`` (``extra["task_heads"]``); None if it has none.

    Raises:
        FileNotFoundError: no file at ``path``.
        CheckpointError: the file, or its task-head entry, is unreadable.
    """
    extra = read_checkpoint(path)["extra"]
    entry = extra.get("task_heads") if isinstance(extra, dict) else None
    if entry is None:
        return None
    try:
        return TaskHeads.from_checkpoint(entry, device)
    except CheckpointError as exc:
        raise CheckpointError(f"world-model checkpoint {os.fspath(path)!r}: {exc}") from exc
