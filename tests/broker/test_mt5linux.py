"""The mt5linux adapter against a real ``dtms sim-server`` subprocess over rpyc classic."""

from __future__ import annotations

import datetime as dt
import signal
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import trio

from dtms.broker import structs
from dtms.broker.mt5linux import (
    Mt5LinuxBroker,
    Mt5LinuxSettings,
    _decode,
    _plain,
    connect_mt5linux,
)
from dtms.broker.protocol import Mt5Api
from dtms.core.types import Outcome
from dtms.errors import BrokerUnavailable
from dtms.runtime.gateway import GatewaySettings, open_gateway
from dtms.testing.check_broker import check_broker
from tests.broker.test_simserver import free_port, running_sim_server

FAST_RECONNECT = GatewaySettings(
    send_interval=0.0, reconnect_initial_backoff=0.05, reconnect_max_backoff=0.2
)


@pytest.fixture(scope="module")
def server_port() -> Iterator[int]:
    with running_sim_server("--speed", "1") as (_, port):
        yield port


def buy(broker: Any, comment: str) -> Any:
    tick = broker.symbol_info_tick("EURUSD")
    return broker.order_send(
        {
            "action": broker.TRADE_ACTION_DEAL,
            "symbol": "EURUSD",
            "volume": np.float64(0.01),  # numpy scalars must cross as plain floats
            "type": np.int64(broker.ORDER_TYPE_BUY),
            "price": np.float64(tick.ask),
            "type_filling": broker.ORDER_FILLING_IOC,
            "deviation": 20,
            "comment": comment,
        }
    )


def test_satisfies_the_protocol_before_connecting() -> None:
    broker = Mt5LinuxBroker(port=free_port())
    assert isinstance(broker, Mt5Api)
    assert broker.TRADE_ACTION_DEAL == 1 and broker.TIMEFRAME_M15 == 15
    assert broker.positions_get() is None
    assert broker.last_error() == (-10004, "No IPC connection")
    assert "not connected" in repr(broker)


def test_conformance_suite_over_the_wire(server_port: int) -> None:
    check_broker(lambda: Mt5LinuxBroker(port=server_port))


def test_results_are_local_structs_and_arrays(server_port: int) -> None:
    broker = Mt5LinuxBroker(port=server_port)
    assert broker.initialize() is True
    try:
        assert type(broker.account_info()) is structs.AccountInfo
        assert type(broker.symbol_info_tick("EURUSD")) is structs.Tick
        sent = buy(broker, "wire-test")
        assert type(sent) is structs.OrderSendResult, broker.last_error()
        assert type(sent.request) is structs.TradeRequest
        assert sent.request.comment == "wire-test"
        positions = broker.positions_get(ticket=sent.order)
        assert type(positions) is tuple and type(positions[0]) is structs.TradePosition
        now = dt.datetime.now(dt.UTC) + dt.timedelta(days=3650)
        deals = broker.history_deals_get(dt.datetime(2020, 1, 1, tzinfo=dt.UTC), now)
        assert deals and all(type(d) is structs.TradeDeal for d in deals)
        rates = broker.copy_rates_from_pos("EURUSD", broker.TIMEFRAME_M5, 0, 10)
        assert isinstance(rates, np.ndarray) and len(rates) == 10
        assert rates.dtype.names is not None and "tick_volume" in rates.dtype.names
        assert broker.positions_get("EURUSD") is None
        assert broker.last_error() == (-2, "Unnamed arguments not allowed")
        assert broker.symbol_info("NOPE") is None
        assert broker.last_error()[0] == -4
    finally:
        broker.shutdown()


def test_state_on_the_server_outlives_a_client(server_port: int) -> None:
    first = Mt5LinuxBroker(port=server_port)
    assert first.initialize()
    opened = buy(first, "outlives")
    assert opened.retcode == 10009
    first.shutdown()
    assert first.positions_get() is None and first.last_error() == (-10004, "No IPC connection")
    second = Mt5LinuxBroker(port=server_port)
    assert second.initialize()
    try:
        tickets = [p.ticket for p in second.positions_get() if p.comment == "outlives"]
        assert tickets == [opened.order]
    finally:
        second.shutdown()


def test_connection_refused_names_the_address_and_the_fix() -> None:
    port = free_port()
    broker = Mt5LinuxBroker(port=port)
    assert broker.initialize() is False
    code, text = broker.last_error()
    assert code == -10003
    assert f"127.0.0.1:{port}" in text and f"dtms sim-server --port {port}" in text
    assert "mt5linux" in text


async def test_gateway_start_without_server_is_one_clear_line() -> None:
    port = free_port()
    settings = GatewaySettings(connect_attempts=2, reconnect_initial_backoff=0.01)
    with pytest.raises(BrokerUnavailable) as caught:
        async with open_gateway(lambda: connect_mt5linux(Mt5LinuxSettings(port=port)), settings):
            pass
    message = str(caught.value)
    assert message.startswith("MT5 terminal not reachable: (-10003, ")
    assert f"127.0.0.1:{port}" in message and "\n" not in message


