"""Any Stable-Baselines3 model behind the common act/observe interface.

``act``/``predict`` call the SB3 model's ``predict``; ``observe`` optionally stores the
transition in the model's replay buffer (off-policy algorithms) and runs gradient steps every
``train_freq`` observed steps once ``learning_starts`` transitions were stored, so an SB3
learner can be driven by the same loops as the planner agents.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from grasp_agent.agents.base import Agent
from grasp_agent.agents.random_agent import check_observation
from grasp_agent.dyna.sb3_buffer import SB3BufferWriter, ensure_logger


class SB3Agent(Agent):
    """Adapter for an SB3 ``BaseAlgorithm`` (PPO, SAC, TD3, DQN... and HER setups).

    Args:
        model: the SB3 model.
        deterministic: ``act`` uses the deterministic policy (``predict`` takes its own flag).
        learn_online: store observed transitions in ``model.replay_buffer`` and train.
        train_freq: gradient updates every this many observed steps (with ``learn_online``).
        gradient_steps: gradient steps per update.
    """

    def __init__(self, model: Any, deterministic: bool = True, learn_online: bool = False,
                 train_freq: int = 1, gradient_steps: int = 1) -> None:
        if not hasattr(model, "predict") or not hasattr(model, "policy"):
            raise TypeError(f"SB3Agent wraps a stable_baselines3 model, got {type(model).__name__}")
        super().__init__(model.action_space, model.observation_space)
        if train_freq < 1 or gradient_steps < 1:
            raise ValueError(f"train_freq and gradient_steps must be >= 1, got {train_freq}, "
                             f"{gradient_steps}")
        self.model = model
        self.deterministic = bool(deterministic)
        self.writer = SB3BufferWriter(model) if learn_online else None
        self.train_freq, self.gradient_steps = int(train_freq), int(gradient_steps)
        self._env = model.get_env()

    def reset(self, seed: int | None = None) -> None:
        """Forget the recurrent state; with ``seed``, re-seed the SB3 model's random sources."""
        super().reset(seed)
        if seed is not None:
            self.model.set_random_seed(seed)

    def act(self, observation: Any) -> np.ndarray:
        """One action from the SB3 policy (deterministic unless built otherwise)."""
        check_observation(observation, self.observation_space)
        action, self._state = self.model.predict(observation, state=self._state,
                                                 deterministic=self.deterministic)
        return action

    def predict(self, observation: Any, state: Any = None, episode_start: np.ndarray | None = None,
                deterministic: bool = False) -> tuple[Any, Any]:
        """The SB3 model's ``predict`` (the observation's layout checked first)."""
        check_observation(observation, self.observation_space)
        return self.model.predict(observation, state=state, episode_start=episode_start,
                                  deterministic=deterministic)

    def observe(self, observation: Any, action: Any, reward: float, next_observation: Any, terminated: bool,
                truncated: bool, info: dict[str, Any]) -> None:
        """Count the step; with ``learn_online``, store it and train on schedule."""
        super().observe(observation, action, reward, next_observation, terminated, truncated, info)
        if self.writer is None:
            return
        self.writer.add(observation, action, reward, next_observation, terminated, truncated, info)
        self.model.num_timesteps += 1
        if self.writer.added >= self.model.learning_starts and self.writer.added % self.train_freq == 0:
            ensure_logger(self.model)
            self.model.train(gradient_steps=self.gradient_steps, batch_size=self.model.batch_size)

    def save(self, path: str | os.PathLike) -> None:
        """``model.save(path)`` (SB3's zip format)."""
        self.model.save(path)

