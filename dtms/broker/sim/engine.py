"""The trade server's own life between two API calls.

Theory of operation: the simulator is lazy. Before answering a call, :meth:`Engine.advance`
brings the server to the clock's time:

1. Timed events (scenario actions, daily rollovers, injected outages and hand closes) sit in a
   :class:`Timeline`. The market is advanced *segment by segment* up to the next event, so an
   action that changes prices (a regime, a scripted path) applies from its own instant on.
2. Within a segment the new ticks arrive as arrays. The server then repeatedly finds the
   earliest thing that happens in them: for each position, the first tick that crosses its SL
   or TP (one vectorised comparison per position, never a loop over ticks), and for the account
   the first tick at which the margin level falls to the stop-out level (an equity curve over
   the merged tick times). The earliest one is applied at its tick: a stop closes at that
   tick's price (so a gap fills beyond the level, as a real stop does), a stop-out closes the
   worst position. Then the search repeats from that tick, because the account has changed.
3. The segment's last ticks become the current quotes.

A stop loss and a stop-out on the same tick: the stop is applied first.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from dtms.broker import constants as c
from dtms.broker.sim.account import money, side_sign
from dtms.broker.sim.faults import Faults, Link
from dtms.broker.sim.ledger import Book, Fill, Origin, Position, stop_tag
from dtms.broker.sim.quotes import Quote, Quotes, TickArrays, TickBlockLike, group_blocks
from dtms.broker.sim.settings import SimSettings
from dtms.broker.sim.symbols import SimSymbol

_DAY = 86_400
_NEVER = -(2**62)
MAX_SEGMENT_SECONDS = 3600.0
"""Longest stretch of market time advanced at once: bounds the tick arrays of a far jump."""


def to_msc(t: float) -> int:
    """Broker seconds as integer milliseconds, never rounded past ``t``."""
    return math.floor(t * 1000 + 1e-6)


class MarketLike(Protocol):
    """The part of ``dtms.broker.sim.market.Market`` the engine drives."""

    @property
    def now(self) -> float: ...
    def advance_to(self, t: float) -> Sequence[TickBlockLike]: ...
    def last_tick(self, symbol: str) -> tuple[int, float, float] | None: ...
    def is_open(self, symbol: str, t: float) -> bool: ...


@dataclass(order=True, slots=True)
class _Timed:
    time: float
    seq: int
    action: Callable[[], object] = field(compare=False)


class Timeline:
    """Actions due at broker times, earliest first (ties in scheduling order)."""

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        """Start empty."""
        self._heap: list[_Timed] = []
        self._seq = itertools.count()

    def schedule(self, t: float, action: Callable[[], object]) -> None:
        """Run ``action`` when the server reaches broker time ``t``."""
        heapq.heappush(self._heap, _Timed(t, next(self._seq), action))

    def next_time(self) -> float | None:
        """When the earliest action is due, or None."""
        return self._heap[0].time if self._heap else None

    def pop(self) -> Callable[[], object]:
        """Remove and return the earliest action."""
        return heapq.heappop(self._heap).action


class Engine:
    """Moves the server through time: market ticks, stops, stop-outs, timed events."""

    def __init__(
        self, market: MarketLike, book: Book, quotes: Quotes, symbols: dict[str, SimSymbol],
        settings: SimSettings, faults: Faults, link: Link,
    ) -> None:
        """Wire the engine; quotes are seeded from the market's latest ticks."""
        self.market = market
        self.book = book
        self.quotes = quotes
        self.symbols = symbols
        self.settings = settings
        self.faults = faults
        self.link = link
        self.timeline = Timeline()
        self.time_msc = to_msc(market.now)
        self._busy = False
        for name in symbols:
            quotes.seed(name, market.last_tick(name))
        start = market.now
        self.timeline.schedule((start // _DAY + 1) * _DAY, self._rollover)
        self._schedule_outage(start)
        self._schedule_external_close(start)

    @property
    def now(self) -> float:
        """The server's current broker time in seconds."""
        return self.time_msc / 1000.0

    def quote(self, symbol: str) -> Quote | None:
        """The current quote of ``symbol``."""
        return self.quotes.current(symbol)

    # --- advancing -------------------------------------------------------------------------
    def advance(self, t: float) -> None:
        """Bring the server to broker time ``t`` (no-op when called from inside an event)."""
        if self._busy:
            return
        self._busy = True
        try:
            while True:
                due = self.timeline.next_time()
                if due is not None and due <= t:
                    if due > self.market.now:
                        self._run_market(min(due, self.market.now + MAX_SEGMENT_SECONDS))
                        continue
                    self.time_msc = max(self.time_msc, to_msc(due))
                    self.timeline.pop()()
                    continue
                if t > self.market.now:
                    self._run_market(min(t, self.market.now + MAX_SEGMENT_SECONDS))
                    continue
                break
        finally:
            self._busy = False

    def _run_market(self, t: float) -> None:
        segment = {
            s: a for s, a in group_blocks(self.market.advance_to(t)).items() if s in self.symbols
        }
        self.quotes.begin(segment)
        try:
            cursor = _NEVER
            while segment:
                event = self._next_event(cursor)
                if event is None:
                    break
                cursor = event[0]
                self.quotes.move_to(cursor)
                self.time_msc = max(self.time_msc, cursor)
                if not event[1]():
                    break  # nothing could be closed (no quote): do not spin on it
        finally:
            self.quotes.end()
        self.time_msc = max(self.time_msc, to_msc(t))

    def _next_event(self, cursor: int) -> tuple[int, Callable[[], object]] | None:
        best: tuple[int, Callable[[], object]] | None = None
        segment = self.quotes.segment
        for pos in list(self.book.positions.values()):
            arrays = segment.get(pos.symbol)
            if arrays is None or not (pos.sl or pos.tp):
                continue
            hit = _first_stop(pos, arrays, cursor, self.symbols[pos.symbol].point)
            if hit is not None and (best is None or hit[0] < best[0]):
                best = (hit[0], _bind(self._stop_hit, pos, hit[1], hit[2]))
        stop_out = self._first_stop_out(cursor)
        if stop_out is not None and (best is None or stop_out[0] < best[0]):
            best = (stop_out[0], _bind(self._stop_out, stop_out[1]))
        return best

    # --- stops and stop-out ----------------------------------------------------------------
    def _stop_hit(self, pos: Position, reason: int, price: float) -> bool:
        sym = self.symbols[pos.symbol]
        level = pos.sl if reason == c.DEAL_REASON_SL else pos.tp
        tag = stop_tag(sym, level, "sl" if reason == c.DEAL_REASON_SL else "tp")
        if self.book.stop_tags:
            pos.comment = tag
        origin = Origin(reason=reason, magic=pos.magic, comment=tag)
        self.book.close(pos, pos.volume, price, origin=origin, time_msc=self.time_msc)
        return True

    def _stop_out(self, level: float) -> bool:
        quoted = [p for p in self.book.positions.values() if self.quotes.current(p.symbol)]
        if not quoted:
            return False
        worst = min(quoted, key=self._floating)
        origin = Origin(reason=c.DEAL_REASON_SO, magic=worst.magic, comment=f"so {level:.2f}%")
        return self.close_at_market(worst, worst.volume, origin) is not None

    def _floating(self, pos: Position) -> float:
        q = self.quotes.current(pos.symbol)
        return 0.0 if q is None else self.book.floating(pos, q[1], q[2]) + pos.swap

    def _first_stop_out(self, cursor: int) -> tuple[int, float] | None:
        book = self.book
        if not book.positions:
            return None
        margin = money(book.margin())
        if margin <= 0:
            return None
        segment = self.quotes.segment
        times = [
            segment[s].time_msc[segment[s].start_at(cursor):]
            for s in {p.symbol for p in book.positions.values()} if s in segment
        ]
        if not times:
            return None
        if not self._stop_out_possible(cursor, margin):
            return None
        grid = np.unique(np.concatenate(times))
        if grid.size == 0:
            return None
        base = book.balance + book.credit + sum(p.swap for p in book.positions.values())
        equity = np.full(grid.shape, base, dtype=np.float64)
        for pos in book.positions.values():
            arrays = segment.get(pos.symbol)
            if arrays is None:
                equity += self._floating(pos) - pos.swap
                continue
            equity += self._profit_curve(pos, arrays, grid)
        level = equity / margin * 100.0
        hits = np.flatnonzero(level <= self.settings.stop_out)
        if hits.size == 0:
            return None
        return int(grid[hits[0]]), float(level[hits[0]])

    def _stop_out_possible(self, cursor: int, margin: float) -> bool:
        """Whether the segment's prices could take the margin level to the stop-out at all.

        A cheap, conservative bound that spares the exact per-position scan when it cannot
        matter: every position's volume moved across its symbol's whole range (spread
        included) from the current quote. Only when even that leaves the level above the
        stop-out is the scan skipped.
        """
        book, segment = self.book, self.quotes.segment
        volumes: dict[str, float] = {}
        equity = book.balance + book.credit
        for pos in book.positions.values():
            equity += self._floating(pos)
            volumes[pos.symbol] = volumes.get(pos.symbol, 0.0) + pos.volume
        worst = 0.0
        for symbol, volume in volumes.items():
            arrays, quote = segment.get(symbol), self.quotes.current(symbol)
            if arrays is None or quote is None:
                continue
            start = arrays.start_at(cursor)
            if start >= arrays.time_msc.size:
                continue
            high = max(float(arrays.ask[start:].max()), quote[2])
            low = min(float(arrays.bid[start:].min()), quote[1])
            swing = np.array([low - (high - low)])  # a full range beyond the range, to be sure
            loss = self.book.money.profit_series(self.symbols[symbol], 0, volume, high, swing)
            worst += abs(float(loss[0]))
        return (equity - worst) / margin * 100.0 <= self.settings.stop_out

    def _profit_curve(self, pos: Position, arrays: TickArrays, grid: np.ndarray) -> np.ndarray:
        buy = side_sign(pos.type) > 0
        idx = np.searchsorted(arrays.time_msc, grid, side="right") - 1
        prices = arrays.bid if buy else arrays.ask
        before = self.quotes.before_segment(pos.symbol)
        first = float(prices[0]) if before is None else (before[1] if buy else before[2])
        closes = np.where(idx >= 0, prices[np.maximum(idx, 0)], first)
        sym = self.symbols[pos.symbol]
        return self.book.money.profit_series(sym, pos.type, pos.volume, pos.price_open, closes)

    # --- closes on behalf of someone else -----------------------------------------------------
    def close_at_market(self, pos: Position, volume: float, origin: Origin) -> Fill | None:
        """Close ``volume`` of ``pos`` at the current quote (None without a quote)."""
        q = self.quotes.current(pos.symbol)
        if q is None:
            return None
        price = q[1] if side_sign(pos.type) > 0 else q[2]
        return self.book.close(pos, volume, price, origin=origin, time_msc=self.time_msc)

    # --- timed server events ---------------------------------------------------------------
    def _rollover(self) -> None:
        midnight = int(self.now // _DAY * _DAY)
        ended_weekday = ((midnight - 1) // _DAY + 3) % 7  # 0 = Monday
        if self.settings.swaps and ended_weekday < 5:
            nights = 3 if ended_weekday == 2 else 1  # swap_rollover3days = Wednesday
            for pos in self.book.positions.values():
                q = self.quotes.current(pos.symbol)
                if q is None:
                    continue
                sym = self.symbols[pos.symbol]
                mid = (q[1] + q[2]) / 2.0
                self.book.charge_swap(
                    pos, nights * self.book.money.swap(sym, pos.type, pos.volume, mid)
                )
        self.timeline.schedule(midnight + _DAY, self._rollover)

    def _schedule_outage(self, after: float) -> None:
        t = self.faults.next_event_after(after, self.faults.settings.ipc_outages_per_hour)
        if t is not None:
            self.timeline.schedule(t, self._outage)

    def _outage(self) -> None:
        until = self.now + self.faults.settings.ipc_outage_seconds
        self.link.lose(self.now, until)
        self._schedule_outage(until)

    def _schedule_external_close(self, after: float) -> None:
        rate = self.faults.settings.external_closes_per_hour
        t = self.faults.next_event_after(after, rate)
        if t is not None:
            self.timeline.schedule(t, self._external_close)

    def _external_close(self) -> None:
        open_now = [
            p for p in self.book.positions.values() if self.market.is_open(p.symbol, self.now)
        ]
        if open_now:
            pos = open_now[self.faults.pick(len(open_now))]
            self.close_at_market(pos, pos.volume, Origin(reason=c.DEAL_REASON_CLIENT))
        self._schedule_external_close(self.now)


def _first_stop(
    pos: Position, arrays: TickArrays, cursor: int, point: float
) -> tuple[int, int, float] | None:
    """(time_msc, DEAL_REASON_SL/TP, fill price) of the first tick at/after ``cursor`` that
    crosses the position's SL or TP, or None."""
    i0 = arrays.start_at(cursor)
    if i0 >= len(arrays):
        return None
    buy = side_sign(pos.type) > 0
    px = arrays.bid[i0:] if buy else arrays.ask[i0:]
    eps = point * 1e-3
    hit = np.zeros(px.shape, dtype=bool)
    sl_hit = None
    if pos.sl:
        sl_hit = px <= pos.sl + eps if buy else px >= pos.sl - eps
        hit |= sl_hit
    if pos.tp:
        hit |= px >= pos.tp - eps if buy else px <= pos.tp + eps
    if not hit.any():
        return None
    j = int(np.argmax(hit))
    reason = c.DEAL_REASON_SL if sl_hit is not None and sl_hit[j] else c.DEAL_REASON_TP
    return int(arrays.time_msc[i0 + j]), reason, float(px[j])


def _bind(fn: Callable[..., object], *args: object) -> Callable[[], object]:
    return lambda: fn(*args)
