"""Benchmark of the supervisor: one monitoring cycle over 1,000 and 10,000 trades on 20 symbols.

Run: ``python bench/supervisor.py`` (``--trades``, ``--symbols``, ``--cycles``, ``--policy``,
``--no-tracemalloc``, ``--no-live``). Everything runs (journal in a temporary directory, gateway,
feeds, supervisor, one actor per ticket) against a zero-latency ``SimBroker`` (default
``SimSettings``, faults off, 1e9 USD at 1:500) on a ``MockClock`` with the inline executor. loguru's
default handler is removed and no sink is added. Each run is a fresh process (clean RSS).

How it is measured. ``Supervisor.cycle`` is wrapped on the instance; a measured cycle runs from
the call of the real ``cycle()`` until every actor has handled the ``CycleInput`` delivered to it
(the actors are a ``TradeActor`` subclass counting deliveries and handled cycles). Also printed:
the time inside the simulator (a timing proxy around the broker), the supervisor's part (until
``cycle()`` returns), the cyclic GC's time and when the journal has committed the cycle. Bar cycles
run 20 s after an M5/M15 close; the cycles in between are skipped and the simulator is advanced
directly, unmeasured. Broker calls are deltas of ``gateway.statistics().calls_by_function``,
actions deltas of the actors' action counters. Memory: one trade per symbol runs first (feeds
backfilled); RSS after gc before/after the other trades are opened in the simulator is the
simulator's share, RSS after their actors ran 25 cycles is dtms's; tracemalloc (another run)
counts net allocations as the simulator's when a frame of the allocation is in dtms/broker/sim.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import gc
import multiprocessing
import statistics
import tempfile
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import trio
import trio.testing
from loguru import logger
from supervisor_probes import CountingActor, GcTimer, Probe, TimedBroker

from dtms.broker.sim import SimBroker, SimSettings
from dtms.broker.sim.symbols import DEFAULT_SYMBOLS
from dtms.config import Settings
from dtms.runtime.app import App, serve
from dtms.runtime.clock import AcceleratedClock, broker_clock_from, broker_sleep_from
from dtms.runtime.executor import Executor, InlineExecutor, WorkerThreadExecutor
from dtms.runtime.supervisor import CycleReport

TARGET_CYCLE_S, TARGET_KB = 1.0, 20.0
M5, M15 = 300.0, 900.0
BAR_LAG = 20.0  # bar cycles run this long after the close: every symbol has ticked since
OPEN_AT = 40.0  # virtual s; the bars still forming at 07:00:00 have been fetched by then
KINDS = ("steady", "M5 bar", "M15 bar", "M15 next")
Row = tuple[int, str, float, float, float, float, bool]


@dataclass
class Sample:
    """One measured cycle (seconds from the start of ``cycle()``)."""

    kind: str
    wall: float  # every actor has handled the cycle
    sup: float  # the supervisor's cycle() returned
    sup_sim: float  # of which inside the simulator
    journal: float  # the journal has committed the cycle's writes
    broker: float  # spent inside the simulator
    gc: float  # spent in the cyclic garbage collector (until committed)
    calls: Counter[str]
    bar_symbols: int
    actions: int
    deep: int


@dataclass
class Plan:
    """When cycles are measured (virtual seconds) and what runs at two instants."""

    open_at: float
    steady_until: float
    bar_times: list[float]
    skip_between: bool
    hooks: dict[str, Callable[[], None]] = field(default_factory=dict)


def rss() -> int:
    gc.collect()
    return int(psutil.Process().memory_info().rss)


def open_trades(sim: SimBroker, symbols: list[str], first: int, count: int) -> None:
    """Open ``count`` volume_min trades round-robin over ``symbols``, BUY/SELL, SL 30 % away."""
    spec = {s.name: s for s in DEFAULT_SYMBOLS}
    for i in range(first, first + count):
        sym = spec[symbols[i % len(symbols)]]
        tick = sim.symbol_info_tick(sym.name)
        assert tick is not None, sim.last_error()
        buy = (i // len(symbols)) % 2 == 0
        sl = round(tick.bid * 0.7 if buy else tick.ask * 1.3, sym.digits)
        sim.scenario.open_position(sym.name, "BUY" if buy else "SELL", sym.volume_min, sl=sl)


class Bench:
    """Wraps ``Supervisor.cycle``: measures, skips time between bar cycles, fires the hooks."""

    def __init__(self, app: App, sim: SimBroker, broker: TimedBroker, probe: Probe,
                 plan: Plan) -> None:
        self.app, self.sim, self.broker, self.probe, self.plan = app, sim, broker, probe, plan
        self.samples: list[Sample] = []
        self.finished, self.gc = trio.Event(), GcTimer()
        self._real, self._todo = app.supervisor.cycle, list(plan.bar_times)
        app.supervisor.cycle = self.cycle  # type: ignore[method-assign]

    async def cycle(self) -> CycleReport:
        now, plan = trio.current_time(), self.plan
        for name, at in (("open", plan.open_at), ("steady_done", plan.steady_until)):
            if now >= at and name in plan.hooks:
                plan.hooks.pop(name)()
        due = bool(self._todo) and now >= self._todo[0]
        self._todo = [t for t in self._todo if t > now]
        if self._behind():  # a bar's deep checks carried over: measure the next cycle too
            due = True
        if now >= plan.steady_until:
            if not due:
                if not self._todo:
                    self.finished.set()
                return CycleReport(self.app.supervisor.ctx.broker_now(), False)
            self.sim.symbol_info_tick("EURUSD")  # bring the simulator to now, unmeasured
        return await self._measure(now)

    def _behind(self) -> bool:
        """Whether some trade still waits for its deep check of the newest M15 bar."""
        sup = self.app.supervisor
        closes = {s: f.view(sup.ctx.broker_now()) for s, f in sup.feeds.items()}
        return any(
            (v := closes.get(a.trade.symbol)) is not None
            and v.m15_close * 1000 > a.trade.last_eval_id
            for a in sup.actors.values()
        )

    def _bars(self) -> dict[str, tuple[int, int]]:
        sup = self.app.supervisor
        views = {s: f.view(sup.ctx.broker_now()) for s, f in sup.feeds.items()}
        return {s: (v.m5_time, v.m15_close) for s, v in views.items() if v is not None}

    async def _measure(self, now: float) -> CycleReport:
        gw, c = self.app.gateway, self.app.supervisor.ctx.counters
        bars0, calls0 = self._bars(), Counter(gw.statistics().calls_by_function)
        acts0 = c.actions_done + c.actions_failed + c.actions_unknown
        deep0, broker0, gc0 = c.deep_checks, self.broker.seconds, self.gc.seconds
        self.probe.reset()
        t0 = time.perf_counter()
        report = await self._real()
        t_sup, sup_sim = time.perf_counter(), self.broker.seconds - broker0
        self.probe.check()
        await self.probe.done.wait()
        t1 = self.probe.done_at
        await self.app.journal.write()  # a barrier: everything queued so far is committed
        t2 = time.perf_counter()
        calls = Counter(gw.statistics().calls_by_function) - calls0
        bars1 = self._bars()
        new = [s for s in bars1 if s in bars0 and bars1[s] != bars0[s]]
        kind = ("spawn" if report.spawned > 1 else "M15 bar" if any(
            bars1[s][1] != bars0[s][1] for s in new) else "M5 bar" if new else
            "M15 next" if c.deep_checks > deep0 and not new else "steady")
        if now >= self.plan.open_at:
            acts = c.actions_done + c.actions_failed + c.actions_unknown - acts0
            self.samples.append(Sample(kind, t1 - t0, t_sup - t0, sup_sim, t2 - t0,
                                       self.broker.seconds - broker0, self.gc.seconds - gc0,
                                       calls, len(new), acts, c.deep_checks - deep0))
        return report


def bench_settings(tmp: Path, quiet: bool) -> Settings:
    """Default settings, journal in ``tmp``; ``quiet``: no score or CHOCH ever starts an action."""
    s = Settings()
    s = replace(s, journal=replace(s.journal, path=str(tmp / "journal.sqlite3")))
    if quiet:
        s = replace(s, machine=replace(s.machine, warning_l1_score=-1e6, warning_l2_score=-2e6,
                                       hedge_score=-3e6, close_on_choch=False))
    return s


async def run(n: int, symbols: list[str], cycles: int, tmp: Path, quiet: bool, mode: str
              ) -> tuple[list[Sample], dict[str, float]]:
    """Run dtms over ``n`` trades (mode: mock, traced or live); return cycles, bytes per trade."""
    logger.remove()
    sim_settings = SimSettings(balance=1e9, leverage=500)
    clock = trio.lowlevel.current_clock()
    broker_now = broker_clock_from(clock, sim_settings.start_time)
    sim = SimBroker(sim_settings, clock=broker_now, sleep=broker_sleep_from(clock))
    sim.initialize()
    open_trades(sim, symbols, 0, len(symbols))  # one trade per symbol: feeds get backfilled
    rest, mem = n - len(symbols), dict[str, float]()
    m5 = [t for t in (M5 * k for k in range(1, 4 * cycles)) if t % M15][:cycles]
    bars = [t + BAR_LAG for t in sorted(m5 + [M15 * k for k in range(1, cycles + 1)])]
    plan = {"live": Plan(4.0, 4.0 + 2.0 * (cycles + 2), [], False),
            "traced": Plan(OPEN_AT, OPEN_AT + 12.0, [], True),
            "mock": Plan(OPEN_AT, OPEN_AT + 50.0, bars, True)}[mode]
    snaps: list[tracemalloc.Snapshot] = []

    def opened() -> None:
        if mode == "traced":
            tracemalloc.start(10)
        mem["rss_a"] = rss()
        open_trades(sim, symbols, len(symbols), rest)
        mem["rss_b"] = rss()
        if mode == "traced":
            snaps.append(tracemalloc.take_snapshot())
            mem["tm_sim"] = sum(s.size for s in snaps[0].statistics("traceback")
                                if _in_sim(s.traceback))

    def steady_done() -> None:
        mem["rss_c"] = rss()
        if mode == "traced":
            for d in tracemalloc.take_snapshot().compare_to(snaps[0], "traceback"):
                key = "tm_sim_cycles" if _in_sim(d.traceback) else "tm_dtms"
                mem[key] = mem.get(key, 0.0) + d.size_diff
            tracemalloc.stop()

    plan.hooks = {"open": opened, "steady_done": steady_done}
    broker, probe = TimedBroker(sim), Probe()
    executor: Executor = WorkerThreadExecutor() if mode == "live" else InlineExecutor()
    async with trio.open_nursery() as nursery:
        app = await nursery.start(partial(
            serve, bench_settings(tmp, quiet), lambda: broker, broker_now, executor=executor,
            actor_factory=lambda trade, ctx: CountingActor(trade, ctx, probe)))
        bench = Bench(app, sim, broker, probe, plan)
        await bench.finished.wait()
        app.stop.set()
    mem["rss_sim"], mem["rss_dtms"] = mem["rss_b"] - mem["rss_a"], mem["rss_c"] - mem["rss_b"]
    return bench.samples, {k: v / rest for k, v in mem.items() if not k.startswith("rss_")
                           or k in ("rss_sim", "rss_dtms")}


def _in_sim(tb: tracemalloc.Traceback) -> bool:
    return any("/dtms/broker/sim/" in f.filename for f in tb)


def measure(n: int, symbols: list[str], cycles: int, quiet: bool, mode: str
            ) -> tuple[list[Sample], dict[str, float]]:
    """One run, in the calling process (``main`` calls it in a fresh one)."""
    clock = AcceleratedClock(1.0) if mode == "live" else trio.testing.MockClock(
        autojump_threshold=0)
    with tempfile.TemporaryDirectory() as tmp:
        return trio.run(run, n, symbols, cycles, Path(tmp), quiet, mode, clock=clock)


def isolated(*args: Any) -> tuple[list[Sample], dict[str, float]]:
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(1, mp_context=ctx) as pool:
        return pool.submit(measure, *args).result()


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.0f}"


ACCOUNT_READS = 3
"""account_info and terminal_info (every account_refresh_seconds) and the foreign-deal watch's
history_deals_get (every foreign_check_seconds): at most one of each in a cycle."""


def calls_bound(s: Sample, symbols: int) -> int:
    """The broker calls a cycle may make: the snapshot, one tick per symbol (the broker clock
    comes from the freshest tick), two bar reads per symbol with a new bar, one call per action
    and the account's periodic reads."""
    return 1 + symbols + 2 * s.bar_symbols + s.actions + ACCOUNT_READS


