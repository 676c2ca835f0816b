"""One simulated symbol's tick feed: its current slice of ticks, its bars and its controls.

A ``Feed`` always holds one generated slice (``_Slice``) of ticks, of which the first ``e`` have
been emitted (their time is at or before the market's ``now``). Rolling to the next slice files
the finished one into the M1 bar store and the recent-tick buffer, then generates the next
slice from the finished slice's end state. Interventions (a forced regime, a scripted path, a
price jump) regenerate only the unemitted rest of the current slice, from the same draws.
"""

from __future__ import annotations

import math
import zlib

import numpy as np
import numpy.typing as npt

from dtms.broker.sim.bars import BarCols, BarStore, m1_from_ticks
from dtms.broker.sim.history import generate_history
from dtms.broker.sim.hours import Quoting, TradingHours
from dtms.broker.sim.market_settings import MarketSettings
from dtms.broker.sim.process import (
    I8,
    I32,
    I64,
    Draws,
    ProcState,
    Script,
    SymbolModel,
    compute_path,
    draw_slice,
    quotes,
    schedule,
    slice_rng,
    thin,
    with_extra_ticks,
)
from dtms.broker.sim.replay import F64, ReplayBars, synth_ticks
from dtms.broker.sim.symbols import SimSymbol
from dtms.broker.sim.tickbuffer import TickBuffer

NEVER_MS = 1 << 62
_EMPTY_I64 = np.empty(0, dtype=np.int64)
_HISTORY_STREAM = 1
_REPLAY_CHUNK_BARS = 2_000


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


class _Slice:
    """The generated ticks of one symbol in one time slice."""

    __slots__ = (
        "ask", "base_from", "base_state", "bid", "d", "e", "end_ms", "end_state", "index",
        "n", "next_ms", "regime", "spread", "start_ms", "t", "times", "x",
    )

    def __init__(
        self, index: int, start_ms: int, end_ms: int, d: Draws, x: F64, regime: I8, bid: F64,
        ask: F64, spread: I32, base_state: ProcState, base_from: int, end_state: ProcState,
    ) -> None:
        self.index, self.start_ms, self.end_ms = index, start_ms, end_ms
        self.base_state, self.base_from, self.end_state = base_state, base_from, end_state
        self.d, self.x, self.regime, self.spread = d, x, regime, spread
        self.t: I64 = _frozen(d.t_ms)
        self.bid: F64 = _frozen(bid)
        self.ask: F64 = _frozen(ask)
        self.times: list[int] = self.t.tolist()
        self.n = len(self.times)
        self.e = 0
        self.next_ms = self.times[0] if self.n else NEVER_MS

    def emit_through(self, t_ms: int) -> None:
        """Mark every tick at or before ``t_ms`` as emitted."""
        j = int(np.searchsorted(self.t, t_ms, side="right"))
        self.e = max(self.e, j)
        self.next_ms = self.times[self.e] if self.e < self.n else NEVER_MS


