"""Test kit for the runtime: a small honest terminal fake, an overlap recorder, an executor
that can hold a call "in flight" on virtual time.

These are real implementations of the interfaces they stand in for (fakes, never mocks).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

import trio

from dtms.broker.structs import OrderSendResult, Tick, TradePosition, TradeRequest
from dtms.errors import BrokerTimeout
from dtms.runtime.executor import InlineExecutor

T = TypeVar("T")

NO_IPC = (-10004, "No IPC connection")


class FakeTerminal:
    """A few MT5 functions over an in-memory hedging account, with a breakable IPC link.

    Args:
        now: broker clock (seconds); every call is logged with it.
        sleep: how a call spends its ``latency`` (``MockClock.jump`` on virtual time).
    """

    TRADE_ACTION_DEAL = 1
    TRADE_ACTION_SLTP = 6
    TRADE_ACTION_CLOSE_BY = 10
    ORDER_TYPE_BUY = 0
    ORDER_TYPE_SELL = 1

    def __init__(
        self, now: Callable[[], float] = lambda: 0.0, sleep: Callable[[float], None] | None = None
    ) -> None:
        self.now = now
        self.sleep = sleep or (lambda _s: None)
        self.latency: dict[str, float] = {}
        self.log: list[tuple[str, float, Any]] = []
        self.initialized = False
        self.link_up = True
        self.init_failures = 0
        self.retcodes: list[int] = []
        self.positions: dict[int, TradePosition] = {}
        self._next_ticket = 1000
        self._error: tuple[int, str] = (1, "Success")

    # --- link control (the test's hand on the cable) ------------------------------------------
    def drop_link(self) -> None:
        """Terminal gone: calls answer (-10004) and initialize fails until restore_link()."""
        self.link_up = False

    def restore_link(self) -> None:
        self.link_up = True

    def calls(self, fn_name: str) -> list[tuple[str, float, Any]]:
        return [entry for entry in self.log if entry[0] == fn_name]

    # --- the MT5 surface ---------------------------------------------------------------------
    def _enter(self, fn_name: str, arg: Any = None) -> bool:
        self.log.append((fn_name, self.now(), arg))
        self.sleep(self.latency.get(fn_name, 0.0))
        if not (self.initialized and self.link_up):
            self._error = NO_IPC
            return False
        self._error = (1, "Success")
        return True

    def initialize(self, **_kwargs: Any) -> bool:
        self.log.append(("initialize", self.now(), None))
        self.sleep(self.latency.get("initialize", 0.0))
        if self.init_failures > 0 or not self.link_up:
            self.init_failures = max(self.init_failures - 1, 0)
            self._error = (-10003, "IPC initialize failed, Process create failed")
            return False
        self.initialized = True
        self._error = (1, "Success")
        return True

    def shutdown(self) -> None:
        self.log.append(("shutdown", self.now(), None))
        self.initialized = False

    def last_error(self) -> tuple[int, str]:
        return self._error

    def positions_get(self, **filters: Any) -> tuple[TradePosition, ...] | None:
        if not self._enter("positions_get", filters):
            return None
        ticket = filters.get("ticket")
        return tuple(p for t, p in self.positions.items() if ticket in (None, t))

    def symbol_info_tick(self, symbol: str) -> Tick | None:
        if not self._enter("symbol_info_tick", symbol):
            return None
        return Tick(time=int(self.now()), bid=1.1, ask=1.1002, time_msc=int(self.now() * 1000))

    def order_send(self, request: dict[str, Any]) -> OrderSendResult | None:
        if not self._enter("order_send", dict(request)):
            return None
        retcode = self.retcodes.pop(0) if self.retcodes else 10009
        echo = TradeRequest.from_dict(request)
        if retcode != 10009:
            return OrderSendResult(retcode=retcode, request=echo)
        position = int(request.get("position", 0))
        if request.get("action") == self.TRADE_ACTION_DEAL and not position:
            self._next_ticket += 1
            ticket = self._next_ticket
            self.positions[ticket] = TradePosition(
                ticket=ticket,
                identifier=ticket,
                symbol=request["symbol"],
                volume=request["volume"],
                type=request["type"],
                price_open=1.1,
            )
            return OrderSendResult(10009, ticket, ticket, request["volume"], 1.1, request=echo)
        if request.get("action") == self.TRADE_ACTION_DEAL:
            self.positions.pop(position, None)
        return OrderSendResult(10009, 1, 1, request.get("volume", 0.0), 1.1, request=echo)


class OverlapRecorder:
    """Wrap a broker object and record whether two calls ever ran at the same time.

    Thread-safe: each method call counts itself in and out under a lock; ``max_active`` is the
    largest number of calls seen inside the broker at once and ``threads`` the OS threads used.
    """

    def __init__(self, broker: Any) -> None:
        self._broker = broker
        self._lock = threading.Lock()
        self.active = 0
        self.max_active = 0
        self.threads: set[int] = set()
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self._broker, name)
        if not callable(target):
            return target

        def recorded(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                self.active += 1
                self.calls += 1
                self.max_active = max(self.max_active, self.active)
                self.threads.add(threading.get_ident())
            try:
                return target(*args, **kwargs)
            finally:
                with self._lock:
                    self.active -= 1

        return recorded


class HoldingExecutor(InlineExecutor):
    """Inline executor whose calls can be held "in flight" until released (virtual time).

    While held, a call waits (shielded, like a real worker thread) before running; the gateway
    sees it as in flight. ``abandon()`` gives up on a held call, as at a bounded shutdown.
    """

    def __init__(self) -> None:
        self.released = trio.Event()
        self.released.set()
        self.held_calls = 0
        self.runs = 0
        self.limit = 100_000.0
        self._waiting: set[trio.CancelScope] = set()

    def hold(self) -> None:
        self.released = trio.Event()

    def release(self) -> None:
        self.released.set()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        self.runs += 1
        if not self.released.is_set():
            self.held_calls += 1
            # shielded like a worker thread, but bounded so that a broken test fails, not hangs
            limit = trio.current_time() + self.limit
            with trio.CancelScope(shield=True, deadline=limit) as scope:
                self._waiting.add(scope)
                await self.released.wait()
            self._waiting.discard(scope)
            if scope.cancelled_caught:
                raise BrokerTimeout("abandoned while held")
        return await super().run(fn, *args)

    def abandon(self) -> None:
        for scope in self._waiting:
            scope.cancel()
