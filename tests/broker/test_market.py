"""Behaviour of the simulated market: layouts, start-up history, determinism."""

from __future__ import annotations

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
from dtms.core.params import bounds_of, doc_of

from .market_kit import (
    DAY,
    EURUSD,
    FRIDAY,
    HOUR,
    MONDAY,
    SYMS,
    collect,
    pick,
    small,
    some,
)

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


