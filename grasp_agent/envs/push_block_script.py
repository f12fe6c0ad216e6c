"""A scripted pusher for PushBlock: data that moves the block, for world models that must push.

Uniform random actions move PushBlock's block in few transitions (the pusher rarely touches
it), so a world model trained on them learns pushing badly. :class:`ScriptedPusher` pushes on
purpose, in *legs*: for each leg it picks the direction ``u`` from the block to the episode's
goal (a random direction when the block already sits on the goal), walks the pusher around the
block to the side opposite ``u`` (via a waypoint beside the block, so it does not drag the
block back), pushes along ``u`` (a random speed and a random lateral contact offset per leg,
so the block also turns) until the block has passed the goal by a random overshoot, then turns
and starts the next leg, which pushes it back. Gaussian action noise is added to every action.
Its data cover pushes near the goals planners are asked to reach, from both sides.

Example::

    env = gymnasium.make("grasp_agent/PushBlock-v0")
    policy = ScriptedPusher.from_env(env, noise=0.3, seed=0)
    buffer = collect(env, n_steps=10_000, policy=policy, num_envs=1)
    block_motion_fraction(buffer.transitions())   # about 0.4, against about 0.07 for uniform actions
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import numpy as np
from gymnasium import spaces

from grasp_agent.agents.base import Agent, observation_batch_size
from grasp_agent.utils import atomic_json_dump

PUSHER_RADIUS = 0.04  # grasp_agent.envs.push_block.PUSHER_RADIUS (not imported: no pybullet needed)
TARGET_LIMIT = 0.32  # leg targets are clipped to |x|, |y| <= this (room behind the block for the pusher)
GAIN = 10.0  # position error (m) -> action, saturating at 0.1 m
CONTACT_FACTOR = 0.7  # pushing stand-off = pusher radius + CONTACT_FACTOR * block radius
APPROACH_MARGIN = 0.03  # approach stand-off = pusher radius + block radius + this
LATERAL_TOL = 0.03  # pushing while the pusher is this close to the push line
MAX_LEG_STEPS = 80  # a leg that has not passed the goal by then ends (block stuck at a wall)
ARRIVED = 0.03  # a block this close to the goal gets a random leg direction
MOTION_TOL = 1e-3  # block displacement (m per step) that counts as moving
SCRIPT_FORMAT = "grasp_agent.scripted_pusher/1"


def block_motion_fraction(transitions: Mapping[str, np.ndarray], tol: float = MOTION_TOL) -> float:
    """Share of PushBlock transitions in which the block moves more than ``tol`` metres.

    Args:
        transitions: ``obs (N, 11)`` and ``next_obs (N, 11)`` (e.g. ``ReplayBuffer.transitions()``).
    """
    obs, nxt = np.asarray(transitions["obs"]), np.asarray(transitions["next_obs"])
    if obs.ndim != 2 or obs.shape[-1] != 11 or obs.shape != nxt.shape:
        raise ValueError(f"need PushBlock state observations obs/next_obs of shape (N, 11), got "
                         f"{obs.shape} and {nxt.shape}")
    if len(obs) == 0:
        return float("nan")
    return float((np.linalg.norm(nxt[:, 4:6] - obs[:, 4:6], axis=-1) > tol).mean())


def split_by_block_motion(windows: Mapping[str, np.ndarray], tol: float = MOTION_TOL
                          ) -> dict[str, np.ndarray]:
    """A ``split_fn`` of :func:`grasp_agent.training.report.evaluate_world_model` for PushBlock:
    windows (``obs (N, H+1, 11)``) in which the block moves more than ``tol`` metres in some step
    (``block_moves``: pushes) versus the others (``block_still``), beside the obstacle split
    (``contact`` / ``no_contact``: some step touched a wall)."""
    obs = np.asarray(windows["obs"])
    moved = (np.linalg.norm(np.diff(obs[:, :, 4:6], axis=1), axis=-1) > tol).any(-1)
    touched = np.asarray(windows["touches"], bool).any(-1)
    return {"contact": touched, "no_contact": ~touched, "block_moves": moved, "block_still": ~moved}


class ScriptedPusher(Agent):
    """Push the block toward and past the goal, turn, push back (see the module docstring).

    Args:
        action_space: PushBlock's ``Box(-1, 1, (2,))`` (pusher velocity command).
        observation_space: PushBlock's state-mode goal ``Dict`` (``observation (11,)``,
            ``desired_goal (11,)``).
        block_radius: the block's circumscribed radius (``env.unwrapped.block_radius``).
        noise: std of the Gaussian added to every action (``deterministic=True`` drops it).
        overshoot: range (m) of how far a leg pushes the block past the goal.
        push_speed: range of the pushing speed (fraction of the top speed).
        max_offset: largest lateral contact offset (m) of a leg (turns the block).
        seed: seeds the legs' random choices and the noise.
    """

    def __init__(self, action_space: spaces.Box, observation_space: spaces.Dict, block_radius: float = 0.113,
                 noise: float = 0.3, overshoot: tuple[float, float] = (0.03, 0.12),
                 push_speed: tuple[float, float] = (0.5, 1.0), max_offset: float = 0.05,
                 seed: int | None = None) -> None:
        if not isinstance(action_space, spaces.Box) or action_space.shape != (2,):
            raise TypeError(f"ScriptedPusher needs PushBlock's Box action space of shape (2,), got "
                            f"{action_space}")
        obs_ok = isinstance(observation_space, spaces.Dict) and all(
            k in observation_space.spaces and observation_space[k].shape == (11,)
            for k in ("observation", "desired_goal"))
        if not obs_ok:
            raise TypeError("ScriptedPusher needs PushBlock's state-mode Dict observation space "
                            "('observation' and 'desired_goal' of shape (11,)); pixel observations "
                            f"have no block position to script with; got {observation_space}")
        for name, (lo, hi) in (("overshoot", overshoot), ("push_speed", push_speed)):
            if not 0.0 <= lo <= hi or (name == "push_speed" and not 0.0 < hi <= 1.0):
                raise ValueError(f"{name} must be a range (low, high) with 0 <= low <= high"
                                 f"{' <= 1' if name == 'push_speed' else ''}, got {(lo, hi)}")
        if not 0.0 <= noise < np.inf or not 0.0 <= max_offset < np.inf or not 0.0 < block_radius < 0.5:
            raise ValueError(f"noise and max_offset must be finite and >= 0, block_radius in (0, 0.5); got "
                             f"noise={noise}, max_offset={max_offset}, block_radius={block_radius}")
        super().__init__(action_space, observation_space)
        self.block_radius, self.noise, self.max_offset = float(block_radius), float(noise), float(max_offset)
        self.overshoot, self.push_speed = tuple(map(float, overshoot)), tuple(map(float, push_speed))
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._legs: dict[str, np.ndarray] | None = None

    @classmethod
    def from_env(cls, env: Any, **kwargs: Any) -> ScriptedPusher:
        """A pusher for ``env`` (a PushBlock env, wrapped or not): its spaces and block radius."""
        radius = getattr(env.unwrapped, "block_radius", None)
        if radius is None:
            raise TypeError(f"ScriptedPusher scripts PushBlock; {type(env.unwrapped).__name__} has no block")
        return cls(env.action_space, env.observation_space, block_radius=radius, **kwargs)

    def reset(self, seed: int | None = None) -> None:
        """Forget the legs; with ``seed``, re-seed the generator."""
        super().reset(seed)
        self._legs = None
        if seed is not None:
            self.seed, self.rng = seed, np.random.default_rng(seed)

    def _new_legs(self, idx: np.ndarray, block: np.ndarray, goal: np.ndarray) -> None:
        """Start a leg for the envs ``idx``: direction ``u (k, 2)``, target, speed, offset."""
        legs, k = self._legs, len(idx)
        delta = goal[idx] - block[idx]
        dist = np.linalg.norm(delta, axis=-1, keepdims=True)
        angle = self.rng.uniform(-np.pi, np.pi, k)
        random_dir = np.stack([np.cos(angle), np.sin(angle)], -1)
        u = np.where(dist > ARRIVED, delta / np.maximum(dist, 1e-9), random_dir)
        over = self.rng.uniform(*self.overshoot, (k, 1))
        legs["u"][idx] = u
        legs["target"][idx] = np.clip(goal[idx] + over * u, -TARGET_LIMIT, TARGET_LIMIT)
        legs["speed"][idx] = self.rng.uniform(*self.push_speed, k)
        legs["offset"][idx] = self.rng.uniform(-self.max_offset, self.max_offset, k)
        legs["steps"][idx] = 0

    def _command(self, pusher: np.ndarray, block: np.ndarray) -> np.ndarray:
        """Noise-free actions ``(B, 2)`` of the current legs (pusher and block positions ``(B, 2)``)."""
        legs = self._legs
        to_target = legs["target"] - block  # steer toward the leg's target as the block drifts
        dist = np.linalg.norm(to_target, axis=-1, keepdims=True)
        u = np.where(dist > ARRIVED, to_target / np.maximum(dist, 1e-9), legs["u"])
        perp = np.stack([-u[:, 1], u[:, 0]], -1)
        rel = pusher - block
        along = (rel * u).sum(-1)
        lateral = (rel * perp).sum(-1) - legs["offset"]
        contact = PUSHER_RADIUS + CONTACT_FACTOR * self.block_radius
        approach = PUSHER_RADIUS + self.block_radius + APPROACH_MARGIN
        pushing = (along < -0.5 * contact) & (np.abs(lateral) < LATERAL_TOL)
        push = legs["speed"][:, None] * u - np.clip(GAIN * lateral, -1, 1)[:, None] * perp
        behind = block - approach * u + legs["offset"][:, None] * perp
        side = np.where((rel * perp).sum(-1) >= 0, 1.0, -1.0)[:, None]
        beside = block + side * approach * perp - 0.7 * approach * u
        waypoint = np.where((along < -0.5 * approach)[:, None], behind, beside)
        move = np.clip(GAIN * (waypoint - pusher), -1, 1)
        gap = np.linalg.norm(rel, axis=-1, keepdims=True)
        away = rel / np.maximum(gap, 1e-9) * (gap < approach - APPROACH_MARGIN)  # do not drag the block
        move = np.clip(move + away, -1, 1)
        return np.where(pushing[:, None], push, move)

    def predict(self, observation: Any, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[np.ndarray, None]:
        """Actions ``(B, 2)`` for a batch of Dict observations (``(2,)`` for one).

        ``episode_start (B,)`` marks envs whose observation starts an episode (a new leg then).
        """
        if not isinstance(observation, dict) or "desired_goal" not in observation:
            raise TypeError("ScriptedPusher needs PushBlock's Dict observations with 'desired_goal'")
        n, single = observation_batch_size(observation, self.observation_space, episode_start)
        obs = np.asarray(observation["observation"], np.float64).reshape(n, 11)
        goal = np.asarray(observation["desired_goal"], np.float64).reshape(n, 11)[:, 4:6]
        pusher, block = obs[:, 0:2], obs[:, 4:6]
        if self._legs is None or len(self._legs["speed"]) != n:
            self._legs = {"u": np.zeros((n, 2)), "target": np.zeros((n, 2)), "speed": np.zeros(n),
                          "offset": np.zeros(n), "steps": np.zeros(n, np.int64)}
            starts = np.ones(n, bool)
        else:
            starts = np.zeros(n, bool) if episode_start is None else \
                np.asarray(episode_start, bool).reshape(n)
        legs = self._legs
        passed = ((block - legs["target"]) * legs["u"]).sum(-1) > 0
        starts |= passed | (legs["steps"] >= MAX_LEG_STEPS)
        if starts.any():
            self._new_legs(np.flatnonzero(starts), block, goal)
        actions = self._command(pusher, block)
        legs["steps"] += 1
        if not deterministic and self.noise > 0:
            actions = actions + self.noise * self.rng.standard_normal(actions.shape)
        actions = self.clip_actions(actions)
        return (actions[0] if single else actions), None

    def save(self, path: str | os.PathLike) -> None:
        """Atomically save the settings and the generator state as JSON (legs are per episode)."""
        atomic_json_dump({"format": SCRIPT_FORMAT, "block_radius": self.block_radius, "noise": self.noise,
                          "overshoot": list(self.overshoot), "push_speed": list(self.push_speed),
                          "max_offset": self.max_offset, "seed": self.seed,
                          "rng": self.rng.bit_generator.state}, path)