def test_slow_server_is_an_ipc_timeout_then_initialize_reconnects() -> None:
    with running_sim_server("--latency-ms", "400") as (_, port):
        broker = Mt5LinuxBroker(port=port, timeout=0.1)
        assert broker.initialize() is False
        assert broker.last_error() == (-10005, "IPC timeout")
        assert not broker.connected
        patient = Mt5LinuxBroker(port=port, timeout=5.0)
        assert patient.initialize() is True
        patient.shutdown()


async def test_gateway_sees_server_death_and_reconnects_to_a_new_one() -> None:
    with running_sim_server() as (proc, port):
        async with open_gateway(lambda: Mt5LinuxBroker(port=port), FAST_RECONNECT) as gateway:
            assert (await gateway.call("positions_get")).ok
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
            lost = await gateway.call("positions_get")
            assert lost.outcome is Outcome.UNKNOWN
            assert lost.last_error == (-10004, "No IPC connection")
            with running_sim_server(port=port):
                with trio.fail_after(20):
                    assert await gateway.wait_reconnected(1) == 2
                again = await gateway.call("account_info")
                assert again.ok and again.value.balance > 0
            stats = gateway.statistics()
    assert stats.reconnects == 1 and stats.unknown_outcomes == 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (np.float64(1.1), 1.1),
        (np.int64(3), 3),
        (np.bool_(True), True),
        (dt.datetime(2026, 1, 1, tzinfo=dt.UTC), 1767225600),
        ({"sl": np.float64(0.5), "position": np.int32(7)}, {"sl": 0.5, "position": 7}),
        (("EURUSD", np.int64(5)), ("EURUSD", 5)),
        (None, None),
        ("x", "x"),
    ],
)
def test_plain_request_values(value: Any, expected: Any) -> None:
    got = _plain(value)
    assert got == expected
    assert type(got) is type(expected)
    if isinstance(got, dict):
        assert all(type(v) in (int, float) for v in got.values())


def test_decode_rebuilds_nested_structs() -> None:
    wire = {
        "retcode": 10009,
        "order": 5,
        "request": {"action": 1, "symbol": "EURUSD", "__mt5_struct__": "TradeRequest"},
        "__mt5_struct__": "OrderSendResult",
    }
    result = _decode(wire)
    assert type(result) is structs.OrderSendResult and result.order == 5
    assert type(result.request) is structs.TradeRequest and result.request.symbol == "EURUSD"
    assert _decode(({"ticket": 1, "__mt5_struct__": "TradePosition"},)) == (
        structs.TradePosition(ticket=1),
    )
    assert _decode((500, 4000, "01 Jan 2026")) == (500, 4000, "01 Jan 2026")


def test_decode_reads_a_table_of_structs_by_its_field_names() -> None:
    # a tuple of structs crosses as one table: our fields go straight in; another build's
    # (a field missing, one more) go by name; an unknown type stays dicts
    ours = {"__mt5_table__": "Tick", "fields": structs.Tick._fields,
            "rows": [(1, 1.1, 1.2, 0.0, 0, 1000, 6, 0.0), (2, 1.3, 1.4, 0.0, 0, 2000, 6, 0.0)]}
    assert _decode(ours) == (structs.Tick(1, 1.1, 1.2, 0.0, 0, 1000, 6, 0.0),
                             structs.Tick(2, 1.3, 1.4, 0.0, 0, 2000, 6, 0.0))
    other = {"__mt5_table__": "Tick", "fields": ("bid", "time", "extra"),
             "rows": [(1.5, 7, "x")]}
    assert _decode(other) == (structs.Tick(time=7, bid=1.5),)
    unknown = {"__mt5_table__": "Mystery", "fields": ("a", "b"), "rows": [(1, 2)]}
    assert _decode(unknown) == ({"a": 1, "b": 2},)


def test_a_snapshot_crosses_whole_and_equal(server_port: int) -> None:
    broker = Mt5LinuxBroker(port=server_port)
    assert broker.initialize() is True
    try:
        tickets = [buy(broker, f"table-{i}").order for i in range(5)]
        every = broker.positions_get()
        assert every is not None and all(type(p) is structs.TradePosition for p in every)
        by_ticket = {p.ticket: p for p in every}
        for ticket in tickets:
            one = broker.positions_get(ticket=ticket)
            assert one is not None and len(one) == 1
            # the same position, field by field, whether alone or among the others (profit
            # aside: the quote may tick between the two calls)
            assert one[0]._replace(profit=0.0, price_current=0.0) == \
                by_ticket[ticket]._replace(profit=0.0, price_current=0.0)
            assert one[0].comment == f"table-{tickets.index(ticket)}"
    finally:
        broker.shutdown()


def test_demo_scenario_trades_on_the_served_account() -> None:
    with running_sim_server("--scenario", "demo", "--speed", "60") as (_, port):
        broker = Mt5LinuxBroker(port=port)
        assert broker.initialize()
        try:
            deadline = time.monotonic() + 20.0
            positions: Any = ()
            while not positions and time.monotonic() < deadline:
                time.sleep(0.1)
                positions = broker.positions_get()
            assert positions, "the demo opens its first trades within seconds"
        finally:
            broker.shutdown()
