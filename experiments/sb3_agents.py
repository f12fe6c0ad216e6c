"""SB3 baselines on latent-goal tasks: env construction, training with periodic evaluation.

The SB3 agents see the task through :class:`grasp_agent.wrappers.LatentGoalWrapper` (observation,
achieved and desired goal encoded by the same encoder the planner uses; for state envs the
identity encoder of ``MLPWorldModel``), with reset options (``min_path_length``) pinned by
:class:`TaskOptionsWrapper`, so RL and planning face the same task distribution. Success is
always the *env's* success (``info["env_is_success"]``), measured on fixed evaluation tasks.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from grasp_agent.experiments.config import ConfigError

logger = logging.getLogger(__name__)


class TaskOptionsWrapper(gym.Wrapper):
    """Pass fixed ``options`` (e.g. ``{"min_path_length": 20}``) to every ``reset``.

    Options given to ``reset`` explicitly take precedence over the pinned ones.

    Example::

        env = TaskOptionsWrapper(gym.make("grasp_agent/WallDoor-v0"), {"min_path_length": 20})
        obs, info = env.reset(seed=0)       # a task needing >= 20 steps
    """

    def __init__(self, env: gym.Env, options: dict[str, Any]) -> None:
        super().__init__(env)
        self.options = dict(options)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> Any:
        return self.env.reset(seed=seed, options={**self.options, **(options or {})})

    def compute_reward(self, achieved_goal: Any, desired_goal: Any, info: Any) -> Any:
        """Forward to the inner goal env (HER relabelling calls this)."""
        return self.env.get_wrapper_attr("compute_reward")(achieved_goal, desired_goal, info)


def evaluate_policy_success(env: gym.Env, act: Callable[[Any], Any], seeds: list[int], max_steps: int
                            ) -> tuple[float, float]:
    """Success rate and mean return of ``act(obs) -> action`` on the tasks ``seeds``.

    Success: the env's own ``is_success`` (``env_is_success`` under ``LatentGoalWrapper``) at
    any step within ``max_steps``.
    """
    successes, returns = [], []
    for seed in seeds:
        obs, _ = env.reset(seed=seed)
        total, ok = 0.0, False
        for _ in range(max_steps):
            obs, reward, terminated, truncated, info = env.step(act(obs))
            total += float(reward)
            if info.get("env_is_success", info.get("is_success", False)):
                ok = True
                break
            if terminated or truncated:
                break
        successes.append(ok)
        returns.append(total)
    return float(np.mean(successes)), float(np.mean(returns))


def make_sb3_model(kind: str, env: gym.Env, params: dict[str, Any], seed: int, device: str,
                   tb_dir: str | None) -> Any:
    """Build an SB3 ``PPO`` or ``SAC`` + ``HerReplayBuffer`` on a goal-conditioned Dict env."""
    try:
        from stable_baselines3 import PPO, SAC, HerReplayBuffer
    except ImportError as err:
        raise ConfigError("the SB3 baselines need stable-baselines3: pip install "
                          "'grasp-agent[sb3]'") from err
    common = {"seed": seed, "device": device, "verbose": 0, "tensorboard_log": tb_dir}
    if kind == "ppo":
        return PPO("MultiInputPolicy", env, **{**common, **params})
    if kind == "sac_her":
        her = {"n_sampled_goal": 4, "goal_selection_strategy": "future"}
        params = dict(params)
        her.update(params.pop("replay_buffer_kwargs", {}))
        return SAC("MultiInputPolicy", env, replay_buffer_class=HerReplayBuffer,
                   replay_buffer_kwargs=her, **{**common, **params})
    raise ConfigError(f"unknown SB3 algo type {kind!r}; choose 'ppo' or 'sac_her'")


def train_with_evals(model: Any, total_steps: int, eval_every: int,
                     evaluate: Callable[[], tuple[float, float]], log: Callable[[str, float, int], None],
                     progress: bool = False) -> list[dict[str, Any]]:
    """``model.learn`` in chunks of ``eval_every`` steps, evaluating after each chunk (and at 0).

    Returns:
        Rows ``{"env_steps", "success_rate", "mean_return", "wall_time_s"}``.
    """
    rows = []
    start = time.perf_counter()

    def record(steps: int) -> None:
        success, ret = evaluate()
        rows.append({"env_steps": steps, "success_rate": success, "mean_return": ret,
                     "wall_time_s": time.perf_counter() - start})
        log("eval/success_rate", success, steps)
        log("eval/mean_reward", ret, steps)

    record(0)
    done = 0
    while done < total_steps:
        chunk = min(eval_every, total_steps - done)
        model.learn(chunk, reset_num_timesteps=False, progress_bar=progress, tb_log_name="sb3")
        done += chunk
        record(done)
        logger.info("%s: %d steps, success %.2f", type(model).__name__, done, rows[-1]["success_rate"])
    return rows
