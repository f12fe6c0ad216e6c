"""MLP dynamics over state observations: identity encoder, normalised delta prediction.

With ``bound_outputs=True`` a prediction is kept inside the range of the states seen by
:meth:`MLPWorldModel.fit_normalizers`, widened by a margin (:func:`soft_clamp`), so an open-loop
rollout that leaves the data stays finite.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from grasp_agent.models.base import TrainableWorldModel
from grasp_agent.models.normalizer import Normalizer

ACTIVATIONS = {"silu": nn.SiLU, "relu": nn.ReLU, "tanh": nn.Tanh, "elu": nn.ELU, "gelu": nn.GELU}
ACTION_ENCODINGS = ("continuous", "onehot")
#: Bounds of an unfitted bounded model: wide enough to be the identity on any sensible state.
UNFITTED_BOUND = 1e30
_MIN_MARGIN = 1e-6


def soft_clamp(y: torch.Tensor, low: torch.Tensor, high: torch.Tensor, margin: torch.Tensor) -> torch.Tensor:
    """Identity on ``[low, high]``, a tanh saturation into ``[low - margin, high + margin]`` outside.

    ``y (..., D)``; ``low``, ``high``, ``margin`` ``(D,)``. Continuous with slope 1 at the
    edges, so predictions inside the data range (and the training loss) are unchanged; finite
    for any finite or infinite ``y``.
    """
    inside = torch.maximum(torch.minimum(y, high), low)
    return inside + margin * torch.tanh((y - inside) / margin)


def fit_bounds(states: torch.Tensor, margin: float) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-dimension ``(low, high, margin * (high - low))`` of states ``(N, D)`` (margin floored at 1e-6)."""
    low, high = states.min(0).values, states.max(0).values
    return low, high, (margin * (high - low)).clamp_min(_MIN_MARGIN)


def straight_through_onehot(scores: torch.Tensor, temperature: float) -> torch.Tensor:
    """One-hot of ``argmax(scores)`` forward, ``softmax(scores / temperature)`` gradient backward.

    ``(..., n) -> (..., n)``. This is the discrete relaxation for a model of a ``Discrete(n)``
    env acted on through :class:`grasp_agent.wrappers.DiscreteToBoxWrapper` (which executes the argmax, ties
    to the lowest index, like ``torch.argmax``): the model only ever sees the move the env will
    execute, and gradient planners still get a direction in score space.
    """
    soft = torch.softmax(scores / temperature, dim=-1)
    hard = nn.functional.one_hot(scores.argmax(-1), scores.shape[-1]).to(soft.dtype)
    return hard + soft - soft.detach()


def flat_state(obs: torch.Tensor, obs_dim: int, device: torch.device) -> torch.Tensor:
    """The identity encoder of state models: ``(B, obs_dim)`` (or ``(B, *shape)`` with prod =
    ``obs_dim``, or one ``(obs_dim,)``) -> ``(B, obs_dim)`` float32 on ``device``."""
    obs = torch.as_tensor(obs, device=device)
    flat = obs.reshape(obs.shape[0], -1) if obs.ndim > 1 else obs.reshape(1, -1)
    if flat.shape[-1] != obs_dim:
        raise ValueError(f"observation has {flat.shape[-1]} features per sample but the model "
                         f"was built for obs_dim={obs_dim}")
    return flat.float()


def encode_action(a: torch.Tensor, encoding: str, temperature: float) -> torch.Tensor:
    """``(..., A) -> (..., A)``: the action as is (``"continuous"``) or the straight-through one-hot
    of its argmax (``"onehot"``, see :func:`straight_through_onehot`)."""
    a = a.float()
    return straight_through_onehot(a, temperature) if encoding == "onehot" else a


def make_mlp(in_dim: int, out_dim: int, hidden_sizes: Sequence[int], activation: str) -> nn.Sequential:
    """A plain MLP ``in_dim -> hidden... -> out_dim`` with ``activation`` between layers."""
    if activation not in ACTIVATIONS:
        raise ValueError(f"unknown activation {activation!r}; choose from {sorted(ACTIVATIONS)}")
    layers: list[nn.Module] = []
    dims = [in_dim, *hidden_sizes]
    for a, b in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(a, b), ACTIVATIONS[activation]()]
    layers.append(nn.Linear(dims[-1], out_dim))
    return nn.Sequential(*layers)


