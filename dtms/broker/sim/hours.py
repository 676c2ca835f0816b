"""Trading hours of the simulated broker.

Retail FX and CFD servers stop quoting on Friday evening and resume on Sunday evening (New York
close / Sydney open). The week is closed from Friday ``weekend_close_hour`` to Sunday
``weekend_open_hour``, both UTC; broker-server time is UTC + ``broker_utc_offset_hours``.
Symbols with ``trades_weekends`` (crypto) never close. There is no daily break.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from dtms.broker.sim.market_settings import MarketSettings

_DAY = 86_400.0
_FRIDAY = 4  # days since Monday
_SUNDAY = 6


class TradingHours:
    """Decides whether a symbol quotes at a broker time."""

    __slots__ = ("_close_h", "_offset_s", "_open_h")

    def __init__(self, settings: MarketSettings) -> None:
        """Read the weekend and offset knobs from ``settings``."""
        self._offset_s = settings.broker_utc_offset_hours * 3600.0
        self._close_h = _FRIDAY * 24.0 + settings.weekend_close_hour
        self._open_h = _SUNDAY * 24.0 + settings.weekend_open_hour

    def is_open(self, t: float, trades_weekends: bool) -> bool:
        """Return whether a symbol quotes at broker time ``t`` (epoch seconds)."""
        if trades_weekends:
            return True
        utc = t - self._offset_s
        days = math.floor(utc / _DAY)
        # 1970-01-01 was a Thursday: day 0 is weekday 3 counted from Monday.
        hour = ((days + 3) % 7) * 24.0 + (utc - days * _DAY) / 3600.0
        return not self._close_h <= hour < self._open_h

    def open_mask(
        self, times: npt.NDArray[np.float64], trades_weekends: bool
    ) -> npt.NDArray[np.bool_]:
        """Vectorised ``is_open`` over broker times in seconds."""
        if trades_weekends:
            return np.ones(times.shape, dtype=bool)
        utc = times - self._offset_s
        days = np.floor(utc / _DAY)
        hour = ((days + 3) % 7) * 24.0 + (utc - days * _DAY) / 3600.0
        closed = (hour >= self._close_h) & (hour < self._open_h)
        return np.asarray(~closed, dtype=bool)
