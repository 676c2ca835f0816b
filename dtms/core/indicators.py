"""Per-symbol indicators: from the closed M5 and M15 windows to a handful of scalars.

Theory of operation: ``compute`` runs once per symbol per new closed bar, over the closed-bar
windows the runtime keeps (the forming bar is never passed in). It does all the array work
for that symbol (TA-Lib-exact ATR, RSI, MACD and EMAs from ``dtms.core.ta``, the session VWAP
and signed volume from ``dtms.core.vwap``, swing structure and Bollinger width) and keeps only
what per-trade scoring reads: last values, a few short tails, and the structure breaks in both
directions. ``SymbolIndicators`` is side-agnostic; ``dtms.core.score`` turns it into a score
for one trade with cheap scalar work, however many trades share the symbol.

Structure compares the last closed M15 close with the extremes of the bars *before* it. The
original system included the bar under test in its own window, so a close could never be
beyond its own high and structure always scored 0.

A bar whose prices are not all numbers is dropped before anything is computed: one bad bar
from the feed would otherwise turn every recursive indicator into NaN for the whole life of
the window. A NaN or zero tick volume keeps the bar and counts as no volume.

Rules for this module: pure (numpy and stdlib only), no I/O, no clock; every tunable number
is a knob of ``IndicatorParams``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dtms.core import structure as _structure
from dtms.core.params import knob
from dtms.core.structure import Swing
from dtms.core.ta import atr, ema, macd, rsi
from dtms.core.types import Bars, FloatArray, IntArray
from dtms.core.vwap import delta_zscore, session_ids, session_vwap, signed_volume, vwap_arrays

__all__ = [
    "Availability",
    "IndicatorParams",
    "SymbolIndicators",
    "atr",
    "compute",
    "ema",
    "macd",
    "rsi",
    "session_vwap",
]

_NAN = math.nan


@dataclass(frozen=True, slots=True)
class IndicatorParams:
    """Windows, periods and buffers of the per-symbol indicators (specification §1-§3)."""

    m5_bars: int = knob(600, "closed M5 bars kept per symbol", ge=50, le=10_000)
    m15_bars: int = knob(300, "closed M15 bars kept per symbol", ge=50, le=10_000)
    atr_period: int = knob(14, "ATR period (Wilder), on M15 and on M5", ge=2, le=500)
    rsi_period: int = knob(14, "RSI period (Wilder) on M15 closes", ge=2, le=500)
    macd_fast: int = knob(12, "MACD fast EMA period", ge=2, le=500)
    macd_slow: int = knob(26, "MACD slow EMA period", ge=2, le=500)
    macd_signal: int = knob(9, "MACD signal EMA period", ge=1, le=500)
    ema_fast: int = knob(50, "fast trend EMA period on M15 closes", ge=2, le=2_000)
    ema_slow: int = knob(200, "slow trend EMA period on M15 closes", ge=2, le=2_000)
    ema_slope_bars: int = knob(9, "bars over which the EMA slopes are measured", ge=1, le=500)
    macd_trend_bars: int = knob(3, "bars the MACD histogram must rise/fall in a row", ge=1, le=50)
    rsi_trend_bars: int = knob(2, "bars the RSI must rise/fall in a row", ge=1, le=50)
    vwap_slope_bars: int = knob(3, "M5 bars over which the VWAP slope is measured", ge=1, le=100)
    session_anchor_utc_hour: int = knob(0, "UTC hour at which the VWAP session starts", ge=0, le=23)
    broker_utc_offset_hours: float = knob(
        0.0, "broker-server time minus UTC, in hours (bar times are server time)", ge=-12, le=14
    )
    volume_window: int = knob(12, "closed M5 bars in the signed-volume window", ge=1, le=1_000)
    delta_min_sums: int = knob(
        12, "fewest rolling signed-volume sums a delta z-score is taken over", ge=2, le=10_000
    )
    bos_lookback: int = knob(10, "M15 bars before the tested bar that define a BOS", ge=1, le=500)
    bos_buffer: float = knob(0.0003, "relative distance beyond the extreme for a BOS", ge=0, lt=1)
    choch_lookback: int = knob(15, "M15 bars before the tested bar for a CHOCH", ge=1, le=500)
    choch_buffer: float = knob(
        0.0025, "relative distance beyond the extreme for a CHOCH", ge=0, lt=1
    )
    bb_period: int = knob(20, "Bollinger period on M15 closes (structure regime)", ge=2, le=500)
    bb_k: float = knob(2.0, "Bollinger width in population standard deviations", gt=0, le=10)
    vol_mean_bars: int = knob(
        100, "closed M15 bars whose mean ATR is the volatility yardstick", ge=1, le=5_000
    )

    def __post_init__(self) -> None:
        if self.macd_fast >= self.macd_slow:
            raise ValueError("macd_fast must be below macd_slow")
        if self.ema_fast >= self.ema_slow:
            raise ValueError("ema_fast must be below ema_slow")


@dataclass(frozen=True, slots=True)
class Availability:
    """Whether each score layer has the bars it needs (an unavailable layer scores 0)."""

    structure: bool = False
    vwap_volume: bool = False
    momentum: bool = False
    ema_alignment: bool = False
    delta_pressure: bool = False
    candle_conviction: bool = False


@dataclass(frozen=True, slots=True)
class SymbolIndicators:
    """What per-trade scoring needs of one symbol at one closed bar, side-agnostic.

    Times are bar open times in broker-server epoch seconds (0 when there is no bar). Prices
    are NaN where there were too few bars; ``available`` says which score layers are usable.
    Tails (``rsi``, ``macd_hist``) are oldest first.
    """

    m5_time: int
    m15_time: int
    m5_count: int
    """Valid closed M5 bars the values were computed from."""
    m15_count: int
    last_price: float
    """Close of the last closed M5 bar."""
    atr_m15: float
    atr_m15_mean: float
    """Mean ATR(M15) over the last ``vol_mean_bars`` bars; NaN until that many exist."""
    atr_m5: float
    rsi: tuple[float, ...]
    macd_hist: tuple[float, ...]
    ema_fast_slope: float
    """Relative change of EMA(fast) over ``ema_slope_bars`` M15 bars."""
    ema_slow_slope: float
    vwap: float
    vwap_slope: float
    """(VWAP[-1] - VWAP[-1-k]) / VWAP[-1-k] within the current session; NaN until the
    session has k + 1 closed M5 bars."""
    m5_open: float
    m5_high: float
    m5_low: float
    m5_close: float
    buy_volume: float
    """Buying tick volume over the last ``volume_window`` closed M5 bars."""
    sell_volume: float
    delta_z: float
    """Z-score of the last signed-volume sum (positive: buyers dominate)."""
    swing: Swing
    bb_width: float
    """Bollinger (upper - lower) / middle on M15 closes."""
    available: Availability


def _window(
    bars: Bars, keep: int
) -> tuple[IntArray, FloatArray, FloatArray, FloatArray, FloatArray, FloatArray]:
    """The newest ``keep`` bars whose prices are all numbers."""
    t, o, h, lo, c, v = bars.time, bars.open, bars.high, bars.low, bars.close, bars.volume
    ok = np.isfinite(o) & np.isfinite(h) & np.isfinite(lo) & np.isfinite(c)
    if not ok.all():
        t, o, h, lo, c, v = t[ok], o[ok], h[ok], lo[ok], c[ok], v[ok]
    s = slice(max(len(t) - keep, 0), None)
    return t[s], o[s], h[s], lo[s], c[s], v[s]


def _last(a: FloatArray) -> float:
    return float(a[-1]) if len(a) else _NAN


def _tail(a: FloatArray, n: int) -> tuple[float, ...]:
    """The last ``n`` values, NaN-padded in front when the series is shorter."""
    got = a[-n:].tolist() if len(a) else []
    return (_NAN,) * (n - len(got)) + tuple(got)


def _rel_change(a: FloatArray, k: int) -> float:
    """(a[-1] - a[-1-k]) / a[-1-k], NaN when it does not exist."""
    if len(a) <= k:
        return _NAN
    old, new = float(a[-1 - k]), float(a[-1])
    if not (math.isfinite(old) and math.isfinite(new)) or old == 0.0:
        return _NAN
    return (new - old) / old


def _bb_width(close: FloatArray, period: int, k: float) -> float:
    if len(close) < period:
        return _NAN
    w = close[-period:]
    middle = float(w.mean())
    if middle == 0.0:
        return _NAN
    return 2.0 * k * float(w.std()) / middle


def _atr_mean(atr_m15: FloatArray, bars: int) -> float:
    tail = atr_m15[-bars:]
    if len(tail) < bars or not np.isfinite(tail).all():
        return _NAN
    return float(tail.mean())


def _session_vwap(
    t: IntArray, h: FloatArray, lo: FloatArray, c: FloatArray, v: FloatArray, p: IndicatorParams
) -> tuple[float, float]:
    """VWAP of the current session at the last bar, and its slope within that session.

    The slope compares VWAP[-1] with VWAP[-1-k] only when both belong to the current session:
    across the session reset it would compare two different averages (on real EURUSD that put
    every VWAP flip in the first 45 minutes of the session). Until the session has k + 1
    closed bars the slope is NaN. Older sessions of the window are never summed.
    """
    if not len(t):
        return _NAN, _NAN
    anchor, offset = p.session_anchor_utc_hour, p.broker_utc_offset_hours
    ids = session_ids(t, anchor, offset)
    first = int(np.searchsorted(ids, ids[-1]))
    s = slice(first, None)
    series = vwap_arrays(t[s], h[s], lo[s], c[s], v[s], anchor, offset)
    return _last(series), _rel_change(series, p.vwap_slope_bars)


def compute(m5: Bars, m15: Bars, params: IndicatorParams) -> SymbolIndicators:
    """Turn the closed M5 and M15 windows of one symbol into its ``SymbolIndicators``.

    Args:
        m5: closed M5 bars, oldest first (only the newest ``params.m5_bars`` are used).
        m15: closed M15 bars, oldest first (only the newest ``params.m15_bars`` are used).
        params: periods, windows and buffers.

    Returns:
        The indicators at the last closed bars; never raises on short, NaN or zero-volume data.
    """
    p = params
    t15, _, h15, l15, c15, _ = _window(m15, p.m15_bars)
    t5, o5, h5, l5, c5, v5 = _window(m5, p.m5_bars)

    atr15 = atr(h15, l15, c15, p.atr_period)
    rsi15 = rsi(c15, p.rsi_period)
    hist = macd(c15, p.macd_fast, p.macd_slow, p.macd_signal)[2]
    fast_slope = _rel_change(ema(c15, p.ema_fast), p.ema_slope_bars)
    slow_slope = _rel_change(ema(c15, p.ema_slow), p.ema_slope_bars)
    swing = _structure.swing(
        h15, l15, c15, p.bos_lookback, p.choch_lookback, p.bos_buffer, p.choch_buffer
    )

    atr5 = _last(atr(h5, l5, c5, p.atr_period))
    vwap_now, vwap_slope = _session_vwap(t5, h5, l5, c5, v5, p)
    buy, sell = signed_volume(o5, c5, v5)
    delta_z = delta_zscore(buy - sell, p.volume_window, p.delta_min_sums)

    rsi_tail = _tail(rsi15, p.rsi_trend_bars + 1)
    hist_tail = _tail(hist, p.macd_trend_bars + 1)
    available = Availability(
        structure=swing.complete,
        vwap_volume=math.isfinite(vwap_now) and len(t5) >= p.volume_window,
        momentum=math.isfinite(rsi_tail[-1]) and math.isfinite(hist_tail[-1]),
        ema_alignment=math.isfinite(fast_slope) and math.isfinite(slow_slope),
        delta_pressure=math.isfinite(delta_z),
        candle_conviction=math.isfinite(atr5) and math.isfinite(vwap_now),
    )
    return SymbolIndicators(
        m5_time=int(t5[-1]) if len(t5) else 0,
        m15_time=int(t15[-1]) if len(t15) else 0,
        m5_count=len(t5),
        m15_count=len(t15),
        last_price=_last(c5),
        atr_m15=_last(atr15),
        atr_m15_mean=_atr_mean(atr15, p.vol_mean_bars),
        atr_m5=atr5,
        rsi=rsi_tail,
        macd_hist=hist_tail,
        ema_fast_slope=fast_slope,
        ema_slow_slope=slow_slope,
        vwap=vwap_now,
        vwap_slope=vwap_slope,
        m5_open=_last(o5),
        m5_high=_last(h5),
        m5_low=_last(l5),
        m5_close=_last(c5),
        buy_volume=float(buy[-p.volume_window :].sum()),
        sell_volume=float(sell[-p.volume_window :].sum()),
        delta_z=delta_z,
        swing=swing,
        bb_width=_bb_width(c15, p.bb_period, p.bb_k),
        available=available,
    )
