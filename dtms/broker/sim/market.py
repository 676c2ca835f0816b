"""The simulated market: ticks and bars of every simulated symbol, on demand.

Theory of operation. The market keeps a broker time ``now`` and moves only when told to:
``advance_to(t)`` emits every tick in (now, t] and returns them per symbol; the engine calls it
before answering each API call. Ticks come from each symbol's ``Feed`` (a regime-switching
price process, or a replayed bar file). Bars are built from ticks on demand: closed M1 bars sit
in a capped store, the current slice's emitted ticks make the newest ones, and every higher
timeframe is an aggregation of M1 bars, so all timeframes agree and closed bars never change.

Random draws are keyed by (seed, symbol, slice index), so the same seed and the same
interventions give the same ticks however the advances are chunked. Not thread-safe: the engine
serialises calls.
"""

from __future__ import annotations

import math
import os
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import numpy.typing as npt

from dtms.broker.rates import RATES_DTYPE, TICKS_DTYPE, timeframe_seconds
from dtms.broker.sim.bars import aggregate, bar_open, last_bars, m1_window
from dtms.broker.sim.feed import NEVER_MS, Feed
from dtms.broker.sim.hours import Quoting, TradingHours
from dtms.broker.sim.market_settings import MarketSettings
from dtms.broker.sim.process import (
    CODE_OF_REGIME,
    FOREVER_MS,
    RANGE,
    REGIME_OF_CODE,
    MarketRegime,
    Script,
)
from dtms.broker.sim.replay import read_mt5_csv
from dtms.broker.sim.symbols import SimSymbol

__all__ = ["Market", "MarketRegime", "MarketSettings", "Quoting", "TickBlock"]

_DEFAULT_SETTINGS = MarketSettings()


@dataclass(frozen=True, slots=True)
class TickBlock:
    """New ticks of one symbol, ascending in time (read-only arrays)."""

    symbol: str
    time_msc: npt.NDArray[np.int64]
    bid: npt.NDArray[np.float64]
    ask: npt.NDArray[np.float64]


def _slot_setter(name: str) -> Callable[[TickBlock, object], None]:
    setter: Callable[[TickBlock, object], None] = vars(TickBlock)[name].__set__
    return setter


_BLOCK_SETTERS = (
    object.__new__,
    _slot_setter("symbol"),
    _slot_setter("time_msc"),
    _slot_setter("bid"),
    _slot_setter("ask"),
)


def _ms_floor(t: float) -> int:
    return math.floor(t * 1000.0 + 1e-3)


def _ms_ceil(t: float) -> int:
    return math.ceil(t * 1000.0 - 1e-3)


def _finite(t: float, what: str) -> float:
    value = float(t)
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite broker time in seconds, got {t!r}")
    return value


