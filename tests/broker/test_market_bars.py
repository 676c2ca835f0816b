"""Behaviour of the simulated market: bars and trading hours."""

from __future__ import annotations

import numpy as np
import pytest

from dtms.broker.rates import (
    RATES_DTYPE,
    TIMEFRAME_D1,
    TIMEFRAME_H1,
    TIMEFRAME_H4,
    TIMEFRAME_M1,
    TIMEFRAME_M5,
    TIMEFRAME_M15,
    TIMEFRAME_M30,
    TIMEFRAME_W1,
    timeframe_seconds,
)
from dtms.broker.sim.market import Market, MarketRegime, MarketSettings

from .market_kit import (
    DAY,
    FRIDAY,
    HOUR,
    MONDAY,
    SYMS,
    collect,
    pick,
    small,
    some,
)

# -- bars -------------------------------------------------------------------------------------


def manual_aggregate(rates: np.ndarray, tf_s: int) -> np.ndarray:
    keys = rates["time"] // tf_s
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    stops = np.r_[starts[1:], len(rates)]
    out = np.zeros(len(starts), dtype=RATES_DTYPE)
    out["time"] = keys[starts] * tf_s
    out["open"] = rates["open"][starts]
    out["high"] = np.maximum.reduceat(rates["high"], starts)
    out["low"] = np.minimum.reduceat(rates["low"], starts)
    out["close"] = rates["close"][stops - 1]
    out["tick_volume"] = np.add.reduceat(rates["tick_volume"], starts)
    out["spread"] = rates["spread"][stops - 1]
    return out


def test_m1_bars_are_built_from_the_ticks() -> None:
    start = MONDAY + 5 * HOUR + 20.0
    market = Market(pick("GBPUSD"), start, small())
    t, bid, ask = collect(market, [start + 2 * HOUR + 30.0])["GBPUSD"]
    m1 = market.rates_range("GBPUSD", TIMEFRAME_M1, start + 60, start + 2 * HOUR)
    assert m1 is not None and len(m1) == 119
    for bar in m1:
        inside = (t >= bar["time"] * 1000) & (t < (bar["time"] + 60) * 1000)
        b = bid[inside]
        assert (bar["open"], bar["high"], bar["low"], bar["close"]) == (
            b[0], b.max(), b.min(), b[-1],
        )
        assert bar["tick_volume"] == b.shape[0]
        last_spread = round((ask[inside][-1] - b[-1]) / SYMS["GBPUSD"].point)
        assert bar["spread"] == last_spread
        assert bar["real_volume"] == 0


