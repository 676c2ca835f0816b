"""M1 bars built from ticks, the capped M1 store, and aggregation to higher timeframes.

Every bar of the simulator derives from ticks: a minute's ticks make its M1 bar (bid OHLC, tick
count, spread of the last tick), and every higher timeframe is an aggregation of M1 bars with
open times aligned to the timeframe in broker time (weeks open on Sunday, as in MT5). A bar
exists only if it had ticks, so closed markets leave gaps. Because a bar depends only on the
ticks inside its interval, a bar whose interval has passed never changes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dtms.broker.rates import RATES_DTYPE

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
F64 = npt.NDArray[np.float64]

_WEEK = 7 * 86_400
_WEEK_ORIGIN = 3 * 86_400  # 1970-01-04 was a Sunday, where MT5 weeks begin


def bar_origin(tf_s: int) -> int:
    """Return the epoch offset bar open times of a timeframe are aligned to."""
    return _WEEK_ORIGIN if tf_s == _WEEK else 0


def bar_open(t: float, tf_s: int) -> int:
    """Return the open time of the ``tf_s``-second bar containing broker time ``t``."""
    origin = bar_origin(tf_s)
    return int((t - origin) // tf_s) * tf_s + origin


@dataclass(slots=True)
class BarCols:
    """Bars as parallel columns (times in seconds, bid prices, spreads in points).

    Treated as immutable; not frozen only because bar queries build many of these and a
    frozen dataclass is several times slower to construct.
    """

    time: I64
    open: F64
    high: F64
    low: F64
    close: F64
    tick_volume: I64
    spread: I32

    def __len__(self) -> int:
        return int(self.time.shape[0])

    def slice(self, start: int, stop: int) -> BarCols:
        """Return rows ``start:stop`` (views, no copy)."""
        return BarCols(
            self.time[start:stop], self.open[start:stop], self.high[start:stop],
            self.low[start:stop], self.close[start:stop], self.tick_volume[start:stop],
            self.spread[start:stop],
        )

    def search(self, t: float, side: str = "left") -> int:
        """Return the insertion index of open time ``t`` (seconds)."""
        return int(np.searchsorted(self.time, t, side=side))  # type: ignore[call-overload]

    @staticmethod
    def empty() -> BarCols:
        """Return a bar set with no rows."""
        f = np.empty(0, dtype=np.float64)
        return BarCols(
            np.empty(0, dtype=np.int64), f, f, f, f, np.empty(0, dtype=np.int64),
            np.empty(0, dtype=np.int32),
        )

    @staticmethod
    def concat(parts: list[BarCols]) -> BarCols:
        """Join bar sets that follow each other in time."""
        parts = [p for p in parts if len(p)]
        if not parts:
            return BarCols.empty()
        if len(parts) == 1:
            return parts[0]
        return BarCols(
            np.concatenate([p.time for p in parts]),
            np.concatenate([p.open for p in parts]),
            np.concatenate([p.high for p in parts]),
            np.concatenate([p.low for p in parts]),
            np.concatenate([p.close for p in parts]),
            np.concatenate([p.tick_volume for p in parts]),
            np.concatenate([p.spread for p in parts]),
        )

    def to_rates(self) -> npt.NDArray[np.void]:
        """Pack into an MT5 rates array (``RATES_DTYPE``, ascending time)."""
        out = np.empty(len(self), dtype=RATES_DTYPE)
        out["time"] = self.time
        out["open"] = self.open
        out["high"] = self.high
        out["low"] = self.low
        out["close"] = self.close
        out["tick_volume"] = self.tick_volume
        out["spread"] = self.spread
        out["real_volume"] = 0
        return out


def _group_starts(keys: I64) -> I64:
    n = keys.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.int64)
    change = np.flatnonzero(keys[1:] != keys[:-1]) + 1
    return np.concatenate((np.zeros(1, dtype=np.int64), change.astype(np.int64)))


def m1_from_ticks(t_ms: I64, bid: F64, spread: I32) -> BarCols:
    """Build the M1 bars of ticks given in ascending time order."""
    if t_ms.shape[0] == 0:
        return BarCols.empty()
    minute = t_ms // 60_000
    starts = _group_starts(minute)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = t_ms.shape[0]
    last = ends - 1
    return BarCols(
        minute[starts] * 60,
        bid[starts],
        np.maximum.reduceat(bid, starts),
        np.minimum.reduceat(bid, starts),
        bid[last],
        ends - starts,
        spread[last],
    )


def aggregate(m1: BarCols, tf_s: int) -> BarCols:
    """Aggregate M1 bars into ``tf_s``-second bars aligned in broker time."""
    if tf_s == 60 or len(m1) == 0:
        return m1
    origin = bar_origin(tf_s)
    keys = (m1.time - origin) // tf_s
    starts = _group_starts(keys)
    ends = np.empty_like(starts)
    ends[:-1] = starts[1:]
    ends[-1] = len(m1)
    last = ends - 1
    return BarCols(
        keys[starts] * tf_s + origin,
        m1.open[starts],
        np.maximum.reduceat(m1.high, starts),
        np.minimum.reduceat(m1.low, starts),
        m1.close[last],
        np.add.reduceat(m1.tick_volume, starts),
        m1.spread[last],
    )


def m1_window(
    held: BarCols, forming: BarCols, lo_s: float | None, hi_s: float | None, tail: int | None
) -> tuple[BarCols, bool]:
    """Select M1 bars from ``held`` followed by the newer ``forming`` ones.

    Selects bars with ``lo_s <= time < hi_s`` or, without ``lo_s``, the last ``tail`` bars
    before ``hi_s`` (None: no upper limit). Also says whether the selection starts at the
    oldest bar there is.
    """
    n_h, total = len(held), len(held) + len(forming)
    hi = total if hi_s is None else held.search(hi_s) + forming.search(hi_s)
    lo = (
        max(0, hi - (tail or 0)) if lo_s is None
        else held.search(lo_s) + forming.search(lo_s)
    )
    if hi <= lo:
        return BarCols.empty(), lo == 0
    cols = BarCols.concat([
        held.slice(min(lo, n_h), min(hi, n_h)),
        forming.slice(max(lo - n_h, 0), max(hi - n_h, 0)),
    ])
    return cols, lo == 0


def last_bars(
    held: BarCols, forming: BarCols, tf_s: int, hi_s: float | None, count: int
) -> BarCols:
    """Return the last ``count`` ``tf_s``-second bars opening before ``hi_s``.

    Aggregates only the M1 tail needed: ``count + 1`` bars' worth of minutes always hold
    ``count`` whole bars after a possibly cut first one, which is then dropped.
    """
    m1, from_first = m1_window(held, forming, None, hi_s, (count + 1) * (tf_s // 60))
    bars = aggregate(m1, tf_s)
    n = len(bars)
    if not from_first and n > count:
        return bars.slice(n - count, n)
    return bars.slice(max(0, n - count), n)


class BarStore:
    """The closed M1 bars of one symbol, capped at ``max_bars``.

    When the cap is exceeded the oldest bars are dropped up to a boundary of ``align_s`` seconds
    (a day, or shorter for small caps), so the oldest higher-timeframe bar a query can build is
    whole and keeps its values.
    """

    __slots__ = ("_align_s", "_cols", "_max_bars", "_n", "_s")

    def __init__(self, max_bars: int) -> None:
        """Create an empty store keeping at most about ``max_bars`` bars."""
        self._max_bars = max_bars
        self._align_s = next(
            s for s in (_WEEK, 86_400, 14_400, 3_600, 900, 60) if s // 60 <= max_bars // 4
        )
        self._cols = self._alloc(1024)
        self._s = 0
        self._n = 0

    @staticmethod
    def _alloc(cap: int) -> BarCols:
        f = np.empty
        return BarCols(
            f(cap, np.int64), f(cap, np.float64), f(cap, np.float64), f(cap, np.float64),
            f(cap, np.float64), f(cap, np.int64), f(cap, np.int32),
        )

    def __len__(self) -> int:
        return self._n - self._s

    @property
    def max_bars(self) -> int:
        """The cap on stored bars."""
        return self._max_bars

    def view(self) -> BarCols:
        """Return the stored bars (views; valid until the next append)."""
        return self._cols.slice(self._s, self._n)

    def clear(self) -> None:
        """Drop every bar."""
        self._s = self._n = 0

    def append(self, bars: BarCols) -> None:
        """Add bars newer than every stored bar."""
        k = len(bars)
        if k == 0:
            return
        cap = self._cols.time.shape[0]
        if self._n + k > cap:
            live = self._n - self._s
            want = live + k
            # Near the cap, compact in place into a buffer only slightly larger than max_bars
            # rather than doubling, so a full store costs about max_bars rows.
            limit = self._max_bars + max(1440, self._max_bars // 8)
            if want <= cap and (cap >= limit or want <= cap * 3 // 4):
                for a in self._columns():
                    a[:live] = a[self._s : self._n].copy()
            else:
                old = self.view()
                self._cols = self._alloc(max(want, min(limit, max(1024, want * 3 // 2))))
                self._copy(old, 0)
            self._s, self._n = 0, live
        self._copy(bars, self._n)
        self._n += k
        if self._n - self._s > self._max_bars:
            self._trim()

    def _copy(self, bars: BarCols, at: int) -> None:
        k = len(bars)
        for dst, src in zip(self._columns(), _columns_of(bars), strict=True):
            dst[at : at + k] = src

    def _columns(self) -> tuple[npt.NDArray[np.generic], ...]:
        return _columns_of(self._cols)

    def _trim(self) -> None:
        times = self._cols.time
        cut_time = int(times[self._n - self._max_bars])
        boundary = bar_open(cut_time - 1, self._align_s) + self._align_s
        self._s = int(np.searchsorted(times[self._s : self._n], boundary)) + self._s

    @property
    def nbytes(self) -> int:
        """Bytes held by the store's columns."""
        return sum(a.nbytes for a in self._columns())


def _columns_of(b: BarCols) -> tuple[npt.NDArray[np.generic], ...]:
    return (b.time, b.open, b.high, b.low, b.close, b.tick_volume, b.spread)
