"""The gateway's link on virtual time: connect, IPC loss, reconnect backoff, epochs, stats."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import trio
import trio.testing

from dtms.core.types import Outcome
from dtms.errors import BrokerUnavailable
from dtms.runtime.executor import InlineExecutor
from dtms.runtime.gateway import GatewaySettings, Priority, open_gateway
from tests.runtime.conftest import FakeTerminal

SETTINGS = GatewaySettings(send_interval=0.0)
OPEN = {"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 0}


def terminal_on(mock: trio.testing.MockClock) -> FakeTerminal:
    return FakeTerminal(mock.current_time, mock.jump)


def init_times(terminal: FakeTerminal) -> list[float]:
    return [t for _, t, _ in terminal.calls("initialize")]


async def test_initial_connect_retries_with_backoff(autojump_clock: trio.testing.MockClock) -> None:
    terminal = terminal_on(autojump_clock)
    terminal.init_failures = 2
    async with open_gateway(lambda: terminal, SETTINGS, executor=InlineExecutor()) as gateway:
        assert gateway.connection_epoch == 1 and gateway.connected
        assert (await gateway.call("positions_get")).ok
    assert init_times(terminal) == [0.0, 1.0, 3.0]


async def test_initial_connect_gives_up_with_one_clear_line(
    autojump_clock: trio.testing.MockClock,
) -> None:
    terminal = terminal_on(autojump_clock)
    terminal.init_failures = 10
    settings = GatewaySettings(connect_attempts=4)
    with pytest.raises(BrokerUnavailable) as caught:
        async with open_gateway(lambda: terminal, settings, executor=InlineExecutor()):
            pytest.fail("must not get a gateway")
    message = str(caught.value)
    assert message.startswith("MT5 terminal not reachable: (-10003, 'IPC initialize failed")
    assert "\n" not in message and "4 initialize attempts" in message
    assert init_times(terminal) == [0.0, 1.0, 3.0, 7.0]


async def test_connect_factory_errors_propagate(autojump_clock: trio.testing.MockClock) -> None:
    def connect() -> Any:
        raise BrokerUnavailable("MetaTrader5 is not installed")

    with pytest.raises(BrokerUnavailable, match="not installed"):
        async with open_gateway(connect, SETTINGS, executor=InlineExecutor()):
            pass


async def test_ipc_loss_marks_unknown_and_reconnects_with_capped_backoff(
    autojump_clock: trio.testing.MockClock,
) -> None:
    terminal = terminal_on(autojump_clock)
    async with open_gateway(lambda: terminal, SETTINGS, executor=InlineExecutor()) as gateway:
        await trio.sleep(10.0)
        terminal.drop_link()
        lost = await gateway.send(OPEN)
        assert lost.outcome is Outcome.UNKNOWN
        assert lost.last_error == (-10004, "No IPC connection")
        assert not gateway.connected

        async def restore_later() -> None:
            await trio.sleep(100.0)
            terminal.restore_link()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(restore_later)
            epoch = await gateway.wait_reconnected(1)
        assert epoch == gateway.connection_epoch == 2
        assert gateway.connected
        stats = gateway.statistics()
        assert stats.reconnects == 1 and stats.connection_epoch == 2 and stats.connected
        assert stats.unknown_outcomes == 1
    times = init_times(terminal)[1:]
    gaps = [round(b - a, 6) for a, b in itertools.pairwise(times)]
    assert times[0] == pytest.approx(10.0), "the first re-initialize is immediate"
    assert gaps == [1, 2, 4, 8, 16, 30, 30, 30]
    assert times[-1] >= 110.0
    shutdowns = [t for _, t, _ in terminal.calls("shutdown")]
    assert len(shutdowns) >= len(times), "each reconnect attempt shuts the old link first"


async def test_link_exception_is_ipc_loss(autojump_clock: trio.testing.MockClock) -> None:
    class FlakyLink(FakeTerminal):
        broken = False

        def positions_get(self, **filters: Any) -> Any:
            if self.broken:
                self.broken = False
                raise EOFError("stream has been closed")
            return super().positions_get(**filters)

    terminal = FlakyLink(autojump_clock.current_time, autojump_clock.jump)
    async with open_gateway(lambda: terminal, SETTINGS, executor=InlineExecutor()) as gateway:
        terminal.broken = True
        result = await gateway.call("positions_get")
        assert result.outcome is Outcome.UNKNOWN and "EOFError" in result.reason
        assert await gateway.wait_reconnected(1) == 2
        assert (await gateway.call("positions_get")).ok


async def test_queued_requests_wait_for_the_reconnect_and_keep_their_deadlines(
    autojump_clock: trio.testing.MockClock,
) -> None:
    terminal = terminal_on(autojump_clock)
    results: dict[str, Any] = {}
    async with open_gateway(lambda: terminal, SETTINGS, executor=InlineExecutor()) as gateway:
        terminal.drop_link()
        await gateway.call("positions_get")

        async def call(label: str, deadline: float) -> None:
            results[label] = await gateway.call("symbol_info_tick", label, deadline=deadline)

        async def restore_later() -> None:
            await trio.sleep(20.0)
            terminal.restore_link()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(restore_later)
            nursery.start_soon(call, "patient", 200.0)
            nursery.start_soon(call, "hurried", 5.0)
            assert gateway.statistics().queue_depth[Priority.READ] >= 0
    assert results["hurried"].outcome is Outcome.BLOCKED
    assert results["hurried"].reason == "not sent: broker not connected"
    assert results["patient"].ok
    served = [t for _, t, arg in terminal.calls("symbol_info_tick")]
    assert served == [pytest.approx(31.0)], "served right after the reconnect at 0+1+2+4+8+16"


async def test_statistics_count_calls_latency_retcodes_and_outcomes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    terminal = terminal_on(autojump_clock)
    terminal.latency.update(positions_get=0.01, order_send=0.2)
    settings = GatewaySettings(send_interval=0.0, latency_window=10)
    async with open_gateway(lambda: terminal, settings, executor=InlineExecutor()) as gateway:
        for _ in range(20):
            await gateway.call("positions_get")
        terminal.retcodes += [10009, 10016]
        await gateway.send(OPEN)
        await gateway.send({"action": 6, "position": 1001, "sl": 1.0, "tp": 0.0})
        stats = gateway.statistics()
    assert stats.calls_by_function == {"initialize": 1, "positions_get": 20, "order_send": 2}
    assert stats.calls_total == 23
    assert stats.retcodes == {10009: 1, 10016: 1}
    assert stats.outcomes == {Outcome.DONE: 21, Outcome.DEFINITIVE: 1}
    assert stats.latency_p50 == pytest.approx(0.01)
    assert stats.latency_p99 == pytest.approx(0.2)
    assert stats.queued == 0 and stats.in_flight is None
    assert (stats.coalesced, stats.reconnects, stats.not_sent) == (0, 0, 0)
    assert stats.connection_epoch == 1 and stats.connected


def test_settings_validate_backoff_order() -> None:
    with pytest.raises(ValueError, match="reconnect_max_backoff"):
        GatewaySettings(reconnect_initial_backoff=10.0, reconnect_max_backoff=5.0)
    assert GatewaySettings().deadline_for(Priority.CLOSE) == 30.0
