"""Operator events: every subscriber gets them, a full subscriber never blocks the publisher."""

from __future__ import annotations

import trio

from dtms.runtime.events import EventBus, EventKind, OperatorEvent


def _event(i: int) -> OperatorEvent:
    return OperatorEvent(EventKind.HEDGE_OPENED, float(i), f"hedge {i}", ticket=i)


async def test_each_subscriber_receives_what_was_published_while_it_listened() -> None:
    bus = EventBus()
    bus.publish(_event(0))  # nobody listens yet: counted, delivered to no one
    with bus.subscribe() as a, bus.subscribe() as b:
        bus.publish(_event(1))
        bus.publish(_event(2))
        assert [a.receive_nowait().ticket for _ in range(2)] == [1, 2]
        assert [b.receive_nowait().ticket for _ in range(2)] == [1, 2]
    assert bus.published == 3 and bus.counts[EventKind.HEDGE_OPENED] == 3
    bus.publish(_event(3))  # after the block: nobody left to hand it to


async def test_a_full_subscriber_drops_and_counts_without_blocking() -> None:
    bus = EventBus()
    with bus.subscribe(buffer=2) as slow, bus.subscribe(buffer=10) as fast:
        with trio.fail_after(1):
            for i in range(5):
                bus.publish(_event(i))  # synchronous: would hang here if it waited for room
        assert bus.dropped == 3
        assert [slow.receive_nowait().ticket for _ in range(2)] == [0, 1]
        assert [fast.receive_nowait().ticket for _ in range(5)] == [0, 1, 2, 3, 4]
    assert bus.dropped == 3  # a subscriber's drops stay counted after it leaves