class MLPWorldModel(TrainableWorldModel):
    """``z' = z + denorm(MLP(norm(z), norm(a)))`` over flat state observations.

    The encoder is the identity (``encode`` flattens ``(B, obs_dim)`` to float32), so the
    latent space is the observation space. Inputs and the predicted delta are normalised with
    statistics fitted by :meth:`fit_normalizers` (the trainer calls it).

    Args:
        obs_dim: size of the flat state observation (= ``latent_dim``).
        action_dim: size of the action (``A``).
        hidden_sizes: widths of the hidden layers.
        activation: one of ``silu``, ``relu``, ``tanh``, ``elu``, ``gelu``.
        action_encoding: ``"continuous"`` (the action as is) or ``"onehot"``: the action is a
            vector of scores of a discrete action (``DiscreteToBoxWrapper``) and the network
            sees the one-hot of its argmax, with a straight-through softmax gradient
            (:func:`straight_through_onehot`). Without it an MLP must learn the argmax itself,
            is blurry where scores nearly tie, and planners exploit that blur.
        action_temperature: softmax temperature of the straight-through gradient.
        bound_outputs: keep predictions inside the per-dimension range ``[low, high]`` of the
            states seen by :meth:`fit_normalizers`, widened by ``bound_margin * (high - low)``:
            the identity inside the range, a smooth tanh saturation in the margin
            (:func:`soft_clamp`). An off-distribution open-loop rollout then stays finite and
            bounded; the training loss is unchanged. The range is kept in the buffers
            ``bound_low``, ``bound_high``, ``bound_pad`` (saved with the weights).
        bound_margin: width of the margin as a fraction of the range, ``>= 0``.
    """

    def __init__(self, obs_dim: int, action_dim: int, hidden_sizes: Sequence[int] = (256, 256),
                 activation: str = "silu", action_encoding: str = "continuous",
                 action_temperature: float = 0.25, bound_outputs: bool = False,
                 bound_margin: float = 0.1) -> None:
        super().__init__()
        if obs_dim < 1 or action_dim < 1:
            raise ValueError(f"obs_dim and action_dim must be >= 1, got {obs_dim}, {action_dim}")
        if action_encoding not in ACTION_ENCODINGS:
            raise ValueError(f"unknown action_encoding {action_encoding!r}; choose from {ACTION_ENCODINGS}")
        if action_encoding == "onehot" and action_dim < 2:
            raise ValueError("action_encoding='onehot' needs action_dim >= 2 (one score per discrete action)")
        if action_temperature <= 0:
            raise ValueError(f"action_temperature must be > 0, got {action_temperature}")
        if not isinstance(bound_outputs, bool):
            raise TypeError(f"bound_outputs must be a bool, got {bound_outputs!r}")
        if isinstance(bound_margin, bool) or not isinstance(bound_margin, (int, float)) or not (
                0 <= bound_margin < math.inf):
            raise ValueError(f"bound_margin must be a finite number >= 0, got {bound_margin!r}")
        self.bound_outputs, self.bound_margin = bound_outputs, float(bound_margin)
        self.action_encoding = action_encoding
        self.action_temperature = float(action_temperature)
        self.latent_dim = int(obs_dim)
        self.action_dim = int(action_dim)
        self.hidden_sizes = tuple(int(h) for h in hidden_sizes)
        self.activation = activation
        self.z_norm = Normalizer(self.latent_dim)
        self.a_norm = Normalizer(self.action_dim)
        self.delta_norm = Normalizer(self.latent_dim)
        self.net = make_mlp(self.latent_dim + self.action_dim, self.latent_dim, self.hidden_sizes,
                            activation)
        if bound_outputs:  # only then: checkpoints of unbounded models keep their keys
            self.register_buffer("bound_low", torch.full((self.latent_dim,), -UNFITTED_BOUND))
            self.register_buffer("bound_high", torch.full((self.latent_dim,), UNFITTED_BOUND))
            self.register_buffer("bound_pad", torch.ones(self.latent_dim))

    def get_config(self) -> dict[str, Any]:
        """Constructor kwargs, for save/load."""
        return {"obs_dim": self.latent_dim, "action_dim": self.action_dim,
                "hidden_sizes": list(self.hidden_sizes), "activation": self.activation,
                "action_encoding": self.action_encoding, "action_temperature": self.action_temperature,
                "bound_outputs": self.bound_outputs, "bound_margin": self.bound_margin}

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        """``(..., D) -> (..., D)``: :func:`soft_clamp` to the fitted range (identity when unbounded)."""
        if not self.bound_outputs:
            return z
        return soft_clamp(z, self.bound_low, self.bound_high, self.bound_pad)

    def latent_scale(self) -> torch.Tensor:
        """``(D,)`` the scale of the model's own loss (the delta normaliser's std): the rollout
        loss of :func:`~grasp_agent.training.fit_world_model` divides latent errors by it."""
        return self.delta_norm.std

    def encode_action(self, a: torch.Tensor) -> torch.Tensor:
        """``(..., A) -> (..., A)``: the action the network sees (see ``action_encoding``)."""
        return encode_action(a, self.action_encoding, self.action_temperature)

    def encode(self, obs: torch.Tensor) -> torch.Tensor:
        """Identity encoder: ``(B, obs_dim)`` (or ``(B, *shape)`` with prod = obs_dim) -> ``(B, D)``."""
        return flat_state(obs, self.latent_dim, self.device)

    def predict(self, z: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """``(..., D), (..., A) -> (..., D)``."""
        x = torch.cat([self.z_norm(z), self.a_norm(self.encode_action(a))], dim=-1)
        return self.bound(z + self.delta_norm.inverse(self.net(x)))

    @torch.no_grad()
    def fit_normalizers(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor) -> None:
        """Fit input and delta normalisers from transitions ``(N, D), (N, A), (N, D)``."""
        z, z_next = self.encode(obs), self.encode(next_obs)
        self.z_norm.fit(z)
        self.a_norm.fit(self.encode_action(torch.as_tensor(actions, dtype=torch.float32)))
        self.delta_norm.fit(z_next - z)
        if self.bound_outputs:
            for buf, value in zip((self.bound_low, self.bound_high, self.bound_pad),
                                  fit_bounds(torch.cat([z, z_next]), self.bound_margin)):
                buf.copy_(value.to(buf.device))

    def training_loss(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor
                      ) -> tuple[torch.Tensor, dict[str, float]]:
        """MSE of the normalised delta; returns ``(loss, metrics)`` for a batch ``(N, ...)``."""
        z, z_next = self.encode(obs), self.encode(next_obs)
        x = torch.cat([self.z_norm(z), self.a_norm(self.encode_action(actions))], dim=-1)
        target = self.delta_norm(z_next - z)
        loss = ((self.net(x) - target) ** 2).mean()
        return loss, {"loss": float(loss.detach())}

    def extra_repr(self) -> str:
        n = sum(p.numel() for p in self.parameters())
        return f"obs_dim={self.latent_dim}, action_dim={self.action_dim}, params={n} (~{math.ceil(n / 1e3)}k)"
