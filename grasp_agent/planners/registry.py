"""The one registry of planners: short name -> planner class (and, through it, its config class).

Agents (:func:`grasp_agent.agents.make_agent`, ``PlannerAgent(planner="name")``), experiment
configs (``planners: {x: {type: name}}``) and their validation all look names up here, so a
planner registered once is usable everywhere::

    from grasp_agent.planners import Planner, register_planner

    @register_planner("my_planner")
    class MyPlanner(Planner):
        config_class = MyConfig
        def _plan(self, z0, goal, init_u, generator, callback, deadline): ...

    make_agent("my_planner", env=env, model=model)            # works
    # experiment config: planners: {mine: {type: my_planner, params: {...}}}
"""

from __future__ import annotations

import dataclasses
from typing import Any

from grasp_agent._registry import decorator_or_call
from grasp_agent.planners.base import Planner

#: Planner classes by short name (lower case). Read it; add to it with :func:`register_planner`.
PLANNERS: dict[str, type[Planner]] = {}


def register_planner(name: str, planner_class: type[Planner] | None = None, *,
                     overwrite: bool = False) -> Any:
    """Register ``planner_class`` under ``name`` (usable directly or as a class decorator).

    Raises:
        TypeError: ``planner_class`` is not a :class:`Planner` subclass with a dataclass
            ``config_class``.
        ValueError: ``name`` is empty or already taken (pass ``overwrite=True`` to replace).
    """
    def check(cls: Any) -> None:
        if not (isinstance(cls, type) and issubclass(cls, Planner)):
            raise TypeError(f"register_planner({name!r}) needs a grasp_agent.planners.Planner "
                            f"subclass, got {cls!r}")
        config_class = getattr(cls, "config_class", None)
        if not (isinstance(config_class, type) and dataclasses.is_dataclass(config_class)):
            raise TypeError(f"{cls.__name__}.config_class must be a dataclass of the planner's "
                            f"settings, got {config_class!r}")

    return decorator_or_call(PLANNERS, "planner", name, planner_class, overwrite, check,
                             lambda cls: cls.__name__)


def unregister_planner(name: str) -> None:
    """Remove ``name`` from the registry (for tests and plug-ins that clean up)."""
    PLANNERS.pop(name.lower(), None)


def planner_class(name: str) -> type[Planner]:
    """The planner class registered as ``name`` (case-insensitive).

    Raises:
        ValueError: unknown name; the message lists the registered ones.
    """
    if not isinstance(name, str) or name.lower() not in PLANNERS:
        raise ValueError(f"unknown planner {name!r}; registered planners: {sorted(PLANNERS)} "
                         "(add one with grasp_agent.planners.register_planner)")
    return PLANNERS[name.lower()]


def config_class(name: str) -> type:
    """The config dataclass of the planner registered as ``name``."""
    return planner_class(name).config_class


def planner_name(cls: type[Planner]) -> str | None:
    """The name ``cls`` is registered under (``None`` if it is not registered)."""
    return next((k for k, v in PLANNERS.items() if v is cls), None)


def resolve_planner(planner: str | type[Planner]) -> type[Planner]:
    """A planner class from a registered name or a :class:`Planner` subclass."""
    if isinstance(planner, str):
        return planner_class(planner)
    if isinstance(planner, type) and issubclass(planner, Planner):
        return planner
    raise TypeError(f"planner must be a registered name, a Planner subclass or a Planner instance, "
                    f"got {planner!r}")

