"""One replay job: a group of trades run through the live runtime on a simulated account.

Theory of operation: a job builds the embedded simulator on a ``trio.testing.MockClock`` (the
broker clock is the Trio clock, as in the end-to-end tests), loads every bar file into it (the
bars before the start become history, the later ones are replayed as ticks) and starts the
same ``serve`` that ``dtms run`` starts: journal, gateway, supervisor, one actor per trade.
A driver task then walks the trades' events in time order. At an entry it opens two copies at
the same quote: the managed one (magic 0, like a trader's hand) and the unmanaged one under
``unmanaged_magic``, which the supervisor is told to ignore. At a trader's exit it closes the
same volume of both copies by hand; the simulated broker does every SL and TP by itself.

Time runs as Trio's virtual time does, cycle after cycle of the supervisor, while dtms manages
a trade. While it manages none, nothing dtms would do depends on time passing, so the driver
jumps the clock straight to the next entry; the simulator still processes every tick in
between (the unmanaged copies' stops) when it is next asked. Likewise while the bars of every
symbol dtms manages have a hole of more than ``GAP_JUMP_SECONDS`` (a weekend, a holiday, a
quiet night of a thin symbol): no tick arrives there, so no snapshot could differ from the
one before it, and the clock jumps to the first bar after the hole. At the end of the bars every
position left is closed by hand. The outcome is read from the simulated broker's deals and
from the journal (see ``dtms.replay.outcome``).
"""

from __future__ import annotations

import math
import time
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import trio
import trio.testing
from loguru import logger

from dtms.broker.sim import SimBroker
from dtms.broker.sim.symbols import SimSymbol, default_symbols
from dtms.config import Settings
from dtms.core.symbols import normalise_symbol
from dtms.replay.bars import BarFile, ReplayInputError
from dtms.replay.job import Job
from dtms.replay.outcome import JobResult, collect
from dtms.runtime.app import App, serve
from dtms.runtime.clock import broker_clock_from
from dtms.runtime.executor import InlineExecutor

LEAD_SECONDS = 60
"""The simulator starts this long before a job's first entry."""
GAP_JUMP_SECONDS = 600
"""A hole in the bars at least this long is skipped in one step (see above)."""
_QUOTE_MAX_AGE = 300
"""An entry needs a quote at most this old (else the market is shut: the trade is skipped)."""


def sim_symbols(files: tuple[BarFile, ...] | list[BarFile]) -> dict[str, SimSymbol]:
    """The simulator's symbol table: each file's symbol with the rules of its base symbol."""
    table = default_symbols()
    out = {}
    for f in files:
        base = table.get(f.symbol) or table.get(normalise_symbol(f.symbol))
        if base is None:
            known = ", ".join(sorted(table))
            raise ReplayInputError(f"{f.path}: symbol {f.symbol} is unknown to the simulator "
                                   f"(it knows {known}, with broker suffixes such as .m)")
        out[f.symbol] = replace(base, name=f.symbol, start_price=float(f.bars.close[0]))
    return out


def replay_settings(job: Job, start: float, journal: Path) -> Settings:
    """The job's settings: the variant's, plus what a replay needs of the runtime."""
    s, r, clock = job.settings, job.replay, job.clock
    # the simulated account changes only by the replay's hand (no AutoTrading button, no
    # other program): its state and its deals are re-read hourly instead of every few seconds
    # each job's simulated account is its own (every worker's has the same login): its lock
    # lives beside its journal, so parallel jobs never take one another for a second manager
    sup = replace(s.supervisor, cycle_seconds=r.cycle_seconds, heartbeat_seconds=1e9,
                  account_lock_dir=str(journal.with_suffix(".locks")),
                  ignore_magics=(*s.supervisor.ignore_magics, r.unmanaged_magic),
                  account_refresh_seconds=max(s.supervisor.account_refresh_seconds, 3600.0),
                  foreign_check_seconds=max(s.supervisor.foreign_check_seconds, 3600.0))
    market = replace(s.broker.market, broker_utc_offset_hours=clock.utc_offset_hours,
                     weekend_close_hour=clock.week_close_utc_hour % 24,
                     weekend_open_hour=clock.week_open_utc_hour % 24,
                     history_days=0, max_bars=r.history_bars)
    sim = replace(s.broker.sim, start_time=float(start), balance=r.balance, leverage=500)
    return replace(
        s, supervisor=sup, broker=replace(s.broker, market=market, sim=sim),
        journal=replace(s.journal, path=str(journal)),
        indicators=replace(s.indicators, broker_utc_offset_hours=clock.utc_offset_hours),
    )


