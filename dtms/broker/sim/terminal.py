"""The call conventions of the MetaTrader5 package, shared by every simulated API function.

Theory of operation: each API function takes the server lock and calls :meth:`Terminal._begin`,
which spends the call's latency through the injected ``sleep`` (so with a Trio ``MockClock``
latency advances virtual time, and nothing ever calls ``time.sleep`` directly), brings the
server to the clock's time, applies a scripted failure (``scenario.fail_next``) and refuses when
the terminal link is down. The function then ends with :meth:`_ok` (``last_error()`` becomes
``(1, 'Success')``) or :meth:`_fail` (``None`` and the error). Nothing raises to the caller.
"""

from __future__ import annotations

import fnmatch
from datetime import datetime
from typing import TypeVar

from dtms.broker import constants as c
from dtms.broker.sim.server import Server

T = TypeVar("T")
Error = tuple[int, str]

SUCCESS: Error = (c.RES_S_OK, c.ERROR_MESSAGES[c.RES_S_OK])


def error(code: int, message: str | None = None) -> Error:
    """A ``last_error()`` value, with the package's message for ``code`` by default."""
    return (code, message if message is not None else c.ERROR_MESSAGES[code])


def match_group(name: str, mask: str) -> bool:
    """Whether ``name`` passes an MT5 group mask such as ``"*,!*EUR*"``.

    Conditions apply left to right; ``!`` excludes; matching ignores case.
    """
    selected = False
    for cond in (part.strip() for part in mask.split(",")):
        if not cond:
            continue
        if cond.startswith("!"):
            if fnmatch.fnmatchcase(name.upper(), cond[1:].upper()):
                selected = False
        elif fnmatch.fnmatchcase(name.upper(), cond.upper()):
            selected = True
    return selected


def epoch(value: object) -> float | None:
    """Seconds from a date argument: a ``datetime`` (via ``.timestamp()``, as the real package
    reads it, so a naive one is local time) or a number; None for anything else."""
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


class Terminal:
    """Base of the facade: the server, ``last_error()`` and the per-call protocol."""

    def __init__(self, server: Server) -> None:
        """Front ``server``."""
        self._server = server
        self._error: Error = error(c.RES_E_INTERNAL_FAIL_CONNECT)

    def last_error(self) -> tuple[int, str]:
        """The outcome of the previous call: ``(1, 'Success')`` or ``(code, description)``."""
        with self._server.lock:
            return self._error

    def _begin(self, fn_name: str, *, needs_link: bool = True) -> bool:
        """Start a call (lock held): latency, server time, scripted failure, link state."""
        server = self._server
        latency = server.faults.latency(fn_name)
        if latency > 0:
            server.sleep(latency)
        server.engine.advance(server.clock())
        forced = server.faults.take_forced_error(fn_name)
        if forced is not None:
            self._error = forced
            return False
        if needs_link and not server.link.initialized:
            self._error = error(c.RES_E_INTERNAL_FAIL_CONNECT)
            return False
        return True

    def _ok(self, value: T) -> T:
        self._error = SUCCESS
        return value

    def _fail(self, code: int, message: str | None = None) -> None:
        self._error = error(code, message)

    def _empty_history(self, items: tuple[T, ...]) -> tuple[T, ...] | None:
        """An empty history answer: ``()`` or, if so configured, ``None`` with Success."""
        if not items and self._server.settings.empty_history_as_none:
            self._error = SUCCESS
            return None
        return self._ok(items)
