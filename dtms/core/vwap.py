"""Session VWAP and signed volume on M5 bars.

Theory of operation: a session starts at ``anchor_utc_hour`` every UTC day. MT5 stamps bars in
broker-server time, so a bar's UTC time is its broker time minus ``broker_utc_offset_hours``;
a broker on UTC+2 opens the 00:00 UTC session at 02:00 on its own clock. Within a session the
VWAP is the running sum of typical price × tick volume over the running volume. Tick volume
can be zero (a quiet bar, or a feed that does not report it): while the session's volume sum
is zero the VWAP falls back to the running mean typical price, so it is always a price.

A bar counts as buying when it closed above its open, selling when below, half each when
flat; the net of the two is the bar's signed volume, whose rolling sums feed the delta
z-score. Bad numbers never raise: a NaN or negative volume counts as zero volume, and a bar
whose prices are not numbers is left out of the session's sums.

Rules for this module: numpy and stdlib only, no state.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from dtms.core.types import Bars, FloatArray, IntArray

_DAY = 86_400
_HOUR = 3_600

__all__ = ["delta_zscore", "session_ids", "session_vwap", "signed_volume", "vwap_arrays"]


def _clean_volume(volume: FloatArray) -> FloatArray:
    ok = np.isfinite(volume) & (volume > 0)
    return volume if ok.all() else np.where(ok, volume, 0.0)


def session_ids(time: IntArray, anchor_utc_hour: int, broker_utc_offset_hours: float) -> IntArray:
    """Number of the session each bar belongs to (days since the epoch, shifted to the anchor)."""
    shift = round((broker_utc_offset_hours + anchor_utc_hour) * _HOUR)
    return np.asarray((time - shift) // _DAY, dtype=np.int64)


def vwap_arrays(
    time: IntArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    anchor_utc_hour: int,
    broker_utc_offset_hours: float,
) -> FloatArray:
    """Session VWAP over raw arrays; see :func:`session_vwap`."""
    n = len(time)
    out = np.full(n, math.nan, dtype=np.float64)
    if n == 0:
        return out
    typical = (high + low + close) / 3.0
    valid = np.isfinite(typical)
    vol = np.where(valid, _clean_volume(volume), 0.0)
    tp = np.where(valid, typical, 0.0)
    ids = session_ids(time, anchor_utc_hour, broker_utc_offset_hours)
    # Per-session running sums, restarted at each boundary; a window holds two or three
    # sessions, so a loop over segments is both exact and cheap.
    bounds = [0, *(np.flatnonzero(ids[1:] != ids[:-1]) + 1).tolist(), n]
    for start, stop in itertools.pairwise(bounds):
        seg = slice(start, stop)
        cum_v = np.cumsum(vol[seg])
        cum_pv = np.cumsum(tp[seg] * vol[seg])
        cum_tp = np.cumsum(tp[seg])
        count = np.cumsum(valid[seg])
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_tp = np.where(count > 0, cum_tp / np.maximum(count, 1), math.nan)
            out[seg] = np.where(cum_v > 0, cum_pv / np.where(cum_v > 0, cum_v, 1.0), mean_tp)
    return out


def session_vwap(bars: Bars, anchor_utc_hour: int, broker_utc_offset_hours: float) -> FloatArray:
    """Session-anchored VWAP of every bar, using the bars of its session up to and including it.

    Args:
        bars: closed bars, oldest first (``time`` in broker-server epoch seconds).
        anchor_utc_hour: UTC hour at which a session starts (0..23).
        broker_utc_offset_hours: broker-server time minus UTC, in hours.

    Returns:
        An array as long as ``bars``; NaN only where a session has had no bar with valid prices.
    """
    return vwap_arrays(
        bars.time,
        bars.high,
        bars.low,
        bars.close,
        bars.volume,
        anchor_utc_hour,
        broker_utc_offset_hours,
    )


def signed_volume(
    open_: FloatArray, close: FloatArray, volume: FloatArray
) -> tuple[FloatArray, FloatArray]:
    """Buying and selling volume per bar (flat bars give half to each side).

    Args:
        open_: bar opens.
        close: bar closes.
        volume: tick volumes (NaN or negative counts as zero).

    Returns:
        ``(buy, sell)`` arrays as long as the inputs.
    """
    vol = _clean_volume(volume)
    up = close > open_
    down = close < open_
    flat = ~(up | down) & np.isfinite(open_) & np.isfinite(close)
    half = np.where(flat, 0.5 * vol, 0.0)
    return np.where(up, vol, 0.0) + half, np.where(down, vol, 0.0) + half


def delta_zscore(net: FloatArray, window: int, min_sums: int) -> float:
    """Z-score of the last ``window``-bar sum of ``net`` among all rolling sums of that length.

    Args:
        net: signed volume per bar (buy minus sell), oldest first.
        window: bars per rolling sum.
        min_sums: fewest rolling sums a z-score is taken over; fewer gives NaN.

    Returns:
        The z-score (population standard deviation), 0 when every sum is equal, NaN when there
        are too few bars.
    """
    count = len(net) - window + 1
    if window < 1 or count < max(min_sums, 1):
        return math.nan
    cum = np.concatenate(([0.0], np.cumsum(net)))
    sums = cum[window:] - cum[:-window]
    std = float(sums.std())
    if not std > 0.0:
        return 0.0
    return (float(sums[-1]) - float(sums.mean())) / std
