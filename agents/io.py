"""Saving and loading a whole planner agent: world model, planner class and config, settings.

One file (``torch.save`` of a dict, written atomically) holds the agent class, the world-model
checkpoint (class, constructor config, weights; see :mod:`grasp_agent.models.io`), the planner
class and its config fields, the MPC settings and the env spaces. Loading rebuilds the same
agent class; a checkpoint of another format, or a planner config with unknown fields, fails
with an error that says which.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING

import torch

from grasp_agent.models.io import checkpoint_dict, class_path, import_class, model_from_checkpoint
from grasp_agent.utils import atomic_torch_save

if TYPE_CHECKING:
    from grasp_agent.agents.planner_agent import PlannerAgent

AGENT_FORMAT = "grasp_agent.planner_agent/1"
SETTINGS = ("replan_every", "open_loop", "warm_start", "tail_fill", "time_budget_s", "horizon_mode")


def save_planner_agent(agent: PlannerAgent, path: str | os.PathLike) -> None:
    """Atomically write ``agent`` (see the module docstring) to ``path``."""
    config = agent.planner.config
    payload = {
        "format": AGENT_FORMAT,
        "agent_class": class_path(type(agent)),
        "model": checkpoint_dict(agent.model),
        "planner_class": class_path(type(agent.planner)),
        "planner_config": dataclasses.asdict(config),
        "horizon": agent.horizon,
        "settings": {name: getattr(agent, name) for name in SETTINGS},
        "latent_goals": agent.reader.latent,
        "goal": agent.goal,
        "action_space": agent.action_space,
        "observation_space": agent.observation_space,
        "num_timesteps": agent.num_timesteps,
    }
    atomic_torch_save(payload, path)


def load_planner_agent(path: str | os.PathLike, device: str | torch.device = "cpu") -> PlannerAgent:
    """Rebuild the agent saved at ``path`` on ``device``."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no saved agent at {os.fspath(path)!r}")
    payload = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(payload, dict) or payload.get("format") != AGENT_FORMAT:
        raise ValueError(f"{os.fspath(path)!r} is not a saved planner agent (expected format "
                         f"{AGENT_FORMAT!r}); world-model checkpoints load with grasp_agent.load_world_model")
    model = model_from_checkpoint(payload["model"], device)
    planner_cls = import_class(payload["planner_class"])
    known = {f.name for f in dataclasses.fields(planner_cls.config_class)}
    unknown = sorted(set(payload["planner_config"]) - known)
    if unknown:
        raise ValueError(f"the saved {planner_cls.config_class.__name__} has fields {unknown} this "
                         f"version does not know; load it with the grasp_agent version that saved it")
    config = planner_cls.config_class(**payload["planner_config"])
    agent_cls = import_class(payload["agent_class"])
    agent = agent_cls(model, payload["action_space"], planner=planner_cls, planner_config=config,
                      horizon=payload["horizon"], goal=payload["goal"], latent_goals=payload["latent_goals"],
                      observation_space=payload["observation_space"], device=device, **payload["settings"])
    agent.num_timesteps = int(payload["num_timesteps"])
    return agent
