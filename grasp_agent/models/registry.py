"""The one registry of world-model types: short name -> builder.

``train_from_env(env_id, model="gru")``, experiment configs (``model: {type: gru}``) and their
validation all look names up here, so a model type registered once is usable everywhere::

    from grasp_agent.models import register_world_model

    @register_world_model("linear")
    def build_linear(obs_space, action_dim, encoder, **kwargs):
        return LinearWorldModel(obs_space.shape[0], action_dim, **kwargs)

    make_world_model("linear", env.observation_space, env.action_space)   # works
    # experiment config: model: {type: linear, kwargs: {...}}

A builder has the signature ``(obs_space: gym.spaces.Box, action_dim: int, encoder: str | None,
**kwargs) -> WorldModel``: ``obs_space`` is the observation Box (the ``"observation"`` entry of a
Dict space), ``action_dim`` the model's action size (``action_block`` env actions, one-hot for
Discrete spaces), ``encoder`` the caller's choice or ``None`` (the builder picks, e.g. with
:func:`infer_encoder`), ``kwargs`` the model's constructor keywords. Models built to be trained
(``train_from_env``, ``DynaLoop``, experiments) must be :class:`~grasp_agent.TrainableWorldModel`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym

from grasp_agent._registry import decorator_or_call
from grasp_agent.models.base import WorldModel, check_world_model
from grasp_agent.models.encoders import CODEC_KINDS
from grasp_agent.models.ensemble import EnsembleWorldModel
from grasp_agent.models.gru import GRUWorldModel
from grasp_agent.models.mlp import MLPWorldModel
from grasp_agent.models.transformer import TransformerWorldModel

#: ``(obs_space, action_dim, encoder, **kwargs) -> WorldModel``
WorldModelBuilder = Callable[..., WorldModel]

#: World-model builders by short name (lower case). Read it; add to it with :func:`register_world_model`.
WORLD_MODELS: dict[str, WorldModelBuilder] = {}

_GRID_MAX_SIDE = 16  # (H, W, 3) observations smaller than this are MiniGrid grids, larger are images


def register_world_model(name: str, builder: WorldModelBuilder | None = None, *,
                         overwrite: bool = False) -> Any:
    """Register ``builder`` under ``name`` (usable directly or as a function decorator).

    Raises:
        TypeError: ``builder`` is not callable.
        ValueError: ``name`` is empty or already taken (pass ``overwrite=True`` to replace).
    """
    def check(fn: Any) -> None:
        if not callable(fn):
            raise TypeError(f"register_world_model({name!r}) needs a builder "
                            f"(obs_space, action_dim, encoder, **kwargs) -> WorldModel, got {fn!r}")

    return decorator_or_call(WORLD_MODELS, "world-model", name, builder, overwrite, check, _name)


def unregister_world_model(name: str) -> None:
    """Remove ``name`` from the registry (for tests and plug-ins that clean up)."""
    WORLD_MODELS.pop(name.lower(), None)


def world_model_builder(name: str) -> WorldModelBuilder:
    """The builder registered as ``name`` (case-insensitive).

    Raises:
        ValueError: unknown name; the message lists the registered ones.
    """
    if not isinstance(name, str) or name.lower() not in WORLD_MODELS:
        raise ValueError(f"unknown world-model type {name!r}; registered world models: "
                         f"{sorted(WORLD_MODELS)} (add one with grasp_agent.register_world_model)")
    return WORLD_MODELS[name.lower()]


def infer_encoder(obs_space: gym.spaces.Box) -> str:
    """``"state"`` for flat Boxes, ``"grid"`` for small ``(H, W, 3)`` ones, ``"pixels"`` otherwise."""
    if len(obs_space.shape) == 1:
        return "state"
    if len(obs_space.shape) == 3 and obs_space.shape[2] == 3:
        return "grid" if max(obs_space.shape[:2]) < _GRID_MAX_SIDE else "pixels"
    raise ValueError(f"cannot pick an encoder for observations of shape {obs_space.shape}; pass "
                     f"encoder= one of {CODEC_KINDS}")


def action_dim_of(space: gym.Space) -> int:
    """A model's per-step action size for ``space``: ``n`` (one-hot) for Discrete, the size of a flat Box."""
    if isinstance(space, gym.spaces.Discrete):
        return int(space.n)
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        return int(space.shape[0])
    raise TypeError(f"unsupported action space {space}; use a flat Box or Discrete space")