class Market:
    """Ticks and bars of the simulated symbols, generated lazily up to ``now``."""

    def __init__(
        self, symbols: Mapping[str, SimSymbol], start: float,
        settings: MarketSettings = _DEFAULT_SETTINGS, *, seed: int = 1,
        quoting: Mapping[str, Quoting] | None = None,
    ) -> None:
        """Create the market at broker time ``start`` with ``settings.history_days`` of M1 bars.

        Args:
            symbols: the simulated symbols, by name.
            start: broker-server epoch seconds the market starts at.
            settings: the market's knobs.
            seed: the random seed; the same seed gives the same market.
            quoting: per symbol, daily breaks and a quiet tick interval (default: the
                symbol quotes all week, or all the time if it trades weekends).
        """
        start = _finite(start, "start")
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        for key, sym in symbols.items():
            if key != sym.name:
                raise ValueError(f"symbol table key {key!r} names the symbol {sym.name!r}")
        self.symbols: Mapping[str, SimSymbol] = MappingProxyType(dict(symbols))
        self.settings = settings
        self._hours = TradingHours(settings)
        self._slice_ms = settings.slice_minutes * 60_000
        self._now = start
        self._now_ms = _ms_floor(start)
        quoting = quoting or {}
        unknown = sorted(set(quoting) - set(self.symbols))
        if unknown:
            raise ValueError(f"quoting names symbols the market does not list: {unknown}")
        self._feeds = [
            Feed(sym, settings, self._hours, seed, self._now_ms, quoting.get(sym.name))
            for sym in self.symbols.values()
        ]
        self._by_name = {f.name: f for f in self._feeds}
        self._slice_end_ms = (self._now_ms // self._slice_ms + 1) * self._slice_ms

    @property
    def now(self) -> float:
        """Broker time the market has been advanced to."""
        return self._now

    def _feed(self, symbol: str) -> Feed:
        try:
            return self._by_name[symbol]
        except KeyError:
            raise KeyError(f"unknown simulated symbol {symbol!r}") from None

    # -- time -------------------------------------------------------------------------------

    def advance_to(self, t: float) -> list[TickBlock]:
        """Emit the ticks in (now, t] and return them per symbol (symbols with ticks only).

        A target at or before ``now`` returns an empty list. Every tick in between is returned,
        so callers jumping far ahead (days) should step, to bound the size of the answer.
        """
        if not t > self._now:
            if math.isnan(t):
                raise ValueError("advance_to needs a broker time, got nan")
            return []
        if t == math.inf:
            raise ValueError("advance_to needs a finite broker time, got inf")
        t_ms = math.floor(t * 1000.0 + 1e-3)
        if t_ms < self._slice_end_ms:
            out: list[TickBlock] = []
            # This loop runs on every engine cycle; filling the slots directly halves the cost
            # of building each frozen TickBlock compared with its generated __init__.
            new, set_symbol, set_time, set_bid, set_ask = _BLOCK_SETTERS
            for f in self._feeds:
                c = f.cur
                if t_ms < c.next_ms:
                    continue
                e = c.e
                times = c.times
                j = bisect_right(times, t_ms, e)
                block = new(TickBlock)
                set_symbol(block, f.name)
                set_time(block, c.t[e:j])
                set_bid(block, c.bid[e:j])
                set_ask(block, c.ask[e:j])
                out.append(block)
                c.e = j
                c.next_ms = times[j] if j < c.n else NEVER_MS
            self._now, self._now_ms = t, t_ms
            return out
        return self._advance_across(t, t_ms)

    def _advance_across(self, t: float, t_ms: int) -> list[TickBlock]:
        pieces: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in self._feeds]
        while t_ms >= self._slice_end_ms:
            for f, acc in zip(self._feeds, pieces, strict=True):
                c = f.cur
                if c.e < c.n:
                    acc.append((c.t[c.e :], c.bid[c.e :], c.ask[c.e :]))
                    c.e = c.n
                f.roll()
            self._slice_end_ms += self._slice_ms
        out: list[TickBlock] = []
        for f, acc in zip(self._feeds, pieces, strict=True):
            c = f.cur
            e = c.e
            c.emit_through(t_ms)
            if c.e > e:
                acc.append((c.t[e : c.e], c.bid[e : c.e], c.ask[e : c.e]))
            if not acc:
                continue
            if len(acc) == 1:
                out.append(TickBlock(f.name, *acc[0]))
            else:
                arrays = [np.concatenate([p[k] for p in acc]) for k in range(3)]
                for a in arrays:
                    a.flags.writeable = False
                out.append(TickBlock(f.name, arrays[0], arrays[1], arrays[2]))
        self._now, self._now_ms = t, t_ms
        return out

    def is_open(self, symbol: str, t: float) -> bool:
        """Return whether ``symbol`` quotes at broker time ``t``."""
        return self._hours.is_open(t, self._feed(symbol).quoting)

    def quoting(self, symbol: str) -> Quoting:
        """Return when and how often ``symbol`` quotes."""
        return self._feed(symbol).quoting

    def set_quoting(self, symbol: str, quoting: Quoting) -> None:
        """Change when and how often ``symbol`` quotes, from now on.

        The ticks not yet emitted are drawn again under the new rules (a break that starts
        later today has no ticks, a quiet symbol thins out at once); bars already closed stay.
        """
        f = self._feed(symbol)
        self._check_not_replaying(f, "change the quoting of")
        if quoting == f.quoting:
            return
        state = f.state_at(self._now_ms)
        f.quoting = quoting
        f.recompute(state, self._now_ms, redraw=True)

    # -- quotes and bars --------------------------------------------------------------------

    def last_tick(self, symbol: str) -> tuple[int, float, float] | None:
        """Return the newest tick at or before ``now`` as (time_msc, bid, ask), or None."""
        f = self._by_name.get(symbol)
        return None if f is None else f.last_tick()

    def rates_from_pos(
        self, symbol: str, timeframe: int, start_pos: int, count: int
    ) -> npt.NDArray[np.void] | None:
        """Return ``count`` bars ending ``start_pos`` bars back from the newest (position 0).

        Position 0 is the current, possibly forming, bar. Rows ascend in time. None if the
        symbol is unknown.
        """
        f = self._by_name.get(symbol)
        if f is None:
            return None
        tf_s = timeframe_seconds(timeframe)
        if start_pos < 0 or count < 0:
            raise ValueError(f"start_pos and count must be >= 0, got {start_pos}, {count}")
        bars = last_bars(f.store.view(), f.partial_bars(), tf_s, None, start_pos + count)
        n = len(bars)
        return bars.slice(0, max(0, n - start_pos)).to_rates()

    def rates_from(
        self, symbol: str, timeframe: int, date_from: float, count: int
    ) -> npt.NDArray[np.void] | None:
        """Return the last ``count`` bars whose open time is at or before ``date_from``."""
        f = self._by_name.get(symbol)
        if f is None:
            return None
        tf_s = timeframe_seconds(timeframe)
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        hi_s = bar_open(_finite(date_from, "date_from"), tf_s) + tf_s
        return last_bars(f.store.view(), f.partial_bars(), tf_s, hi_s, count).to_rates()

    def rates_range(
        self, symbol: str, timeframe: int, date_from: float, date_to: float
    ) -> npt.NDArray[np.void] | None:
        """Return the bars whose open time lies in [date_from, date_to]."""
        f = self._by_name.get(symbol)
        if f is None:
            return None
        tf_s = timeframe_seconds(timeframe)
        lo_t, hi_t = _finite(date_from, "date_from"), _finite(date_to, "date_to")
        if hi_t < lo_t:
            return np.empty(0, dtype=RATES_DTYPE)
        lo_s = bar_open(lo_t, tf_s)
        if lo_s < lo_t:
            lo_s += tf_s
        hi_s = bar_open(hi_t, tf_s) + tf_s
        m1, _ = m1_window(f.store.view(), f.partial_bars(), lo_s, hi_s, None)
        return aggregate(m1, tf_s).to_rates()

    def ticks_range(
        self, symbol: str, t_from: float, t_to: float
    ) -> npt.NDArray[np.void] | None:
        """Return emitted ticks with t_from <= time <= t_to from the recent-tick buffer."""
        f = self._by_name.get(symbol)
        if f is None:
            return None
        lo, hi = _ms_ceil(_finite(t_from, "t_from")), _ms_floor(_finite(t_to, "t_to"))
        if hi < lo:
            return np.empty(0, dtype=TICKS_DTYPE)
        return f.ticks.select(lo, hi, f.emitted_tail())

    # -- scenario and test control ----------------------------------------------------------

    def regime(self, symbol: str) -> MarketRegime:
        """Return the regime driving ``symbol`` now (never AUTO)."""
        f = self._feed(symbol)
        return REGIME_OF_CODE[f.state_at(self._now_ms).regime]

    def _check_not_replaying(self, f: Feed, what: str) -> None:
        if f.replay is not None and f.replay.end_s * 1000 > self._now_ms:
            raise ValueError(
                f"{f.name} replays {f.replay.path} until {f.replay.end_s}; cannot {what} it"
            )

    def set_regime(
        self, symbol: str, regime: MarketRegime, *, until: float | None = None
    ) -> None:
        """Force ``regime`` on ``symbol`` from now until ``until`` (None: until changed).

        ``MarketRegime.AUTO`` returns to random switching. After ``until`` (honoured at the next
        minute boundary) random switching picks the next regime.
        """
        f = self._feed(symbol)
        self._check_not_replaying(f, "set the regime of")
        state = f.state_at(self._now_ms)
        if regime is MarketRegime.AUTO:
            state.forced_until = None
        else:
            state.regime = CODE_OF_REGIME[regime]
            state.forced_until = FOREVER_MS if until is None else _ms_floor(
                _finite(until, "until")
            )
            if state.regime == RANGE:
                state.anchor = state.x
        f.recompute(state, self._now_ms)

    def script_path(
        self, symbol: str, points: Sequence[tuple[float, float]], *, noise: float = 0.0
    ) -> None:
        """Drive the mid of ``symbol`` along a piecewise-linear path through waypoints.

        From its mid at ``now``, the mid moves linearly to each (broker_time, mid) waypoint in
        turn; a tick is placed exactly at every waypoint time the market is open. ``noise``
        adds Gaussian noise of ``noise`` x price per tick. After the last waypoint the regime
        process resumes from there.
        """
        f = self._feed(symbol)
        self._check_not_replaying(f, "script")
        if not points:
            raise ValueError("script_path needs at least one (time, mid) waypoint")
        noise = float(noise)
        if not (math.isfinite(noise) and 0.0 <= noise < 0.5):
            raise ValueError(f"noise must be in [0, 0.5), got {noise!r}")
        times = [self._now_ms]
        mids = []
        for t, mid in points:
            t_ms = _ms_floor(_finite(t, "waypoint time"))
            if t_ms <= times[-1]:
                raise ValueError(
                    f"waypoint times must increase and lie after now ({self._now}); got {t}"
                )
            if not (math.isfinite(mid) and mid > 0):
                raise ValueError(f"waypoint mid must be a positive price, got {mid!r}")
            times.append(t_ms)
            mids.append(float(mid))
        state = f.state_at(self._now_ms)
        mid_now = math.exp(state.x)
        t_arr = np.asarray(times, dtype=np.int64)
        f.script = Script(t_arr, np.asarray([mid_now, *mids], dtype=np.float64), noise)
        f.extra = t_arr[1:]
        f.recompute(state, self._now_ms)

    def set_mid(self, symbol: str, mid: float) -> None:
        """Jump the mid of ``symbol`` to ``mid`` now; the next tick (1 ms on) shows it.

        Cancels a scripted path; the regime process continues from the new level.
        """
        f = self._feed(symbol)
        self._check_not_replaying(f, "set the mid of")
        if not (math.isfinite(mid) and mid > 0):
            raise ValueError(f"mid must be a positive price, got {mid!r}")
        state = f.state_at(self._now_ms)
        state.x = state.anchor = math.log(mid)
        state.t_ms = self._now_ms
        f.script = None
        f.extra = np.asarray([self._now_ms + 1], dtype=np.int64)
        f.recompute(state, self._now_ms)

    def load_csv(self, symbol: str, path: str | os.PathLike[str]) -> None:
        """Replay an MT5 "Export bars" file as ``symbol``'s bars and ticks.

        Bars of the file before now become the symbol's history; later ones are replayed as
        ticks as time advances. After the file's last bar the regime process resumes.

        Raises:
            ValueError: the file is unreadable or malformed (names file, line and problem).
        """
        f = self._feed(symbol)
        bars = read_mt5_csv(path, f.sym.spread)
        f.load_replay(bars, self._now_ms)

    # -- introspection ----------------------------------------------------------------------

    @property
    def nbytes(self) -> int:
        """Approximate bytes held by bars, tick buffers and current slices of every symbol."""
        return sum(f.nbytes for f in self._feeds)
