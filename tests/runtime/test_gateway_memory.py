"""The gateway keeps nothing of a call once its caller has the result.

A process that reads a 1,500-position snapshot every two seconds must not keep the snapshots:
the queue once remembered every READ request it ever served (and so every answer), and dtms
grew by about half a megabyte per second through the mt5linux route until nothing was left.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from functools import partial
from typing import Any

import trio
import trio.testing

from dtms.runtime.executor import InlineExecutor
from dtms.runtime.gateway import GatewaySettings, Priority, open_gateway
from tests.runtime.conftest import FakeTerminal, HoldingExecutor

CALLS = 200
HEDGE = {"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 1}


class Answer:
    """A broker answer whose lifetime a weak reference can follow."""


class TrackedTerminal(FakeTerminal):
    """A fake terminal whose reads answer objects the test can watch being freed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answers: list[weakref.ref[Answer]] = []

    def positions_get(self, **filters: Any) -> Any:
        if not self._enter("positions_get", filters):
            return None
        answer = Answer()
        self.answers.append(weakref.ref(answer))
        return answer


async def test_served_reads_and_their_answers_are_not_kept(
    autojump_clock: trio.testing.MockClock,
) -> None:
    terminal = TrackedTerminal(autojump_clock.current_time, autojump_clock.jump)
    async with open_gateway(lambda: terminal, GatewaySettings(),
                            executor=InlineExecutor()) as gateway:
        for _ in range(CALLS):
            assert (await gateway.call("positions_get")).ok
        async with trio.open_nursery() as nursery:  # concurrent and batched reads too
            for _ in range(CALLS):
                nursery.start_soon(gateway.call, "positions_get")
        gc.collect()
        alive = sum(ref() is not None for ref in terminal.answers)
        assert len(terminal.answers) == CALLS * 2
        assert alive == 0, f"{alive} of {CALLS * 2} answers still held by the gateway"
        for _ in range(CALLS // 4):  # reads behind orders
            async with trio.open_nursery() as nursery:
                nursery.start_soon(gateway.send, HEDGE)
                nursery.start_soon(gateway.call, "positions_get")
        gc.collect()
        assert not any(ref() is not None for ref in terminal.answers)
        assert gateway.statistics().queue_depth[Priority.READ] == 0


async def test_reads_served_ahead_of_queued_orders_are_not_kept_while_the_orders_wait(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """In a burst of orders a starved read goes ahead of them, out of the heap's order; its
    heap entry stays behind until the orders drain, and it once kept the read's answer (a
    1,500-position snapshot) alive all that time: tens of megabytes in a burst."""
    terminal = TrackedTerminal(autojump_clock.current_time, autojump_clock.jump)
    terminal.latency["order_send"] = 0.05
    served_while_queued = 0
    alive_while_queued: list[int] = []
    async with open_gateway(lambda: terminal, GatewaySettings(),
                            executor=InlineExecutor()) as gateway:

        def orders_waiting() -> int:
            return gateway.statistics().queue_depth[Priority.HEDGE]

        async def reads() -> None:
            nonlocal served_while_queued
            await trio.sleep(0.5)
            while orders_waiting() > 0:
                await gateway.call("positions_get", deadline=trio.current_time() + 60)
                if orders_waiting() > 0:
                    served_while_queued += 1
                    gc.collect()
                    alive_while_queued.append(sum(r() is not None for r in terminal.answers))
                await trio.sleep(0.2)

        async with trio.open_nursery() as nursery:
            for _ in range(CALLS * 2):
                nursery.start_soon(partial(gateway.send, HEDGE,
                                           deadline=trio.current_time() + 600))
            nursery.start_soon(reads)
        assert len(terminal.calls("order_send")) == CALLS * 2
    assert served_while_queued >= 10, "the reads never went ahead of queued orders"
    assert max(alive_while_queued) == 0, \
        f"up to {max(alive_while_queued)} served answers held while orders waited"


async def _traced_per_task(nursery: trio.Nursery, n: int, fn: Any, *args: Any) -> float:
    """Bytes each of ``n`` tasks running ``fn(*args, i)`` holds once all are blocked."""
    gc.collect()
    tracemalloc.start()
    try:
        for i in range(n):
            nursery.start_soon(fn, *args, i)
        await trio.testing.wait_all_tasks_blocked()
        return tracemalloc.get_traced_memory()[0] / n
    finally:
        tracemalloc.stop()


async def test_a_caller_waiting_in_line_keeps_little_beyond_its_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """In a burst every trade waits in the gateway's line at once (1,500 in the headline):
    what each keeps while it waits is multiplied by the book. It once kept about 3.1 KB above
    a sleeping task: two coroutine frames more than the one that waits, a copy of its order,
    a cancel scope for its deadline and a trio.Event; now one frame, its order and a slot."""
    terminal = FakeTerminal(autojump_clock.current_time, autojump_clock.jump)
    executor = HoldingExecutor()
    async with open_gateway(lambda: terminal, GatewaySettings(), executor=executor) as gateway:
        executor.hold()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gateway.call, "positions_get")  # the broker thread is busy
            await trio.testing.wait_all_tasks_blocked()

            async def sleeper(_i: int) -> None:
                await trio.sleep_forever()

            async def caller(i: int) -> None:
                await gateway.send({**HEDGE, "magic": i})

            async with trio.open_nursery() as sleepers:
                bare = await _traced_per_task(sleepers, CALLS, sleeper)
                sleepers.cancel_scope.cancel()
            waiting = await _traced_per_task(nursery, CALLS, caller)
            assert gateway.statistics().queue_depth[Priority.HEDGE] == CALLS
            executor.release()
    assert waiting - bare < 2000, f"{waiting - bare:.0f} bytes per waiting caller"
