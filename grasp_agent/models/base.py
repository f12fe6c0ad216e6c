"""The world-model interface every planner in this package relies on.

A world model maps observations to latents and predicts one step ahead in latent space:

* ``encode(obs)``: ``(B, *obs_shape) -> (B, D)``
* ``predict(z, a)``: ``(..., D), (..., A) -> (..., D)``, batched over any leading dims, so a
  lifted planner evaluates all ``B x T`` transitions of a trajectory in one call.
* ``rollout(z0, actions)``: ``(B, D), (B, T, A) -> (B, T, D)``, the serial rollout used by
  shooting planners and by GRASP's sync phase. The default loops over ``predict``; models with
  memory (a recurrent or attention context) override it.

Planners use nothing else, so any architecture plugs in.
"""

from __future__ import annotations

import abc
from typing import Any

import torch
from torch import nn


class WorldModel(nn.Module, metaclass=abc.ABCMeta):
    """Abstract latent world model ``F(z, a) -> z'``.

    Subclasses implement :meth:`encode` and :meth:`predict` (enforced: a subclass missing one
    cannot be instantiated) and expose ``latent_dim`` and ``action_dim`` as properties or
    attributes. The constructor takes no required arguments here.

    Example::

        class Linear(grasp_agent.WorldModel):
            latent_dim, action_dim = 2, 2
            def encode(self, obs):
                return obs.float()
            def predict(self, z, a):
                return z + 0.1 * a
    """

    latent_dim: int
    action_dim: int

    @abc.abstractmethod
    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """Map observations ``(B, *obs_shape)`` to latents ``(B, D)``."""

    @abc.abstractmethod
    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """One-step prediction ``(..., D), (..., A) -> (..., D)`` over any leading dims."""

    def rollout(self, z0: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        """Serial rollout ``(B, D), (B, T, A) -> (B, T, D)``: states ``s_1 .. s_T``."""
        states = []
        z = z0
        for t in range(actions.shape[-2]):
            z = self.predict(z, actions[..., t, :])
            states.append(z)
        return torch.stack(states, dim=-2)

    @property
    def device(self) -> torch.device:
        """Device of the first parameter or buffer (CPU for a parameter-free model)."""
        for tensor in self.parameters():
            return tensor.device
        for tensor in self.buffers():
            return tensor.device
        return torch.device("cpu")


def check_world_model(model: object) -> WorldModel:
    """Validate that ``model`` implements the interface; return it.

    Raises:
        TypeError: if ``model`` is not a :class:`WorldModel` or its sizes are not positive ints.
    """
    if not isinstance(model, WorldModel):
        raise TypeError(
            f"expected a grasp_agent.WorldModel, got {type(model).__name__}; subclass "
            "grasp_agent.WorldModel and implement encode() and predict()"
        )
    for name in ("latent_dim", "action_dim"):
        value = getattr(model, name, None)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise TypeError(
                f"{type(model).__name__}.{name} must be a positive int, got {value!r}; set it "
                "as an attribute or property"
            )
    return model


class TrainableWorldModel(WorldModel):
    """What training needs on top of planning: a loss, normaliser fitting and a config.

    The one trainer (:func:`grasp_agent.training.fit_world_model`), ``train_from_env``,
    ``DynaLoop`` and ``save_world_model``/``load_world_model`` take a
    ``TrainableWorldModel``; :func:`check_trainable` checks that once, at their boundary.

    Subclasses implement :meth:`training_loss` and :meth:`get_config`; the others have
    defaults. Models whose loss needs consecutive steps (recurrent or attention models) set
    ``sequence_training = True`` and override :meth:`sequence_loss`; the trainer then samples
    ``seq_len``-step windows instead of single transitions.

    Example::

        class Linear(grasp_agent.TrainableWorldModel):
            def __init__(self, dim=2):
                super().__init__()
                self.latent_dim = self.action_dim = dim
                self.A = torch.nn.Parameter(torch.zeros(dim, dim))
            def encode(self, obs): return obs.float()
            def predict(self, z, a): return z + a @ self.A
            def training_loss(self, obs, actions, next_obs):
                loss = ((self.predict(obs, actions) - next_obs) ** 2).mean()
                return loss, {"loss": float(loss)}
            def get_config(self): return {"dim": self.latent_dim}
    """

    #: ``True``: train on ``seq_len``-step windows with :meth:`sequence_loss`.
    sequence_training: bool = False

    @abc.abstractmethod
    def training_loss(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of transitions ``(N, *obs_shape), (N, A), (N, *obs_shape)`` -> ``(scalar, metrics)``."""

    @abc.abstractmethod
    def get_config(self) -> dict[str, Any]:
        """The constructor keyword arguments that rebuild this model (plain data: saved as is)."""

    def sequence_loss(self, obs_seq: torch.Tensor, actions: torch.Tensor
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        """Loss of windows ``obs (B, L + 1, *obs_shape)``, ``actions (B, L, A)``.

        The default flattens the windows into ``B * L`` transitions for :meth:`training_loss`.
        """
        shape = tuple(obs_seq.shape[2:])
        return self.training_loss(obs_seq[:, :-1].reshape((-1, *shape)),
                                  actions.reshape(-1, actions.shape[-1]),
                                  obs_seq[:, 1:].reshape((-1, *shape)))

    def fit_normalizers(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor) -> None:
        """Fit input/output statistics on the training split before training (default: none)."""


#: Methods a trainable model must define, and how (for :func:`check_trainable`'s message).
TRAINING_METHODS = {
    "training_loss": "training_loss(obs, actions, next_obs) -> (loss, metrics dict)",
    "get_config": "get_config() -> the constructor kwargs as a dict",
}


def check_trainable(model: object) -> TrainableWorldModel:
    """Validate that ``model`` can be trained and saved; return it.

    Raises:
        TypeError: listing what is missing and how to add it.
    """
    check_world_model(model)
    if isinstance(model, TrainableWorldModel):
        return model
    missing = [f"{name}: {how}" for name, how in TRAINING_METHODS.items()
               if not callable(getattr(type(model), name, None))]
    detail = ("; it lacks " + "; ".join(missing)) if missing else ""
    raise TypeError(f"{type(model).__name__} can plan but not be trained or saved: training needs a "
                    f"grasp_agent.TrainableWorldModel{detail}. Subclass TrainableWorldModel instead of "
                    "WorldModel and implement training_loss() and get_config() (optionally "
                    "fit_normalizers(), and sequence_loss() with sequence_training = True)")
