"""Dyna-style collection: any agent acts, the world model is retrained every N steps, and real
plus imagined transitions fill an SB3 off-policy learner's replay buffer.

One *iteration* = ``steps_per_iteration`` env steps by the agent (the first ``random_steps``
by a seeded random agent), then: retrain the world model (warm-started, in place) on the real
buffer with the package's one trainer, :func:`grasp_agent.training.fit_world_model`
(``DynaConfig.fit``, seeded ``fit.seed + iteration``), add ``imagined_rollouts`` model
rollouts to the learner's buffer, and optionally take ``learner_gradient_steps`` SB3 gradient
steps. Real episodes go to the learner's buffer whole (``HerReplayBuffer`` needs that); an
iteration ends by cutting the running episode off (stored as truncated) and the next starts
with a fresh reset, so iteration boundaries are clean checkpoints: :meth:`DynaLoop.save`
commits model, real buffer, learner and its buffer, counters and random states (the loop's,
the planner's, and numpy's/torch's global ones that SB3 draws from) as one unit (a new version
directory, then one atomic pointer switch: :mod:`grasp_agent.dyna.checkpoint`);
``DynaLoop(..., checkpoint_dir=d)`` resumes from them and continues exactly as an
uninterrupted run would (planner agents and SAC+HER learners included, on CPU).

Real transitions are stored in :class:`grasp_agent.data.ReplayBuffer` (``observation`` entry
of Dict observations), and each episode's ``desired_goal`` is kept for imagination. SB3
callbacks (e.g. ``EvalCallback``) get ``on_step`` after every env step, with the agent as
their ``model`` and, as in SB3's own loops, the step's local variables in ``callback.locals``
(``reward``, ``terminated``, ``truncated``, ``info``, and ``self``, the loop).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from gymnasium import spaces

from grasp_agent.agents.base import Agent
from grasp_agent.data.buffer import ReplayBuffer
from grasp_agent.dyna.checkpoint import (
    BUFFER_FILE,
    LEARNER_BUFFER_FILE,
    has_checkpoint,
    load_sb3_buffer_into,
    read_checkpoint,
    restore_learner,
    write_checkpoint,
)
from grasp_agent.dyna.imagine import IMAGINATION_POLICIES, check_imaginable, imagine_episodes
from grasp_agent.dyna.sb3_buffer import SB3BufferWriter, ensure_logger
from grasp_agent.models.base import WorldModel, check_trainable
from grasp_agent.models.io import checkpoint_dict, load_weights
from grasp_agent.safe_io import CheckpointError
from grasp_agent.training.loop import FitConfig, FitResult, fit_world_model

logger = logging.getLogger(__name__)

DYNA_FORMAT = "grasp_agent.dyna/2"


def retrain_fit_config() -> FitConfig:
    """The default :attr:`DynaConfig.fit`: a short retraining (300 steps, validated every 100).

    ``eval_horizon=1``: episodes cut at iteration boundaries or ended by success can be short,
    and the multi-step diagnostic needs that many actions in a held-out episode.
    """
    return FitConfig(max_steps=300, batch_size=256, eval_every=100, eval_horizon=1, eval_size=256)


@dataclass
class DynaConfig:
    """Settings of :class:`DynaLoop`.

    Attributes:
        iterations: retrain periods to run.
        steps_per_iteration: N, env steps between world-model retrains.
        random_steps: the first env steps use uniform random actions (model warm-up data).
        fit: the :class:`~grasp_agent.training.FitConfig` of every retrain (a fresh optimiser
            each time, seed ``fit.seed + iteration``; ``fit.device`` is not used: the model is
            retrained on the device it lives on, where the agent plans with it). While the
            buffer holds a single episode nothing can be held out, so that retrain runs with
            ``val_fraction=0`` (no validation, the last weights are kept); ``eval_horizon``
            is capped at the shortest stored episode.
        imagined_rollouts: model rollouts added to the learner's buffer per iteration.
        imagination_horizon: steps per imagined rollout.
        imagination_policy: ``"learner"`` (the SB3 learner's stochastic policy) or ``"random"``.
        learner_gradient_steps: SB3 gradient steps per iteration (0: only fill the buffer).
        buffer_capacity: rows of the real-transition buffer.
        reset_options: passed to ``env.reset`` (e.g. ``{"min_path_length": 20}``).
        seed: seeds env resets (``seed + episode``), sampling, random actions, imagination.
    """

    iterations: int = 5
    steps_per_iteration: int = 500
    random_steps: int = 0
    fit: FitConfig = field(default_factory=retrain_fit_config)
    imagined_rollouts: int = 64
    imagination_horizon: int = 10
    imagination_policy: str = "learner"
    learner_gradient_steps: int = 0
    buffer_capacity: int = 100_000
    reset_options: dict[str, Any] | None = None
    seed: int = 0


@dataclass
class IterationStats:
    """What one iteration did; ``success_rate`` = episodes that reached the goal at some step.

    ``model_loss`` is the retrain's best validation loss (its last training loss when nothing
    was held out).
    """

    iteration: int
    steps: int
    episodes: int
    success_rate: float
    model_loss: float
    real_added: int
    imagined_added: int
    extra: dict[str, float] = field(default_factory=dict)


class DynaLoop:
    """See the module docstring.

    Args:
        env: a single ``gym.Env`` (goal-conditioned Dict, or Box with the agent's fixed goal).
        agent: any :class:`~grasp_agent.agents.base.Agent` (planner agents usually share ``model``).
        model: the world model retrained in place (a
            :class:`~grasp_agent.models.base.TrainableWorldModel`).
        learner: an SB3 off-policy algorithm built with one env (``None``: no hand-over).
        config: :class:`DynaConfig`.
        checkpoint_dir: where :meth:`save` writes after every iteration; resumed if it holds one.
        callback: an SB3 ``BaseCallback`` (or ``CallbackList``) called with the agent as model.
    """

    def __init__(self, env: Any, agent: Agent, model: WorldModel, learner: Any = None,
                 config: DynaConfig | None = None, checkpoint_dir: str | os.PathLike | None = None,
                 callback: Any = None) -> None:
        self.cfg = cfg = config or DynaConfig()
        for name in ("iterations", "steps_per_iteration", "buffer_capacity"):
            if getattr(cfg, name) < 1:
                raise ValueError(f"DynaConfig.{name} must be >= 1, got {getattr(cfg, name)}")
        if cfg.imagination_policy not in IMAGINATION_POLICIES:
            raise ValueError(f"unknown imagination_policy {cfg.imagination_policy!r}; valid: "
                             f"{list(IMAGINATION_POLICIES)}")
        if not isinstance(cfg.fit, FitConfig):
            raise TypeError(f"DynaConfig.fit must be a grasp_agent.training.FitConfig, got "
                            f"{type(cfg.fit).__name__}")
        check_trainable(model)
        self.env, self.agent, self.model, self.learner, self.callback = env, agent, model, learner, callback
        self.writer = SB3BufferWriter(learner) if learner is not None else None
        if learner is not None and cfg.imagined_rollouts > 0:
            check_imaginable(model, learner.observation_space)
        if not isinstance(env.action_space, spaces.Box):
            raise TypeError(f"Dyna needs a Box action space, got {type(env.action_space).__name__}; wrap "
                            "Discrete envs in grasp_agent.wrappers.DiscreteToBoxWrapper")
        space = env.observation_space
        obs_space = space["observation"] if hasattr(space, "spaces") else space
        self.buffer = ReplayBuffer(cfg.buffer_capacity, obs_space.shape, int(np.prod(env.action_space.shape)),
                                   obs_space.dtype)
        if model.action_dim != cfg.fit.action_block * self.buffer.action_dim:
            raise ValueError(f"model.action_dim={model.action_dim} but the env has {self.buffer.action_dim}-"
                             f"dim actions and fit.action_block={cfg.fit.action_block}; build the model "
                             f"with action_dim={cfg.fit.action_block * self.buffer.action_dim}")
        self.goals: dict[int, np.ndarray] = {}
        #: the :class:`~grasp_agent.training.FitResult` of the last retrain (``None`` before one).
        self.last_fit: FitResult | None = None
        self.rng = np.random.default_rng(cfg.seed)
        self.action_rng = np.random.default_rng([cfg.seed, 1])
        self.iteration, self.total_steps, self.episodes = 0, 0, 0
        self.history: list[IterationStats] = []
        self.checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        if self.checkpoint_dir is not None and has_checkpoint(self.checkpoint_dir):
            self.load(self.checkpoint_dir)

    # ------------------------------------------------------------------ running
    def run(self) -> list[IterationStats]:
        """Run the remaining iterations; return the per-iteration history."""
        if self.callback is not None:
            if self.agent.get_env() is None:
                self.agent.set_env(self.env)
            self.callback.init_callback(self.agent)
            self.callback.on_training_start(locals(), globals())
        keep_going = True
        while keep_going and self.iteration < self.cfg.iterations:
            keep_going, steps, successes = self._collect()
            loss = self.retrain()
            imagined = self.imagine() if self.writer is not None and self.cfg.imagined_rollouts > 0 else 0
            if self.writer is not None and self.cfg.learner_gradient_steps > 0 \
                    and self.learner.replay_buffer.size() >= self.learner.batch_size:
                ensure_logger(self.learner)
                self.learner.train(gradient_steps=self.cfg.learner_gradient_steps,
                                   batch_size=self.learner.batch_size)
            rate = float(np.mean(successes)) if successes else 0.0
            stats = IterationStats(self.iteration, steps, len(successes), rate, loss, steps, imagined)
            self.history.append(stats)
            logger.info("dyna iteration %d: %d episodes, success %.2f, model loss %.4g", stats.iteration,
                        stats.episodes, stats.success_rate, loss)
            self.iteration += 1
            if self.checkpoint_dir is not None:
                self.save(self.checkpoint_dir)
        if self.callback is not None:
            self.callback.on_training_end()
        return self.history

    def _new_episode(self) -> dict[str, Any]:
        obs, _ = self.env.reset(seed=self.cfg.seed + self.episodes, options=self.cfg.reset_options)
        self.agent.reset()
        self.episodes += 1
        return {"obs": [obs], "actions": [], "rewards": [], "infos": [], "success": False}

    def _collect(self) -> tuple[bool, int, list[bool]]:
        """One iteration of env steps; returns (continue?, steps, per-episode success)."""
        ep, successes, keep_going, steps = self._new_episode(), [], True, 0
        while steps < self.cfg.steps_per_iteration and keep_going:
            obs = ep["obs"][-1]
            if self.total_steps < self.cfg.random_steps:
                action = self.random_actions(1)[0]
            else:
                action = self.agent.act(obs)
            next_obs, reward, terminated, truncated, info = self.env.step(action)
            self.agent.observe(obs, action, reward, next_obs, terminated, truncated, info)
            ep["obs"].append(next_obs)
            ep["actions"].append(np.asarray(action, np.float32).reshape(-1))
            ep["rewards"].append(float(reward))
            ep["infos"].append({"touches_obstacle": bool(info.get("touches_obstacle", False))})
            ep["success"] |= bool(info.get("is_success", False))
            self.total_steps += 1
            steps += 1
            if self.callback is not None:  # as SB3's loops: the callback sees reward, dones, info...
                self.callback.update_locals(locals())
                keep_going = bool(self.callback.on_step())
            if terminated or truncated:
                self._store(ep, terminated)
                successes.append(ep["success"])
                if steps < self.cfg.steps_per_iteration and keep_going:
                    ep = self._new_episode()
        if ep["actions"] and not ep.get("stored", False):   # cut off at the iteration boundary
            self._store(ep, False)
            successes.append(ep["success"])
        return keep_going, steps, successes

    def _store(self, ep: dict[str, Any], terminated: bool) -> None:
        """Store a finished (or cut-off) episode in the real buffer and the learner's buffer."""
        ep["stored"] = True
        obs = ep["obs"]
        raw = np.stack([o["observation"] if isinstance(o, dict) else o for o in obs])
        ep_id = self.buffer.add_episode(raw, np.stack(ep["actions"]), np.array(ep["rewards"]), terminated,
                                        np.array([i["touches_obstacle"] for i in ep["infos"]]))
        if isinstance(obs[0], dict) and "desired_goal" in obs[0]:
            self.goals[ep_id] = np.asarray(obs[0]["desired_goal"])
        self.goals = {k: v for k, v in self.goals.items() if k in set(self.buffer.episode_ids().tolist())}
        if self.writer is not None:
            self.writer.add_episode(obs, ep["actions"], ep["rewards"], terminated, ep["infos"])

    def random_actions(self, n: int) -> np.ndarray:
        """``(n, A)`` uniform actions from the loop's own seeded generator."""
        space = self.env.action_space
        return self.action_rng.uniform(space.low, space.high, (n,) + space.shape).astype(np.float32)

    # ------------------------------------------------------------------ model and imagination
    def retrain(self) -> float:
        """Retrain the model on the real buffer with :func:`~grasp_agent.training.fit_world_model`.

        Returns:
            The best validation loss, or the last training loss when the buffer held a single
            episode (nothing to hold out: trained with ``val_fraction=0``).
        """
        fit = self.cfg.fit
        _, lengths = np.unique(self.buffer.episode[self.buffer.valid_starts(1)], return_counts=True)
        horizon = max(1, min(fit.eval_horizon, int(lengths.min()) // fit.action_block))
        changes: dict[str, Any] = {"seed": fit.seed + self.iteration, "device": str(self.model.device),
                                   "eval_horizon": horizon}
        if self.buffer.num_episodes < 2:
            changes["val_fraction"] = 0.0
            logger.info("dyna iteration %d: one episode in the buffer, retraining without validation",
                        self.iteration)
        self.last_fit = result = fit_world_model(self.model, self.buffer, dataclasses.replace(fit, **changes))
        if math.isfinite(result.best_val_loss):
            return float(result.best_val_loss)
        return float(result.metrics.get("train/loss", math.nan))

    def imagine(self) -> int:
        """Add ``imagined_rollouts`` model rollouts to the learner's buffer; returns transitions added."""
        rows = self.rng.choice(self.buffer.valid_starts(1), size=self.cfg.imagined_rollouts)
        eps = self.buffer.episode[rows]
        keep = np.array([e in self.goals for e in eps])
        rows, eps = rows[keep], eps[keep]
        if len(rows) == 0:
            return 0
        if self.cfg.imagination_policy == "learner":
            def policy(o: dict[str, np.ndarray]) -> np.ndarray:
                return self.learner.predict(o, deterministic=False)[0]
        else:
            def policy(o: dict[str, np.ndarray]) -> np.ndarray:
                return self.random_actions(len(o["observation"]))
        episodes = imagine_episodes(self.model, self.buffer.obs[rows], np.stack([self.goals[e] for e in eps]),
                                    self.cfg.imagination_horizon, policy,
                                    self.env.unwrapped.compute_reward, self.learner.observation_space,
                                    self.env.action_space)
        for episode in episodes:
            self.writer.add_episode(episode["obs"], list(episode["actions"]), list(episode["rewards"]), False)
        return len(episodes) * self.cfg.imagination_horizon

    # ------------------------------------------------------------------ checkpoints
    def save(self, directory: str | os.PathLike) -> None:
        """Commit the loop's state to ``directory`` as one unit (see :mod:`grasp_agent.dyna.checkpoint`)."""
        planner = getattr(self.agent, "planner", None)
        agent_rng = _agent_generator(self.agent)  # e.g. RandomAgent's
        state = {"format": DYNA_FORMAT, "config": dataclasses.asdict(self.cfg),
                 "model": checkpoint_dict(self.model),
                 "counters": (self.iteration, self.total_steps, self.episodes),
                 "history": [dataclasses.asdict(h) for h in self.history], "goals": self.goals,
                 "rng": self.rng.bit_generator.state, "action_rng": self.action_rng.bit_generator.state,
                 "planner_rng": None if planner is None else planner.generator.get_state(),
                 "agent_timesteps": self.agent.num_timesteps,
                 "agent_rng": None if agent_rng is None else agent_rng.bit_generator.state,
                 "writer_added": None if self.writer is None else self.writer.added,
                 # SB3 samples its buffer with numpy's and acts with torch's global generators
                 "global_rng": (np.random.get_state(), torch.get_rng_state())}
        write_checkpoint(directory, state, self.buffer, self.learner)

    def load(self, directory: str | os.PathLike) -> None:
        """Resume from the checkpoint committed in ``directory`` by :meth:`save`.

        Raises:
            CheckpointError: a damaged, mixed, foreign or old-layout checkpoint, or one written for
                another model or learner (nothing is changed then).
        """
        state, folder = read_checkpoint(directory, DYNA_FORMAT)
        where = f"Dyna checkpoint {os.fspath(folder)!r}"
        saved = checkpoint_dict(self.model)
        if (state["model"]["class"], state["model"]["config"]) != (saved["class"], saved["config"]):
            raise CheckpointError(f"{where} holds a {state['model']['class']} with config "
                                  f"{state['model']['config']}; build the loop's model the same way to "
                                  "resume")
        if (self.learner is None) != ("learner" not in state):
            raise CheckpointError(f"{where} was written {'without' if 'learner' not in state else 'with'} an "
                                  "SB3 learner; build the loop the same way to resume")
        buffer = ReplayBuffer.load(folder / BUFFER_FILE)
        load_weights(self.model, state["model"]["state_dict"])
        if self.learner is not None:
            restore_learner(self.learner, state["learner"], where)
            load_sb3_buffer_into(self.learner.replay_buffer, folder / LEARNER_BUFFER_FILE)
            if state.get("writer_added") is not None:
                self.writer.added = int(state["writer_added"])
        self.buffer = buffer
        self.iteration, self.total_steps, self.episodes = state["counters"]
        self.history = [IterationStats(**h) for h in state["history"]]
        self.goals = state["goals"]
        self.rng.bit_generator.state = state["rng"]
        self.action_rng.bit_generator.state = state["action_rng"]
        planner = getattr(self.agent, "planner", None)
        if planner is not None and state["planner_rng"] is not None:
            planner.generator.set_state(state["planner_rng"])
        self.agent.num_timesteps = state["agent_timesteps"]
        agent_rng = _agent_generator(self.agent)
        if agent_rng is not None and state.get("agent_rng") is not None:
            agent_rng.bit_generator.state = state["agent_rng"]
        np.random.set_state(state["global_rng"][0])
        torch.set_rng_state(state["global_rng"][1])
        logger.info("resumed Dyna from %s at iteration %d", folder, self.iteration)


def _agent_generator(agent: Agent) -> np.random.Generator | None:
    """The agent's own numpy generator (``agent.rng``), if it has one: saved with the checkpoint."""
    rng = getattr(agent, "rng", None)
    return rng if isinstance(rng, np.random.Generator) else None
