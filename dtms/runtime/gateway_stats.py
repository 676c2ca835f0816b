"""Counters of the gateway and the frozen snapshot ``Gateway.statistics()`` returns.

Everything is bounded: counters are per function / retcode / outcome (small closed sets), and
latencies live in a fixed-size window, so a process that runs for months keeps a constant
footprint. Latencies are in Trio seconds (simulated seconds on an accelerated clock).
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter, deque
from collections.abc import Mapping
from dataclasses import dataclass

from dtms.core.types import Outcome
from dtms.runtime.gateway_requests import Priority


@dataclass(frozen=True, slots=True)
class GatewayStatistics:
    """A snapshot of the gateway's state and counters since it opened."""

    queue_depth: Mapping[Priority, int]
    """Requests waiting, per priority class."""
    in_flight: str | None
    """The broker function being called right now, if any."""
    calls_total: int
    """Broker calls made (including initialize/shutdown of reconnects)."""
    calls_by_function: Mapping[str, int]
    latency_p50: float | None
    """Median broker-call latency over the window, seconds; None before the first call."""
    latency_p90: float | None
    latency_p99: float | None
    retcodes: Mapping[int, int]
    """order_send/order_check results per retcode."""
    outcomes: Mapping[Outcome, int]
    """Results handed to callers, per outcome (coalesced callers counted once each)."""
    not_sent: int
    """Requests that never reached the broker (deadline while queued, closing, broker down)."""
    coalesced: int
    """Queued requests replaced by a newer one with the same coalesce key."""
    superseded: int
    """Queued stop changes dropped because a close or hedge of their position was sent."""
    reconnects: int
    """Successful reconnections after an IPC loss (the first connect is not counted)."""
    connection_epoch: int
    """1 after the first connect, +1 per reconnect."""
    connected: bool
    oldest_queued: Mapping[Priority, float] = dataclasses.field(default_factory=dict)
    """Seconds the oldest queued request of each class has waited."""

    @property
    def unknown_outcomes(self) -> int:
        """Results whose outcome nobody knows (resolve by reconciliation)."""
        return self.outcomes.get(Outcome.UNKNOWN, 0)

    @property
    def queued(self) -> int:
        """Requests waiting, all classes together."""
        return sum(self.queue_depth.values())


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile ``q`` (0–100) of an ascending list, None when empty."""
    if not sorted_values:
        return None
    rank = max(math.ceil(q / 100.0 * len(sorted_values)), 1)
    return sorted_values[min(rank, len(sorted_values)) - 1]


class StatsRecorder:
    """Mutable counters owned by the gateway task; :meth:`snapshot` freezes them."""

    def __init__(self, latency_window: int) -> None:
        self._latencies: deque[float] = deque(maxlen=latency_window)
        self._calls: Counter[str] = Counter()
        self._retcodes: Counter[int] = Counter()
        self._outcomes: Counter[Outcome] = Counter()
        self.not_sent = 0
        self.coalesced = 0
        self.superseded = 0
        self.reconnects = 0

    def record_call(self, fn_name: str, latency: float, retcode: int | None) -> None:
        """Count one broker call and its latency (and retcode when it has one)."""
        self._calls[fn_name] += 1
        self._latencies.append(latency)
        if retcode is not None:
            self._retcodes[retcode] += 1

    def record_outcome(self, outcome: Outcome, *, sent: bool) -> None:
        """Count one result handed to a caller."""
        self._outcomes[outcome] += 1
        if not sent:
            self.not_sent += 1

    def snapshot(
        self,
        *,
        queue_depth: Mapping[Priority, int],
        in_flight: str | None,
        connection_epoch: int,
        connected: bool,
        oldest_queued: Mapping[Priority, float] | None = None,
    ) -> GatewayStatistics:
        """Freeze the counters together with the gateway's current state."""
        window = sorted(self._latencies)
        return GatewayStatistics(
            queue_depth=dict(queue_depth),
            in_flight=in_flight,
            calls_total=sum(self._calls.values()),
            calls_by_function=dict(self._calls),
            latency_p50=percentile(window, 50),
            latency_p90=percentile(window, 90),
            latency_p99=percentile(window, 99),
            retcodes=dict(self._retcodes),
            outcomes=dict(self._outcomes),
            not_sent=self.not_sent,
            coalesced=self.coalesced,
            superseded=self.superseded,
            reconnects=self.reconnects,
            connection_epoch=connection_epoch,
            connected=connected,
            oldest_queued=dict(oldest_queued or {}),
        )
