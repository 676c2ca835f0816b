"""Broker-server time, learned from what the broker reports.

Timers, bar closes and staleness are judged on the broker's clock (bar and tick times are
broker-server epoch seconds, often UTC+2/+3). Trio runs at the broker's rate (1 for a real
terminal; the simulator's speed for an accelerated ``dtms sim-server``), so broker time is
Trio time plus an offset. The offset starts as a guess (local UTC plus the configured broker
offset) and is set by the first tick time the broker reports. Later reports move it forward (a
forming bar's open time is a lower bound of the broker's "now"); a tick time more than
``JUMP_SECONDS`` behind the estimate means the server's clock went back (a daylight-saving
switch) and resets it.
"""

from __future__ import annotations

import time

import trio

JUMP_SECONDS = 600.0


class BrokerTime:
    """A callable returning the estimated broker time (epoch seconds)."""

    def __init__(self, utc_offset_hours: float = 0.0) -> None:
        self._guess = time.time() + utc_offset_hours * 3600.0 - trio.current_time()
        self._offset: float | None = None
        self.observations = 0

    @property
    def calibrated(self) -> bool:
        """Whether the broker has reported a time yet."""
        return self._offset is not None

    def __call__(self) -> float:
        offset = self._guess if self._offset is None else self._offset
        return trio.current_time() + offset

    def observe(self, broker_time: float, *, exact: bool = True) -> None:
        """Learn from a time the broker reported (``exact``: a tick time, else a lower bound)."""
        offset = float(broker_time) - trio.current_time()
        self.observations += 1
        if self._offset is None:
            if exact:
                self._offset = offset
            else:
                self._guess = max(self._guess, offset)
            return
        if exact and self._offset - offset > JUMP_SECONDS:
            self._offset = offset  # the server clock went back: believe the tick
            return
        self._offset = max(self._offset, offset)
