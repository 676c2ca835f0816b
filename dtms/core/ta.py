"""Recursive indicators with TA-Lib's exact semantics: ATR, RSI, EMA and MACD.

Theory of operation: TA-Lib seeds every Wilder or exponential recursion with a simple average
of the first ``period`` inputs, starts its output after a fixed lookback (NaN before it) and
then applies the recursion one bar at a time. Vectorised shortcuts (``ewm``, ``lfilter``)
seed differently or round differently, and the seed never fully washes out of a 300-bar
window, so to agree with the reference to 1e-9 the recursions below follow TA-Lib's C code
step by step: same seed, same operation order, plain left-to-right sums. They run on Python
floats, where a loop over a few hundred values costs tens of microseconds.

Like the TA-Lib wrapper, leading NaNs are skipped (the output starts that much later). A NaN
inside the data propagates through the recursion from there on; callers that cannot afford
that drop bad bars first (``dtms.core.indicators.compute`` does).

Rules for this module: numpy and stdlib only, no state, every function total over any input
length (too short an input gives all-NaN, never an exception).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from dtms.core.types import FloatArray

_NAN = math.nan
# TA-Lib's TA_IS_ZERO: RSI reports 0 rather than dividing by a sum this close to zero.
_TA_EPSILON = 1e-8

__all__ = ["atr", "ema", "macd", "rsi"]


def _as_float(values: npt.ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def _first_valid(*arrays: FloatArray) -> int:
    """Index of the first row where every array is a number (the TA-Lib wrapper's begidx)."""
    n = len(arrays[0])
    if n == 0 or not any(math.isnan(a[0]) for a in arrays):
        return 0
    ok = np.ones(n, dtype=bool)
    for a in arrays:
        ok &= ~np.isnan(a)
    hits = np.flatnonzero(ok)
    return int(hits[0]) if len(hits) else n


def _place(n: int, start: int, values: list[float]) -> FloatArray:
    """An all-NaN array of length ``n`` with ``values`` written from ``start`` on."""
    out = np.full(n, _NAN, dtype=np.float64)
    if values:
        out[start : start + len(values)] = values
    return out


def _sum(values: list[float], count: int) -> float:
    """Left-to-right sum of the first ``count`` values, as TA-Lib's seeding loops add them."""
    total = 0.0
    for i in range(count):
        total += values[i]
    return total


def _ema_from(x: list[float], period: int, k: float, start: int) -> list[float]:
    """TA_INT_EMA from ``start``: seed with the mean of the ``period`` values ending there."""
    prev = _sum(x[start - period + 1 : start + 1], period) / period
    return [prev, *[prev := ((v - prev) * k) + prev for v in x[start + 1 :]]]


def _wilder(values: list[float], period: int) -> list[float]:
    """Wilder smoothing in TA-Lib's operation order.

    The seed is the mean of the first ``period`` values; then
    ``prev = (prev * (period - 1) + value) / period`` for each further value.
    """
    prev = _sum(values, period) / period
    keep = period - 1
    return [prev, *[prev := (prev * keep + v) / period for v in values[period:]]]


def ema(close: npt.ArrayLike, period: int) -> FloatArray:
    """Exponential moving average, as TA-Lib ``EMA`` (SMA seed, first value at ``period-1``).

    Args:
        close: input series, oldest first.
        period: number of bars, at least 1.

    Returns:
        An array as long as ``close``, NaN where TA-Lib has no output.
    """
    x = _as_float(close)
    n = len(x)
    b = _first_valid(x)
    if n - b < period:
        return np.full(n, _NAN, dtype=np.float64)
    v = x[b:].tolist()
    return _place(n, b + period - 1, _ema_from(v, period, 2.0 / (period + 1), period - 1))


def macd(
    close: npt.ArrayLike, fast: int, slow: int, signal: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """MACD line, signal line and histogram, as TA-Lib ``MACD``.

    TA-Lib starts both EMAs at the same bar (``slow-1``), so the fast EMA is seeded with the
    mean of the ``fast`` closes ending there, not of the first ``fast`` closes; the signal EMA
    is seeded with the mean of the first ``signal`` MACD values. All three outputs begin at
    index ``slow + signal - 2``.

    Args:
        close: input series, oldest first.
        fast: fast EMA period.
        slow: slow EMA period (swapped with ``fast`` if smaller, as TA-Lib does).
        signal: signal EMA period.

    Returns:
        ``(macd, signal, hist)``, each as long as ``close``.
    """
    if slow < fast:
        fast, slow = slow, fast
    x = _as_float(close)
    n = len(x)
    b = _first_valid(x)
    lookback = (slow - 1) + (signal - 1)
    if n - b <= lookback:
        nan = np.full(n, _NAN, dtype=np.float64)
        return nan, nan.copy(), nan.copy()
    v = x[b:].tolist()
    slow_ema = _ema_from(v, slow, 2.0 / (slow + 1), slow - 1)
    fast_ema = _ema_from(v, fast, 2.0 / (fast + 1), slow - 1)
    line = [f - s for f, s in zip(fast_ema, slow_ema, strict=True)]
    sig = _ema_from(line, signal, 2.0 / (signal + 1), signal - 1)
    line = line[signal - 1 :]
    hist = [m - s for m, s in zip(line, sig, strict=True)]
    start = b + lookback
    return _place(n, start, line), _place(n, start, sig), _place(n, start, hist)


def rsi(close: npt.ArrayLike, period: int) -> FloatArray:
    """Relative strength index with Wilder smoothing, as TA-Lib ``RSI``.

    Args:
        close: input series, oldest first.
        period: number of bars, at least 2.

    Returns:
        An array as long as ``close``; the first value is at index ``period``.
    """
    x = _as_float(close)
    n = len(x)
    b = _first_valid(x)
    if n - b <= period:
        return np.full(n, _NAN, dtype=np.float64)
    diff = np.diff(x[b:])
    # TA-Lib adds a rise to the gains and subtracts a fall from the losses; adding 0.0 to the
    # other side, or adding -diff instead of subtracting diff, gives the same IEEE result.
    falls = diff < 0
    gain = np.array(_wilder(np.where(falls, 0.0, diff).tolist(), period))
    total = gain + np.array(_wilder(np.where(falls, -diff, 0.0).tolist(), period))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(np.abs(total) < _TA_EPSILON, 0.0, 100.0 * (gain / total))
    result = np.full(n, _NAN, dtype=np.float64)
    result[b + period :] = out
    return result


def atr(high: npt.ArrayLike, low: npt.ArrayLike, close: npt.ArrayLike, period: int) -> FloatArray:
    """Average true range with Wilder smoothing, as TA-Lib ``ATR``.

    The first value, at index ``period``, is the plain mean of the true ranges of bars
    ``1..period`` (bar 0 has no previous close); later values are Wilder-smoothed.

    Args:
        high: bar highs, oldest first.
        low: bar lows.
        close: bar closes.
        period: number of bars, at least 2.

    Returns:
        An array as long as the inputs.
    """
    hi, lo, cl = _as_float(high), _as_float(low), _as_float(close)
    n = len(cl)
    b = _first_valid(hi, lo, cl)
    if n - b <= period:
        return np.full(n, _NAN, dtype=np.float64)
    h, lo, prev_close = hi[b + 1 :], lo[b + 1 :], cl[b : n - 1]
    # TA-Lib TRANGE: start from high - low and replace it only by a strictly greater gap to
    # the previous close (so a NaN gap never replaces a number, as in the C code).
    tr = h - lo
    gap = np.abs(prev_close - h)
    tr = np.where(gap > tr, gap, tr)
    gap = np.abs(prev_close - lo)
    tr = np.where(gap > tr, gap, tr)
    return _place(n, b + period, _wilder(tr.tolist(), period))
