"""Trading hours of the simulated broker: the weekend, daily breaks and thin quoting.

Retail FX and CFD servers stop quoting on Friday evening and resume on Sunday evening (New York
close / Sydney open). The week is closed from Friday ``weekend_close_hour`` to Sunday
``weekend_open_hour``, both UTC; broker-server time is UTC + ``broker_utc_offset_hours``.
Symbols with ``trades_weekends`` (crypto) never close for the weekend.

Each symbol's :class:`Quoting` adds what a broker decides per symbol: daily breaks (an index
closed from 23:00 to 00:05 server time every day; a break may wrap midnight) and a minimum
interval between ticks (a thin cross at night quotes once every few minutes). A symbol quotes
at ``t`` when it is neither in the weekend nor in one of its breaks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dtms.broker.sim.market_settings import MarketSettings

_DAY = 86_400.0
_FRIDAY = 4  # days since Monday
_SUNDAY = 6


@dataclass(frozen=True, slots=True)
class Quoting:
    """When and how often one symbol quotes."""

    trades_weekends: bool = False
    """Quotes through the weekend (crypto)."""
    breaks: tuple[tuple[float, float], ...] = ()
    """Daily breaks as (start, end) seconds of the broker-server day; end < start wraps."""
    tick_seconds: float = 0.0
    """At most one tick per this many seconds, at the end of each such interval (0: off)."""

    def in_break(self, t: float) -> bool:
        """Return whether broker time ``t`` falls in one of the daily breaks."""
        tod = t % _DAY
        return any(_inside(tod, start, end) for start, end in self.breaks)

    def break_mask(self, times: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """Vectorised ``in_break`` over broker times in seconds."""
        closed = np.zeros(times.shape, dtype=bool)
        if not self.breaks:
            return closed
        tod = np.mod(times, _DAY)
        for start, end in self.breaks:
            if start <= end:
                closed |= (tod >= start) & (tod < end)
            else:
                closed |= (tod >= start) | (tod < end)
        return closed


def _inside(tod: float, start: float, end: float) -> bool:
    if start <= end:
        return start <= tod < end
    return tod >= start or tod < end


class TradingHours:
    """Decides whether a symbol quotes at a broker time."""

    __slots__ = ("_close_h", "_offset_s", "_open_h")

    def __init__(self, settings: MarketSettings) -> None:
        """Read the weekend and offset knobs from ``settings``."""
        self._offset_s = settings.broker_utc_offset_hours * 3600.0
        self._close_h = _FRIDAY * 24.0 + settings.weekend_close_hour
        self._open_h = _SUNDAY * 24.0 + settings.weekend_open_hour

    def is_open(self, t: float, quoting: Quoting) -> bool:
        """Return whether a symbol with ``quoting`` quotes at broker time ``t`` (epoch s)."""
        if quoting.breaks and quoting.in_break(t):
            return False
        if quoting.trades_weekends:
            return True
        utc = t - self._offset_s
        days = math.floor(utc / _DAY)
        # 1970-01-01 was a Thursday: day 0 is weekday 3 counted from Monday.
        hour = ((days + 3) % 7) * 24.0 + (utc - days * _DAY) / 3600.0
        return not self._close_h <= hour < self._open_h

    def open_mask(
        self, times: npt.NDArray[np.float64], quoting: Quoting
    ) -> npt.NDArray[np.bool_]:
        """Vectorised ``is_open`` over broker times in seconds."""
        if quoting.trades_weekends:
            return np.asarray(~quoting.break_mask(times), dtype=bool)
        utc = times - self._offset_s
        days = np.floor(utc / _DAY)
        hour = ((days + 3) % 7) * 24.0 + (utc - days * _DAY) / 3600.0
        closed = (hour >= self._close_h) & (hour < self._open_h)
        if quoting.breaks:
            closed |= quoting.break_mask(times)
        return np.asarray(~closed, dtype=bool)
