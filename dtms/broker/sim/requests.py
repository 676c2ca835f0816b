"""The Python-level checks the real package applies to a request before it leaves the process.

These are the most common "works in the simulator, fails live" traps (reference §6.10), so they
are strict on purpose:

* exactly one positional ``dict``; keyword arguments (even an empty ``**{}`` splat) or a second
  positional argument give ``(-2, 'Unnamed arguments not allowed')``;
* float fields must be ``float`` or a subclass (``numpy.float64`` passes; ``sl=0``, ``None`` and
  ``Decimal`` do not);
* int fields must be ``int`` (``bool`` passes, being an int); ``numpy.int64`` is rejected: the
  reference leaves it unverified, and client code that casts works everywhere;
* ``symbol``/``comment`` must be ``str`` and the comment at most ``comment_max_length`` long;
* missing keys default to zero, unknown keys are ignored.

A failure is ``None`` from the API with ``last_error() == (-2, 'Invalid "<field>" argument')``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dtms.broker import constants as c
from dtms.broker.structs import TradeRequest

INT_FIELDS = frozenset({
    "action", "magic", "order", "deviation", "type", "type_filling", "type_time", "expiration",
    "position", "position_by",
})
FLOAT_FIELDS = frozenset({"volume", "price", "stoplimit", "sl", "tp"})
STR_FIELDS = frozenset({"symbol", "comment"})
UNSIGNED_FIELDS = frozenset({"magic", "order", "position", "position_by"})


def parse_request(
    args: tuple[Any, ...], kwargs: Mapping[str, Any], comment_max_length: int
) -> TradeRequest | str:
    """Turn ``order_send``/``order_check`` arguments into a request.

    Returns the request, or the ``last_error()`` message that goes with code -2.
    """
    if kwargs or len(args) > 1:
        return c.MSG_UNNAMED_ARGUMENTS
    if not args:
        return c.MSG_INVALID_ARGUMENT_COUNT
    raw = args[0]
    if not isinstance(raw, dict):
        return c.MSG_INVALID_ARGUMENTS
    values: dict[str, Any] = {}
    for name in TradeRequest._fields:
        if name not in raw:
            continue
        value = raw[name]
        if not _type_ok(name, value):
            return c.invalid_argument(name)
        if name in FLOAT_FIELDS:
            value = float(value)
        elif name in INT_FIELDS:
            value = int(value)
        values[name] = value
    if len(values.get("comment", "")) > comment_max_length:
        return c.invalid_argument("comment")
    return TradeRequest(**values)


def _type_ok(name: str, value: Any) -> bool:
    if name in FLOAT_FIELDS:
        return isinstance(value, float)
    if name in INT_FIELDS:
        if not isinstance(value, int):
            return False
        return not (name in UNSIGNED_FIELDS and value < 0)
    return isinstance(value, str)
