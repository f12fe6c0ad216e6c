"""The mechanics both name registries share (planners, world-model types): one name rule and
one rule for taking a name, so their errors read the same."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def registry_key(kind: str, name: Any) -> str:
    """The lower-case key of ``name``; a ValueError for an empty name or surrounding spaces."""
    if not isinstance(name, str) or not name.strip() or name != name.strip():
        raise ValueError(f"a {kind} name must be a non-empty string without surrounding spaces, "
                         f"got {name!r}")
    return name.lower()


def decorator_or_call(table: dict[str, T], kind: str, name: str, value: T | None, overwrite: bool,
                      check: Callable[[T], None], label: Callable[[T], str]) -> Any:
    """Register ``value`` in ``table`` under ``name`` after ``check(value)``; without ``value``,
    return a decorator that does so. A taken name needs ``overwrite=True``."""
    key = registry_key(kind, name)

    def add(entry: T) -> T:
        check(entry)
        if key in table and table[key] is not entry and not overwrite:
            raise ValueError(f"{kind} name {key!r} is already registered to {label(table[key])}; pick "
                             "another name or pass overwrite=True")
        table[key] = entry
        return entry

    return add if value is None else add(value)
