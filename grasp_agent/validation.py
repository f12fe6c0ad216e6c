"""Config dataclasses checked field by field: kinds and ranges (planners, the trainer, Dyna).

Config fields are checked by kind, driven by the dataclass annotations.

Each field kind has one check: ``bool`` (a real bool only: ``"false"`` or ``0`` would silently
mean something else), ``int`` (no bools, no floats), ``float`` (finite in float32, the dtype the
planners compute in), ``Literal[...]`` (one of the choices) and ``X | None``. Numpy scalars
(``np.float32(0.1)``, ``np.int64(5)``, ``np.bool_(True)``) are accepted and converted to the
Python type. The valid range of a number is declared on the field with :func:`ranged`::

    @dataclass
    class MyConfig:
        iterations: int = ranged(100, ge=1)
        alpha: float = ranged(0.1, ge=0.0, lt=1.0)
        time_budget_s: float | None = ranged(None, gt=0.0)

    validate_config(MyConfig(alpha=1.5))
    # ValueError: MyConfig.alpha must be a finite number in [0, 1), got 1.5

Fields without a declared range get only the kind check, except the names every planner
shares (``iterations``, ``max_batch``, ``time_budget_s``, ``seed``), which have default ranges.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import types
import typing
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

#: Key of the :class:`Range` in a dataclass field's ``metadata``.
RANGE_KEY = "range"
#: Largest magnitude a float field may have: beyond it the value is inf in float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)


@dataclass(frozen=True)
class Range:
    """A closed, open or half-open interval of valid values (``None``: unbounded on that side)."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    def __str__(self) -> str:
        if self.high is None:
            return "unrestricted" if self.low is None else f"{'>' if self.low_open else '>='} {self.low:g}"
        if self.low is None:
            return f"{'<' if self.high_open else '<='} {self.high:g}"
        return (f"in {'(' if self.low_open else '['}{self.low:g}, {self.high:g}"
                f"{')' if self.high_open else ']'}")


#: Valid seeds of a ``torch.Generator``, as keywords: ``seed: int | None = ranged(0, **SEED_RANGE)``.
SEED_RANGE = {"ge": 0, "le": 2 ** 64 - 1}
#: Default ranges of the fields every planner config shares (used when a field declares none).
SHARED_RANGES = {"iterations": Range(1), "max_batch": Range(1), "time_budget_s": Range(0.0, low_open=True),
                 "seed": Range(0, 2 ** 64 - 1)}


def ranged(default: Any, *, ge: float | None = None, gt: float | None = None, le: float | None = None,
           lt: float | None = None) -> Any:
    """A dataclass field with ``default`` and the valid range of its value (``ge``/``gt`` below,
    ``le``/``lt`` above), read by :func:`validate_config`."""
    if ge is not None and gt is not None or le is not None and lt is not None:
        raise TypeError("give at most one lower (ge/gt) and one upper (le/lt) bound")
    rng = Range(gt if gt is not None else ge, lt if lt is not None else le, gt is not None, lt is not None)
    return dataclasses.field(default=default, metadata={RANGE_KEY: rng})


# ------------------------------------------------------------------------------ one check per kind
def check_bool(where: str, value: Any) -> bool:
    """A real bool (or ``np.bool_``); anything else is a TypeError."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{where} must be a bool (True or False), got {value!r} ({type(value).__name__})")


def check_int(where: str, value: Any, rng: Range | None = None) -> int:
    """An int (or numpy integer) inside ``rng``; bools and floats are a TypeError."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{where} must be an int, got {value!r} ({type(value).__name__})")
    if rng is not None and int(value) not in rng:
        raise ValueError(f"{where} must be an int {rng}, got {value!r}")
    return int(value)


def check_float(where: str, value: Any, rng: Range | None = None) -> float | int:
    """A real number (int, float or numpy scalar) that is finite in float32 and inside ``rng``.

    NaN, infinities and magnitudes above float32's largest value are a ValueError; bools and
    non-numbers a TypeError. Python numbers are returned unchanged, numpy scalars as floats.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{where} must be a number, got {value!r} ({type(value).__name__})")
    number = value if isinstance(value, (int, float)) else float(value)
    what = "a finite number" + ("" if rng is None or str(rng) == "unrestricted" else f" {rng}")
    if not math.isfinite(number) or abs(number) > FLOAT32_MAX:
        raise ValueError(f"{where} must be {what} (at most {FLOAT32_MAX:.3g} in magnitude, the "
                         f"float32 range), got {value!r}")
    if rng is not None and number not in rng:
        raise ValueError(f"{where} must be {what}, got {value!r}")
    return number


def check_choice(where: str, value: Any, choices: tuple[Any, ...]) -> Any:
    """One of ``choices`` (compared by type and value, so ``True`` never passes for ``1``)."""
    if not any(type(value) is type(c) and value == c for c in choices):
        raise ValueError(f"{where} must be one of {choices}, got {value!r}")
    return value


# ------------------------------------------------------------------------------ whole configs
@functools.cache
def _field_kinds(cls: type) -> tuple[tuple[str, Any, bool, Range | None], ...]:
    """``(name, base annotation, accepts None, range)`` of every field of dataclass ``cls``."""
    try:
        hints = typing.get_type_hints(cls)
    except Exception:  # noqa: BLE001  (an unresolvable annotation of a plug-in config: no kind checks)
        hints = {}
    out = []
    for f in dataclasses.fields(cls):
        tp, optional = hints.get(f.name, Any), False
        if typing.get_origin(tp) in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(tp) if a is not type(None)]
            optional = len(args) < len(typing.get_args(tp))
            tp = args[0] if len(args) == 1 else tp
        out.append((f.name, tp, optional, f.metadata.get(RANGE_KEY, SHARED_RANGES.get(f.name))))
    return tuple(out)


def check_field(where: str, value: Any, tp: Any, optional: bool = False, rng: Range | None = None) -> Any:
    """Check one value against its annotation ``tp`` (and ``rng``); returns it in Python types."""
    if value is None and optional:
        return None
    try:
        if tp is bool:
            return check_bool(where, value)
        if tp is int:
            return check_int(where, value, rng)
        if tp is float:
            return check_float(where, value, rng)
        if typing.get_origin(tp) is Literal:
            return check_choice(where, value, typing.get_args(tp))
    except (TypeError, ValueError) as err:
        if optional:  # say that None was an option too
            raise type(err)(f"{err} (or None)") from None
        raise
    return value  # other annotations (str, tuples...) are the planner's own business


def validate_config(config: Any) -> Any:
    """Check every field of the dataclass ``config`` by kind and range.

    Returns:
        ``config`` itself when every value already has its Python type, otherwise a copy
        (``dataclasses.replace``) with numpy scalars converted; the caller's object is never
        mutated.

    Raises:
        TypeError: a value of the wrong kind (``use_noise="false"``, ``iterations=5.0``).
        ValueError: a value outside its range, NaN/inf, or not one of a Literal's choices; the
            message names the field, the valid range and the value.
    """
    name = type(config).__name__
    changed = {}
    for field_name, tp, optional, rng in _field_kinds(type(config)):
        value = getattr(config, field_name)
        checked = check_field(f"{name}.{field_name}", value, tp, optional, rng)
        if type(checked) is not type(value):
            changed[field_name] = checked
    return dataclasses.replace(config, **changed) if changed else config


# ------------------------------------------------------------------------------ planner boundary
