"""Typed experiment configs: YAML loading, ``key=value`` overrides and strict validation.

A config file is YAML whose top-level ``experiment:`` key names the experiment family; the
rest must match that family's dataclass (``grasp_agent.experiments.schema``) exactly. Validation happens on
load, before any work starts:

- an unknown key is an error naming the key, where it is, and the valid keys;
- a value of the wrong type is an error naming the key, the expected type and the value;
- a missing required key (a field without default) is an error.

Overrides use dotted paths into the raw YAML, parsed as YAML scalars::

    python -m grasp_agent.experiments run quickstart tasks.count=4 planners.cem.params.iterations=5
    python -m grasp_agent.experiments run horizon_sweep "horizons=[25, 50]"

Example:
    >>> from grasp_agent.experiments.config import load_config
    >>> cfg = load_config("quickstart", ["tasks.count=2"])
    >>> cfg.tasks.count
    2
"""

from __future__ import annotations

import dataclasses
import re
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal, Union

import yaml

CONFIG_DIR = Path(__file__).resolve().parent / "configs"


class ConfigError(ValueError):
    """A config file or override is invalid; the message names the key and the fix."""


# ---------------------------------------------------------------------------- typed parsing
def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is not None:
        args = ", ".join(_type_name(a) for a in typing.get_args(tp))
        return f"{getattr(origin, '__name__', str(origin))}[{args}]"
    if tp is type(None):
        return "null"
    return getattr(tp, "__name__", str(tp))


