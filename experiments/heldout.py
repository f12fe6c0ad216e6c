"""Held-out evaluation sets of the model report (``data.heldout``): fresh episodes, never trained on.

The trainer's own held-out episodes come from the training distribution (uniform exploration,
mostly). What a planner needs is accuracy where it goes, so the report can also cover fresh
episodes of other policies (:data:`HELDOUT_POLICIES`), collected after training through the
same collector as the training data (:func:`grasp_agent.experiments.pipeline.collect_data`)
or, for ``planner``, by receding-horizon MPC with the trained model itself (the agent
:class:`grasp_agent.dyna.DynaLoop` collects with, ``data.dyna_planner``). Their resets and
action noise are seeded apart from the training data (:data:`HELDOUT_SEED_OFFSET`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import get_args

import gymnasium as gym

from grasp_agent.data.buffer import ReplayBuffer
from grasp_agent.experiments.config import ConfigError
from grasp_agent.experiments.sections import DataSection, HeldoutPolicy
from grasp_agent.models.base import WorldModel

logger = logging.getLogger(__name__)

#: the policies of ``data.heldout``, in the order of their seeds
HELDOUT_POLICIES: tuple[str, ...] = get_args(HeldoutPolicy)
#: held-out set ``i`` is seeded ``data.seed + HELDOUT_SEED_OFFSET + 1000 * i`` (apart from the
#: training data, the planner rounds' ``DYNA_SEED_OFFSET`` and the configs' task seeds)
HELDOUT_SEED_OFFSET = 2_000_000


def check_heldout(env: gym.Env, section: DataSection) -> None:
    """ConfigError, before any work, when ``env`` cannot give a listed held-out set."""
    from grasp_agent.experiments.pipeline import SCRIPTED_POLICIES

    kind = type(env.unwrapped).__name__
    if "scripted" in section.heldout and kind not in SCRIPTED_POLICIES:
        raise ConfigError(f"data.heldout lists 'scripted', but {kind} has no scripted policy (there are "
                          f"scripted policies for {sorted(SCRIPTED_POLICIES)}); drop it from data.heldout")
    if "goal_directed" in section.heldout and not isinstance(env.observation_space, gym.spaces.Dict):
        raise ConfigError("data.heldout lists 'goal_directed', which needs a goal-Dict env "
                          f"(observation space {env.observation_space}); drop it from data.heldout")


def heldout_section(section: DataSection, policy: str) -> DataSection:
    """The data section of one held-out set: its size, seed and policy mix (no planner rounds)."""
    index = HELDOUT_POLICIES.index(policy)
    return dataclasses.replace(section, episodes=section.heldout_episodes,
                               seed=section.seed + HELDOUT_SEED_OFFSET + 1000 * index,
                               goal_directed_fraction=1.0 if policy == "goal_directed" else 0.0,
                               scripted_fraction=1.0 if policy == "scripted" else 0.0,
                               dyna_rounds=0, heldout=[])


def collect_heldout(env: gym.Env, model: WorldModel, section: DataSection) -> dict[str, ReplayBuffer]:
    """``{policy: episodes}`` for every policy of ``section.heldout``, in that order."""
    from grasp_agent.experiments.pipeline import collect_data, dyna_agent

    sets: dict[str, ReplayBuffer] = {}
    for policy in section.heldout:
        sub = heldout_section(section, policy)
        start = time.perf_counter()
        agent = dyna_agent(env, model, sub) if policy == "planner" else None  # None: the data policy
        sets[policy] = collect_data(env, sub, policy=agent)
        logger.info("held-out set %r: %d transitions in %d episodes (%.1f s)", policy, len(sets[policy]),
                    sets[policy].num_episodes, time.perf_counter() - start)
    return sets

