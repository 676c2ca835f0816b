"""Daily breaks, the weekend and quiet symbols: no ticks, no bars, 10018, gap fills, old ticks."""

from __future__ import annotations

from typing import Any

import pytest

from dtms.broker import constants as c
from dtms.broker.sim import QuirkSettings, SimBroker, SimSettings
from dtms.broker.sim.clock import ManualClock
from dtms.broker.sim.market import MarketSettings
from dtms.broker.sim.symbols import default_symbols
from tests.broker.conftest import START, Orders, make_sim

HOUR = 3600.0
MONDAY = START - 7 * HOUR  # Monday 00:00 broker time (= UTC here)
FRIDAY_2050 = MONDAY + 4 * 24 * HOUR + 20 * HOUR + 50 * 60
SUNDAY_2100 = MONDAY + 6 * 24 * HOUR + 21 * HOUR


def tick_time(sim: SimBroker, symbol: str) -> float:
    tick = sim.symbol_info_tick(symbol)
    assert tick is not None
    return tick.time_msc / 1000.0


def refused(result: Any, retcode: int) -> None:
    assert result is not None and result.retcode == retcode, result


def closed_market_refuses_everything(sim: SimBroker, orders: Orders, ticket: int) -> None:
    pos = orders.position(ticket)
    refused(orders.buy(pos.symbol), c.TRADE_RETCODE_MARKET_CLOSED)
    refused(orders.close(ticket), c.TRADE_RETCODE_MARKET_CLOSED)
    refused(orders.sltp(ticket, round(pos.price_open * 0.99, 5), 0.0),
            c.TRADE_RETCODE_MARKET_CLOSED)
    check = sim.order_check({"action": 1, "symbol": pos.symbol, "volume": 0.1, "type": 0})
    refused(check, c.TRADE_RETCODE_MARKET_CLOSED)


def test_a_daily_break_stops_ticks_bars_and_trading(clock: ManualClock) -> None:
    sim = make_sim(clock, quirks=QuirkSettings(daily_breaks=("EURUSD 08:00-08:30",)))
    orders = Orders(sim)
    clock.set(MONDAY + 7 * HOUR + 50 * 60)
    bid, ask = orders.tick()
    sl = round(bid - 0.0020, 5)
    pos = orders.opened(volume=0.3, sl=sl)
    clock.set(MONDAY + 8 * HOUR + 10 * 60)
    assert tick_time(sim, "EURUSD") < MONDAY + 8 * HOUR
    assert tick_time(sim, "GBPUSD") > clock() - 60, "other symbols keep quoting"
    closed_market_refuses_everything(sim, orders, pos.ticket)
    assert orders.buy("GBPUSD").retcode == c.TRADE_RETCODE_DONE
    sim.market.set_mid("EURUSD", (bid + ask) / 2 - 0.0060)  # news during the break
    clock.advance(5 * 60)
    assert sim.positions_get(ticket=pos.ticket), "no stop is hit while the market is shut"
    clock.set(MONDAY + 8 * HOUR + 40 * 60)
    assert tick_time(sim, "EURUSD") >= MONDAY + 8 * HOUR + 30 * 60
    assert sim.positions_get(ticket=pos.ticket) == ()
    out = (sim.history_deals_get(position=pos.ticket) or ())[-1]
    assert out.reason == c.DEAL_REASON_SL
    assert out.time >= MONDAY + 8 * HOUR + 30 * 60
    assert out.price < sl - 0.0030, "the stop fills at the gap, beyond its level"
    bars = sim.copy_rates_range("EURUSD", c.TIMEFRAME_M1, MONDAY + 8 * HOUR,
                                MONDAY + 8 * HOUR + 29 * 60)
    assert bars is not None and len(bars) == 0
    assert orders.buy().retcode == c.TRADE_RETCODE_DONE


def test_a_break_may_wrap_midnight_and_cover_every_symbol() -> None:
    clock = ManualClock(MONDAY + 22 * HOUR + 50 * 60)
    sim = make_sim(clock, quirks=QuirkSettings(daily_breaks=("* 23:00-00:05",)))
    orders = Orders(sim)
    assert orders.buy().retcode == c.TRADE_RETCODE_DONE
    for t in (23 * HOUR + 30 * 60, 24 * HOUR + 2 * 60):
        clock.set(MONDAY + t)
        refused(orders.buy("EURUSD"), c.TRADE_RETCODE_MARKET_CLOSED)
        refused(orders.buy("BTCUSD", 0.01), c.TRADE_RETCODE_MARKET_CLOSED)
        assert tick_time(sim, "BTCUSD") < MONDAY + 23 * HOUR
    clock.set(MONDAY + 24 * HOUR + 6 * 60)
    assert orders.buy().retcode == c.TRADE_RETCODE_DONE
    assert orders.buy("BTCUSD", 0.01).retcode == c.TRADE_RETCODE_DONE


