"""Wakeup: a trio.Event that can be cleared, and that a waiting task costs little memory."""

from __future__ import annotations

import gc
import tracemalloc

import pytest
import trio
import trio.testing

from dtms.wakeup import Wakeup


async def test_set_wakes_every_waiting_task_and_a_set_flag_does_not_block() -> None:
    w = Wakeup()
    woken: list[int] = []

    async def waiter(i: int) -> None:
        await w.wait()
        woken.append(i)

    async with trio.open_nursery() as nursery:
        for i in range(3):
            nursery.start_soon(waiter, i)
        await trio.testing.wait_all_tasks_blocked()
        assert woken == []
        w.set()
        w.set()  # twice is once
    assert sorted(woken) == [0, 1, 2]
    assert w.is_set()
    with trio.testing.assert_checkpoints():
        await w.wait()  # already set: returns, still a checkpoint


async def test_a_cleared_wakeup_blocks_again_until_the_next_set() -> None:
    w = Wakeup()
    w.set()
    w.clear()
    assert not w.is_set()
    with trio.move_on_after(1) as scope:
        await w.wait()
    assert scope.cancelled_caught


@pytest.mark.parametrize("waiters", [1, 2, 3])
async def test_a_cancelled_waiter_no_longer_waits_and_the_others_still_wake(
        waiters: int, autojump_clock: trio.testing.MockClock) -> None:
    w = Wakeup()
    woken: list[int] = []

    async def waiter(i: int, scope: trio.CancelScope) -> None:
        with scope:
            await w.wait()
            woken.append(i)

    scopes = [trio.CancelScope() for _ in range(waiters)]
    async with trio.open_nursery() as nursery:
        for i, scope in enumerate(scopes):
            nursery.start_soon(waiter, i, scope)
        await trio.testing.wait_all_tasks_blocked()
        scopes[0].cancel()
        await trio.testing.wait_all_tasks_blocked()
        assert w._waiting is None if waiters == 1 else len(w._waiting) == waiters - 1  # type: ignore[arg-type]
        w.set()
    assert sorted(woken) == list(range(1, waiters))


async def _traced_per_waiter(make: type, n: int = 500) -> float:
    """Bytes each of ``n`` tasks blocked on its own ``make()`` holds, flag included, above a
    task blocked in ``sleep_forever``."""
    gc.collect()
    tracemalloc.start()
    try:
        async with trio.open_nursery() as nursery:

            async def bare() -> None:
                await trio.sleep_forever()

            for _ in range(n):
                nursery.start_soon(bare)
            await trio.testing.wait_all_tasks_blocked()
            base = tracemalloc.get_traced_memory()[0]
            nursery.cancel_scope.cancel()
        async with trio.open_nursery() as nursery:
            flags = [make() for _ in range(n)]
            for f in flags:
                nursery.start_soon(f.wait)
            await trio.testing.wait_all_tasks_blocked()
            waiting = tracemalloc.get_traced_memory()[0]
            for f in flags:
                f.set()
    finally:
        tracemalloc.stop()
    return (waiting - base) / n


async def test_a_task_waiting_on_a_wakeup_holds_less_than_half_of_what_an_event_costs() -> None:
    # 1,500 actors each wait on one, and in a burst as many gateway callers do
    event = await _traced_per_waiter(trio.Event)
    wakeup = await _traced_per_waiter(Wakeup)
    assert wakeup < event / 2, (wakeup, event)