def observation_box(space: gym.Space, hint: str = "") -> gym.spaces.Box:
    """The Box a world model sees: ``space`` itself, or the ``observation`` entry of a Dict.

    Raises:
        ValueError: a Dict without ``observation``. TypeError: not a Box (``hint`` is appended).
    """
    if isinstance(space, gym.spaces.Dict):
        if "observation" not in space.spaces:
            raise ValueError(f"a Dict observation space needs an 'observation' key, got {list(space.spaces)}")
        space = space["observation"]
    if not isinstance(space, gym.spaces.Box):
        raise TypeError(f"world models need Box observations (or a Dict with an 'observation' Box), "
                        f"got {space}{hint}")
    return space


def make_world_model(kind: str, obs_space: gym.Space, action_space: gym.Space, action_block: int = 1,
                     encoder: str | None = None, **kwargs: Any) -> WorldModel:
    """Build a model of the registered type ``kind`` for the given spaces.

    Args:
        kind: a name of :data:`WORLD_MODELS` (built in: ``"mlp"``, ``"gru"``, ``"transformer"``,
            ``"ensemble"``).
        obs_space: the observation Box, or a Dict space with an ``"observation"`` Box.
        action_space: the env's action space; the model's ``action_dim`` is
            ``action_block * env_action_dim`` (Discrete: the one-hot size).
        encoder: ``"state"``, ``"pixels"``, ``"keypoints"`` or ``"grid"``; ``None`` lets the
            builder choose (the built-ins use :func:`infer_encoder`).
        kwargs: the model's constructor keywords.

    Raises:
        ValueError: unknown ``kind`` (the message lists the registered ones) or ``action_block < 1``.
        TypeError: the builder returned something that is not a :class:`WorldModel`.
    """
    builder = world_model_builder(kind)
    obs_space = observation_box(obs_space)
    if not isinstance(action_block, int) or action_block < 1:
        raise ValueError(f"action_block must be an int >= 1, got {action_block!r}")
    model = builder(obs_space, action_block * action_dim_of(action_space), encoder, **kwargs)
    try:
        return check_world_model(model)
    except TypeError as err:
        raise TypeError(f"the builder registered as {kind!r} ({_name(builder)}) returned an invalid "
                        f"world model: {err}") from err


def _name(fn: Any) -> str:
    return getattr(fn, "__qualname__", None) or repr(fn)


# ---------------------------------------------------------------------- built-in types
@register_world_model("mlp")
def build_mlp(obs_space: gym.spaces.Box, action_dim: int, encoder: str | None,
              **kwargs: Any) -> MLPWorldModel:
    """:class:`MLPWorldModel`: identity encoder, so state (flat Box) observations only."""
    encoder = encoder or infer_encoder(obs_space)
    if encoder != "state" or len(obs_space.shape) != 1:
        raise ValueError(f"the MLP model has an identity encoder and needs state observations; got "
                         f"{encoder!r} observations of shape {obs_space.shape}: use 'gru' or "
                         "'transformer', which learn an encoder")
    return MLPWorldModel(int(obs_space.shape[0]), action_dim, **kwargs)


@register_world_model("ensemble")
def build_ensemble(obs_space: gym.spaces.Box, action_dim: int, encoder: str | None,
                   **kwargs: Any) -> EnsembleWorldModel:
    """:class:`EnsembleWorldModel`: K batched MLP members (state observations only, as ``"mlp"``)."""
    encoder = encoder or infer_encoder(obs_space)
    if encoder != "state" or len(obs_space.shape) != 1:
        raise ValueError(f"the ensemble model has an identity encoder and needs state observations; got "
                         f"{encoder!r} observations of shape {obs_space.shape}")
    return EnsembleWorldModel(int(obs_space.shape[0]), action_dim, **kwargs)


@register_world_model("gru")
def build_gru(obs_space: gym.spaces.Box, action_dim: int, encoder: str | None,
              **kwargs: Any) -> GRUWorldModel:
    """:class:`GRUWorldModel` with a learned encoder for state, pixel, keypoint or grid observations."""
    return GRUWorldModel(obs_space.shape, action_dim, encoder=encoder or infer_encoder(obs_space), **kwargs)


@register_world_model("transformer")
def build_transformer(obs_space: gym.spaces.Box, action_dim: int, encoder: str | None,
                      **kwargs: Any) -> TransformerWorldModel:
    """:class:`TransformerWorldModel` with a learned encoder (as ``"gru"``)."""
    return TransformerWorldModel(obs_space.shape, action_dim, encoder=encoder or infer_encoder(obs_space),
                                 **kwargs)