def test_history_generated_at_start_has_the_breaks() -> None:
    clock = ManualClock(START)
    table = {k: v for k, v in default_symbols().items() if k in ("US30", "EURUSD")}
    sim = SimBroker(
        SimSettings(quirks=QuirkSettings(daily_breaks=("US30 23:00-00:05",))), clock=clock,
        symbols=table, market_settings=MarketSettings(history_days=2),
    )
    assert sim.initialize()
    night = MONDAY - 24 * HOUR + 23 * HOUR  # Sunday 23:00
    us30 = sim.copy_rates_range("US30", c.TIMEFRAME_M1, night - HOUR, night + 2 * HOUR)
    eurusd = sim.copy_rates_range("EURUSD", c.TIMEFRAME_M1, night - HOUR, night + 2 * HOUR)
    assert us30 is not None and eurusd is not None
    gap = [t for t in us30["time"] if night <= t < night + 5 * 60]
    assert gap == [] and len(us30) == 181 - 65  # both ends are inclusive
    assert len(eurusd) == 181


def test_the_weekend_refuses_closes_and_stops_then_gaps() -> None:
    clock = ManualClock(FRIDAY_2050)
    sim = make_sim(clock)
    orders = Orders(sim)
    bid, ask = orders.tick()
    sl = round(bid - 0.0030, 5)
    pos = orders.opened(volume=0.2, sl=sl)
    clock.set(FRIDAY_2050 + 24 * HOUR)
    closed_market_refuses_everything(sim, orders, pos.ticket)
    sim.market.set_mid("EURUSD", (bid + ask) / 2 - 0.0080)
    clock.set(SUNDAY_2100 - 60)
    assert sim.positions_get(ticket=pos.ticket)
    assert tick_time(sim, "EURUSD") < FRIDAY_2050 + 10 * 60
    clock.set(SUNDAY_2100 + 10 * 60)
    out = (sim.history_deals_get(position=pos.ticket) or ())[-1]
    assert out.reason == c.DEAL_REASON_SL and out.time >= SUNDAY_2100
    assert out.price < sl - 0.0040


@pytest.mark.parametrize("quiet", [True, False])
def test_quiet_symbols_tick_once_per_interval(clock: ManualClock, quiet: bool) -> None:
    quirks = QuirkSettings(quiet_symbols=("EURGBP",) if quiet else (), quiet_tick_seconds=600)
    sim = make_sim(clock, quirks=quirks)
    start = clock()
    lags, fresh = [], []
    for _ in range(120):
        clock.advance(60)
        lags.append(clock() - tick_time(sim, "EURGBP"))
        fresh.append(clock() - tick_time(sim, "EURUSD"))
    assert max(fresh) < 30
    ticks = sim.copy_ticks_range("EURGBP", start, clock(), c.COPY_TICKS_ALL)
    assert ticks is not None
    if quiet:
        assert max(lags) > 500 and max(lags) < 630
        assert 10 <= len(ticks) <= 13
        assert all(t % 600_000 > 540_000 for t in ticks["time_msc"]), "each at its interval's end"
    else:
        assert max(lags) < 30 and len(ticks) > 1000


def test_quirks_naming_unknown_symbols_are_refused(clock: ManualClock) -> None:
    with pytest.raises(ValueError, match=r"US500.*does not list"):
        make_sim(clock, quirks=QuirkSettings(daily_breaks=("US500 23:00-00:05",)))
    with pytest.raises(ValueError, match="NOPE"):
        make_sim(clock, quirks=QuirkSettings(quiet_symbols=("NOPE",)))


@pytest.mark.parametrize(
    "text", ["US30", "US30 23:00", "US30 24:00-01:00", "US30 10:61-11:00", "US30 10:00-10:00",
             "23:00-00:05"],
)
def test_malformed_breaks_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"daily_breaks\[0\]"):
        QuirkSettings(daily_breaks=(text,))
