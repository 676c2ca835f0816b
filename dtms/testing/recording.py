"""A broker wrapper that records every MT5 call made through it.

Tests assert on what a program *did* to the broker (one ``order_send`` per hedge, no SL modify
after a close, reads coalesced into one ``positions_get`` per cycle) by wrapping any broker in
:class:`Recorder` and reading :attr:`Recorder.calls` afterwards. It is a real broker, not a mock:
every call is forwarded unchanged and answered by the wrapped object, and ``last_error()`` is
read right after each call so the record says how it ended.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Call:
    """One forwarded API call and how it ended."""

    name: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]
    result: Any
    last_error: tuple[int, str]
    broker_time: float | None
    """The recorder's clock at the call (None without a clock)."""


class Recorder:
    """Forwards the MT5 API of ``broker`` and keeps a list of the calls.

    Args:
        broker: anything with the MT5 surface (simulator, adapter, real module).
        clock: optional broker-time source stamped on each record.
    """

    def __init__(self, broker: Any, *, clock: Callable[[], float] | None = None) -> None:
        """Wrap ``broker``."""
        self._broker = broker
        self._clock = clock
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._broker, name)
        if name.startswith("_") or name == "last_error" or not callable(attr):
            return attr

        def forward(*args: Any, **kwargs: Any) -> Any:
            result = attr(*args, **kwargs)
            code, message = self._broker.last_error()
            stamp = self._clock() if self._clock is not None else None
            record = Call(name, args, dict(kwargs), result, (code, message), stamp)
            with self._lock:
                self._calls.append(record)
            return result

        return forward

    @property
    def broker(self) -> Any:
        """The wrapped broker."""
        return self._broker

    @property
    def calls(self) -> tuple[Call, ...]:
        """Every recorded call, oldest first."""
        with self._lock:
            return tuple(self._calls)

    def of(self, name: str) -> tuple[Call, ...]:
        """The recorded calls of API function ``name``."""
        return tuple(c for c in self.calls if c.name == name)

    def requests(self) -> tuple[Mapping[str, Any], ...]:
        """The request dicts of every ``order_send``, in order."""
        return tuple(c.args[0] for c in self.of("order_send") if c.args)

    def clear(self) -> None:
        """Forget what was recorded so far."""
        with self._lock:
            self._calls.clear()
