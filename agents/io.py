"""Saving and loading a whole planner agent: world model, planner class and config, settings.

One file (``torch.save`` of a dict of tensors and plain data, written atomically with a
checksum, see :mod:`grasp_agent.safe_io`) holds the agent class, the world-model checkpoint
(class, constructor config, weights; see :mod:`grasp_agent.models.io`), the planner class and
its config fields, the MPC settings, the env spaces (as plain dicts), the objective (as a plain
description, :func:`~grasp_agent.agents.tasks.objective_spec`), the task heads it uses and
the planner's :class:`~grasp_agent.planners.StateGraph` if it has one (GRASP ``init="graph"``). A
user's own objective functions are not saved (nothing is pickled): ``load(path, objective=...)``
takes them again. Loading uses
``torch.load(weights_only=True)`` and only builds classes that are a ``PlannerAgent``, a
``Planner`` and a ``WorldModel``; a truncated, corrupt or foreign file, or a planner config with
unknown fields, raises :class:`~grasp_agent.safe_io.CheckpointError` saying which.
"""

from __future__ import annotations

import dataclasses
import os
from typing import TYPE_CHECKING, Any

import torch

from grasp_agent.agents.tasks import objective_from_spec, objective_spec
from grasp_agent.models.io import checkpoint_dict, class_path, import_class, model_from_checkpoint
from grasp_agent.safe_io import CheckpointError, load_torch_file, require
from grasp_agent.utils import atomic_torch_save, resolve_device

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
        "objective": objective_spec(agent.objective, agent.heads),
        "heads": None if agent.heads is None else agent.heads.to_checkpoint(),
        "action_block": agent.action_block,
    }
    graph = getattr(agent.planner, "state_graph", None)
    if graph is not None:  # GRASP's init="graph" plans on it
        payload["state_graph"] = graph.state_dict()
    atomic_torch_save(payload, path)


def load_planner_agent(path: str | os.PathLike, device: str | torch.device = "cpu",
                       objective: Any = None) -> PlannerAgent:
    """Rebuild the agent saved at ``path`` on ``device``.

    Args:
        objective: the objective to plan with; required when the agent was saved with a user's own
            objective functions (``kind: custom``), else the saved one is rebuilt.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: ``device`` is unknown or not available (checked before reading the file).
        CheckpointError: truncated, corrupt, unsafe or another kind of file, or a saved setup
            this version cannot rebuild.
        ValueError: the saved objective was the user's own and ``objective`` is not given.
    """
    from grasp_agent.agents.planner_agent import PlannerAgent
    from grasp_agent.models.heads import TaskHeads
    from grasp_agent.planners.base import Planner
    from grasp_agent.planners.state_graph import StateGraph

    device = resolve_device(device)
    name = os.fspath(path)
    payload = load_torch_file(path, "saved planner agent")
    require(payload, ("agent_class", "model", "planner_class", "planner_config", "horizon", "settings",
                      "latent_goals", "goal", "action_space", "observation_space", "num_timesteps"), path,
            "saved planner agent (world-model checkpoints load with grasp_agent.load_world_model)",
            AGENT_FORMAT)
    try:
        model = model_from_checkpoint(payload["model"], device)
        planner_cls = import_class(payload["planner_class"], Planner)
        agent_cls = import_class(payload["agent_class"], PlannerAgent)
    except CheckpointError as exc:
        raise CheckpointError(f"saved planner agent {name!r}: {exc}") from exc
    if not isinstance(payload["planner_config"], dict) or not isinstance(payload["settings"], dict):
        raise CheckpointError(f"saved planner agent {name!r}: 'planner_config' and 'settings' must be dicts")
    known = {f.name for f in dataclasses.fields(planner_cls.config_class)}
    unknown = sorted(set(payload["planner_config"]) - known)
    if unknown:
        raise CheckpointError(f"the {planner_cls.config_class.__name__} saved in {name!r} has fields "
                              f"{unknown} this version does not know; load it with the grasp_agent version "
                              "that saved it")
    unknown = sorted(set(payload["settings"]) - set(SETTINGS))
    if unknown:
        raise CheckpointError(f"saved planner agent {name!r} has settings {unknown} this version does not "
                              "know")
    heads = None
    if payload.get("heads") is not None:
        try:
            heads = TaskHeads.from_checkpoint(payload["heads"], device)
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"saved planner agent {name!r}: its task heads do not load "
                                  f"({exc})") from exc
    spec = payload.get("objective", {"kind": "latent_goal", "running": False})
    if objective is None:
        try:
            objective = objective_from_spec(spec, heads)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointError(f"saved planner agent {name!r}: its objective does not rebuild "
                                  f"({exc})") from exc
        if objective is None:
            raise ValueError(f"{name!r} was saved with the user's own objective {spec.get('description')}; "
                             "functions are not saved: pass it again, load(path, objective=...)")
    try:
        graph = payload.get("state_graph")
        graph = None if graph is None else StateGraph.from_state_dict(graph)
        config = planner_cls.config_class(**payload["planner_config"])
        agent = agent_cls(model, payload["action_space"], planner=planner_cls, planner_config=config,
                          horizon=payload["horizon"], goal=payload["goal"],
                          latent_goals=payload["latent_goals"],
                          observation_space=payload["observation_space"],
                          device=device, objective=objective, heads=heads,
                          action_block=payload.get("action_block"), state_graph=graph, **payload["settings"])
        agent.num_timesteps = int(payload["num_timesteps"])
    except (TypeError, ValueError) as exc:
        raise CheckpointError(f"saved planner agent {name!r} does not rebuild ({type(exc).__name__}: {exc}); "
                              "it was written by another version or altered") from exc
    return agent