def report(n: int, samples: list[Sample], symbols: int) -> list[Row]:
    """Print one size's cycles; return (trades, kind, median, max, excl. sim, journal, calls)."""
    for s in (s for s in samples if s.kind == "spawn"):
        print(f"  spawn cycle ({s.deep:,} new actors, each a first deep check): {ms(s.wall)} ms "
              f"(in sim {ms(s.broker)} ms), journal committed at {ms(s.journal)} ms")
    print("  cycle     n median    max | in sim superv actors us/trade  gc | +journal | deep acts"
          " | broker calls: measured <= 1 + symbols + 2*bars + actions + 3")
    rows, med = [], statistics.median
    for kind in KINDS:
        got = [s for s in samples if s.kind == kind]
        if not got:
            continue
        walls, actors = [s.wall for s in got], med(s.wall - s.sup for s in got)
        ok = all(sum(s.calls.values()) <= calls_bound(s, symbols) for s in got)
        fns = sum((s.calls for s in got), Counter[str]())
        per = ", ".join(f"{f} {v / len(got):g}" for f, v in sorted(fns.items()))
        pairs = " ".join(sorted({f"{sum(s.calls.values())}<={calls_bound(s, symbols)}"
                                 for s in got}))
        journal = med(s.journal for s in got)
        print(f"  {kind:7} {len(got):3} {ms(med(walls)):>6} {ms(max(walls)):>6} | "
              f"{ms(med(s.broker for s in got)):>6} {ms(med(s.sup - s.sup_sim for s in got)):>6} "
              f"{ms(actors):>6} {actors / n * 1e6:8.1f} {ms(med(s.gc for s in got)):>3} | "
              f"{ms(journal):>8} | {max(s.deep for s in got):5} {max(s.actions for s in got):4} | "
              f"{pairs} {'PASS' if ok else 'FAIL'} ({per} per cycle)")
        rows.append((n, kind, med(walls), max(walls), med(s.wall - s.broker for s in got),
                     journal, ok))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--trades", type=int, nargs="+", default=[1000, 10_000])
    ap.add_argument("--symbols", type=int, default=20, help="first N of DEFAULT_SYMBOLS")
    ap.add_argument("--cycles", type=int, default=5, help="measured cycles of each bar kind")
    ap.add_argument("--policy", choices=("quiet", "default"), default="quiet",
                    help="quiet: scores never start an action; default: shipped thresholds")
    ap.add_argument("--no-tracemalloc", action="store_true")
    ap.add_argument("--no-live", action="store_true", help="skip the worker-thread run")
    args = ap.parse_args()
    symbols, quiet = [s.name for s in DEFAULT_SYMBOLS][: args.symbols], args.policy == "quiet"
    rows: list[Row] = []
    for n in args.trades:
        print(f"\n=== {n:,} trades on {len(symbols)} symbols: MockClock + InlineExecutor, "
              f"{args.policy} policy, no log sink (times in ms)")
        samples, mem = isolated(n, symbols, args.cycles, quiet, "mock")
        rows += report(n, samples, len(symbols))
        kb, tm = mem["rss_dtms"] / 1024, float("nan")
        print(f"  RSS per trade: dtms {kb:.1f} KB, simulator {mem['rss_sim'] / 1024:.1f} KB")
        if not args.no_tracemalloc:
            _, t = isolated(n, symbols, 1, quiet, "traced")
            tm = t["tm_dtms"] / 1024
            print(f"  tracemalloc net per trade: dtms {tm:.1f} KB, simulator "
                  f"{t['tm_sim'] / 1024:.1f} KB (+{t.get('tm_sim_cycles', 0) / 1024:.2f} KB "
                  "while cycling)")
        rows.append((n, "KB per trade", kb, tm, 0.0, 0.0,
                     kb <= TARGET_KB and not tm > TARGET_KB))
    if not args.no_live:
        n = max(args.trades)
        print(f"\n=== live: {n:,} trades, WorkerThreadExecutor + AcceleratedClock(1.0)")
        samples, _ = isolated(n, symbols, 6, quiet, "live")
        rows += [(n, f"live {r[1]}", *r[2:6], True) for r in report(n, samples, len(symbols))[:1]]
    print(f"\n{'trades':>7}  {'figure':14} {'median':>7} {'max':>7} {'excl.sim':>8} "
          f"{'+journal':>8}  target")
    for n, kind, a, b, c, j, ok in rows:
        if kind == "KB per trade":
            print(f"{n:7,}  {kind:14} {a:7.1f} {b:7.1f} {'':17}  RSS, tracemalloc <= "
                  f"{TARGET_KB:g} KB: {'met' if ok else 'NOT met'}")
            continue
        calls = "" if kind.startswith("live") else f"; broker calls {'PASS' if ok else 'FAIL'}"
        print(f"{n:7,}  {kind:14} {ms(a):>5}ms {ms(b):>5}ms {ms(c):>6}ms {ms(j):>6}ms  "
              f"<= 1 s (max): {'met' if b <= TARGET_CYCLE_S else 'NOT met'}{calls}")


if __name__ == "__main__":
    main()
