"""Turning core values into JSON-ready dicts and back.

The journal stores a trade's full state (pending commands, failures, flip memory, timers) as
JSON next to the queryable columns, so a restart resumes exactly where the process stopped.
Dataclasses become dicts, enums their values, commands carry a ``"type"`` tag. Decoding is
strict: a state the code cannot read is an error, never silently a default.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import types
import typing
from operator import attrgetter
from typing import Any

from dtms.core import messages
from dtms.core.trade import TradeState

_COMMANDS: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        messages.ModifyStops,
        messages.ClosePartial,
        messages.OpenHedge,
        messages.ClosePosition,
        messages.CloseBy,
        messages.ReAdd,
    )
}


_SHAPES: dict[type[Any], tuple[tuple[str, ...], str | None] | None] = {}
"""Per class: its field names and command tag, or None when it is not a dataclass."""


def _shape(cls: type[Any]) -> tuple[tuple[str, ...], str | None] | None:
    shape = _SHAPES.get(cls, ())
    if shape == ():
        if dataclasses.is_dataclass(cls):
            names = tuple(f.name for f in dataclasses.fields(cls))
            shape = (names, cls.__name__ if cls.__name__ in _COMMANDS else None)
        else:
            shape = None
        _SHAPES[cls] = shape
    return shape  # type: ignore[return-value]


def to_plain(value: Any) -> Any:
    """A JSON-ready copy of a core value (field lists are read once per class)."""
    shape = _shape(type(value))
    if shape is not None:
        names, tag = shape
        out = {name: to_plain(getattr(value, name)) for name in names}
        if tag is not None:
            out["type"] = tag
        return out
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, tuple | list):
        return [to_plain(v) for v in value]
    return value


def from_plain(hint: Any, value: Any) -> Any:
    """Rebuild a value of type ``hint`` from its plain form."""
    if value is None:
        return None
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        if isinstance(value, dict) and "type" in value and value["type"] in _COMMANDS:
            return from_plain(_COMMANDS[value["type"]], value)
        return from_plain(options[0], value)
    if origin is tuple:
        args = typing.get_args(hint)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(from_plain(args[0], v) for v in value)
        return tuple(from_plain(a, v) for a, v in zip(args, value, strict=True))
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value)
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        hints = typing.get_type_hints(hint)
        kwargs = {
            f.name: from_plain(hints[f.name], value[f.name])
            for f in dataclasses.fields(hint)
            if f.name in value
        }
        return hint(**kwargs)
    if hint is float and isinstance(value, int):
        return float(value)
    return value


_GETTERS: dict[type[Any], tuple[tuple[str, ...], attrgetter[Any], str | None]] = {}


def _json_default(value: Any) -> Any:
    """Called by the C JSON encoder for what it cannot write itself: dataclasses and enums."""
    if isinstance(value, enum.Enum):
        return value.value
    spec = _GETTERS.get(type(value))
    if spec is None:
        shape = _shape(type(value))
        if shape is None:
            raise TypeError(f"cannot journal a {type(value).__name__}")
        names, tag = shape
        spec = (names, attrgetter(*names), tag)
        _GETTERS[type(value)] = spec
    names, getter, tag = spec
    out = dict(zip(names, getter(value), strict=True))
    if tag is not None:
        out["type"] = tag
    return out


def dump_trade(trade: TradeState) -> str:
    """The trade's full state as compact JSON (the same document ``to_plain`` describes)."""
    return json.dumps(trade, default=_json_default, separators=(",", ":"))


def load_trade(text: str) -> TradeState:
    """Rebuild a trade's state from ``dump_trade`` output."""
    trade = from_plain(TradeState, json.loads(text))
    assert isinstance(trade, TradeState)
    return trade
