"""Collect experience from any policy through Gymnasium vector envs into a ReplayBuffer.

``collect("grasp_agent/WallDoor-v0", n_steps=20_000)`` runs a seeded random policy in a few
synchronous sub-envs and returns a filled :class:`ReplayBuffer` with correct episode
boundaries. Any agent plugs in as ``policy``: a callable ``obs -> actions`` on batched
observations, an object with SB3's ``predict(obs, deterministic=...)``, or one with
``act(obs)``. Discrete actions are stored one-hot (``action_dim = n``). The env may be an id, a
``gymnasium.Env`` instance, a zero-argument factory or a vector env (see
:func:`make_vector_env`). Goal-Dict observations with an ``achieved_goal`` entry fill a buffer
that keeps the achieved goals (``ReplayBuffer(..., goal_dim=G)``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
from tqdm.auto import tqdm

from grasp_agent.data.buffer import ReplayBuffer
from grasp_agent.data.recorder import VectorRecorder

logger = logging.getLogger(__name__)


class RandomPolicy:
    """Seeded random actions for a vector env, optionally held for several steps.

    Args:
        action_space: the single-env action space (Box or Discrete).
        num_envs: batch size of the actions returned.
        seed: seed of the policy's ``np.random.Generator``.
        hold_prob: probability of repeating each env's previous action (0 = i.i.d.); values
            around 0.8 give temporally correlated exploration that travels further.
    """

    def __init__(self, action_space: gym.Space, num_envs: int, seed: int | None = 0,
                 hold_prob: float = 0.0) -> None:
        if not 0.0 <= hold_prob < 1.0:
            raise ValueError(f"hold_prob must be in [0, 1), got {hold_prob}")
        if not isinstance(action_space, (gym.spaces.Box, gym.spaces.Discrete)):
            raise TypeError(f"RandomPolicy supports Box and Discrete spaces, got {action_space}")
        self.space, self.num_envs, self.hold_prob = action_space, int(num_envs), float(hold_prob)
        self.rng = np.random.default_rng(seed)
        self._last: np.ndarray | None = None

    def _draw(self) -> np.ndarray:
        if isinstance(self.space, gym.spaces.Discrete):
            return self.space.start + self.rng.integers(0, self.space.n, size=self.num_envs)
        low, high = self.space.low, self.space.high
        return self.rng.uniform(low, high, size=(self.num_envs,) + low.shape).astype(self.space.dtype)

    def __call__(self, obs: Any) -> np.ndarray:
        new = self._draw()
        if self._last is not None and self.hold_prob > 0:
            hold = self.rng.random(self.num_envs) < self.hold_prob
            new[hold] = self._last[hold]
        self._last = new
        return new


class _Predictor:
    """SB3's ``predict`` contract over a vector env: the recurrent ``state`` is carried between
    calls and ``episode_start`` marks the envs whose observation starts an episode, so agents that
    keep per-episode state (planner agents' plans, held exploration actions) reset it there."""

    def __init__(self, policy: Any) -> None:
        self.policy, self.state = policy, None

    def __call__(self, obs: Any, episode_start: np.ndarray) -> np.ndarray:
        actions, self.state = self.policy.predict(obs, state=self.state, episode_start=episode_start,
                                                  deterministic=False)
        return actions


def _policy_fn(policy: Any) -> Any:
    """``(obs, episode_start) -> actions`` for a callable, an SB3-style ``predict`` or an ``act`` policy."""
    if hasattr(policy, "predict"):
        return _Predictor(policy)
    if callable(policy):
        return lambda obs, episode_start: policy(obs)
    if hasattr(policy, "act"):
        return lambda obs, episode_start: policy.act(obs)
    raise TypeError(f"policy must be callable, or have predict(obs, state, episode_start, deterministic) "
                    f"or act(obs); got {type(policy).__name__}")


#: What :func:`make_vector_env` accepts: an id, an env instance or a zero-argument factory.
EnvSpec = str | gym.Env | Callable[[], gym.Env]


def _checked_factory(factory: Callable[..., Any], kwargs: dict[str, Any],
                     wrapper_class: Callable[[gym.Env], gym.Env] | None) -> Callable[[], gym.Env]:
    def make() -> gym.Env:
        env = factory(**kwargs)
        if not isinstance(env, gym.Env):
            name = getattr(factory, "__qualname__", type(factory).__name__)
            raise TypeError(f"the env factory {name!r} returned a {type(env).__name__}, not a "
                            "gymnasium.Env; pass a zero-argument callable that builds one env")
        return wrapper_class(env) if wrapper_class is not None else env
    return make


def make_vector_env(env: EnvSpec, num_envs: int = 4, env_kwargs: dict[str, Any] | None = None,
                    wrapper_class: Callable[[gym.Env], gym.Env] | None = None) -> gym.vector.VectorEnv:
    """Synchronous vector env of ``num_envs`` sub-envs, like SB3's ``make_vec_env``.

    Args:
        env: an env id (grasp_agent's ids are registered on import), a ``gymnasium.Env``
            instance (it becomes the only sub-env: ``num_envs`` must be 1, and closing the vector
            env closes it too) or a callable returning a new env (called ``num_envs`` times with
            ``env_kwargs``).
        env_kwargs: keyword arguments of ``gym.make`` or of the factory (not for an instance).
        wrapper_class: applied to each sub-env, e.g. ``gymnasium.wrappers.TimeLimit`` via a lambda.

    Raises:
        TypeError: ``env`` is none of the above, or the factory returns something else.
        ValueError: an instance with ``num_envs != 1`` or with ``env_kwargs``.
    """
    import grasp_agent  # noqa: F401  (registers the grasp_agent/ ids)

    if not isinstance(num_envs, (int, np.integer)) or isinstance(num_envs, bool) or num_envs < 1:
        raise ValueError(f"num_envs must be an int >= 1, got {num_envs!r}")
    if isinstance(env, str):
        wrappers = [wrapper_class] if wrapper_class is not None else None
        return gym.make_vec(env, num_envs=int(num_envs), vectorization_mode="sync", wrappers=wrappers,
                            **(env_kwargs or {}))
    if isinstance(env, gym.Env):
        if num_envs != 1:
            raise ValueError(f"an env instance is one env: pass num_envs=1 (got {num_envs}), or pass a "
                             "zero-argument factory (e.g. lambda: MyEnv()) to run several copies")
        if env_kwargs:
            raise ValueError("env_kwargs cannot be applied to an env instance that is already built; "
                             "pass the class or a factory instead")
        inst = wrapper_class(env) if wrapper_class is not None else env
        return gym.vector.SyncVectorEnv([lambda: inst])
    if isinstance(env, gym.vector.VectorEnv) or not callable(env):
        raise TypeError(f"env must be an env id (str), a gymnasium.Env or a zero-argument callable returning "
                        f"one; got {type(env).__name__}")
    return gym.vector.SyncVectorEnv([_checked_factory(env, dict(env_kwargs or {}), wrapper_class)
                                     for _ in range(int(num_envs))])


def goal_dim_of(obs_space: gym.Space, goal_key: str | None = "achieved_goal") -> int | None:
    """``G``, the flat size of the ``goal_key`` Box of a Dict space; None if there is none.

    Image goals (an integer Box of 2 or more dimensions, e.g. ``(64, 64, 3)`` uint8) count as
    none: such a goal is an observation, which planners encode, and keeping it as ``G`` floats
    per row would take four times the memory of the observations.
    """
    if goal_key is None or not isinstance(obs_space, gym.spaces.Dict) or goal_key not in obs_space.spaces:
        return None
    space = obs_space[goal_key]
    if not isinstance(space, gym.spaces.Box):
        raise TypeError(f"the {goal_key!r} entry of the observation space must be a Box, got {space}")
    if len(space.shape) >= 2 and np.dtype(space.dtype).kind in "biu":
        logger.debug("the %r entry is an image %s: not kept as an achieved goal", goal_key, space.shape)
        return None
    return int(np.prod(space.shape))


def buffer_for(envs: gym.vector.VectorEnv, capacity: int, obs_key: str = "observation",
               goal_key: str | None = "achieved_goal") -> ReplayBuffer:
    """An empty buffer shaped for the single-env observation (``obs_key`` of a Dict) and action.

    A Dict space with a ``goal_key`` Box (``achieved_goal``) gives a buffer that keeps the achieved
    goals, flattened to ``G`` floats (``goal_key=None``: no goals).
    """
    obs_space = envs.single_observation_space
    goal_dim = goal_dim_of(obs_space, goal_key)
    if isinstance(obs_space, gym.spaces.Dict):
        if obs_key not in obs_space.spaces:
            raise KeyError(f"observation key {obs_key!r} not in {list(obs_space.spaces)}")
        obs_space = obs_space[obs_key]
    act_space = envs.single_action_space
    if isinstance(act_space, gym.spaces.Discrete):
        action_dim = int(act_space.n)
    elif isinstance(act_space, gym.spaces.Box):
        action_dim = int(np.prod(act_space.shape))
    else:
        raise TypeError(f"unsupported action space {act_space}; use a Box or Discrete space")
    return ReplayBuffer(capacity, obs_space.shape, action_dim, obs_space.dtype, goal_dim=goal_dim)


def collect(env: EnvSpec | gym.vector.VectorEnv, n_steps: int, policy: Any = None,
            buffer: ReplayBuffer | None = None, num_envs: int = 4, seed: int = 0,
            env_kwargs: dict[str, Any] | None = None, capacity: int | None = None,
            obs_key: str = "observation", hold_prob: float = 0.8, progress: bool = True,
            wrapper_class: Callable[[gym.Env], gym.Env] | None = None) -> ReplayBuffer:
    """Run ``policy`` for ``n_steps`` env steps (summed over sub-envs); return the buffer.

    Args:
        env: a vector env (used as is), or what :func:`make_vector_env` takes: an env id or a
            factory (a sync vector env of ``num_envs`` is made and closed afterwards) or an env
            instance (one sub-env; the instance is left open).
        policy: None (a :class:`RandomPolicy` with ``hold_prob``), a callable ``obs -> actions``,
            an SB3 model or agent (its ``predict`` gets the carried ``state`` and
            ``episode_start``, as in SB3's evaluation loop) or an object with ``act``; it receives
            the batched observation as the env returns it.
        buffer: buffer to append to (made from the env's spaces with ``capacity`` rows
            if None; default capacity ``n_steps + n_steps // 10 + 1024``).
        seed: seeds the env resets and the random policy.
        env_kwargs: keyword arguments for ``gym.make_vec`` (e.g. ``{"obs_mode": "pixels"}``).
        progress: show a tqdm progress bar.
        wrapper_class: applied to each sub-env made here (see :func:`make_vector_env`).
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be >= 1, got {n_steps}")
    is_vec = isinstance(env, gym.vector.VectorEnv)
    owns_env = not is_vec and not isinstance(env, gym.Env)  # an instance stays open for its owner
    if is_vec:
        envs = env
    else:
        envs = make_vector_env(env, 1 if isinstance(env, gym.Env) else num_envs, env_kwargs, wrapper_class)
    try:
        mode = envs.metadata.get("autoreset_mode", gym.vector.AutoresetMode.NEXT_STEP)
        mode_name = {"NextStep": "next_step", "SameStep": "same_step"}.get(getattr(mode, "value", mode))
        if mode_name is None:
            raise ValueError(f"vector env autoreset mode {mode} is not supported; use NEXT_STEP or SAME_STEP")
        if buffer is None:
            buffer = buffer_for(envs, capacity or n_steps + n_steps // 10 + 1024, obs_key)
        act_space = envs.single_action_space
        discrete = isinstance(act_space, gym.spaces.Discrete)
        act = _policy_fn(policy if policy is not None else RandomPolicy(
            act_space, envs.num_envs, seed=seed, hold_prob=hold_prob))
        recorder = VectorRecorder(buffer, envs.num_envs, mode_name,
                                  obs_fn=lambda o: o[obs_key] if isinstance(o, dict) else o)
        obs, _ = envs.reset(seed=seed)
        recorder.reset(obs)
        steps = 0
        # episode_start of the next observation; with NEXT_STEP autoreset the step after a done
        # one is the reset step, so its observation (not the reset step's input) starts the episode
        starts, pending = np.ones(envs.num_envs, bool), np.zeros(envs.num_envs, bool)
        with tqdm(total=n_steps, disable=not progress, desc="collect", unit="step") as bar:
            while steps < n_steps:
                actions = np.asarray(act(obs, starts))
                obs, rewards, terminated, truncated, infos = envs.step(actions)
                done = np.asarray(terminated, bool) | np.asarray(truncated, bool)
                if mode_name == "next_step":
                    starts, pending = pending, done
                else:
                    starts = done
                stored = np.eye(act_space.n, dtype=np.float32)[actions - act_space.start] \
                    if discrete else actions
                recorder.step(stored, obs, rewards, terminated, truncated, infos)
                steps += envs.num_envs
                bar.update(envs.num_envs)
        recorder.flush()
        logger.info("collected %d steps: %d episodes stored, %d autoreset steps dropped", steps,
                    recorder.episodes_stored, recorder.steps_dropped)
    finally:
        if owns_env:
            envs.close()
    return buffer
