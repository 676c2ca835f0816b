"""Behaviour of the simulated market: ticks, bars, trading hours, regimes and scripted paths."""

from __future__ import annotations

import calendar
import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtms.broker.rates import (
    RATES_DTYPE,
    TICKS_DTYPE,
    TIMEFRAME_D1,
    TIMEFRAME_H1,
    TIMEFRAME_H4,
    TIMEFRAME_M1,
    TIMEFRAME_M5,
    TIMEFRAME_M15,
    TIMEFRAME_M30,
    TIMEFRAME_MN1,
    TIMEFRAME_W1,
    timeframe_seconds,
)
from dtms.broker.sim.market import Market, MarketRegime, MarketSettings, TickBlock
from dtms.broker.sim.symbols import SimSymbol, default_symbols
from dtms.core.params import bounds_of, doc_of

MONDAY = float(calendar.timegm((2024, 6, 3, 0, 0, 0)))
FRIDAY = MONDAY + 4 * 86_400
HOUR = 3600.0
DAY = 86_400.0
SYMS = default_symbols()
EURUSD = SYMS["EURUSD"]


def some(rates: np.ndarray | None) -> np.ndarray:
    assert rates is not None
    return rates


def pick(*names: str) -> dict[str, SimSymbol]:
    return {n: SYMS[n] for n in names}


def small(**kw: object) -> MarketSettings:
    return MarketSettings(**{"history_days": 1, **kw})  # type: ignore[arg-type]


def collect(market: Market, targets: list[float]) -> dict[str, tuple[np.ndarray, ...]]:
    parts: dict[str, list[TickBlock]] = {}
    for t in targets:
        for block in market.advance_to(t):
            parts.setdefault(block.symbol, []).append(block)
    return {
        name: tuple(
            np.concatenate([getattr(b, f) for b in blocks]) for f in ("time_msc", "bid", "ask")
        )
        for name, blocks in parts.items()
    }


def mid_of(market: Market, symbol: str) -> float:
    tick = market.last_tick(symbol)
    assert tick is not None
    return (tick[1] + tick[2]) / 2


# -- layouts and timeframes -------------------------------------------------------------------


def test_rates_and_ticks_dtypes_are_packed_like_mt5() -> None:
    assert RATES_DTYPE.itemsize == 60
    assert TICKS_DTYPE.itemsize == 60
    assert RATES_DTYPE.names == (
        "time", "open", "high", "low", "close", "tick_volume", "spread", "real_volume",
    )
    assert RATES_DTYPE.fields is not None and RATES_DTYPE.fields["real_volume"][1] == 52
    assert TICKS_DTYPE.names == (
        "time", "bid", "ask", "last", "volume", "time_msc", "flags", "volume_real",
    )
    assert TICKS_DTYPE.fields is not None and TICKS_DTYPE.fields["flags"][1] == 48
    market = Market(pick("EURUSD"), MONDAY + 10 * HOUR, small())
    rates = market.rates_from_pos("EURUSD", TIMEFRAME_M5, 0, 10)
    assert rates is not None and rates.dtype == RATES_DTYPE
    ticks = market.ticks_range("EURUSD", MONDAY, MONDAY + DAY)
    assert ticks is not None and ticks.dtype == TICKS_DTYPE


@pytest.mark.parametrize(
    ("tf", "seconds"),
    [
        (TIMEFRAME_M1, 60), (TIMEFRAME_M5, 300), (TIMEFRAME_M15, 900), (TIMEFRAME_M30, 1800),
        (TIMEFRAME_H1, 3600), (TIMEFRAME_H4, 14_400), (TIMEFRAME_D1, 86_400),
        (TIMEFRAME_W1, 604_800), (2, 120), (16386, 7200), (16396, 43_200),
    ],
)
def test_timeframe_seconds(tf: int, seconds: int) -> None:
    assert timeframe_seconds(tf) == seconds


@pytest.mark.parametrize("tf", [0, 7, 61, 16384, 16389, 32770, TIMEFRAME_MN1, -1])
def test_timeframe_seconds_rejects_unknown_values_by_name(tf: int) -> None:
    with pytest.raises(ValueError, match=str(tf)):
        timeframe_seconds(tf)


