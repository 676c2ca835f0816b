"""Operator events: what happened that a person or an outside monitor may want to know.

Theory of operation. The runtime publishes an :class:`OperatorEvent` where something worth
telling happens (a hedge opened, a trade closed by dtms, AutoTrading switched off, the broker
link lost, data gone stale). :meth:`EventBus.publish` never blocks and never fails: each
subscriber has its own bounded buffer, and an event that does not fit is dropped for that
subscriber and counted. So a slow or broken listener (an alert channel that is down) can never
slow trading. Surfaces built on the runtime (alerts, the HTTP live views, metrics) subscribe;
the runtime never knows who listens, and never imports them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import trio


class EventKind(enum.Enum):
    """The closed set of things the runtime tells operators about."""

    PROCESS_STARTED = "process_started"
    PROCESS_STOPPING = "process_stopping"
    HEDGE_OPENED = "hedge_opened"
    HEDGE_FAILED = "hedge_failed"
    HEDGE_GIVEN_UP = "hedge_given_up"
    TRADE_CLOSED = "trade_closed"
    """A trade dtms closed (flat timer, CHOCH, not recovered), or found closed at the broker."""
    QUARANTINED = "quarantined"
    BROKER_LINK_DOWN = "broker_link_down"
    BROKER_LINK_UP = "broker_link_up"
    TRADING_DISABLED = "trading_disabled"
    """AutoTrading off, or the account may not trade: actions wait."""
    TRADING_ENABLED = "trading_enabled"
    DATA_STALE = "data_stale"
    DATA_FRESH = "data_fresh"
    ANOTHER_MANAGER = "another_manager"
    """Someone else sends orders with dtms's magic: dtms stopped acting."""
    GUARD_WARNING = "guard_warning"
    GUARD_TRIGGERED = "guard_triggered"
    """A loss limit was reached: every managed position is closed, the account kept flat."""
    GUARD_RELEASED = "guard_released"
    """The guard's lock was released (the daily reset, or ``dtms guard unlock``)."""


class Severity(enum.Enum):
    """How loud an event is."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True, slots=True)
class OperatorEvent:
    """One thing that happened, with one operator line that says it."""

    kind: EventKind
    at: float
    """Broker time (epoch seconds)."""
    text: str
    severity: Severity = Severity.INFO
    ticket: int | None = None
    symbol: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)
    """Plain values that go with the event (volumes, retcodes, reasons)."""


@dataclass(slots=True)
class _Subscriber:
    send: trio.MemorySendChannel[OperatorEvent]
    dropped: int = 0


class EventBus:
    """Fan-out of operator events to bounded subscribers (Trio thread only)."""

    def __init__(self) -> None:
        self._subscribers: list[_Subscriber] = []
        self.published = 0
        self.counts: dict[EventKind, int] = {}
        self._gone_dropped = 0

    @property
    def dropped(self) -> int:
        """Events dropped because a subscriber's buffer was full (all subscribers)."""
        return sum(s.dropped for s in self._subscribers) + self._gone_dropped

    def publish(self, event: OperatorEvent) -> None:
        """Hand ``event`` to every subscriber that has room; never blocks."""
        self.published += 1
        self.counts[event.kind] = self.counts.get(event.kind, 0) + 1
        for sub in self._subscribers:
            try:
                sub.send.send_nowait(event)
            except trio.WouldBlock:
                sub.dropped += 1
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                pass

    @contextmanager
    def subscribe(self, buffer: int = 1000) -> Iterator[trio.MemoryReceiveChannel[OperatorEvent]]:
        """Receive every event published while the block runs (at most ``buffer`` waiting)."""
        send, receive = trio.open_memory_channel[OperatorEvent](buffer)
        sub = _Subscriber(send)
        self._subscribers.append(sub)
        try:
            yield receive
        finally:
            self._subscribers.remove(sub)
            self._gone_dropped += sub.dropped
            send.close()
