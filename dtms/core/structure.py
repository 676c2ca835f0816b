"""Swing structure on M15: breaks of structure (BOS) and changes of character (CHOCH).

Theory of operation: the bar under test is the last closed M15 bar. Its close is compared
with the highest high and lowest low of the ``bos_lookback`` bars *before* it (BOS) and of the
``choch_lookback`` bars before it (CHOCH), each widened by a relative buffer so a touch is not
a break. Excluding the bar under test is the whole point: a window that contains the bar can
never be exceeded by that bar's close, which is why the original system's structure layer
always scored 0.

Breaks are stored per direction ("up", "down"), not per trade side, so one ``Swing`` serves
every trade on the symbol; ``Swing.for_side`` reads it from one trade's point of view. Both
directions are reported for both kinds of break, so what is "against" a BUY is exactly what is
"in favour" of a SELL on the same bars (the score's symmetry rests on it).

Rules for this module: pure (numpy and stdlib only), no state.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dtms.core.types import FloatArray, Side

__all__ = ["Swing", "SwingBreaks", "swing"]


@dataclass(frozen=True, slots=True)
class SwingBreaks:
    """The structure breaks seen from one trade's side."""

    bos_in_favour: bool
    bos_against: bool
    choch_against: bool
    choch_in_favour: bool = False
    """A change of character in the trade's direction (the mirror of ``choch_against``)."""


_NO_BREAKS = SwingBreaks(False, False, False, False)


@dataclass(frozen=True, slots=True)
class Swing:
    """Last closed M15 close, the extremes before it and the breaks they imply.

    Extremes are NaN and breaks False when there are too few bars; ``complete`` is True when
    both the BOS and the CHOCH windows were full.
    """

    close: float
    bos_high: float
    bos_low: float
    choch_high: float
    choch_low: float
    bos_up: bool
    bos_down: bool
    choch_up: bool
    choch_down: bool
    complete: bool

    def for_side(self, side: Side) -> SwingBreaks:
        """The breaks from the point of view of a trade on ``side``."""
        if not self.complete:
            return _NO_BREAKS
        if side is Side.BUY:
            return SwingBreaks(self.bos_up, self.bos_down, self.choch_down, self.choch_up)
        return SwingBreaks(self.bos_down, self.bos_up, self.choch_up, self.choch_down)


def _extremes(high: FloatArray, low: FloatArray, lookback: int) -> tuple[float, float]:
    """Highest high and lowest low of the ``lookback`` bars before the last one."""
    if len(high) < lookback + 1:
        return math.nan, math.nan
    return float(high[-lookback - 1 : -1].max()), float(low[-lookback - 1 : -1].min())


def swing(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    bos_lookback: int,
    choch_lookback: int,
    bos_buffer: float,
    choch_buffer: float,
) -> Swing:
    """Structure of the last closed bar against the bars before it.

    Args:
        high: M15 highs, oldest first.
        low: M15 lows.
        close: M15 closes.
        bos_lookback: bars before the tested bar that define a BOS.
        choch_lookback: bars before the tested bar that define a CHOCH.
        bos_buffer: relative distance beyond the extreme a BOS needs (0.0003 = 0.03 %).
        choch_buffer: relative distance beyond the extreme a CHOCH needs.

    Returns:
        The extremes and the breaks in both directions.
    """
    last = float(close[-1]) if len(close) else math.nan
    bos_high, bos_low = _extremes(high, low, bos_lookback)
    choch_high, choch_low = _extremes(high, low, choch_lookback)
    # NaN compares False, so a missing window can never report a break.
    return Swing(
        close=last,
        bos_high=bos_high,
        bos_low=bos_low,
        choch_high=choch_high,
        choch_low=choch_low,
        bos_up=last > bos_high * (1.0 + bos_buffer),
        bos_down=last < bos_low * (1.0 - bos_buffer),
        choch_up=last > choch_high * (1.0 + choch_buffer),
        choch_down=last < choch_low * (1.0 - choch_buffer),
        complete=not (math.isnan(bos_high) or math.isnan(choch_high)),
    )
