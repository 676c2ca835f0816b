"""Read-only functions: symbols, ticks, bars, ticks arrays and history queries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from dtms.broker import constants as c
from dtms.broker.rates import TICKS_DTYPE
from dtms.broker.sim import SimBroker
from dtms.broker.sim.clock import ManualClock
from tests.broker.conftest import START, Orders

M5 = c.TIMEFRAME_M5


def test_symbol_info_reports_rules_and_the_live_quote(
    sim: SimBroker, clock: ManualClock
) -> None:
    clock.advance(30)
    info = sim.symbol_info("USDJPY")
    tick = sim.symbol_info_tick("USDJPY")
    assert info is not None and tick is not None
    assert (info.bid, info.ask, info.time) == (tick.bid, tick.ask, tick.time)
    assert info.spread == round((tick.ask - tick.bid) / 0.001)
    assert (info.digits, info.point, info.trade_stops_level) == (3, 0.001, 10)
    assert info.trade_contract_size == 100_000.0 and info.trade_tick_size == 0.001
    assert info.trade_tick_value == pytest.approx(100.0 / ((tick.bid + tick.ask) / 2))
    assert (info.volume_min, info.volume_step, info.volume_max) == (0.01, 0.01, 100.0)
    assert info.filling_mode == c.SYMBOL_FILLING_FOK | c.SYMBOL_FILLING_IOC
    assert info.trade_exemode == c.SYMBOL_TRADE_EXECUTION_MARKET
    assert info.trade_mode == c.SYMBOL_TRADE_MODE_FULL
    assert (info.currency_base, info.currency_profit, info.currency_margin) == (
        "USD", "JPY", "USD",
    )
    assert info.margin_hedged == 50_000.0 and info.select and info.visible
    assert info.bidlow <= info.bid <= info.bidhigh and info.asklow <= info.ask <= info.askhigh


def test_symbols_get_with_group_masks(sim: SimBroker) -> None:
    total = sim.symbols_total()
    every = sim.symbols_get()
    assert every is not None and total == len(every) >= 10
    eur = sim.symbols_get(group="*EUR*")
    assert eur is not None and {s.name for s in eur} >= {"EURUSD", "EURJPY", "EURGBP"}
    no_eur = sim.symbols_get(group="*,!*EUR*")
    assert no_eur is not None and not any("EUR" in s.name for s in no_eur)
    assert len(no_eur) + len(eur) == total
    assert sim.symbols_get("XAU*") is not None  # the positional form is documented too


def test_symbol_select(sim: SimBroker, orders: Orders) -> None:
    assert sim.symbol_select("EURGBP", False) is True
    info = sim.symbol_info("EURGBP")
    assert info is not None and not info.select
    assert sim.symbol_select("EURGBP") is True
    orders.buy("AUDUSD")
    assert sim.symbol_select("AUDUSD", False) is False, "a symbol with positions stays"
    assert sim.symbol_select("NOPE", True) is False


def test_unknown_symbol_reads(sim: SimBroker) -> None:
    assert sim.symbol_info_tick("NOPE") is None
    assert sim.last_error()[0] == -4
    calls: list[Callable[[], object]] = [
        lambda: sim.copy_rates_from_pos("NOPE", M5, 0, 10),
        lambda: sim.copy_rates_from("NOPE", M5, START, 10),
        lambda: sim.copy_rates_range("NOPE", M5, START - 3600, START),
        lambda: sim.copy_ticks_range("NOPE", START - 60, START, c.COPY_TICKS_ALL),
    ]
    for call in calls:
        assert call() is None
        assert sim.last_error() == (-1, "Terminal: Call failed")


def test_rates_from_pos_forming_bar_and_history(sim: SimBroker, clock: ManualClock) -> None:
    clock.advance(7 * 60 + 30)
    rates = sim.copy_rates_from_pos("EURUSD", M5, 0, 100)
    assert rates is not None and len(rates) == 100
    now = clock()
    assert rates["time"][-1] == int(now // 300 * 300), "position 0 is the forming bar"
    assert np.all(np.diff(rates["time"]) > 0) and np.all(rates["time"] % 300 == 0)
    closed = sim.copy_rates_from_pos("EURUSD", M5, 1, 10)
    assert closed is not None and closed["time"][-1] == rates["time"][-2]


def test_rates_and_ticks_accept_datetimes_and_ints(sim: SimBroker, clock: ManualClock) -> None:
    clock.advance(630)
    aware = datetime.fromtimestamp(START, tz=UTC)
    by_date = sim.copy_rates_from("EURUSD", M5, aware, 12)
    by_int = sim.copy_rates_from("EURUSD", M5, int(START), 12)
    assert by_date is not None and by_int is not None
    assert np.array_equal(by_date, by_int) and int(by_int["time"][-1]) == int(START)
    rng = sim.copy_rates_range("EURUSD", M5, aware, datetime.fromtimestamp(START + 600, tz=UTC))
    assert rng is not None and list(rng["time"]) == [START, START + 300, START + 600]
    ticks = sim.copy_ticks_range("EURUSD", int(START), aware.timestamp() + 600,
                                 c.COPY_TICKS_ALL)
    assert ticks is not None and ticks.dtype == TICKS_DTYPE and len(ticks) > 100
    assert np.all(np.diff(ticks["time_msc"]) >= 0)
    few = sim.copy_ticks_from("EURUSD", aware, 5, c.COPY_TICKS_INFO)
    assert few is not None and len(few) == 5 and few["time_msc"][0] == ticks["time_msc"][0]
    assert sim.copy_ticks_range("EURUSD", START, START + 600, c.COPY_TICKS_TRADE) is not None


def test_bar_argument_errors(sim: SimBroker) -> None:
    assert sim.copy_rates_from_pos("EURUSD", 7, 0, 10) is None
    assert sim.last_error() == (-2, "Invalid arguments")
    assert sim.copy_rates_from("EURUSD", M5, "yesterday", 10) is None
    assert sim.last_error() == (-2, "Invalid arguments")
    assert sim.copy_rates_from_pos("EURUSD", M5, 0, 200_000) is None
    assert sim.last_error() == (-1, "Terminal: Call failed")


@pytest.fixture
def traded(sim: SimBroker, orders: Orders, clock: ManualClock) -> dict[str, Any]:
    a = orders.opened("EURUSD", 0.2, magic=1)
    clock.advance(60)
    b = orders.opened("GBPUSD", 0.1, side="sell")
    clock.advance(60)
    close_a = orders.close(a.ticket, 0.1)
    clock.advance(60)
    return {"a": a, "b": b, "close_a": close_a}


def test_history_deals_filters(sim: SimBroker, traded: dict[str, Any]) -> None:
    a, close_a = traded["a"], traded["close_a"]
    by_order = sim.history_deals_get(ticket=close_a.order)
    assert by_order is not None and [d.ticket for d in by_order] == [close_a.deal]
    by_position = sim.history_deals_get(position=a.ticket)
    assert by_position is not None and [d.entry for d in by_position] == [0, 1]
    window = sim.history_deals_get(START + 30, START + 90)
    assert window is not None and [d.symbol for d in window] == ["GBPUSD"]
    everything = sim.history_deals_get(0, START + 3600)
    assert everything is not None and len(everything) == 4  # deposit, 2 in, 1 out
    gbp = sim.history_deals_get(0, START + 3600, group="*GBP*")
    assert gbp is not None and len(gbp) == 1
    assert sim.history_deals_total(0, START + 3600) == 4
    future = sim.history_deals_get(START + 7200, START + 9000)
    assert future == ()


def test_history_orders_filters(sim: SimBroker, traded: dict[str, Any]) -> None:
    a = traded["a"]
    by_position = sim.history_orders_get(position=a.ticket)
    assert by_position is not None and [o.type for o in by_position] == [0, 1]
    assert all(o.state == c.ORDER_STATE_FILLED for o in by_position)
    assert sim.history_orders_total(0, START + 3600) == 3
    (only,) = sim.history_orders_get(ticket=a.ticket) or ()
    assert only.magic == 1


def test_history_argument_conventions(sim: SimBroker) -> None:
    assert sim.history_deals_get() is None
    assert sim.last_error() == (-2, "Invalid number of arguments")
    assert sim.history_deals_get(0, 1, 2) is None
    assert sim.last_error() == (-2, "Unnamed arguments not allowed")
    assert sim.history_orders_get(ticket="5") is None  # type: ignore[arg-type]
    assert sim.last_error() == (-2, 'Invalid "ticket" argument')


def test_empty_history_can_answer_none_with_success(make: Any) -> None:
    sim = make(empty_history_as_none=True)
    assert sim.history_deals_get(position=123) is None
    assert sim.last_error() == (1, "Success")
    assert sim.history_orders_get(0, START) is None
    assert sim.positions_get() == (), "open positions still answer ()"


def test_no_pending_orders(sim: SimBroker) -> None:
    assert sim.orders_get() == () and sim.orders_total() == 0
    assert sim.market_book_add("EURUSD") is True and sim.market_book_get("EURUSD") == ()