def test_every_market_setting_is_a_documented_bounded_knob() -> None:
    for field in dataclasses.fields(MarketSettings):
        assert doc_of(field), field.name
        bounds = bounds_of(field)
        assert (bounds.ge, bounds.gt, bounds.le, bounds.lt) != (None,) * 4, field.name


def test_slice_length_must_divide_a_day() -> None:
    with pytest.raises(ValueError, match="slice_minutes"):
        MarketSettings(slice_minutes=7)


# -- start-up history -------------------------------------------------------------------------


def test_history_is_there_at_start_and_ends_at_the_start_price() -> None:
    start = MONDAY + 2 * DAY + 9.5 * HOUR
    market = Market(pick("EURUSD", "XAUUSD"), start, MarketSettings(history_days=10))
    m15 = market.rates_from_pos("EURUSD", TIMEFRAME_M15, 0, 301)
    m5 = market.rates_from_pos("EURUSD", TIMEFRAME_M5, 0, 601)
    assert m15 is not None and len(m15) == 301
    assert m5 is not None and len(m5) == 601
    assert np.all(np.diff(m15["time"]) > 0)
    assert int(m15["time"][-1]) < start
    for name, sym in (("EURUSD", EURUSD), ("XAUUSD", SYMS["XAUUSD"])):
        last = market.rates_from_pos(name, TIMEFRAME_M1, 0, 1)
        assert last is not None
        close_mid = float(last["close"][0]) + int(last["spread"][0]) * sym.point / 2
        assert close_mid == pytest.approx(sym.start_price, abs=2 * sym.point)
        h1 = market.rates_from_pos(name, TIMEFRAME_H1, 0, 10_000)
        assert h1 is not None and 10 * 24 * 0.6 < len(h1) <= 10 * 24 + 1


def test_history_bars_are_well_formed() -> None:
    market = Market(pick("USDJPY"), MONDAY + 3 * DAY, MarketSettings(history_days=5))
    m1 = market.rates_from_pos("USDJPY", TIMEFRAME_M1, 0, 100_000)
    assert m1 is not None and len(m1) > 3 * 1440
    assert np.all(m1["high"] >= np.maximum(m1["open"], m1["close"]))
    assert np.all(m1["low"] <= np.minimum(m1["open"], m1["close"]))
    assert np.all(m1["tick_volume"] >= 1)
    assert np.all(m1["spread"] >= 1)
    assert np.all(m1["time"] % 60 == 0)
    assert np.array_equal(np.round(m1["close"], 3), m1["close"])


# -- determinism and chunking -----------------------------------------------------------------


def test_same_seed_same_market_and_other_seed_differs() -> None:
    syms = pick("EURUSD", "BTCUSD")
    end = MONDAY + 6 * HOUR
    a = collect(Market(syms, MONDAY, small(), seed=4), [end])
    b = collect(Market(syms, MONDAY, small(), seed=4), [end])
    c = collect(Market(syms, MONDAY, small(), seed=5), [end])
    for name in syms:
        assert all(np.array_equal(x, y) for x, y in zip(a[name], b[name], strict=True))
        assert not np.array_equal(a[name][1][:50], c[name][1][:50])


def test_a_symbol_stream_does_not_depend_on_the_other_symbols() -> None:
    end = MONDAY + 3 * HOUR
    alone = collect(Market(pick("EURUSD"), MONDAY, small(), seed=9), [end])["EURUSD"]
    crowd = collect(Market(pick("GBPUSD", "EURUSD"), MONDAY, small(), seed=9), [end])["EURUSD"]
    assert all(np.array_equal(x, y) for x, y in zip(alone, crowd, strict=True))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(
        st.floats(min_value=0.0005, max_value=4 * HOUR, allow_nan=False), min_size=1,
        max_size=60,
    )
)
def test_chunking_of_advances_does_not_change_ticks_or_bars(steps: list[float]) -> None:
    syms = pick("EURUSD", "BTCUSD")
    start = FRIDAY + 19.75 * HOUR + 17.25  # runs into the weekend close
    end = start + 8 * HOUR
    targets = [*np.minimum(start + np.cumsum(steps), end).tolist(), end]
    one = Market(syms, start, small(), seed=2)
    many = Market(syms, start, small(), seed=2)
    a = collect(one, [end])
    b = collect(many, targets)
    for name in syms:
        assert all(np.array_equal(x, y) for x, y in zip(a[name], b[name], strict=True))
        for tf in (TIMEFRAME_M1, TIMEFRAME_M5, TIMEFRAME_H1):
            assert np.array_equal(
                some(one.rates_from_pos(name, tf, 0, 500)),
                some(many.rates_from_pos(name, tf, 0, 500)),
            )
        assert one.last_tick(name) == many.last_tick(name)


