"""The gateway in front of the simulated broker, on virtual time (inline executor)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import trio
import trio.testing

from dtms.broker.sim import FaultSettings, SimBroker, SimSettings
from dtms.core.types import Outcome
from dtms.runtime.clock import AcceleratedClock, broker_clock_from, broker_sleep_from
from dtms.runtime.executor import InlineExecutor
from dtms.runtime.gateway import Gateway, GatewaySettings, Priority, open_gateway
from tests.runtime.conftest import OverlapRecorder

EPOCH0 = SimSettings().start_time
SETTINGS = GatewaySettings(send_interval=0.05)


def make_sim(mock: trio.testing.MockClock, settings: SimSettings | None = None) -> SimBroker:
    return SimBroker(
        settings or SimSettings(),
        clock=broker_clock_from(mock, EPOCH0),
        sleep=broker_sleep_from(mock),
    )


@asynccontextmanager
async def sim_gateway(mock: trio.testing.MockClock, sim: SimBroker) -> AsyncIterator[Gateway]:
    async with open_gateway(lambda: sim, SETTINGS, executor=InlineExecutor()) as gateway:
        yield gateway


async def market_buy(gateway: Gateway, sim: SimBroker, **extra: Any) -> Any:
    tick = (await gateway.call("symbol_info_tick", "EURUSD")).value
    request = {
        "action": sim.TRADE_ACTION_DEAL,
        "symbol": "EURUSD",
        "volume": 0.1,
        "type": sim.ORDER_TYPE_BUY,
        "price": tick.ask,
        "type_filling": sim.ORDER_FILLING_IOC,
        "deviation": 10,
        **extra,
    }
    return await gateway.send(request)


async def test_open_modify_close_through_the_gateway(
    autojump_clock: trio.testing.MockClock,
) -> None:
    sim = make_sim(autojump_clock)
    async with sim_gateway(autojump_clock, sim) as gateway:
        opened = await market_buy(gateway, sim, comment="DTMS_TEST")
        assert opened.outcome is Outcome.DONE and opened.retcode == 10009
        ticket = opened.value.order
        positions = (await gateway.call("positions_get", ticket=ticket)).value
        assert [p.comment for p in positions] == ["DTMS_TEST"]
        entry = positions[0].price_open
        modified = await gateway.send(
            {
                "action": sim.TRADE_ACTION_SLTP,
                "position": ticket,
                "sl": round(entry - 0.005, 5),
                "tp": 0.0,
            }
        )
        assert modified.ok, modified.reason
        tick = (await gateway.call("symbol_info_tick", "EURUSD")).value
        closed = await gateway.send(
            {
                "action": sim.TRADE_ACTION_DEAL,
                "symbol": "EURUSD",
                "volume": 0.1,
                "type": sim.ORDER_TYPE_SELL,
                "position": ticket,
                "price": tick.bid,
                "type_filling": sim.ORDER_FILLING_IOC,
                "deviation": 10,
            }
        )
        assert closed.ok, closed.reason
        assert (await gateway.call("positions_get")).value == ()
        again = await gateway.send(
            {"action": sim.TRADE_ACTION_SLTP, "position": ticket, "sl": 1.0, "tp": 0.0}
        )
        assert again.outcome is Outcome.DEFINITIVE
        stats = gateway.statistics()
    assert stats.calls_by_function["order_send"] == 4
    assert stats.outcomes[Outcome.DONE] >= 6


async def test_sim_latency_is_the_call_latency_on_virtual_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    faults = FaultSettings(call_latency_ms=20.0, order_latency_ms=100.0)
    sim = make_sim(autojump_clock, SimSettings(faults=faults))
    async with sim_gateway(autojump_clock, sim) as gateway:
        read = await gateway.call("positions_get")
        sent = await market_buy(gateway, sim)
        stats = gateway.statistics()
    assert read.latency == pytest.approx(0.02)
    assert sent.latency == pytest.approx(0.12)
    assert stats.latency_p99 == pytest.approx(0.12)


async def test_lost_answer_is_unknown_then_reconnect_and_reconcile(
    autojump_clock: trio.testing.MockClock,
) -> None:
    faults = FaultSettings(timeout_executed_probability=1.0)
    sim = make_sim(autojump_clock, SimSettings(faults=faults))
    async with sim_gateway(autojump_clock, sim) as gateway:
        lost = await market_buy(gateway, sim, comment="DTMS_HEDGE_1")
        assert lost.outcome is Outcome.UNKNOWN
        assert lost.last_error == (-10005, "IPC timeout")
        assert await gateway.wait_reconnected(1) == 2
        positions = (await gateway.call("positions_get")).value
        assert [p.comment for p in positions] == ["DTMS_HEDGE_1"], "it did execute"


async def test_ipc_outage_reconnects_after_it_ends(autojump_clock: trio.testing.MockClock) -> None:
    sim = make_sim(autojump_clock)
    async with sim_gateway(autojump_clock, sim) as gateway:
        opened = await market_buy(gateway, sim)
        assert opened.ok
        start = trio.current_time()
        sim.scenario.ipc_outage(20.0)
        lost = await gateway.call("positions_get", priority=Priority.CLOSE)
        assert lost.outcome is Outcome.UNKNOWN
        assert lost.last_error is not None and lost.last_error[0] == -10004
        assert await gateway.wait_reconnected(1) == 2
        elapsed = trio.current_time() - start
        assert 20.0 <= elapsed <= 31.0 + 1e-6, "backoff 1, 2, 4, 8, 16 reaches past 20 s"
        positions = (await gateway.call("positions_get")).value
        assert [p.ticket for p in positions] == [opened.value.order], "state outlives the link"
        assert gateway.statistics().reconnects == 1


async def test_many_callers_one_call_at_a_time(autojump_clock: trio.testing.MockClock) -> None:
    faults = FaultSettings(call_latency_ms=5.0, order_latency_ms=50.0)
    sim = make_sim(autojump_clock, SimSettings(faults=faults))
    recorder = OverlapRecorder(sim)
    results: list[Any] = []
    async with open_gateway(lambda: recorder, SETTINGS, executor=InlineExecutor()) as gateway:

        async def hedge_now() -> None:
            results.append(await market_buy(gateway, sim))

        async with trio.open_nursery() as nursery:
            for _ in range(10):
                nursery.start_soon(hedge_now)
        sends = gateway.statistics().calls_by_function["order_send"]
    assert recorder.max_active == 1
    assert sends == 10
    assert all(r.outcome in (Outcome.DONE, Outcome.FIXABLE) for r in results), [
        r.reason for r in results
    ]


def test_sim_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SETTINGS.send_interval = 1.0  # type: ignore[misc]


def test_dtms_run_configuration_accelerated_clock_and_worker_thread() -> None:
    """``dtms run`` on the simulator: AcceleratedClock, worker thread, broker clock = Trio's."""
    clock = AcceleratedClock(100.0)
    faults = FaultSettings(call_latency_ms=200.0)
    sim = SimBroker(
        SimSettings(faults=faults),
        clock=broker_clock_from(clock, EPOCH0),
        sleep=broker_sleep_from(clock),
    )

    async def main() -> tuple[float, float, float]:
        async with open_gateway(lambda: sim, SETTINGS) as gateway:
            await trio.sleep(100.0)  # simulated seconds: one real second at ×100
            result = await gateway.call("symbol_info_tick", "EURUSD")
            assert result.ok, result.reason
            return result.latency, result.value.time - EPOCH0, trio.current_time()

    real_start = time.perf_counter()
    latency, tick_age, trio_now = trio.run(main, clock=clock)
    assert time.perf_counter() - real_start < 5.0
    assert 0.2 <= latency < 5.0, "latency is in simulated seconds (0.002 real seconds at ×100)"
    assert 90.0 <= tick_age <= trio_now + 1.0, "the broker clock follows Trio's clock"
