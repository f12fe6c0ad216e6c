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