class Feed:
    """The ticks, bars and controls of one simulated symbol."""

    def __init__(
        self, sym: SimSymbol, settings: MarketSettings, hours: TradingHours, seed: int,
        start_ms: int, quoting: Quoting | None = None,
    ) -> None:
        """Generate history up to the minute of ``start_ms`` and the slice containing it.

        ``quoting`` defaults to the symbol's own week (weekend or not), without breaks.
        """
        self.sym = sym
        self.quoting = quoting if quoting is not None else Quoting(sym.trades_weekends)
        self.name = sym.name
        self.model = SymbolModel.build(sym, settings)
        self.key = zlib.crc32(sym.name.encode("utf-8"))
        self.seed = seed
        self.hours = hours
        self.slice_ms = settings.slice_minutes * 60_000
        self.max_ticks_per_bar = settings.replay_max_ticks_per_bar
        self.store = BarStore(settings.max_bars)
        self.ticks = TickBuffer(settings.tick_buffer)
        self.script: Script | None = None
        self.replay: ReplayBars | None = None
        self.extra: I64 = _EMPTY_I64
        self.last: tuple[int, float, float] | None = None
        self._partial_key: tuple[int, int, int] = (-1, -1, -1)
        self._partial = BarCols.empty()
        self._generation = 0
        m0 = start_ms // 60_000 * 60
        rng = np.random.default_rng([seed, self.key, _HISTORY_STREAM])
        hist = generate_history(
            self.model, rng, hours, self.quoting, m0, settings.history_days,
            sym.start_price,
        )
        self.store.append(hist.bars)
        if len(hist.bars):
            b = hist.bars
            close = float(b.close[-1])
            ask = round(close + int(b.spread[-1]) * self.model.point, self.model.digits)
            self.last = (int(b.time[-1]) * 1000 + 59_000, close, ask)
        self.cur = self._generate(start_ms // self.slice_ms, hist.state, m0 * 1000)
        self.cur.emit_through(start_ms)

    # -- generation -------------------------------------------------------------------------

    def _open_minutes(self, start_ms: int) -> npt.NDArray[np.bool_]:
        minutes = start_ms / 1000.0 + 60.0 * np.arange(self.slice_ms // 60_000, dtype=np.float64)
        return self.hours.open_mask(minutes, self.quoting)

    def _open_times(self, times_ms: I64) -> I64:
        if times_ms.shape[0] == 0:
            return times_ms
        mask = self.hours.open_mask(
            np.asarray(times_ms / 1000.0, dtype=np.float64), self.quoting
        )
        return times_ms[mask]

    def _process(
        self, index: int, state: ProcState, from_ms: int
    ) -> tuple[Draws, F64, I8, ProcState]:
        start = index * self.slice_ms
        d = self._draws(index)
        if from_ms > start:
            i = int(np.searchsorted(d.t_ms, from_ms, side="left"))
            d = Draws(d.t_ms[i:], d.z[i:], d.zs[i:], d.u_switch, d.u_choice)
        d = with_extra_ticks(d, self._open_times(self.extra), from_ms - 1, start + self.slice_ms)
        x, regime, end = compute_path(d, 0, state, from_ms, start, self.model, self.script)
        return d, x, regime, end

    def _draws(self, index: int) -> Draws:
        """The random numbers of slice ``index`` under the current quoting."""
        start = index * self.slice_ms
        d = draw_slice(
            slice_rng(self.seed, self.key, index), start, self._open_minutes(start),
            self.model.ticks_per_minute,
        )
        return thin(d, round(self.quoting.tick_seconds * 1000))

    def _generate(self, index: int, state: ProcState, from_ms: int) -> _Slice:
        start, end = index * self.slice_ms, (index + 1) * self.slice_ms
        self._generation += 1
        rb = self.replay
        if rb is None:
            d, x, regime, end_state = self._process(index, state, from_ms)
            bid, ask, spread = quotes(x, d.zs, regime, self.model)
            return _Slice(
                index, start, end, d, x, regime, bid, ask, spread, state, from_ms, end_state
            )
        t, bid, ask, spread = self._replay_ticks(rb, max(from_ms, start), end)
        x = np.log((bid + ask) * 0.5)
        end_state = state
        if t.shape[0]:
            xl = float(x[-1])
            end_state = ProcState(xl, int(t[-1]), state.regime, None, xl)
        zeros = np.zeros(t.shape[0])
        n_min = self.slice_ms // 60_000
        d = Draws(t, zeros, zeros, np.ones(n_min), np.zeros(n_min))
        regime = np.full(t.shape[0], end_state.regime, dtype=np.int8)
        file_end = rb.end_s * 1000
        if file_end < end:
            state, from_ms = end_state, max(from_ms, file_end, start)
            pd, px, pregime, end_state = self._process(index, state, from_ms)
            pbid, pask, pspread = quotes(px, pd.zs, pregime, self.model)
            d = Draws(
                np.concatenate((t, pd.t_ms)), np.concatenate((zeros, pd.z)),
                np.concatenate((zeros, pd.zs)), pd.u_switch, pd.u_choice,
            )
            x, regime = np.concatenate((x, px)), np.concatenate((regime, pregime))
            bid, ask = np.concatenate((bid, pbid)), np.concatenate((ask, pask))
            spread = np.concatenate((spread, pspread))
        return _Slice(index, start, end, d, x, regime, bid, ask, spread, state, from_ms, end_state)

    def _replay_ticks(
        self, rb: ReplayBars, lo_ms: int, hi_ms: int
    ) -> tuple[I64, F64, F64, I32]:
        i_lo = int(np.searchsorted(rb.time, lo_ms // 1000 - rb.tf_s, side="right"))
        i_hi = int(np.searchsorted(rb.time, -(-hi_ms // 1000), side="left"))
        t, bid, ask, spread = synth_ticks(
            rb, i_lo, i_hi, self.model.point, self.model.digits, self.max_ticks_per_bar
        )
        keep = (t >= lo_ms) & (t < hi_ms)
        return t[keep], bid[keep], ask[keep], spread[keep]

    def roll(self) -> None:
        """File the current slice (all of it emitted) and generate the next one."""
        c = self.cur
        self.store.append(m1_from_ticks(c.t, c.bid, c.spread))
        self.ticks.append(c.t, c.bid, c.ask)
        if c.n:
            self.last = (c.times[-1], float(c.bid[-1]), float(c.ask[-1]))
        if self.script is not None and self.script.end_ms < c.end_ms:
            self.script = None
        if self.replay is not None and self.replay.end_s * 1000 <= c.end_ms:
            self.replay = None
        if self.extra.shape[0]:
            self.extra = self.extra[self.extra >= c.end_ms]
        self.cur = self._generate(c.index + 1, c.end_state, c.end_ms)

    # -- reading ----------------------------------------------------------------------------

    def last_tick(self) -> tuple[int, float, float] | None:
        """Return the newest emitted tick as (time_msc, bid, ask)."""
        c = self.cur
        if c.e:
            i = c.e - 1
            return c.times[i], float(c.bid[i]), float(c.ask[i])
        return self.last

    def partial_bars(self) -> BarCols:
        """Return the M1 bars of the current slice's emitted ticks (the last may be forming)."""
        c = self.cur
        key = (self._generation, c.index, c.e)
        if key != self._partial_key:
            e = c.e
            self._partial = m1_from_ticks(c.t[:e], c.bid[:e], c.spread[:e])
            self._partial_key = key
        return self._partial

    def emitted_tail(self) -> tuple[I64, F64, F64]:
        """Return the emitted ticks of the current slice."""
        c = self.cur
        return c.t[: c.e], c.bid[: c.e], c.ask[: c.e]

    @property
    def nbytes(self) -> int:
        """Bytes held by bars, buffered ticks and the current slice."""
        c = self.cur
        arrays = (c.t, c.bid, c.ask, c.x, c.regime, c.spread, c.d.z, c.d.zs)
        return self.store.nbytes + self.ticks.nbytes + sum(a.nbytes for a in arrays)

    # -- interventions ----------------------------------------------------------------------

    def state_at(self, now_ms: int) -> ProcState:
        """Return the process state at ``now_ms`` (the newest emitted tick and the regime)."""
        c = self.cur
        if c.e:
            x, t = float(c.x[c.e - 1]), c.times[c.e - 1]
        else:
            x, t = c.base_state.x, c.base_state.t_ms
        _, codes, forced = schedule(
            c.base_state, c.base_from, c.start_ms, c.d, self.model, until_ms=now_ms
        )
        return ProcState(x, t, codes[-1], forced, x)

    def recompute(self, state: ProcState, now_ms: int, *, redraw: bool = False) -> None:
        """Regenerate the unemitted rest of the current slice from ``state`` at ``now_ms``.

        With ``redraw`` the rest's tick times are drawn again, for a change of quoting (a new
        break, a quiet interval); otherwise the same draws carry a new path.
        """
        c = self.cur
        i0 = c.e
        from_ms = now_ms + 1
        d = c.d
        if redraw:
            fresh = self._draws(c.index)
            j = int(np.searchsorted(fresh.t_ms, from_ms, side="left"))
            d = Draws(
                np.concatenate((d.t_ms[:i0], fresh.t_ms[j:])),
                np.concatenate((d.z[:i0], fresh.z[j:])),
                np.concatenate((d.zs[:i0], fresh.zs[j:])),
                fresh.u_switch, fresh.u_choice,
            )
        d = with_extra_ticks(d, self._open_times(self.extra), now_ms, c.end_ms)
        x, regime, end_state = compute_path(d, i0, state, from_ms, c.start_ms, self.model,
                                            self.script)
        bid, ask, spread = quotes(x, d.zs[i0:], regime, self.model)
        self._generation += 1
        new = _Slice(
            c.index, c.start_ms, c.end_ms, d,
            np.concatenate((c.x[:i0], x)), np.concatenate((c.regime[:i0], regime)),
            np.concatenate((c.bid[:i0], bid)), np.concatenate((c.ask[:i0], ask)),
            np.concatenate((c.spread[:i0], spread)), state, from_ms, end_state,
        )
        new.emit_through(now_ms)
        self.cur = new

    def load_replay(self, rb: ReplayBars, now_ms: int) -> None:
        """Make the file the source of this symbol's bars and ticks from now on."""
        state = self.state_at(now_ms)
        self.replay, self.script, self.extra = rb, None, _EMPTY_I64
        self.store.clear()
        self.ticks.clear()
        self.last = None
        cs = self.cur.start_ms
        first = int(np.searchsorted(rb.time, cs // 1000 - self.store_span_s(), side="left"))
        stop = int(np.searchsorted(rb.time, cs // 1000, side="left"))
        for lo in range(first, stop, _REPLAY_CHUNK_BARS):
            hi = min(stop, lo + _REPLAY_CHUNK_BARS)
            t, bid, ask, spread = synth_ticks(
                rb, lo, hi, self.model.point, self.model.digits, self.max_ticks_per_bar
            )
            keep = t < cs
            t, bid, ask, spread = t[keep], bid[keep], ask[keep], spread[keep]
            self.store.append(m1_from_ticks(t, bid, spread))
            self.ticks.append(t, bid, ask)
            if t.shape[0]:
                self.last = (int(t[-1]), float(bid[-1]), float(ask[-1]))
        if self.last is not None:
            x = math.log((self.last[1] + self.last[2]) * 0.5)
            state = ProcState(x, self.last[0], state.regime, None, x)
        if rb.end_s * 1000 <= cs:
            self.replay = None
        self.cur = self._generate(self.cur.index, state, cs)
        self.cur.emit_through(now_ms)

    def store_span_s(self) -> int:
        """Seconds of M1 bars the store can hold."""
        return self.store.max_bars * 60