def test_interventions_at_the_same_times_give_the_same_ticks_however_chunked() -> None:
    start = MONDAY + 7 * HOUR + 11.0
    results = []
    for step in (0.7, 97.0, 1800.0):
        market = Market(pick("EURUSD", "XAUUSD"), start, small(), seed=8)
        out: list[tuple[np.ndarray, ...]] = []

        def run_to(t: float, market: Market = market, step: float = step,
                   out: list[tuple[np.ndarray, ...]] = out) -> None:
            targets = [*np.arange(market.now + step, t, step).tolist(), t]
            out.append(collect(market, targets).get("EURUSD", ()))

        run_to(start + 1000.5)
        market.set_regime("EURUSD", MarketRegime.SPIKE, until=start + 2 * HOUR)
        run_to(start + 2500.25)
        market.script_path("EURUSD", [(start + 3600, 1.09), (start + 4000, 1.08)], noise=1e-4)
        run_to(start + 3700.0)
        market.set_mid("EURUSD", 1.07)
        run_to(start + 5 * HOUR)
        results.append(out)
    for other in results[1:]:
        for a, b in zip(results[0], other, strict=True):
            assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_advance_returns_each_tick_once_in_order_and_never_goes_back() -> None:
    market = Market(pick("EURUSD", "GBPUSD"), MONDAY + HOUR, small())
    seen: dict[str, list[int]] = {"EURUSD": [], "GBPUSD": []}
    t = market.now
    for _ in range(400):
        t += 13.7
        blocks = market.advance_to(t)
        assert len({b.symbol for b in blocks}) == len(blocks)
        for b in blocks:
            assert b.time_msc.shape == b.bid.shape == b.ask.shape
            assert b.time_msc.shape[0] > 0
            assert int(b.time_msc[-1]) <= round(t * 1000)
            seen[b.symbol].extend(b.time_msc.tolist())
    assert market.now == t
    assert market.advance_to(t - 100.0) == []
    assert market.advance_to(t) == []
    assert market.now == t
    for name, times in seen.items():
        assert times == sorted(times)
        assert len(times) == pytest.approx(SYMS[name].ticks_per_minute * 400 * 13.7 / 60, rel=0.1)


def test_tick_blocks_are_frozen_and_read_only() -> None:
    market = Market(pick("EURUSD"), MONDAY + HOUR, small())
    (block,) = market.advance_to(MONDAY + HOUR + 60)
    assert block == TickBlock("EURUSD", block.time_msc, block.bid, block.ask)
    assert block.time_msc.dtype == np.int64
    assert block.bid.dtype == block.ask.dtype == np.float64
    with pytest.raises(dataclasses.FrozenInstanceError):
        block.symbol = "GBPUSD"  # type: ignore[misc]
    with pytest.raises(ValueError):
        block.bid[0] = 0.0


def test_tick_rate_prices_and_spreads_follow_the_symbol() -> None:
    market = Market(pick("EURUSD", "XAUUSD"), MONDAY + HOUR, small())
    ticks = collect(market, [MONDAY + 7 * HOUR])
    for name in ("EURUSD", "XAUUSD"):
        sym = SYMS[name]
        t, bid, ask = ticks[name]
        per_minute = t.shape[0] / (6 * 60)
        assert per_minute == pytest.approx(sym.ticks_per_minute, rel=0.1)
        assert np.array_equal(np.round(bid, sym.digits), bid)
        assert np.array_equal(np.round(ask, sym.digits), ask)
        spread = np.rint((ask - bid) / sym.point)
        assert spread.min() >= 1
        assert np.median(spread) == pytest.approx(sym.spread, rel=0.25)
        assert abs(np.log(bid[-1] / sym.start_price)) < 10 * sym.daily_vol


def test_fixed_spread_symbol_keeps_its_spread() -> None:
    fixed = dataclasses.replace(EURUSD, name="EURFIX", spread=7, spread_float=False)
    market = Market({"EURFIX": fixed}, MONDAY + HOUR, small())
    _, bid, ask = collect(market, [MONDAY + 2 * HOUR])["EURFIX"]
    assert np.all(np.rint((ask - bid) / fixed.point) == 7)


