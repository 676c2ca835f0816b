"""The gateway's orders on virtual time: what goes to the broker thread at once, in a burst."""

from __future__ import annotations

from functools import partial

import trio
import trio.testing
from trio.testing import wait_all_tasks_blocked

from dtms.core.types import Outcome
from dtms.runtime.gateway import CallResult, Gateway, GatewaySettings, Priority
from tests.runtime.conftest import HoldingExecutor
from tests.runtime.test_gateway import OPEN, held_gateway


async def behind_a_held_read(nursery: trio.Nursery, gateway: Gateway,
                             executor: HoldingExecutor) -> int:
    """Hold the broker thread with a read in flight, so what is queued next waits behind it;
    returns the executor's hand-offs so far."""
    executor.hold()
    nursery.start_soon(gateway.call, "positions_get")
    await wait_all_tasks_blocked()
    return executor.runs


async def test_a_burst_of_orders_never_starves_the_cycles_snapshot(
    autojump_clock: trio.testing.MockClock,
) -> None:
    settings = GatewaySettings(send_interval=0.0, read_max_wait=0.25)
    async with held_gateway(autojump_clock, settings) as (gateway, terminal, executor):
        terminal.latency["order_send"] = 0.05
        served_at: dict[str, float] = {}

        async def snapshot() -> None:
            await gateway.call("positions_get")
            served_at["snapshot"] = trio.current_time()

        async with trio.open_nursery() as nursery:
            await behind_a_held_read(nursery, gateway, executor)
            for _ in range(60):  # a burst of hedges, then the next cycle's snapshot
                nursery.start_soon(partial(gateway.send, OPEN))
            await wait_all_tasks_blocked()
            nursery.start_soon(snapshot)
            await wait_all_tasks_blocked()
            start = trio.current_time()
            executor.release()
    # closes and hedges first, but the read goes once it waited 0.25 s: after the batch of
    # orders in progress then (send_batch of the sixty 50 ms orders), not after all of them (3 s)
    snapshot_sent = terminal.calls("positions_get")[-1][1]
    assert snapshot_sent - start <= 0.25 + settings.send_batch * 0.05
    assert "snapshot" in served_at
    assert len(terminal.calls("order_send")) == 60


async def test_a_batch_of_orders_is_sent_in_line_and_never_past_a_deadline(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # orders go to the broker thread send_batch at a time; there each is checked against its
    # deadline right before it is sent: one that expired behind slow orders of its own batch is
    # not sent, and its caller learns so
    settings = GatewaySettings(send_batch=4)
    async with held_gateway(autojump_clock, settings) as (gateway, terminal, executor):
        terminal.latency["order_send"] = 1.0
        results: dict[str, CallResult] = {}

        async def send(label: str, volume: float, deadline: float) -> None:
            results[label] = await gateway.send({**OPEN, "volume": volume}, deadline=deadline)

        async with trio.open_nursery() as nursery:
            runs = await behind_a_held_read(nursery, gateway, executor)
            start = trio.current_time()
            # sent at 0, 1, (2: past its deadline of 1.5), 2, then the next batch at 3
            for label, volume, deadline in (("a", 0.1, 60.0), ("b", 0.2, 60.0),
                                            ("c", 0.3, 1.5), ("d", 0.4, 60.0),
                                            ("e", 0.5, 60.0)):
                nursery.start_soon(send, label, volume, start + deadline)
                await wait_all_tasks_blocked()
            executor.release()
        handoffs = executor.runs - runs
    sent = terminal.calls("order_send")
    assert [call[2]["volume"] for call in sent] == [0.1, 0.2, 0.4, 0.5]
    assert [round(call[1] - start, 6) for call in sent] == [0.0, 1.0, 2.0, 3.0]
    assert handoffs == 2  # a to d, cut at c; then d and e
    assert not results["c"].sent and results["c"].outcome is Outcome.BLOCKED
    assert all(results[k].ok for k in "abde")


async def test_send_batch_one_hands_each_order_to_the_broker_thread_alone(
    autojump_clock: trio.testing.MockClock,
) -> None:
    settings = GatewaySettings(send_batch=1)
    async with held_gateway(autojump_clock, settings) as (gateway, terminal, executor):
        terminal.latency["order_send"] = 0.05
        async with trio.open_nursery() as nursery:
            runs = await behind_a_held_read(nursery, gateway, executor)
            for _ in range(10):
                nursery.start_soon(partial(gateway.send, OPEN))
            await wait_all_tasks_blocked()
            executor.release()
        handoffs = executor.runs - runs
    assert handoffs == 10
    assert len(terminal.calls("order_send")) == 10


async def test_an_order_of_a_cut_batch_whose_caller_left_is_never_sent_later(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # the link goes down on the first order of a batch; the second order's caller has left
    # meanwhile (its actor was cancelled): nobody would record its answer, so after the
    # reconnect it is not sent
    async with held_gateway(autojump_clock, GatewaySettings(send_batch=4)) as (
        gateway, terminal, executor
    ):
        executor.hold()
        async with trio.open_nursery() as nursery:
            # a close goes before a hedge in the batch, whichever reached the queue first
            nursery.start_soon(partial(gateway.send, {**OPEN, "volume": 0.1},
                                       priority=Priority.CLOSE))
            left = trio.CancelScope()

            async def leaving() -> None:
                with left:
                    await gateway.send({**OPEN, "volume": 0.2})

            nursery.start_soon(leaving)
            await wait_all_tasks_blocked()
            assert executor.held_calls == 1  # both orders in one hand-off
            terminal.drop_link()
            left.cancel()
            await wait_all_tasks_blocked()
            executor.release()
            await trio.sleep(1.0)
            terminal.restore_link()
            await gateway.wait_reconnected(0)
            await trio.sleep(5.0)
    assert [call[2]["volume"] for call in terminal.calls("order_send")] == [0.1]
