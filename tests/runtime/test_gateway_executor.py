"""Executors in real time: one dedicated thread, never two calls at once, no abandoned call."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import trio

from dtms.core.types import Outcome
from dtms.errors import BrokerTimeout, GatewayClosed
from dtms.runtime.executor import InlineExecutor, WorkerThreadExecutor
from dtms.runtime.gateway import GatewaySettings, Priority, open_gateway
from tests.runtime.conftest import FakeTerminal, OverlapRecorder

OPEN = {"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 0}


class SlowTerminal(FakeTerminal):
    """A terminal whose calls block the calling thread for ``latency`` real seconds."""

    def __init__(self) -> None:
        super().__init__(now=time.monotonic, sleep=time.sleep)


async def test_worker_thread_runs_every_call_on_the_same_dedicated_thread() -> None:
    executor = WorkerThreadExecutor()
    await executor.start()
    idents = {await executor.run(threading.get_ident) for _ in range(50)}
    assert idents == {executor.thread_ident}
    assert threading.get_ident() not in idents
    await executor.aclose()
    with pytest.raises(GatewayClosed):
        await executor.run(threading.get_ident)


async def test_worker_thread_propagates_exceptions() -> None:
    executor = WorkerThreadExecutor()
    with pytest.raises(ZeroDivisionError):
        await executor.run(lambda: 1 / 0)
    assert await executor.run(lambda: 42) == 42
    await executor.aclose()


async def test_cancel_does_not_abandon_a_call_in_flight() -> None:
    executor = WorkerThreadExecutor()
    finished = threading.Event()
    got: list[str] = []

    def order_send() -> str:
        time.sleep(0.3)
        finished.set()
        return "filled"

    start = time.monotonic()
    with trio.move_on_after(0.05) as scope:
        got.append(await executor.run(order_send))
        await trio.lowlevel.checkpoint()
    elapsed = time.monotonic() - start
    assert scope.cancelled_caught
    assert finished.is_set(), "the caller waited for the call to finish"
    assert got == ["filled"], "the result was delivered before the cancellation"
    assert elapsed >= 0.29
    await executor.aclose()


async def test_abandon_stops_waiting_but_the_thread_keeps_order() -> None:
    executor = WorkerThreadExecutor()
    gate = threading.Event()
    order: list[str] = []

    def stuck() -> None:
        gate.wait(5.0)
        order.append("stuck")

    async with trio.open_nursery() as nursery:

        async def abandon_soon() -> None:
            await trio.sleep(0.05)
            executor.abandon()

        nursery.start_soon(abandon_soon)
        with pytest.raises(BrokerTimeout):
            await executor.run(stuck)
    gate.set()
    await executor.run(lambda: order.append("next"))
    assert order == ["stuck", "next"]
    await executor.aclose()


async def test_inline_executor_runs_in_the_trio_thread() -> None:
    executor = InlineExecutor()
    await executor.start()
    assert await executor.run(threading.get_ident) == threading.get_ident()
    executor.abandon()
    await executor.aclose()


async def test_gateway_never_makes_two_broker_calls_at_once() -> None:
    terminal = SlowTerminal()
    terminal.latency.update(positions_get=0.002, symbol_info_tick=0.001, order_send=0.003)
    recorder = OverlapRecorder(terminal)
    executor = WorkerThreadExecutor()
    settings = GatewaySettings(send_interval=0.0)
    results: list[Any] = []
    async with open_gateway(lambda: recorder, settings, executor=executor) as gateway:

        async def caller(i: int) -> None:
            priority = list(Priority)[i % 4]
            if i % 5 == 0:
                results.append(await gateway.send(OPEN))
            elif i % 2:
                results.append(await gateway.call("positions_get", priority=priority))
            else:
                results.append(await gateway.call("symbol_info_tick", "EURUSD"))

        async with trio.open_nursery() as nursery:
            for i in range(60):
                nursery.start_soon(caller, i)
        worker = executor.thread_ident
    assert len(results) == 60 and all(r.outcome is Outcome.DONE for r in results)
    assert recorder.max_active == 1
    assert recorder.threads == {worker}
    assert recorder.calls == 62  # initialize + 60 calls + shutdown


async def test_in_flight_deadline_on_the_worker_thread_still_serialises() -> None:
    terminal = SlowTerminal()
    terminal.latency["order_send"] = 0.3
    recorder = OverlapRecorder(terminal)
    settings = GatewaySettings(send_interval=0.0, answer_wait=0.1)
    async with open_gateway(lambda: recorder, settings) as gateway:
        start = trio.current_time()
        sent = await gateway.send(OPEN, deadline=start + 0.05)
        assert sent.outcome is Outcome.UNKNOWN
        assert trio.current_time() - start < 0.3, "answered before the call could finish"
        after = await gateway.call("positions_get")
        assert trio.current_time() - start >= 0.29, "the next call waited for the first"
        assert after.ok and len(after.value) == 1, "the unknown send did execute"
    assert recorder.max_active == 1
    assert [fn for fn, _, _ in terminal.log] == [
        "initialize",
        "order_send",
        "positions_get",
        "shutdown",
    ]