def test_last_tick_is_the_newest_emitted_tick() -> None:
    market = Market(pick("EURUSD"), MONDAY + HOUR, small())
    assert market.last_tick("EURUSD") is not None
    assert market.last_tick("NOPE") is None
    t, bid, ask = collect(market, [MONDAY + HOUR + 125.5])["EURUSD"]
    assert market.last_tick("EURUSD") == (int(t[-1]), float(bid[-1]), float(ask[-1]))


def test_ticks_range_is_inclusive_and_matches_emitted_ticks() -> None:
    market = Market(pick("EURUSD"), MONDAY + HOUR, small())
    t, bid, ask = collect(market, [MONDAY + 3.5 * HOUR])["EURUSD"]
    lo, hi = int(t[100]), int(t[5000])
    got = market.ticks_range("EURUSD", lo / 1000, hi / 1000)
    assert got is not None
    assert np.array_equal(got["time_msc"], t[100:5001])
    assert np.array_equal(got["bid"], bid[100:5001])
    assert np.array_equal(got["ask"], ask[100:5001])
    assert np.array_equal(got["time"], t[100:5001] // 1000)
    assert np.all(got["flags"][1:] == np.where(np.diff(bid[100:5001]) != 0, 2, 0)
                  | np.where(np.diff(ask[100:5001]) != 0, 4, 0))
    future = market.ticks_range("EURUSD", MONDAY + 3.5 * HOUR + 0.001, MONDAY + 9 * HOUR)
    assert future is not None and len(future) == 0


def test_market_refuses_bad_construction() -> None:
    with pytest.raises(ValueError, match=r"EURUSD\.m"):
        Market({"EURUSD.m": EURUSD}, MONDAY, small())
    with pytest.raises(ValueError, match="finite"):
        Market(pick("EURUSD"), float("nan"), small())
    with pytest.raises(ValueError, match="seed"):
        Market(pick("EURUSD"), MONDAY, small(), seed=-1)
    market = Market(pick("EURUSD"), MONDAY, small())
    with pytest.raises(ValueError):
        market.advance_to(float("inf"))
    with pytest.raises(ValueError):
        market.advance_to(float("nan"))
    assert market.now == MONDAY


def test_a_market_started_on_a_weekend_waits_for_the_open() -> None:
    saturday = FRIDAY + DAY + 10 * HOUR + 12.5
    market = Market(pick("EURUSD"), saturday, MarketSettings(history_days=3))
    tick = market.last_tick("EURUSD")
    assert tick is not None and tick[0] < (FRIDAY + 21 * HOUR) * 1000
    assert market.advance_to(FRIDAY + 2 * DAY + 21 * HOUR - 0.001) == []
    (block,) = market.advance_to(FRIDAY + 2 * DAY + 21 * HOUR + 60)
    assert block.time_msc[0] >= (FRIDAY + 2 * DAY + 21 * HOUR) * 1000
    gap = abs(np.log(block.bid[0] / tick[1]))
    assert 0 < gap < 5 * EURUSD.daily_vol


def test_a_market_without_history_starts_mid_minute() -> None:
    start = MONDAY + 9 * HOUR + 30.25
    market = Market(pick("EURUSD"), start, MarketSettings(history_days=0))
    assert len(some(market.rates_from_pos("EURUSD", TIMEFRAME_M1, 0, 10))) <= 1
    market.advance_to(start + 10 * 60)
    m1 = some(market.rates_from_pos("EURUSD", TIMEFRAME_M1, 0, 100))
    assert len(m1) == 11 and m1["time"][0] == MONDAY + 9 * HOUR
    first = some(market.ticks_range("EURUSD", MONDAY, start + 60))
    assert first["time_msc"][0] >= (MONDAY + 9 * HOUR) * 1000


def test_unknown_symbol() -> None:
    market = Market(pick("EURUSD"), MONDAY, small())
    assert market.rates_from_pos("XXX", TIMEFRAME_M5, 0, 10) is None
    assert market.rates_from("XXX", TIMEFRAME_M5, MONDAY, 10) is None
    assert market.rates_range("XXX", TIMEFRAME_M5, MONDAY - DAY, MONDAY) is None
    assert market.ticks_range("XXX", MONDAY - DAY, MONDAY) is None
    with pytest.raises(KeyError, match="XXX"):
        market.set_regime("XXX", MarketRegime.RANGE)
    with pytest.raises(KeyError, match="XXX"):
        market.is_open("XXX", MONDAY)


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


# -- scenario control -------------------------------------------------------------------------


def test_script_path_puts_the_waypoints_on_the_bars_then_resumes() -> None:
    start = MONDAY + 8 * HOUR
    market = Market(pick("EURUSD", "GBPUSD"), start, small())
    market.advance_to(start + 37.5)
    t0, mid0 = market.now, mid_of(market, "EURUSD")
    other_before = collect(Market(pick("GBPUSD"), start, small()), [start + 4 * HOUR])
    waypoints = [
        (t0 + 900, mid0 * 1.002), (t0 + 1800, mid0 * 0.999), (t0 + 3000, mid0 * 1.004),
        (t0 + 2.5 * HOUR, mid0 * 1.001),
    ]
    market.script_path("EURUSD", waypoints)
    ticks = collect(market, [start + 4 * HOUR])
    m1 = market.rates_range("EURUSD", TIMEFRAME_M1, t0, market.now)
    assert m1 is not None
    spread = EURUSD.spread * EURUSD.point * 2
    t, bid, ask = ticks["EURUSD"]
    for when, mid in waypoints:
        at = int(np.searchsorted(t, round(when * 1000)))
        assert t[at] == round(when * 1000)  # a tick sits exactly on the waypoint
        assert (bid[at] + ask[at]) / 2 == pytest.approx(mid, abs=EURUSD.point)
        bar = m1[m1["time"] == when // 60 * 60][0]
        assert bar["low"] - spread <= mid <= bar["high"] + spread
    scripted = t <= round(waypoints[-1][0] * 1000)
    line = np.interp(t[scripted] / 1000, [t0] + [w[0] for w in waypoints],
                     [mid0] + [w[1] for w in waypoints])
    assert np.abs((bid + ask)[scripted] / 2 - line).max() <= EURUSD.point
    after = (bid + ask)[~scripted] / 2
    assert abs(after[0] - waypoints[-1][1]) < 5 * EURUSD.point
    assert np.ptp(after) > 5 * EURUSD.point  # the process moves again
    ref_t, ref_bid, ref_ask = other_before["GBPUSD"]
    later = ref_t > round(t0 * 1000)
    gbp = ticks["GBPUSD"]
    assert all(np.array_equal(x, y[later]) for x, y in zip(gbp, (ref_t, ref_bid, ref_ask),
                                                            strict=True))


def test_script_path_builds_an_m15_break_of_structure() -> None:
    start = MONDAY + 6 * HOUR
    market = Market(pick("EURUSD"), start, small())
    market.advance_to(start + 1)
    mid = mid_of(market, "EURUSD")
    t0 = market.now
    # drift sideways for 11 bars, then break 0.1 % above the range
    path = [(start + 15 * 60 * k, mid * (1 + 0.0002 * (-1) ** k)) for k in range(1, 12)]
    path.append((start + 15 * 60 * 11 + 14 * 60, mid * 1.0012))
    market.script_path("EURUSD", path)
    market.advance_to(start + 12 * 15 * 60 + 1)
    m15 = market.rates_from_pos("EURUSD", TIMEFRAME_M15, 0, 13)
    assert m15 is not None
    m15 = m15[m15["time"] + 900 <= market.now][-11:]  # closed bars only
    assert len(m15) == 11 and m15["time"][0] >= t0 - 900
    last, before = m15[-1], m15[:-1]
    assert last["close"] > before["high"].max() * 1.0003


def test_an_intervention_after_a_finished_script_continues_from_the_price_now() -> None:
    start = MONDAY + 6 * HOUR
    market = Market(pick("EURUSD"), start, small(trend_drift=100.0))
    mid = mid_of(market, "EURUSD")
    market.script_path("EURUSD", [(start + 300, mid * 1.003)])
    market.advance_to(start + 301)
    market.set_regime("EURUSD", MarketRegime.TREND_DOWN)
    market.advance_to(start + 1500)  # same slice, well after the script ended
    before = mid_of(market, "EURUSD")
    assert before < mid * 1.003 * 0.997
    market.set_regime("EURUSD", MarketRegime.RANGE)
    market.advance_to(start + 1510)
    assert mid_of(market, "EURUSD") == pytest.approx(before, rel=3e-4)


def test_script_noise_is_relative_to_price() -> None:
    start = MONDAY + 6 * HOUR
    market = Market(pick("EURUSD"), start, small())
    mid = mid_of(market, "EURUSD")
    market.script_path("EURUSD", [(start + HOUR, mid)], noise=0.0005)
    _, bid, ask = collect(market, [start + HOUR - 1])["EURUSD"]
    dev = (bid + ask) / 2 / mid - 1
    assert np.std(dev) == pytest.approx(0.0005, rel=0.15)


def test_script_path_rejects_bad_waypoints() -> None:
    market = Market(pick("EURUSD"), MONDAY + HOUR, small())
    now = market.now
    with pytest.raises(ValueError, match="after now"):
        market.script_path("EURUSD", [(now - 5, 1.1)])
    with pytest.raises(ValueError, match="increase"):
        market.script_path("EURUSD", [(now + 60, 1.1), (now + 30, 1.1)])
    with pytest.raises(ValueError, match="positive"):
        market.script_path("EURUSD", [(now + 60, -1.0)])
    with pytest.raises(ValueError, match="at least one"):
        market.script_path("EURUSD", [])


def test_set_mid_gaps_on_the_next_tick() -> None:
    market = Market(pick("EURUSD"), MONDAY + HOUR, small())
    market.advance_to(MONDAY + HOUR + 10)
    market.set_mid("EURUSD", 1.2000)
    (block,) = market.advance_to(market.now + 0.001)
    assert (block.bid[0] + block.ask[0]) / 2 == pytest.approx(1.2, abs=EURUSD.point)
    _, bid, _ = collect(market, [market.now + HOUR])["EURUSD"]
    assert abs(bid[-1] / 1.2 - 1) < 0.01
    with pytest.raises(ValueError):
        market.set_mid("EURUSD", 0.0)


def test_interventions_do_not_rewrite_emitted_ticks() -> None:
    start = MONDAY + 2 * HOUR
    plain = Market(pick("EURUSD"), start, small(), seed=11)
    poked = Market(pick("EURUSD"), start, small(), seed=11)
    a = collect(plain, [start + 1234.5])["EURUSD"]
    b = collect(poked, [start + 1234.5])["EURUSD"]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    poked.set_regime("EURUSD", MarketRegime.SPIKE)
    poked.set_mid("EURUSD", 1.1)
    assert plain.last_tick("EURUSD") == poked.last_tick("EURUSD")
    assert np.array_equal(
        some(plain.rates_from_pos("EURUSD", TIMEFRAME_M1, 0, 100)),
        some(poked.rates_from_pos("EURUSD", TIMEFRAME_M1, 0, 100)),
    )


def atr_ratio(rates: np.ndarray) -> float:
    h, lo, c = rates["high"], rates["low"], rates["close"]
    tr = np.maximum(h[1:] - lo[1:], np.maximum(abs(h[1:] - c[:-1]), abs(lo[1:] - c[:-1])))
    return float(np.mean(tr) / np.mean(c))


def bb_width(rates: np.ndarray) -> np.ndarray:
    window = np.lib.stride_tricks.sliding_window_view(rates["close"], 20)
    return np.asarray(4 * window.std(axis=1) / window.mean(axis=1))


def regime_run(regime: MarketRegime, days: float = 2.0) -> np.ndarray:
    market = Market(pick("EURUSD"), MONDAY, MarketSettings(history_days=0), seed=5)
    if regime is not MarketRegime.AUTO:
        market.set_regime("EURUSD", regime)
        assert market.regime("EURUSD") is regime
    for k in range(1, int(days * 4) + 1):
        market.advance_to(MONDAY + k * DAY / 4)
    rates = market.rates_range("EURUSD", TIMEFRAME_M15, MONDAY, market.now)
    assert rates is not None
    return rates


def test_regimes_look_different_on_m15() -> None:
    up, down = regime_run(MarketRegime.TREND_UP), regime_run(MarketRegime.TREND_DOWN)
    ranging, spike = regime_run(MarketRegime.RANGE), regime_run(MarketRegime.SPIKE)
    assert up["close"][-1] > up["open"][0] * 1.01
    assert down["close"][-1] < down["open"][0] * 0.99
    assert abs(ranging["close"][-1] / ranging["open"][0] - 1) < 0.004
    assert atr_ratio(spike) > 2 * atr_ratio(up) > 2 * 0.6 * atr_ratio(ranging)
    assert atr_ratio(ranging) < 0.8 * atr_ratio(up)
    assert np.median(bb_width(ranging)) < 0.004 < np.median(bb_width(spike))
    assert np.median(bb_width(up)) > 2 * np.median(bb_width(ranging))
    for rates in (up, down, ranging, spike):
        assert np.all(np.diff(rates["time"]) == 900)


def test_auto_regimes_are_calibrated_to_daily_vol() -> None:
    rates = regime_run(MarketRegime.AUTO, days=5)
    expected = EURUSD.daily_vol * np.sqrt(15 / 1440)
    assert 1.0 < atr_ratio(rates) / expected < 2.5
    width = bb_width(rates)
    assert 0.1 < (width < 0.004).mean() < 0.9  # crosses the RANGE/TREND line both ways


def test_forced_regime_until_then_back_to_switching() -> None:
    market = Market(pick("EURUSD"), MONDAY + HOUR, small())
    market.set_regime("EURUSD", MarketRegime.SPIKE, until=MONDAY + 2 * HOUR)
    market.advance_to(MONDAY + 2 * HOUR - 30)
    assert market.regime("EURUSD") is MarketRegime.SPIKE
    market.advance_to(MONDAY + 2 * HOUR + 61)
    assert market.regime("EURUSD") is not MarketRegime.SPIKE
    market.set_regime("EURUSD", MarketRegime.RANGE)
    market.advance_to(MONDAY + 30 * HOUR)
    assert market.regime("EURUSD") is MarketRegime.RANGE
    market.set_regime("EURUSD", MarketRegime.AUTO)
    seen = set()
    for k in range(1, 49):
        market.advance_to(MONDAY + 30 * HOUR + k * HOUR)
        seen.add(market.regime("EURUSD"))
    assert len(seen) >= 2


# -- memory -----------------------------------------------------------------------------------


def test_memory_stays_bounded_over_a_long_run() -> None:
    cfg = MarketSettings(history_days=2, max_bars=4000, tick_buffer=2000)
    market = Market(pick("EURUSD", "BTCUSD"), MONDAY, cfg)
    sizes = []
    for day in range(1, 36):
        market.advance_to(MONDAY + day * DAY)
        sizes.append(market.nbytes)
    m1 = market.rates_from_pos("BTCUSD", TIMEFRAME_M1, 0, 10**6)
    assert m1 is not None and 3000 <= len(m1) <= 4000
    assert np.all(np.diff(m1["time"]) == 60)
    ticks = market.ticks_range("BTCUSD", MONDAY, market.now)
    assert ticks is not None and 2000 <= len(ticks) <= 2000 + 90 * 60 * 2
    assert max(sizes[10:]) < 1.2 * max(sizes[:10])
    assert max(sizes) < 8 * 2**20
    h4 = market.rates_from_pos("BTCUSD", TIMEFRAME_H4, 0, 100)
    assert h4 is not None and np.all(h4["tick_volume"][:-1] > 200 * 90)  # whole bars only


def test_bar_store_keeps_whole_days_up_to_its_cap() -> None:
    from dtms.broker.sim.bars import BarCols, BarStore

    store = BarStore(max_bars=6000)
    rng = np.random.default_rng(1)
    t = int(MONDAY) // 60 * 60
    appended = []
    for _ in range(400):
        k = int(rng.integers(1, 200))
        times = t + 60 * np.cumsum(rng.integers(1, 3, k)).astype(np.int64)
        t = int(times[-1])
        price = rng.random(k) + 1.0
        store.append(BarCols(times, price, price, price, price, np.ones(k, dtype=np.int64),
                             np.ones(k, dtype=np.int32)))
        appended.append(times)
        view = store.view()
        assert len(view) <= 6000
        assert np.all(np.diff(view.time) > 0)
    everything = np.concatenate(appended)
    view = store.view()
    assert np.array_equal(view.time, everything[-len(view):])
    assert len(view) >= 6000 - 1440
    dropped_last = everything[-len(view) - 1]
    assert dropped_last // 86_400 < view.time[0] // 86_400  # the oldest kept day is whole
    assert store.nbytes <= 52 * (6000 + 1440) + 64
