"""Trio clocks for simulated time, and the broker clock derived from them.

One rule holds in every mode (architecture, "Time"): the broker clock and Trio's clock agree.
The simulator asks ``clock()`` for broker epoch seconds and calls ``sleep(seconds)`` for its
simulated latency; both are built here from the Trio clock the run uses:

* ``dtms run`` on the embedded simulator: :class:`AcceleratedClock` — Trio time runs ``speed``
  times faster than the wall clock, so timers of 75 minutes pass in seconds;
* tests: ``trio.testing.MockClock`` — virtual time, and the simulator's latency jumps it.

The simulator reads the clock from the gateway's worker thread, so reads must be thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import trio
import trio.testing


class AcceleratedClock(trio.abc.Clock):
    """A Trio clock whose time runs ``speed`` times faster than the wall clock.

    ``current_time()`` is in *simulated* seconds since ``start``; sleeping until a deadline
    takes ``1/speed`` of the simulated interval in real time. Reads are thread-safe.

    Args:
        speed: simulated seconds per real second (> 0); 1.0 is real time.
        start: the simulated time at construction.
    """

    __slots__ = ("_lock", "_real_base", "_speed", "_virtual_base")

    def __init__(self, speed: float, *, start: float = 0.0) -> None:
        if not speed > 0:
            raise ValueError(f"AcceleratedClock speed must be > 0, got {speed!r}")
        self._lock = threading.Lock()
        self._speed = float(speed)
        self._real_base = time.perf_counter()
        self._virtual_base = float(start)

    def __repr__(self) -> str:
        return f"<AcceleratedClock ×{self._speed:g}, time={self.current_time():.3f}>"

    @property
    def speed(self) -> float:
        """Simulated seconds per real second."""
        return self._speed

    def start_clock(self) -> None:
        """Nothing to set up: the clock runs from construction, so reads before trio.run agree."""

    def current_time(self) -> float:
        """Simulated seconds (``start`` plus ``speed`` × real seconds since construction)."""
        now = time.perf_counter()
        with self._lock:
            return self._virtual_base + (now - self._real_base) * self._speed

    def deadline_to_sleep_time(self, deadline: float) -> float:
        """Real seconds until ``deadline`` (simulated), i.e. the simulated gap / speed."""
        return max(deadline - self.current_time(), 0.0) / self._speed

    def jump(self, seconds: float) -> None:
        """Advance simulated time by ``seconds`` at once (fast-forward)."""
        if seconds < 0:
            raise ValueError("time can't go backwards")
        with self._lock:
            self._virtual_base += seconds

    def real_seconds(self, simulated: float) -> float:
        """How many real seconds ``simulated`` seconds take on this clock."""
        return simulated / self._speed


def broker_clock_from(trio_clock: trio.abc.Clock, epoch0: float) -> Callable[[], float]:
    """Build the simulator's broker clock: ``epoch0 + trio_clock.current_time()``.

    Works for :class:`AcceleratedClock` and ``trio.testing.MockClock`` (and any Trio clock
    whose ``current_time`` may be read from another thread).

    Args:
        trio_clock: the clock ``trio.run`` runs on.
        epoch0: the broker epoch (seconds) that Trio time 0 corresponds to.
    """
    read = trio_clock.current_time
    base = float(epoch0)

    def broker_now() -> float:
        return base + read()

    return broker_now


def broker_sleep_from(trio_clock: trio.abc.Clock) -> Callable[[float], None]:
    """Build the simulator's ``sleep(seconds)`` for simulated latency on ``trio_clock``.

    On a ``MockClock`` it jumps virtual time (the call runs inline in the Trio thread, so
    autojump cannot fire mid-call); on an :class:`AcceleratedClock` it blocks the calling
    (worker) thread for ``seconds / speed`` real seconds; on any other clock for ``seconds``.
    """
    if isinstance(trio_clock, trio.testing.MockClock):
        return trio_clock.jump
    if isinstance(trio_clock, AcceleratedClock):
        scale = 1.0 / trio_clock.speed
        return lambda seconds: time.sleep(max(seconds, 0.0) * scale)
    return lambda seconds: time.sleep(max(seconds, 0.0))
