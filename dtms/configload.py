"""Turning TOML tables into frozen, typed parameter dataclasses.

Each part of dtms declares its tunables as a frozen dataclass of :func:`dtms.core.params.knob`
fields. :func:`build` fills one from a TOML table and stops at the first problem with one line
that names the key (``machine.flat_timer_minutes``) and what is wrong with it: an unknown key, a
wrong type, or a value out of its bounds.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from dtms.core.params import bounds_of
from dtms.errors import ConfigError

T = TypeVar("T")

_TYPE_NAMES = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}


def build(cls: type[T], table: Mapping[str, Any], where: str) -> T:
    """Build ``cls`` from ``table``; ``where`` is the dotted path used in messages."""
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: expected a table of settings, got {_describe(table)}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in table:
        if key not in fields:
            known = ", ".join(sorted(fields))
            raise ConfigError(f"{_join(where, key)}: unknown setting (known here: {known})")
    values: dict[str, Any] = {}
    for name, field in fields.items():
        if name not in table:
            continue
        key = _join(where, name)
        value = _convert(hints[name], table[name], key)
        _check_bounds(field, value, key)
        values[name] = value
    try:
        return cls(**values)
    except (ValueError, TypeError) as exc:  # cross-field checks in __post_init__
        raise ConfigError(f"{where}: {exc}") from exc


def _convert(hint: Any, value: Any, key: str) -> Any:
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        return build(hint, value, key)
    if origin is tuple:
        args = typing.get_args(hint)
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, got {_describe(value)}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_convert(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{key}: expected a list of {len(args)} values, got {len(value)}")
        pairs = enumerate(zip(args, value, strict=True))
        return tuple(_convert(a, v, f"{key}[{i}]") for i, (a, v) in pairs)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if value is None or value == "":
            return None
        return _convert(options[0], value, key)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        allowed = [str(m.value) for m in hint]
        if isinstance(value, str):
            for member in hint:
                if str(member.value).lower() == value.lower():
                    return member
        raise ConfigError(f"{key}: expected one of {', '.join(allowed)}, got {value!r}")
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected {_TYPE_NAMES[float]}, got {_describe(value)}")
        if value != value:  # NaN
            raise ConfigError(f"{key}: expected a number, got nan")
        return float(value)
    if hint in (bool, int, str):
        if type(value) is not hint:
            raise ConfigError(f"{key}: expected {_TYPE_NAMES[hint]}, got {_describe(value)}")
        return value
    raise ConfigError(f"{key}: this setting cannot be set from the file")  # pragma: no cover


def _check_bounds(field: dataclasses.Field[Any], value: Any, key: str) -> None:
    bounds = bounds_of(field)
    items = value if isinstance(value, tuple) else (value,)
    for item in items:
        if isinstance(item, int | float) and not isinstance(item, bool):
            problem = bounds.violation(item)
            if problem:
                raise ConfigError(f"{key}: {item:g} is out of range ({problem})")


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"{str(value).lower()} (a boolean)"
    if isinstance(value, Mapping):
        return "a table"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"{value!r} (a string)"
    if isinstance(value, int):
        return f"{value} (an integer)"
    if isinstance(value, float):
        return f"{value} (a number)"
    return type(value).__name__


def _join(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def knob_paths(cls: type[Any], where: str = "") -> list[str]:
    """Every settable dotted key under ``cls`` (used to check config.toml names them all)."""
    hints = typing.get_type_hints(cls)
    out: list[str] = []
    for f in dataclasses.fields(cls):
        hint = hints[f.name]
        key = _join(where, f.name)
        if dataclasses.is_dataclass(hint) and isinstance(hint, type):
            out.extend(knob_paths(hint, key))
        else:
            out.append(key)
    return out


def render_toml(settings: Any, header: str = "") -> str:
    """A settings dataclass (an instance, or a class for its defaults) as commented TOML, one
    table per nested dataclass, that parses back to the same settings."""
    lines = [header.rstrip()] if header else []
    _render(settings() if isinstance(settings, type) else settings, "", lines)
    return "\n".join(lines).strip() + "\n"


def _render(obj: Any, where: str, lines: list[str]) -> None:
    from dtms.core.params import doc_of

    hints = typing.get_type_hints(type(obj))
    scalars: list[tuple[str, Any, str]] = []
    tables: list[tuple[str, Any, str]] = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        target = tables if dataclasses.is_dataclass(hints[f.name]) else scalars
        target.append((f.name, value, doc_of(f)))
    if scalars and where:
        doc = (type(obj).__doc__ or "").strip().splitlines()[0]
        lines += ["", f"[{where}]", f"# {doc}"]
    for name, value, doc in scalars:
        lines.append(f"{name} = {_toml_value(value)}" + (f"  # {doc}" if doc else ""))
    for name, value, _ in tables:
        _render(value, _join(where, name), lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, enum.Enum):
        return _toml_value(value.value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, float):
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value) if value == value else "nan"
    return str(value)