_IDLE_CHECK_CYCLES = 10


def _hole_starts(f: BarFile) -> np.ndarray:
    """Times at which a hole of at least ``GAP_JUMP_SECONDS`` in the file's bars begins."""
    t = f.bars.time
    ends = t[:-1] + f.bars.tf_s
    starts = ends[(t[1:] - ends) >= GAP_JUMP_SECONDS].astype(np.float64)
    return np.concatenate((starts, [math.inf]))


class _Driver:
    """Opens, closes and waits, on the job's virtual time."""

    def __init__(self, job: Job, sim: SimBroker, app: App, clock: trio.testing.MockClock,
                 epoch: float) -> None:
        self.job, self.sim, self.app, self.clock, self.epoch = job, sim, app, clock, epoch
        self.magic = job.replay.unmanaged_magic
        self.tickets: dict[int, tuple[int, int]] = {}
        """Trade index -> (managed ticket, unmanaged ticket)."""
        self.skipped: dict[int, str] = {}
        self.holes = [_hole_starts(f) for f in job.files]

    def now(self) -> float:
        return self.epoch + self.clock.current_time()

    def _positions(self) -> tuple[Any, ...]:
        return self.sim.positions_get() or ()

    def idle(self) -> bool:
        """Nothing dtms does depends on time: no actor, no position dtms could act on."""
        if self.app.supervisor.actors:
            return False
        return all(p.magic == self.magic for p in self._positions())

    def _hole_end(self, now: float) -> float | None:
        """End of the hole in the bars of every managed symbol that ``now`` lies in, if any."""
        symbols = {a.trade.symbol for a in self.app.supervisor.actors.values()}
        ends = []
        for f in self.job.files:
            if f.symbol not in symbols:
                continue
            t = f.bars.time
            i = int(np.searchsorted(t, now, side="right"))
            if i >= len(t):
                return None
            if i > 0 and now < t[i - 1] + f.bars.tf_s:
                return None  # inside a bar: ticks are coming
            if t[i] - now < GAP_JUMP_SECONDS:
                return None
            ends.append(float(t[i]))
        return min(ends) if ends else None

    def _next_hole(self, now: float) -> float:
        """When the next hole in any file's bars begins (inf: none left)."""
        starts = [h[int(np.searchsorted(h, now, side="right"))] for h in self.holes
                  if h[-1] > now]
        return min(starts, default=math.inf)

    async def until(self, t: float) -> None:
        """Let time reach ``t``: cycle by cycle while dtms manages a trade, else at once.

        While cycles run the driver only wakes at ``t``, where a hole in the bars begins, and
        every ``_IDLE_CHECK_CYCLES`` cycles to see whether dtms still manages anything.
        """
        step = self.job.replay.cycle_seconds
        while (now := self.now()) < t:
            if self.idle():
                self.clock.jump(t - now)
                await trio.sleep(0)
                return
            hole_end = self._hole_end(now)
            if hole_end is not None:
                self.clock.jump(min(hole_end, t) - now)
                await trio.sleep(0)
                continue
            wake = min(t, self._next_hole(now) + 1.0, now + step * _IDLE_CHECK_CYCLES)
            await trio.sleep(max(wake - now, 0.0))

    def open(self, i: int) -> None:
        spec = self.job.trades[i]
        tick = self.sim.symbol_info_tick(spec.symbol)
        info = self.sim.symbol_info(spec.symbol)
        if tick is None or info is None or self.now() - tick.time_msc / 1000 > _QUOTE_MAX_AGE:
            self.skipped[i] = "no quote at the entry time (market closed)"
            return
        s = spec.side.sign
        price = tick.ask if s > 0 else tick.bid
        sl = round(price - s * spec.sl_distance, info.digits) if spec.sl_distance else 0.0
        tp = round(price + s * spec.tp_distance, info.digits) if spec.tp_distance else 0.0
        opened = [self.sim.scenario.open_position(spec.symbol, spec.side.value, spec.volume,
                                                  sl=sl, tp=tp, magic=magic)
                  for magic in (0, self.magic)]
        self.tickets[i] = (opened[0], opened[1])

    def exit(self, i: int, volume: float | None) -> None:
        for ticket in self.tickets.get(i, ()):
            found = self.sim.positions_get(ticket=ticket)
            if found:
                lots = None if volume is None or volume >= found[0].volume else volume
                self.sim.scenario.close_position(ticket, lots)

    def close_everything(self) -> None:
        for p in self._positions():
            self.sim.scenario.close_position(int(p.ticket))

    async def run(self) -> None:
        events: list[tuple[float, int, int, float | None]] = []
        for i, spec in enumerate(self.job.trades):
            events.append((spec.opened_at, 0, i, None))
            events += [(e.at, 1, i, e.volume) for e in spec.exits]
        events.sort(key=lambda e: (e[0], e[1], e[2]))
        end = self.job.end_time
        for at, kind, i, volume in events:
            if at >= end:
                break
            await self.until(at)
            if kind == 0:
                self.open(i)
            elif i in self.tickets:
                self.exit(i, volume)
        while self.now() < end and self._positions():
            # a day at a time: the unmanaged copies left need no cycles, and the simulator
            # stops generating ticks as soon as the last one is closed
            await self.until(min(self.now() + (86_400 if self.idle() else 3600), end))
        self.close_everything()