def _convert(value: Any, tp: Any, where: str) -> Any:
    """Check ``value`` against the annotation ``tp`` and return it converted (dataclasses built)."""
    if tp is Any:
        return value
    origin = typing.get_origin(tp)
    if origin in (Union, types.UnionType):
        errors = []
        for option in typing.get_args(tp):
            try:
                return _convert(value, option, where)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(f"{where}: expected {_type_name(tp)}, got {value!r} "
                          f"({type(value).__name__})")
    if origin is Literal:
        if value in typing.get_args(tp) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected one of {_type_name(tp)}, got {value!r}")
    if origin in (list, tuple, Sequence):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list ({_type_name(tp)}), got {value!r}")
        (item,) = typing.get_args(tp)[:1] or (Any,)
        return [_convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping ({_type_name(tp)}), got {value!r}")
        key_tp, val_tp = typing.get_args(tp) or (str, Any)
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ConfigError(f"{where}: keys must be strings, got {k!r}")
            out[k] = _convert(v, val_tp, f"{where}.{k}")
        return out
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, where)
    if tp is type(None):
        if value is None:
            return None
        raise ConfigError(f"{where}: expected null, got {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected a bool (true/false), got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ConfigError(f"{where}: expected an int, got {value!r} ({type(value).__name__})")
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        raise ConfigError(f"{where}: expected a number, got {value!r} ({type(value).__name__})")
    if tp is str:
        if isinstance(value, str):
            return value
        raise ConfigError(f"{where}: expected a string, got {value!r} ({type(value).__name__})")
    raise TypeError(f"unsupported annotation {tp!r} at {where}")  # a bug in the schema, not input


def from_dict(cls: type, data: Any, where: str = "config") -> Any:
    """Build dataclass ``cls`` from a mapping, validating every key and type recursively."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping for {cls.__name__}, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r}"
                          f"{' (and ' + ', '.join(map(repr, unknown[1:])) + ')' if unknown[1:] else ''}; "
                          f"valid keys are: {', '.join(sorted(fields))}")
    kwargs = {}
    for name, f in fields.items():
        if name in data:
            kwargs[name] = _convert(data[name], hints[name], f"{where}.{name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise ConfigError(f"{where}: missing required key {name!r}")
    obj = cls(**kwargs)
    check = getattr(obj, "validate", None)
    if callable(check):
        try:
            check()
        except ValueError as err:
            raise ConfigError(f"{where}: {err}") from err
    return obj


def to_dict(obj: Any) -> Any:
    """A dataclass config as plain YAML/JSON-able data (the inverse of :func:`from_dict`)."""
    if dataclasses.is_dataclass(obj):
        return {f.name: to_dict(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, dict):
        return {k: to_dict(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_dict(v) for v in obj]
    return obj


# ---------------------------------------------------------------------------- overrides
def parse_override(text: str) -> tuple[list[str], Any]:
    """``"a.b=3"`` -> ``(["a", "b"], 3)``; the value is parsed as YAML (``[1, 2]``, ``null``)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like key.path=value (e.g. tasks.count=4)")
    key, raw = text.split("=", 1)
    parts = key.strip().split(".")
    if not all(parts):
        raise ConfigError(f"override {text!r} has an empty key component")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError as err:
        raise ConfigError(f"override {text!r}: value is not valid YAML ({err})") from err
    return parts, value


def apply_override(raw: dict[str, Any], parts: list[str], value: Any) -> None:
    """Set ``raw[parts[0]][parts[1]]... = value`` in place (list items by integer index).

    Missing intermediate mappings are created, so an unknown key surfaces in validation with
    the list of valid keys rather than as a ``KeyError`` here.
    """
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        if isinstance(node, list):
            node = node[_index(part, node, parts[:depth + 1])]
            continue
        if part not in node or node[part] is None:
            node[part] = {}
        node = node[part]
        if not isinstance(node, (dict, list)):
            raise ConfigError(f"override {'.'.join(parts)}: {'.'.join(parts[:depth + 1])} is a "
                              f"{type(node).__name__}, not a mapping")
    last = parts[-1]
    if isinstance(node, list):
        node[_index(last, node, parts)] = value
    else:
        node[last] = value


def _index(part: str, node: list, parts: list[str]) -> int:
    if not part.lstrip("-").isdigit() or not -len(node) <= int(part) < len(node):
        raise ConfigError(f"override {'.'.join(parts)}: {part!r} is not a valid index into a list "
                          f"of {len(node)} items")
    return int(part)


# ---------------------------------------------------------------------------- loading
def resolve_config_path(name_or_path: str | Path) -> Path:
    """A path to a YAML file, or the name of a bundled config (``quickstart`` ->
    ``experiments/configs/quickstart.yaml``)."""
    path = Path(name_or_path)
    if path.suffix in (".yaml", ".yml") and path.exists():
        return path
    bundled = CONFIG_DIR / f"{path.stem if path.suffix in ('.yaml', '.yml') else name_or_path}.yaml"
    if bundled.exists():
        return bundled
    names = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")))
    raise ConfigError(f"config {str(name_or_path)!r} not found: give a path to a .yaml file or one "
                      f"of the bundled configs: {names}")


def load_raw(name_or_path: str | Path, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """The YAML mapping of a config with ``overrides`` applied (not yet validated)."""
    path = resolve_config_path(name_or_path)
    with open(path, encoding="utf-8") as fh:
        try:
            raw = yaml.safe_load(fh)
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML ({err})") from err
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: the top level must be a mapping with an 'experiment' key")
    for text in overrides:
        apply_override(raw, *parse_override(text))
    return raw


def build_config(raw: dict[str, Any]) -> Any:
    """Validate a raw mapping into the dataclass its ``experiment`` key selects."""
    from grasp_agent.experiments.schema import CONFIG_CLASSES

    kind = raw.get("experiment")
    if kind not in CONFIG_CLASSES:
        raise ConfigError(f"config: 'experiment' must be one of {sorted(CONFIG_CLASSES)}, got {kind!r}")
    cfg = from_dict(CONFIG_CLASSES[kind], raw)
    check_run_settings(cfg)
    return cfg


_SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def check_run_settings(cfg: Any) -> None:
    """Check the settings every experiment family shares: ``name``, ``seed``, ``threads``, ``device``.

    The run directory is ``<out>/<name>-seed<seed>-<hash>``, so ``name`` must be a plain file
    name (letters, digits, ``_ . -``; no path separators, no ``..``) that cannot escape the
    output folder. The device must exist on this machine (``auto``, ``cpu``, ``cuda`` or
    ``cuda:N``), so a run that would fail after data collection fails here instead.

    Raises:
        ConfigError: naming the field, the value and the fix.
    """
    from grasp_agent.utils import resolve_device

    name = getattr(cfg, "name", "")
    if not isinstance(name, str) or not _SAFE_NAME.fullmatch(name) or ".." in name:
        raise ConfigError(f"config.name must be a plain name of letters, digits, '_', '.' and '-' (it "
                          f"names the run directory inside the output folder), got {name!r}")
    if getattr(cfg, "seed", 0) < 0:
        raise ConfigError(f"config.seed must be >= 0, got {cfg.seed}")
    if getattr(cfg, "threads", 1) < 1:
        raise ConfigError(f"config.threads must be >= 1 (torch CPU threads), got {cfg.threads}")
    try:
        resolve_device(getattr(cfg, "device", "cpu"))
    except (ValueError, RuntimeError, TypeError) as err:
        raise ConfigError(f"config.device: {err}") from err


def load_config(name_or_path: str | Path, overrides: Sequence[str] = ()) -> Any:
    """Load, override and validate a config; raises :class:`ConfigError` on any problem."""
    return build_config(load_raw(name_or_path, overrides))


def dump_yaml(cfg: Any) -> str:
    """The resolved config as YAML text (key order preserved)."""
    return yaml.safe_dump(to_dict(cfg), sort_keys=False, default_flow_style=None)
