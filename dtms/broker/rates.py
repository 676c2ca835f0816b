"""The numpy layouts of MT5 bar and tick arrays, and the lengths of MT5 timeframes.

``copy_rates_*`` and ``copy_ticks_*`` of the MetaTrader5 package return *packed* structured
arrays (no alignment padding): a rates row is 60 bytes, ``real_volume`` sits at offset 52.
Every broker implementation of dtms (real, bridged, simulated) hands out exactly these dtypes,
so the rest of the program can index fields by name without caring where the rows came from.
"""

from __future__ import annotations

from typing import Final

import numpy as np

RATES_DTYPE: Final = np.dtype(
    [
        ("time", "<i8"),
        ("open", "<f8"),
        ("high", "<f8"),
        ("low", "<f8"),
        ("close", "<f8"),
        ("tick_volume", "<u8"),
        ("spread", "<i4"),
        ("real_volume", "<u8"),
    ]
)
"""One bar: open time in broker-server epoch seconds, bid OHLC, tick count, spread in points."""

TICKS_DTYPE: Final = np.dtype(
    [
        ("time", "<i8"),
        ("bid", "<f8"),
        ("ask", "<f8"),
        ("last", "<f8"),
        ("volume", "<u8"),
        ("time_msc", "<i8"),
        ("flags", "<u4"),
        ("volume_real", "<f8"),
    ]
)
"""One tick: time in seconds and milliseconds (broker-server epoch), prices and TICK_FLAG_* bits."""

TIMEFRAME_M1: Final = 1
TIMEFRAME_M5: Final = 5
TIMEFRAME_M15: Final = 15
TIMEFRAME_M30: Final = 30
TIMEFRAME_H1: Final = 16385
TIMEFRAME_H4: Final = 16388
TIMEFRAME_D1: Final = 16408
TIMEFRAME_W1: Final = 32769
TIMEFRAME_MN1: Final = 49153

_MINUTE_FRAMES: Final = frozenset({1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30})
_HOUR_FRAMES: Final = frozenset({1, 2, 3, 4, 6, 8, 12, 24})
_HOUR_FLAG: Final = 0x4000
_WEEK_FLAG: Final = 0x8000


def _known_seconds() -> dict[int, int]:
    table = {m: m * 60 for m in _MINUTE_FRAMES}
    table.update({_HOUR_FLAG | h: h * 3600 for h in _HOUR_FRAMES})
    table[_WEEK_FLAG | 1] = 7 * 86400
    return table


_SECONDS: Final = _known_seconds()


def timeframe_seconds(tf: int) -> int:
    """Return the length in seconds of an MT5 ``TIMEFRAME_*`` value.

    Args:
        tf: a ``TIMEFRAME_*`` constant (M1 = 1 ... M30 = 30, H1 = 16385 ... D1 = 16408,
            W1 = 32769).

    Raises:
        ValueError: ``tf`` is not an MT5 timeframe, or is MN1, whose length varies by month.
    """
    if type(tf) is int:
        seconds = _SECONDS.get(tf)
        if seconds is not None:
            return seconds
    if isinstance(tf, bool) or not isinstance(tf, int | np.integer):
        raise ValueError(f"timeframe {tf!r} is not an MT5 TIMEFRAME_* value")
    value = int(tf)
    if value in _SECONDS:
        return _SECONDS[value]
    if value == TIMEFRAME_MN1:
        raise ValueError(f"timeframe {value} (MN1) has no fixed length in seconds; not supported")
    raise ValueError(f"timeframe {value} is not an MT5 TIMEFRAME_* value")