def run_job(job: Job) -> JobResult:
    """Replay one job to the end and collect its outcome (runs in a worker process)."""
    logger.remove()
    log_path = Path(job.workdir) / f"{job.variant}-{job.first_index}.log"
    sink = logger.add(str(log_path), level="WARNING", format="{message}")
    wall = time.perf_counter()
    first = min(t.opened_at for t in job.trades)
    start = float(first - LEAD_SECONDS)
    journal = Path(job.workdir) / f"{job.variant}-{job.first_index}.sqlite3"
    settings = replay_settings(job, start, journal)
    clock = trio.testing.MockClock(autojump_threshold=0)
    broker_now = broker_clock_from(clock, start)
    sim = SimBroker(settings.broker.sim, clock=broker_now, sleep=clock.jump,
                    symbols=sim_symbols(job.files), market_settings=settings.broker.market)
    sim.initialize()
    for f in job.files:
        sim.market.load_csv(f.symbol, f.path)
    holder: dict[str, Any] = {}

    async def main() -> None:
        async with trio.open_nursery() as nursery:
            app = await nursery.start(partial(
                serve, settings, lambda: sim, broker_now, executor=InlineExecutor()))
            driver = _Driver(job, sim, app, clock, start)
            holder["driver"], holder["cycles"] = driver, 0
            try:
                await driver.run()
            finally:
                holder["cycles"] = app.supervisor.cycles
                app.stop.set()

    trio.run(main, clock=clock)
    sim.initialize()  # dtms's gateway shut the terminal link down as it stopped
    driver: _Driver = holder["driver"]
    result = collect(job, sim, journal, driver.tickets, driver.skipped)
    logger.remove(sink)
    return replace(result, wall_seconds=time.perf_counter() - wall, cycles=holder["cycles"],
                   simulated_days=(math.ceil(broker_now() - start)) / 86_400)