@pytest.mark.parametrize("name", ["EURUSD", "BTCUSD"])
def test_higher_timeframes_aggregate_m1(name: str) -> None:
    start = FRIDAY + 12 * HOUR + 7 * 60 + 13
    market = Market(pick(name), start, MarketSettings(history_days=3))
    market.advance_to(start + 3 * DAY + 0.5 * HOUR)
    m1 = market.rates_from_pos(name, TIMEFRAME_M1, 0, 100_000)
    assert m1 is not None
    whole = m1[m1["time"] >= m1["time"][0] // 86_400 * 86_400 + 86_400]  # whole days only
    for tf in (TIMEFRAME_M5, TIMEFRAME_M15, TIMEFRAME_M30, TIMEFRAME_H1, TIMEFRAME_H4,
               TIMEFRAME_D1):
        tf_s = timeframe_seconds(tf)
        got = market.rates_range(name, tf, float(whole["time"][0]), market.now)
        assert got is not None
        assert np.array_equal(got, manual_aggregate(whole, tf_s)), tf
        assert np.all(got["time"] % tf_s == 0)
    m5 = some(market.rates_range(name, TIMEFRAME_M5, float(whole["time"][0]), market.now))
    m15 = some(market.rates_range(name, TIMEFRAME_M15, float(whole["time"][0]), market.now))
    assert np.array_equal(manual_aggregate(m5, 900), m15)


def test_weekly_bars_open_on_sunday() -> None:
    market = Market(pick("BTCUSD"), MONDAY + 2 * DAY, MarketSettings(history_days=30))
    w1 = market.rates_from_pos("BTCUSD", TIMEFRAME_W1, 0, 10)
    assert w1 is not None and len(w1) >= 4
    weekday = (w1["time"] // 86_400 + 3) % 7  # Monday = 0
    assert np.all(weekday == 6)
    assert np.all(w1["time"] % 86_400 == 0)


def test_position_zero_is_the_forming_bar_and_rows_ascend() -> None:
    start = MONDAY + 10 * HOUR
    market = Market(pick("EURUSD"), start, small())
    market.advance_to(start + 7 * 60 + 30)
    m5 = market.rates_from_pos("EURUSD", TIMEFRAME_M5, 0, 20)
    assert m5 is not None and len(m5) == 20
    assert np.all(np.diff(m5["time"]) == 300)
    assert m5["time"][-1] == start + 300  # forming: opened 2.5 minutes ago
    tick = market.last_tick("EURUSD")
    assert tick is not None and m5["close"][-1] == tick[1]
    older = some(market.rates_from_pos("EURUSD", TIMEFRAME_M5, 1, 19))
    assert np.array_equal(older, m5[:-1])
    assert np.array_equal(some(market.rates_from_pos("EURUSD", TIMEFRAME_M5, 5, 3)), m5[-8:-5])
    assert len(some(market.rates_from_pos("EURUSD", TIMEFRAME_M5, 10**6, 5))) == 0
    with pytest.raises(ValueError):
        market.rates_from_pos("EURUSD", TIMEFRAME_M5, -1, 5)


def test_closed_bars_never_change() -> None:
    start = MONDAY + 9 * HOUR + 123.4
    market = Market(pick("EURUSD", "XAUUSD"), start, small())
    snapshots = []
    t = start
    for step in (1.0, 59.0, 0.3, 299.7, 1000.0, 3.3, 4000.0, 250.0):
        t += step
        market.advance_to(t)
        m5 = some(market.rates_from_pos("XAUUSD", TIMEFRAME_M5, 0, 400))
        m15 = some(market.rates_from_pos("XAUUSD", TIMEFRAME_M15, 0, 150))
        snapshots.append((t, m5, m15))
    market.set_regime("XAUUSD", MarketRegime.SPIKE)
    market.set_mid("XAUUSD", 2500.0)
    market.advance_to(t + 3 * HOUR)
    final5 = market.rates_from_pos("XAUUSD", TIMEFRAME_M5, 0, 1000)
    final15 = market.rates_from_pos("XAUUSD", TIMEFRAME_M15, 0, 400)
    assert final5 is not None and final15 is not None
    for when, m5, m15 in snapshots:
        for old, new, tf_s in ((m5, final5, 300), (m15, final15, 900)):
            closed = old[old["time"] + tf_s <= when]
            assert len(closed) >= len(old) - 1
            later = new[np.isin(new["time"], closed["time"])]
            assert np.array_equal(closed, later)


def test_rates_range_is_inclusive_at_both_ends() -> None:
    market = Market(pick("EURUSD"), MONDAY + 12 * HOUR, small())
    a, b = MONDAY + 10 * HOUR, MONDAY + 11 * HOUR
    m5 = market.rates_range("EURUSD", TIMEFRAME_M5, a, b)
    assert m5 is not None and len(m5) == 13
    assert (m5["time"][0], m5["time"][-1]) == (a, b)
    inner = market.rates_range("EURUSD", TIMEFRAME_M5, a + 1, b - 1)
    assert inner is not None and np.array_equal(inner, m5[1:-1])
    assert len(some(market.rates_range("EURUSD", TIMEFRAME_M5, b, a))) == 0


def test_rates_from_counts_back_from_the_bar_open_at_or_before_the_date() -> None:
    market = Market(pick("EURUSD"), MONDAY + 12 * HOUR, small())
    date = MONDAY + 10 * HOUR + 7 * 60
    m15 = market.rates_from("EURUSD", TIMEFRAME_M15, date, 8)
    assert m15 is not None and len(m15) == 8
    assert m15["time"][-1] == MONDAY + 10 * HOUR
    everything = market.rates_from_pos("EURUSD", TIMEFRAME_M15, 0, 1000)
    assert everything is not None
    idx = int(np.flatnonzero(everything["time"] == MONDAY + 10 * HOUR)[0])
    assert np.array_equal(m15, everything[idx - 7 : idx + 1])
    on_open = market.rates_from("EURUSD", TIMEFRAME_M15, MONDAY + 10 * HOUR, 1)
    assert on_open is not None and on_open["time"][0] == MONDAY + 10 * HOUR


# -- trading hours ----------------------------------------------------------------------------


def test_fx_closes_over_the_weekend_and_crypto_does_not() -> None:
    market = Market(pick("EURUSD", "BTCUSD"), FRIDAY + 20 * HOUR, small())
    sunday = FRIDAY + 2 * DAY
    assert market.is_open("EURUSD", FRIDAY + 21 * HOUR - 1)
    assert not market.is_open("EURUSD", FRIDAY + 21 * HOUR)
    assert not market.is_open("EURUSD", sunday + 21 * HOUR - 1)
    assert market.is_open("EURUSD", sunday + 21 * HOUR)
    assert market.is_open("BTCUSD", FRIDAY + DAY + 12 * HOUR)
    ticks = collect(market, [FRIDAY + 20 * HOUR + s for s in range(600, 3 * 86_400, 600)])
    t = ticks["EURUSD"][0]
    closed = (t >= (FRIDAY + 21 * HOUR) * 1000) & (t < (sunday + 21 * HOUR) * 1000)
    assert not closed.any()
    assert (t >= (sunday + 21 * HOUR) * 1000).sum() > 1000
    assert ticks["BTCUSD"][0].shape[0] == pytest.approx(90 * 60 * 72, rel=0.05)
    h1 = market.rates_range("EURUSD", TIMEFRAME_H1, FRIDAY, sunday + DAY)
    assert h1 is not None
    hours = (h1["time"] - FRIDAY) / 3600
    assert hours.max() >= 47  # Sunday evening bars exist
    assert not ((hours >= 21) & (hours < 48 + 21)).any()  # weekend gap
    btc = market.rates_range("BTCUSD", TIMEFRAME_H1, FRIDAY + 21 * HOUR, sunday + 21 * HOUR)
    assert btc is not None and len(btc) == 49  # both ends inclusive


def test_broker_offset_shifts_the_weekend() -> None:
    market = Market(pick("EURUSD"), MONDAY, small(broker_utc_offset_hours=3.0))
    assert market.is_open("EURUSD", FRIDAY + 24 * HOUR - 1)
    assert not market.is_open("EURUSD", FRIDAY + 24 * HOUR)
    assert market.is_open("EURUSD", FRIDAY + 3 * DAY)  # Monday 00:00 broker = Sunday 21:00 UTC


