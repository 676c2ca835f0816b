"""The simulator's clocks: manual stepping and accelerated wall time."""

from __future__ import annotations

import math
import threading
import time

import pytest

from dtms.broker.sim.clock import ManualClock, SimClockLike, WallClock

EPOCH = 1_717_372_800.0
ULP = 1e-6  # float rounding of epoch seconds (about 2.4e-7 s at this magnitude)


def test_manual_clock_moves_only_when_told() -> None:
    clock = ManualClock(EPOCH)
    assert clock.now() == clock() == EPOCH
    assert clock.advance(1.5) == EPOCH + 1.5
    clock.set(EPOCH + 10)
    assert clock.now() == EPOCH + 10
    clock.set(EPOCH + 10)  # setting the same time is fine
    assert clock() == EPOCH + 10


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_manual_clock_rejects_non_finite_times(bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        ManualClock(bad)
    clock = ManualClock(EPOCH)
    with pytest.raises(ValueError, match="finite"):
        clock.advance(bad)
    with pytest.raises(ValueError, match="finite"):
        clock.set(bad)


def test_manual_clock_never_goes_back() -> None:
    clock = ManualClock(EPOCH)
    with pytest.raises(ValueError, match="negative"):
        clock.advance(-1.0)
    with pytest.raises(ValueError, match="back"):
        clock.set(EPOCH - 1)
    assert clock.now() == EPOCH


def test_clocks_satisfy_the_protocol_and_are_callables() -> None:
    for clock in (ManualClock(EPOCH), WallClock(EPOCH)):
        assert isinstance(clock, SimClockLike)
        assert callable(clock)
        assert clock() >= EPOCH


def bracketed(clock: WallClock) -> tuple[float, float, float]:
    """Read the clock between two wall-clock readings."""
    before = time.perf_counter()
    value = clock.now()
    return before, value, time.perf_counter()


def test_wall_clock_runs_at_its_speed() -> None:
    clock = WallClock(EPOCH, speed=600.0)
    assert clock.speed == 600.0
    wa, t0, wb = bracketed(clock)
    time.sleep(0.05)
    wc, t1, wd = bracketed(clock)
    assert t0 >= EPOCH
    assert (wc - wb) * 600.0 - ULP <= t1 - t0 <= (wd - wa) * 600.0 + ULP


def test_wall_clock_speed_change_keeps_time_continuous() -> None:
    clock = WallClock(EPOCH, speed=1000.0)
    time.sleep(0.02)
    wa, before, _ = bracketed(clock)
    clock.speed = 1.0
    _, after, wd = bracketed(clock)
    assert -ULP <= after - before <= (wd - wa) * 1000.0 + ULP  # no jump either way
    wa, t0, wb = bracketed(clock)
    time.sleep(0.03)
    wc, t1, wd = bracketed(clock)
    assert wc - wb - ULP <= t1 - t0 <= wd - wa + ULP
    with pytest.raises(ValueError, match="speed"):
        clock.speed = 0.0
    with pytest.raises(ValueError, match="speed"):
        WallClock(EPOCH, speed=-2.0)


def test_wall_clock_is_monotonic_across_threads() -> None:
    clock = WallClock(EPOCH, speed=100.0)
    failures: list[str] = []

    def reader() -> None:
        last = clock.now()
        for _ in range(20_000):
            now = clock.now()
            if now < last:
                failures.append(f"{now} < {last}")
            last = now

    def changer() -> None:
        for k in range(200):
            clock.speed = 50.0 + k % 7 * 20.0

    threads = [threading.Thread(target=reader) for _ in range(3)]
    threads.append(threading.Thread(target=changer))
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert failures == []
