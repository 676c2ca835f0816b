"""Behaviour of the simulated market: scripted paths, regimes and bounded memory."""

from __future__ import annotations

import numpy as np
import pytest

from dtms.broker.rates import (
    TIMEFRAME_H4,
    TIMEFRAME_M1,
    TIMEFRAME_M15,
)
from dtms.broker.sim.market import Market, MarketRegime, MarketSettings

from .market_kit import (
    DAY,
    EURUSD,
    HOUR,
    MONDAY,
    collect,
    mid_of,
    pick,
    small,
    some,
)

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

