"""What the supervisor's cycles did and how long they took (for logs, status, benchmarks)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from dtms.runtime.gateway_stats import percentile


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one cycle did (for logs, status and the benchmark)."""

    at: float
    ok: bool
    positions: int = 0
    trades: int = 0
    spawned: int = 0
    vanished: int = 0
    new_bars: int = 0
    calls: int = 0
    delivered: int = 0
    """Actors woken this cycle (the others saw nothing new and were not due)."""
    duration: float = 0.0
    """Trio seconds from the snapshot request to the last actor woken (queue waits included)."""
    carried: int = 0
    """Watched positions the snapshot lacked and that are not (yet) proven gone."""


class CycleTimes:
    """Durations of the recent cycles (bounded), for status, metrics and benchmarks."""

    def __init__(self, keep: int = 600) -> None:
        self.recent: deque[float] = deque(maxlen=keep)
        self.count = 0

    def add(self, seconds: float) -> None:
        """Record one cycle's duration."""
        self.recent.append(seconds)
        self.count += 1

    def summary(self) -> dict[str, float | None]:
        """Last, median and 95th percentile of the recent cycles (None before the first)."""
        window = sorted(self.recent)
        return {
            "last": self.recent[-1] if self.recent else None,
            "p50": percentile(window, 50),
            "p95": percentile(window, 95),
            "max": window[-1] if window else None,
        }


__all__ = ["CycleReport", "CycleTimes"]
