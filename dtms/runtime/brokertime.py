"""Broker-server time, learned from the ticks the broker reports.

Timers, bar closes and staleness are judged on the broker's clock (bar and tick times are
broker-server epoch seconds, often UTC+2/+3). Trio runs at the broker's rate (1 for a real
terminal; the simulator's speed for an accelerated ``dtms sim-server``), so broker time is
Trio time plus an offset.

The offset comes from the **freshest** tick of each cycle, never from one symbol's tick: a quiet
symbol (an index in its daily break, a thin cross at night) can report a tick forty minutes
old, and believing it wound the clock back, paused deep checks and later let a flat timer fire
early. So:

* ``observe_ticks`` takes the cycle's ticks of every symbol; the freshest one counts.
* Within ``jump_seconds`` of the estimate, the estimate only moves forward (older ticks say
  nothing about "now"; a forming bar's open time is a lower bound, ``observe(exact=False)``).
* A change beyond ``jump_seconds``, in either direction (a daylight-saving switch, a server
  moved), is believed only when the freshest tick of a later cycle agrees with it and is itself
  newer: a single wrong tick, or a frozen old one, never moves the clock.

Before the first tick the estimate is a guess (local UTC plus the configured offset), and
``calibrated`` is False so nothing is stamped with it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

import trio

JUMP_SECONDS = 600.0
AGREE_SECONDS = 60.0
"""Two freshest ticks agree on a new clock when their offsets differ by at most this."""


class BrokerTime:
    """A callable returning the estimated broker time (epoch seconds)."""

    def __init__(self, utc_offset_hours: float = 0.0, jump_seconds: float = JUMP_SECONDS) -> None:
        self._guess = time.time() + utc_offset_hours * 3600.0 - trio.current_time()
        self._offset: float | None = None
        self._candidate: tuple[float, float] | None = None
        self._jump = jump_seconds
        self.observations = 0
        self.jumps = 0
        """Clock changes believed (each confirmed by a later freshest tick)."""

    @property
    def calibrated(self) -> bool:
        """Whether the broker has reported a tick time yet."""
        return self._offset is not None

    def __call__(self) -> float:
        offset = self._guess if self._offset is None else self._offset
        return trio.current_time() + offset

    def observe_ticks(self, ticks: Mapping[str, float]) -> None:
        """Learn from one cycle's tick times (symbol -> broker time of its last tick)."""
        fresh = [t for t in ticks.values() if t > 0]
        if not fresh:
            return
        freshest = max(fresh)
        offset = freshest - trio.current_time()
        self.observations += 1
        if self._offset is None:
            self._offset = offset
            return
        delta = offset - self._offset
        if -self._jump <= delta <= self._jump:
            self._candidate = None
            self._offset = max(self._offset, offset)
            return
        candidate = self._candidate
        if (candidate is not None and abs(offset - candidate[0]) <= AGREE_SECONDS
                and freshest > candidate[1]):
            self._offset = offset  # a later, newer freshest tick agrees: the clock changed
            self._candidate = None
            self.jumps += 1
        else:
            self._candidate = (offset, freshest)

    def observe(self, broker_time: float, *, exact: bool = True) -> None:
        """Learn from one reported time: a tick (``exact``), or a lower bound of "now".

        A lower bound (a forming bar's open time) can only move the estimate forward, and never
        by a jump.
        """
        if exact:
            self.observe_ticks({"": broker_time})
            return
        offset = float(broker_time) - trio.current_time()
        self.observations += 1
        if self._offset is None:
            self._guess = max(self._guess, offset)
        elif 0 < offset - self._offset <= self._jump:
            self._offset = offset
