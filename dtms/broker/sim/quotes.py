"""Each symbol's quote as of the instant the server is processing.

Theory of operation: the engine advances the market one *segment* at a time and receives every
new tick of the segment at once. While it walks through the segment's events (a stop hit at one
tick, a stop-out at another), "the current quote" must be the last tick at or before the event,
not the segment's last tick. :class:`Quotes` keeps the quotes before the segment, the segment's
arrays and a cursor; :meth:`Quotes.current` answers from them. When the segment is done its last
ticks become the new quotes and the day's high/low are folded in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np
import numpy.typing as npt

Quote = tuple[int, float, float]
"""(time_msc, bid, ask)."""

_DAY_MS = 86_400_000


@dataclass(frozen=True, slots=True)
class TickArrays:
    """The new ticks of one symbol in a segment, ascending."""

    time_msc: npt.NDArray[np.int64]
    bid: npt.NDArray[np.float64]
    ask: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return len(self.time_msc)

    def index_at(self, t_msc: int) -> int:
        """Index of the last tick at or before ``t_msc`` (-1 if none)."""
        return int(np.searchsorted(self.time_msc, t_msc, side="right")) - 1

    def start_at(self, t_msc: int) -> int:
        """Index of the first tick at or after ``t_msc``."""
        return int(np.searchsorted(self.time_msc, t_msc, side="left"))


@dataclass(slots=True)
class DayRange:
    """High and low of bid and ask over one broker day."""

    day: int
    bidhigh: float
    bidlow: float
    askhigh: float
    asklow: float


class TickBlockLike(Protocol):
    """What the market hands over per symbol when it advances (``market.TickBlock``)."""

    @property
    def symbol(self) -> str: ...
    @property
    def time_msc(self) -> npt.NDArray[np.int64]: ...
    @property
    def bid(self) -> npt.NDArray[np.float64]: ...
    @property
    def ask(self) -> npt.NDArray[np.float64]: ...


def group_blocks(blocks: Iterable[TickBlockLike]) -> dict[str, TickArrays]:
    """Merge the market's tick blocks into one ascending array set per symbol."""
    parts: dict[str, list[TickBlockLike]] = {}
    for block in blocks:
        parts.setdefault(block.symbol, []).append(block)
    merged: dict[str, TickArrays] = {}
    for symbol, items in parts.items():
        t = np.concatenate([np.asarray(b.time_msc, dtype=np.int64) for b in items])
        bid = np.concatenate([np.asarray(b.bid, dtype=np.float64) for b in items])
        ask = np.concatenate([np.asarray(b.ask, dtype=np.float64) for b in items])
        if len(t) == 0:
            continue
        if len(items) > 1 and np.any(np.diff(t) < 0):
            order = np.argsort(t, kind="stable")
            t, bid, ask = t[order], bid[order], ask[order]
        merged[symbol] = TickArrays(t, bid, ask)
    return merged


class Quotes:
    """The current quote per symbol, aware of the segment being processed."""

    __slots__ = ("_cursor", "_days", "_last", "_segment")

    def __init__(self) -> None:
        """Start with no quotes at all."""
        self._last: dict[str, Quote] = {}
        self._segment: dict[str, TickArrays] = {}
        self._cursor: int | None = None
        self._days: dict[str, DayRange] = {}

    def seed(self, symbol: str, quote: Quote | None) -> None:
        """Set a symbol's quote outside any segment (the market's first tick)."""
        if quote is not None:
            self._last[symbol] = quote
            self._fold_day(symbol, TickArrays(
                np.array([quote[0]], dtype=np.int64), np.array([quote[1]]), np.array([quote[2]])
            ))

    @property
    def segment(self) -> dict[str, TickArrays]:
        """The ticks of the segment being processed (empty between segments)."""
        return self._segment

    def before_segment(self, symbol: str) -> Quote | None:
        """The quote a symbol had when the current segment began."""
        return self._last.get(symbol)

    def begin(self, segment: dict[str, TickArrays]) -> None:
        """Start processing a segment; the cursor stands before its first tick."""
        self._segment = segment
        self._cursor = None

    def move_to(self, t_msc: int) -> None:
        """Place the cursor at ``t_msc``: quotes become the last ticks at or before it."""
        self._cursor = t_msc

    def end(self) -> None:
        """Finish the segment: its last ticks become the quotes."""
        for symbol, arrays in self._segment.items():
            self._last[symbol] = (
                int(arrays.time_msc[-1]), float(arrays.bid[-1]), float(arrays.ask[-1])
            )
            self._fold_day(symbol, arrays)
        self._segment = {}
        self._cursor = None

    def current(self, symbol: str) -> Quote | None:
        """The quote of ``symbol`` at the cursor (or the latest one between segments)."""
        arrays = self._segment.get(symbol)
        if arrays is not None and self._cursor is not None:
            i = arrays.index_at(self._cursor)
            if i >= 0:
                return (int(arrays.time_msc[i]), float(arrays.bid[i]), float(arrays.ask[i]))
        return self._last.get(symbol)

    def day_range(self, symbol: str) -> DayRange | None:
        """Today's high and low of ``symbol`` (as of the last finished segment)."""
        return self._days.get(symbol)

    def _fold_day(self, symbol: str, arrays: TickArrays) -> None:
        day = int(arrays.time_msc[-1]) // _DAY_MS
        mask = arrays.time_msc >= day * _DAY_MS
        bid, ask = arrays.bid[mask], arrays.ask[mask]
        rng = self._days.get(symbol)
        if rng is None or rng.day != day:
            rng = DayRange(day, float(bid.max()), float(bid.min()), float(ask.max()),
                           float(ask.min()))
            self._days[symbol] = rng
            return
        rng.bidhigh = max(rng.bidhigh, float(bid.max()))
        rng.bidlow = min(rng.bidlow, float(bid.min()))
        rng.askhigh = max(rng.askhigh, float(ask.max()))
        rng.asklow = min(rng.asklow, float(ask.min()))
