"""Indicators: TA-Lib agreement on recorded data, session VWAP, volume, structure, robustness."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import talib

import dtms.core
from dtms.core import indicators, structure, ta, vwap
from dtms.core.indicators import IndicatorParams, compute
from dtms.core.types import Bars, Side

RTOL = 1e-9
P = IndicatorParams()


def assert_same(ours: np.ndarray, ref: np.ndarray) -> None:
    """Same NaN lead-in, same values to 1e-9 relative."""
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    ok = ~np.isnan(ref)
    np.testing.assert_allclose(ours[ok], ref[ok], rtol=RTOL, atol=0)


def bars_of(rows: list[tuple[float, ...]], start: int = 1_709_510_400, step: int = 300) -> Bars:
    """Bars from (open, high, low, close, volume) rows, evenly spaced from ``start``."""
    a = np.array(rows, dtype=np.float64).reshape(-1, 5)
    t = start + step * np.arange(len(a), dtype=np.int64)
    return Bars(t, a[:, 0].copy(), a[:, 1].copy(), a[:, 2].copy(), a[:, 3].copy(), a[:, 4].copy())


def flat_bars(n: int, price: float = 1.1, step: int = 900, volume: float = 100.0) -> Bars:
    rows = [(price, price + 0.0005, price - 0.0005, price, volume)] * n
    return bars_of(rows, step=step)


# --- TA-Lib agreement -----------------------------------------------------------------------

WINDOWS = [
    pytest.param(slice(None), id="full"),
    pytest.param(slice(-300, None), id="last300"),
    pytest.param(slice(100, 140), id="short40"),
    pytest.param(slice(0, 15), id="just-enough-for-atr"),
    pytest.param(slice(0, 14), id="too-short-for-atr"),
    pytest.param(slice(0, 0), id="empty"),
]


@pytest.mark.parametrize("window", WINDOWS)
@pytest.mark.parametrize("timeframe", ["m5", "m15"])
def test_recursive_indicators_equal_talib(recorded, timeframe, window):
    bars = getattr(recorded, timeframe)
    h, lo, c = bars.high[window], bars.low[window], bars.close[window]
    assert_same(ta.atr(h, lo, c, 14), talib.ATR(h, lo, c, timeperiod=14))
    assert_same(ta.rsi(c, 14), talib.RSI(c, timeperiod=14))
    assert_same(ta.ema(c, 50), talib.EMA(c, timeperiod=50))
    assert_same(ta.ema(c, 200), talib.EMA(c, timeperiod=200))
    for ours, ref in zip(ta.macd(c, 12, 26, 9), talib.MACD(c, 12, 26, 9), strict=True):
        assert_same(ours, ref)


@pytest.mark.parametrize("lead", [1, 5, 40])
def test_nan_lead_in_is_skipped_as_talib_does(recorded, lead):
    c = recorded.m15.close[:400].copy()
    h, lo = recorded.m15.high[:400].copy(), recorded.m15.low[:400].copy()
    c[:lead] = np.nan
    h[: lead + 2] = np.nan  # ATR starts where all three inputs are numbers
    assert_same(ta.atr(h, lo, c, 14), talib.ATR(h, lo, c, timeperiod=14))
    assert_same(ta.rsi(c, 14), talib.RSI(c, timeperiod=14))
    assert_same(ta.ema(c, 50), talib.EMA(c, timeperiod=50))
    for ours, ref in zip(ta.macd(c, 12, 26, 9), talib.MACD(c, 12, 26, 9), strict=True):
        assert_same(ours, ref)


@pytest.mark.parametrize(
    ("name", "first_value_at"),
    [("atr", 14), ("rsi", 14), ("macd", 33), ("ema50", 49), ("ema200", 199)],
)
def test_lookbacks_give_the_minimum_bar_counts_of_the_spec(recorded, name, first_value_at):
    c, h, lo = recorded.m15.close, recorded.m15.high, recorded.m15.low
    series = {
        "atr": lambda: ta.atr(h, lo, c, 14),
        "rsi": lambda: ta.rsi(c, 14),
        "macd": lambda: ta.macd(c, 12, 26, 9)[2],
        "ema50": lambda: ta.ema(c, 50),
        "ema200": lambda: ta.ema(c, 200),
    }[name]()
    assert int(np.flatnonzero(~np.isnan(series))[0]) == first_value_at


def test_rsi_of_a_flat_series_is_zero_as_in_talib():
    c = np.full(40, 1.1)
    assert_same(ta.rsi(c, 14), talib.RSI(c, timeperiod=14))


def test_compute_scalars_equal_talib_on_the_window(recorded):
    m5, m15 = recorded.m5.tail(600), recorded.m15.tail(300)
    ind = compute(m5, m15, IndicatorParams(broker_utc_offset_hours=2.0))
    h, lo, c = m15.high, m15.low, m15.close
    atr15 = talib.ATR(h, lo, c, 14)
    assert ind.atr_m15 == pytest.approx(atr15[-1], rel=RTOL)
    assert ind.atr_m15_mean == pytest.approx(atr15[-100:].mean(), rel=RTOL)
    assert ind.atr_m5 == pytest.approx(talib.ATR(m5.high, m5.low, m5.close, 14)[-1], rel=RTOL)
    np.testing.assert_allclose(ind.rsi, talib.RSI(c, 14)[-3:], rtol=RTOL)
    np.testing.assert_allclose(ind.macd_hist, talib.MACD(c, 12, 26, 9)[2][-4:], rtol=RTOL)
    for period, slope in ((50, ind.ema_fast_slope), (200, ind.ema_slow_slope)):
        e = talib.EMA(c, period)
        assert slope == pytest.approx((e[-1] - e[-10]) / e[-10], rel=1e-6)
    upper, middle, lower = talib.BBANDS(c, 20, 2.0, 2.0)
    assert ind.bb_width == pytest.approx((upper[-1] - lower[-1]) / middle[-1], rel=1e-7)
    assert ind.m5_time == int(m5.time[-1])
    assert ind.m15_time == int(m15.time[-1])
    assert ind.last_price == m5.close[-1]
    assert (ind.m5_open, ind.m5_high, ind.m5_low, ind.m5_close) == (
        m5.open[-1],
        m5.high[-1],
        m5.low[-1],
        m5.close[-1],
    )


# --- session VWAP ---------------------------------------------------------------------------


def naive_vwap(bars: Bars, anchor: int, offset: float) -> np.ndarray:
    """Per bar, straight from the definition: sums over the bars of its session so far."""
    out = []
    for i in range(len(bars)):
        utc = bars.time[: i + 1] - offset * 3600 - anchor * 3600
        same = (utc // 86400) == (utc[-1] // 86400)
        tp = ((bars.high + bars.low + bars.close) / 3)[: i + 1][same]
        v = bars.volume[: i + 1][same]
        out.append((tp * v).sum() / v.sum() if v.sum() > 0 else tp.mean())
    return np.array(out)


@pytest.mark.parametrize(("anchor", "offset"), [(0, 0.0), (0, 2.0), (8, -5.0), (22, 5.5)])
def test_session_vwap_matches_the_definition(recorded, anchor, offset):
    bars = recorded.m5.tail(700)
    np.testing.assert_allclose(
        vwap.session_vwap(bars, anchor, offset), naive_vwap(bars, anchor, offset), rtol=1e-12
    )


@pytest.mark.parametrize(
    ("offset", "anchor", "reset_broker_hhmm"),
    [
        (0.0, 0, "00:00"),
        (2.0, 0, "02:00"),
        (-5.0, 0, "19:00"),
        (2.0, 8, "10:00"),
        (5.5, 0, "05:30"),
    ],
)
def test_session_resets_at_the_anchor_in_broker_time(offset, anchor, reset_broker_hhmm):
    hh, mm = (int(x) for x in reset_broker_hhmm.split(":"))
    reset = 1_709_856_000 + hh * 3600 + mm * 60  # a Friday 00:00 plus the broker clock time
    rows = [(1.0, 1.0, 1.0, 1.0, 100.0), (1.2, 1.2, 1.2, 1.2, 100.0)]
    rows += [(2.0, 2.0, 2.0, 2.0, 50.0), (3.0, 3.0, 3.0, 3.0, 50.0)]
    bars = bars_of(rows, start=reset - 600)
    got = vwap.session_vwap(bars, anchor, offset)
    assert got[1] == pytest.approx(1.1)  # the old session, before the reset
    assert got[2] == 2.0  # the first bar of the new session alone
    assert got[3] == pytest.approx(2.5)


def test_zero_volume_session_is_the_mean_typical_price():
    bars = bars_of(
        [(1.0, 1.3, 0.9, 1.1, 0.0), (1.1, 1.4, 1.0, 1.3, 0.0), (1.3, 1.3, 1.2, 1.2, 0.0)]
    )
    typical = (bars.high + bars.low + bars.close) / 3
    np.testing.assert_allclose(
        vwap.session_vwap(bars, 0, 0.0), np.cumsum(typical) / [1, 2, 3], rtol=1e-15
    )


def test_zero_and_nan_volume_bars_do_not_weigh_once_the_session_has_volume():
    bars = bars_of(
        [(1.0, 1.0, 1.0, 1.0, 0.0), (2.0, 2.0, 2.0, 2.0, 10.0), (9.0, 9.0, 9.0, 9.0, np.nan)]
    )
    assert vwap.session_vwap(bars, 0, 0.0).tolist() == [1.0, 2.0, 2.0]


def test_vwap_slope_is_over_k_bars_of_the_vwap_series(recorded):
    m5, m15 = recorded.m5.tail(600), recorded.m15.tail(300)
    for k in (1, 3, 6):
        params = IndicatorParams(vwap_slope_bars=k, broker_utc_offset_hours=2.0)
        ind = compute(m5, m15, params)
        series = vwap.session_vwap(m5, 0, 2.0)
        assert ind.vwap == series[-1]
        assert ind.vwap_slope == pytest.approx((series[-1] - series[-1 - k]) / series[-1 - k])


def _rows(bars: Bars, start: int, end: int) -> Bars:
    s = slice(start, end)
    return Bars(bars.time[s], bars.open[s], bars.high[s], bars.low[s], bars.close[s],
                bars.volume[s])


@pytest.mark.parametrize("k", [1, 3, 6])
def test_vwap_slope_stays_within_the_session(recorded, k):
    """Until a session has k + 1 closed bars its slope is unavailable; from then on it
    compares two VWAPs of the same session, never one of the session before the reset."""
    params = IndicatorParams(vwap_slope_bars=k, broker_utc_offset_hours=2.0)
    m5, m15 = recorded.m5, recorded.m15.tail(300)
    ids = vwap.session_ids(m5.time, 0, 2.0)
    reset = int(np.flatnonzero(np.diff(ids))[3]) + 1  # first bar of the 5th session
    for held in range(1, k + 3):  # the session's first `held` bars have closed
        end = reset + held
        ind = compute(_rows(m5, max(end - 600, 0), end), m15, params)
        if held <= k:
            assert math.isnan(ind.vwap_slope), held
            assert ind.available.vwap_volume  # the volume half of the layer still counts
        else:
            own = vwap.session_vwap(_rows(m5, reset, end), 0, 2.0)
            assert ind.vwap_slope == pytest.approx((own[-1] - own[-1 - k]) / own[-1 - k])
        assert ind.vwap == pytest.approx(vwap.session_vwap(_rows(m5, reset, end), 0, 2.0)[-1])


# --- signed volume and delta ----------------------------------------------------------------


def test_signed_volume_counts_up_down_and_half_of_flat_bars():
    o = np.array([1.0, 1.0, 1.0, 1.0])
    c = np.array([1.1, 0.9, 1.0, 1.2])
    v = np.array([10.0, 20.0, 30.0, np.nan])
    buy, sell = vwap.signed_volume(o, c, v)
    assert buy.tolist() == [10.0, 0.0, 15.0, 0.0]
    assert sell.tolist() == [0.0, 20.0, 15.0, 0.0]


def test_buy_and_sell_volume_cover_the_last_twelve_bars():
    rows = [(1.0, 1.2, 0.9, 1.1, 1000.0)] * 10  # old buying, outside the window
    rows += [(1.0, 1.1, 0.8, 0.9, 3.0)] * 9 + [(1.0, 1.2, 0.9, 1.1, 2.0)] * 3
    ind = compute(bars_of(rows), flat_bars(50), P)
    assert (ind.buy_volume, ind.sell_volume) == (6.0, 27.0)


def test_delta_zscore_is_against_all_rolling_sums():
    rng = np.random.default_rng(7)
    net = rng.normal(0, 50, 600)
    sums = np.convolve(net, np.ones(12), mode="valid")
    expected = (sums[-1] - sums.mean()) / sums.std()
    assert vwap.delta_zscore(net, 12, 12) == pytest.approx(expected, rel=1e-9)
    assert vwap.delta_zscore(np.zeros(100), 12, 12) == 0.0
    assert math.isnan(vwap.delta_zscore(net[:20], 12, 12))  # 9 sums only


# --- structure ------------------------------------------------------------------------------


def swing_of(closes_before: list[float], last: tuple[float, float, float], **kw: float):
    """Bars with a 0.0004 range around each close before, then the bar under test."""
    h = [c + 0.0002 for c in closes_before] + [last[0]]
    lo = [c - 0.0002 for c in closes_before] + [last[1]]
    c = [*closes_before, last[2]]
    args = {"bos_lookback": 10, "choch_lookback": 15, "bos_buffer": 0.0003, "choch_buffer": 0.0025}
    args.update(kw)
    return structure.swing(np.array(h), np.array(lo), np.array(c), **args)


def test_breakout_up_is_a_bos_although_the_bar_under_test_made_the_high():
    sw = swing_of([1.1000] * 15, (1.1020, 1.1000, 1.1018))
    assert sw.bos_high == pytest.approx(1.1002)
    assert sw.bos_up and not sw.bos_down
    assert sw.for_side(Side.BUY).bos_in_favour and sw.for_side(Side.SELL).bos_against


def test_breakdown_is_a_bos_for_sell_and_against_buy():
    sw = swing_of([1.1000] * 15, (1.1000, 1.0980, 1.0982))
    assert sw.bos_down and not sw.bos_up
    assert sw.for_side(Side.SELL).bos_in_favour and sw.for_side(Side.BUY).bos_against


@pytest.mark.parametrize(
    ("close", "expected"),
    [(1.1002 * 1.0003, False), (1.1002 * 1.0003 + 1e-9, True), (1.1002, False)],
)
def test_bos_needs_the_buffer_strictly(close, expected):
    sw = swing_of([1.1000] * 15, (close + 0.001, 1.0990, close))
    assert sw.bos_up is expected


def test_choch_needs_the_fifteen_bar_extreme_and_its_larger_buffer():
    # An old low 13 bars back is inside the CHOCH window but outside the BOS window.
    before = [1.1000] * 2 + [1.0900] + [1.1000] * 12
    shallow = swing_of(before, (1.1000, 1.0960, 1.0965))
    assert shallow.bos_down and not shallow.choch_down
    deep = swing_of(before, (1.1000, 1.0860, 1.0868))
    assert deep.bos_down and deep.choch_down
    assert deep.for_side(Side.BUY).choch_against and not deep.for_side(Side.SELL).choch_against


def test_structure_needs_sixteen_bars():
    assert not swing_of([1.1] * 14, (1.2, 1.1, 1.2)).complete
    full = swing_of([1.1] * 15, (1.2, 1.1, 1.2))
    assert full.complete and full.bos_up
    assert swing_of([1.1] * 14, (1.2, 1.1, 1.2)).for_side(Side.BUY).bos_in_favour is False


# --- availability and robustness ------------------------------------------------------------


@pytest.mark.parametrize(
    ("m15_bars", "structure_ok", "momentum_ok", "ema_ok"),
    [
        (15, False, False, False),
        (16, True, False, False),
        (33, True, False, False),
        (34, True, True, False),
        (208, True, True, False),
        (209, True, True, True),
    ],
)
def test_layer_availability_follows_the_bar_counts(
    recorded, m15_bars, structure_ok, momentum_ok, ema_ok
):
    ind = compute(recorded.m5.tail(600), recorded.m15.tail(m15_bars), P)
    assert ind.available.structure is structure_ok
    assert ind.available.momentum is momentum_ok
    assert ind.available.ema_alignment is ema_ok


@pytest.mark.parametrize(("m5_bars", "atr_ok"), [(14, False), (15, True)])
def test_atr_needs_fifteen_bars(recorded, m5_bars, atr_ok):
    ind = compute(recorded.m5.tail(m5_bars), recorded.m15.tail(m5_bars), P)
    assert math.isfinite(ind.atr_m5) is atr_ok
    assert math.isfinite(ind.atr_m15) is atr_ok
    assert ind.available.candle_conviction is atr_ok


@pytest.mark.parametrize("n", [0, 1, 2, 5])
def test_tiny_windows_do_not_raise(n):
    ind = compute(flat_bars(n, step=300), flat_bars(n), P)
    assert ind.m5_count == n
    assert not any(
        getattr(ind.available, f)
        for f in ("structure", "momentum", "ema_alignment", "delta_pressure")
    )


def test_zero_volume_everywhere_is_harmless(recorded):
    m5 = recorded.m5.tail(600)
    silent = Bars(m5.time, m5.open, m5.high, m5.low, m5.close, np.zeros(600))
    ind = compute(silent, recorded.m15.tail(300), P)
    assert (ind.buy_volume, ind.sell_volume, ind.delta_z) == (0.0, 0.0, 0.0)
    assert math.isfinite(ind.vwap) and math.isfinite(ind.vwap_slope)


def test_a_nan_bar_is_dropped_rather_than_poisoning_the_window(recorded):
    m5, m15 = recorded.m5.tail(601), recorded.m15.tail(301)
    close = m15.close.copy()
    close[150] = np.nan
    volume = m5.volume.copy()
    volume[-5] = np.nan
    bad15 = Bars(m15.time, m15.open, m15.high, m15.low, close, m15.volume)
    bad5 = Bars(m5.time, m5.open, m5.high, m5.low, m5.close, volume)
    ind = compute(bad5, bad15, P)
    keep = np.arange(301) != 150
    clean15 = Bars(
        *(getattr(m15, f)[keep] for f in ("time", "open", "high", "low", "close", "volume"))
    )
    ref = compute(bad5, clean15, P)
    assert ind == ref
    assert all(math.isfinite(x) for x in (ind.atr_m15, ind.rsi[-1], ind.macd_hist[-1], ind.vwap))


def test_windows_longer_than_the_knobs_are_cut_to_them(recorded):
    long = compute(recorded.m5, recorded.m15, P)
    cut = compute(recorded.m5.tail(600), recorded.m15.tail(300), P)
    assert long == cut
    assert (long.m5_count, long.m15_count) == (600, 300)


@pytest.mark.parametrize(
    "kw", [{"macd_fast": 26, "macd_slow": 12}, {"ema_fast": 200, "ema_slow": 50}]
)
def test_params_reject_crossed_periods(kw):
    with pytest.raises(ValueError):
        IndicatorParams(**kw)


# --- purity ---------------------------------------------------------------------------------

ALLOWED = {"numpy", "math", "re", "functools", "itertools", "dataclasses", "typing", "__future__"}
MINE = ["indicators", "ta", "vwap", "structure", "regime", "symbols", "weights", "layers", "score"]


@pytest.mark.parametrize("module", MINE)
def test_core_module_imports_nothing_impure(module):
    path = Path(dtms.core.__file__).parent / f"{module}.py"
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        for name in names:
            top = name.split(".")[0]
            assert top in ALLOWED or name.startswith("dtms.core"), f"{module} imports {name}"


def test_indicator_functions_are_exposed_where_the_runtime_looks():
    for name in ("atr", "rsi", "macd", "ema", "session_vwap", "compute"):
        assert callable(getattr(indicators, name))
