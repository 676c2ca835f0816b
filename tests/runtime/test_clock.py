"""AcceleratedClock and the broker clock built from a Trio clock."""

from __future__ import annotations

import threading
import time

import pytest
import trio
import trio.testing

from dtms.runtime.clock import AcceleratedClock, broker_clock_from, broker_sleep_from

EPOCH0 = 1_700_000_000.0


def test_accelerated_clock_runs_speed_times_faster() -> None:
    clock = AcceleratedClock(100.0, start=50.0)
    r0 = time.perf_counter()
    c0 = clock.current_time()
    r1 = time.perf_counter()
    time.sleep(0.05)
    r2 = time.perf_counter()
    c1 = clock.current_time()
    r3 = time.perf_counter()
    assert c0 >= 50.0
    assert 100.0 * (r2 - r1) <= c1 - c0 <= 100.0 * (r3 - r0)


def test_deadline_to_sleep_time_scales_by_one_over_speed() -> None:
    clock = AcceleratedClock(60.0)
    now = clock.current_time()
    assert clock.deadline_to_sleep_time(now + 600.0) == pytest.approx(10.0, abs=0.01)
    assert clock.deadline_to_sleep_time(now - 5.0) == 0.0
    assert clock.deadline_to_sleep_time(float("inf")) == float("inf")
    assert clock.real_seconds(120.0) == pytest.approx(2.0)


def test_trio_sleep_on_accelerated_clock_takes_scaled_real_time() -> None:
    clock = AcceleratedClock(200.0)

    async def main() -> float:
        t0 = trio.current_time()
        await trio.sleep(20.0)
        return trio.current_time() - t0

    start = time.perf_counter()
    simulated = trio.run(main, clock=clock)
    real = time.perf_counter() - start
    assert simulated >= 20.0
    assert 0.08 <= real < 1.0


def test_jump_and_bad_arguments() -> None:
    clock = AcceleratedClock(1.0)
    before = clock.current_time()
    clock.jump(3600.0)
    assert clock.current_time() - before >= 3600.0
    with pytest.raises(ValueError, match="backwards"):
        clock.jump(-1.0)
    with pytest.raises(ValueError, match="speed"):
        AcceleratedClock(0.0)
    assert "×1" in repr(clock)


def test_reads_from_threads_are_monotonic_while_jumping() -> None:
    clock = AcceleratedClock(1000.0)
    errors: list[str] = []

    def reader() -> None:
        last = clock.current_time()
        for _ in range(20_000):
            now = clock.current_time()
            if now < last:
                errors.append(f"{now} < {last}")
            last = now

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(1000):
        clock.jump(0.5)
    for t in threads:
        t.join()
    assert errors == []


def test_broker_clock_follows_mock_clock() -> None:
    mock = trio.testing.MockClock()
    broker_now = broker_clock_from(mock, EPOCH0)
    assert broker_now() == EPOCH0
    mock.jump(90.0)
    assert broker_now() == EPOCH0 + 90.0
    sleep = broker_sleep_from(mock)
    sleep(10.0)
    assert broker_now() == EPOCH0 + 100.0


def test_broker_clock_follows_accelerated_clock() -> None:
    clock = AcceleratedClock(50.0)
    broker_now = broker_clock_from(clock, EPOCH0)
    before = clock.current_time()
    now = broker_now() - EPOCH0
    assert before <= now <= clock.current_time()
    sleep = broker_sleep_from(clock)
    start = time.perf_counter()
    sleep(2.5)
    assert 0.04 <= time.perf_counter() - start < 0.5


async def test_broker_clock_agrees_with_trio_time_under_autojump(
    autojump_clock: trio.testing.MockClock,
) -> None:
    broker_now = broker_clock_from(autojump_clock, EPOCH0)
    await trio.sleep(300.0)
    assert broker_now() == EPOCH0 + trio.current_time()
    assert trio.current_time() >= 300.0
