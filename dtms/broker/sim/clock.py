"""Clocks that tell the simulated broker what time it is on the trade server.

Broker time is *broker-server epoch seconds* as a float: the numbers MT5 puts in bar and tick
``time`` fields, which are the server's wall-clock read as if it were UTC. The simulator asks its
clock on every call and lazily advances its market to that instant, so the clock is the only
thing that decides how fast simulated time passes:

- ``ManualClock`` moves only when told to (tests, step-by-step scenarios);
- ``WallClock`` follows the machine's monotonic clock, optionally accelerated (demo runs).

The engine accepts anything callable that returns broker time; both clocks are callable.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class SimClockLike(Protocol):
    """Anything that tells broker-server time in epoch seconds."""

    def now(self) -> float:
        """Return the current broker-server time in epoch seconds."""
        ...


def _finite(value: float, what: str) -> float:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{what} must be a finite number of seconds, got {value!r}")
    return number


class ManualClock:
    """A clock that stands still until it is advanced or set.

    Time never goes backwards: ``advance`` takes a non-negative step and ``set`` refuses an
    earlier time, because the simulator's market cannot un-generate ticks.
    """

    __slots__ = ("_lock", "_t")

    def __init__(self, start: float) -> None:
        """Start the clock at ``start`` (broker epoch seconds)."""
        self._t = _finite(start, "start")
        self._lock = threading.Lock()

    def now(self) -> float:
        """Return the current broker time."""
        return self._t

    __call__ = now

    def advance(self, dt: float) -> float:
        """Move the clock forward by ``dt`` seconds and return the new time."""
        step = _finite(dt, "dt")
        if step < 0:
            raise ValueError(f"cannot advance a clock by a negative step ({step} s)")
        with self._lock:
            self._t += step
            return self._t

    def set(self, t: float) -> None:
        """Jump the clock to ``t``, which must not be earlier than the current time."""
        target = _finite(t, "t")
        with self._lock:
            if target < self._t:
                raise ValueError(f"cannot set the clock back from {self._t} to {target}")
            self._t = target

    def __repr__(self) -> str:
        return f"ManualClock({self._t!r})"


class WallClock:
    """Broker time that follows the machine's monotonic clock, ``speed`` times as fast.

    ``now() = start_epoch + (perf_counter() - wall0) * speed``. Changing ``speed`` re-anchors
    the clock at the current instant, so time stays continuous across the change. Thread-safe:
    the gateway's worker thread and the Trio thread may both read it.
    """

    __slots__ = ("_base", "_lock", "_speed", "_wall0")

    def __init__(self, start_epoch: float, speed: float = 1.0) -> None:
        """Start at broker time ``start_epoch``, running ``speed`` broker seconds per second."""
        self._base = _finite(start_epoch, "start_epoch")
        self._speed = self._check_speed(speed)
        self._wall0 = time.perf_counter()
        self._lock = threading.Lock()

    @staticmethod
    def _check_speed(speed: float) -> float:
        value = _finite(speed, "speed")
        if value <= 0:
            raise ValueError(f"clock speed must be > 0, got {speed!r}")
        return value

    def now(self) -> float:
        """Return the current broker time."""
        with self._lock:
            return self._base + (time.perf_counter() - self._wall0) * self._speed

    __call__ = now

    @property
    def speed(self) -> float:
        """Broker seconds that pass per wall-clock second."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        new_speed = self._check_speed(value)
        with self._lock:
            wall = time.perf_counter()
            self._base += (wall - self._wall0) * self._speed
            self._wall0 = wall
            self._speed = new_speed

    def __repr__(self) -> str:
        return f"WallClock(now={self.now()!r}, speed={self._speed!r})"
