"""Benchmark of the simulated market: one trading day of ticks and bars for every symbol.

Run: ``python bench/market.py`` (options: ``--hours``, ``--seed``). Prints, for a coarse
(60 s), a typical engine-cycle (5 s) and a fine (1 s) chunking of ``advance_to``, the wall time,
the ticks generated, the bar reads done on each M5 close, and the memory held by the market;
then the engine-cycle chunking again with broker quirks on the quoting (a daily break on every
symbol, five quiet crosses), whose ticks are drawn again at the start.
"""

from __future__ import annotations

import argparse
import calendar
import resource
import sys
import time
from collections.abc import Callable

from dtms.broker.rates import TIMEFRAME_M5, TIMEFRAME_M15
from dtms.broker.sim.hours import Quoting
from dtms.broker.sim.market import Market, TickBlock
from dtms.broker.sim.quirks import QuirkSettings
from dtms.broker.sim.symbols import default_symbols

START = float(calendar.timegm((2024, 6, 3, 0, 0, 0)))  # a Monday, 00:00 broker time
TARGET_S = 5.0
QUIRKS = QuirkSettings(
    daily_breaks=("* 23:00-00:05",),
    quiet_symbols=("EURAUD", "GBPCHF", "USDSGD", "CHFJPY", "AUDJPY"),
    quiet_tick_seconds=600.0,
)


def _run(
    step: float, hours: float, seed: int, quoting: dict[str, Quoting] | None = None
) -> tuple[float, float, float, int, int, int]:
    t_init = time.perf_counter()
    market = Market(default_symbols(), START, seed=seed, quoting=quoting)
    init_s = time.perf_counter() - t_init
    end = START + hours * 3600.0
    n_steps = round(hours * 3600.0 / step)
    ticks = 0
    bar_reads = 0
    advance: Callable[[float], list[TickBlock]] = market.advance_to
    next_bar = START + 300.0
    t0, cpu0 = time.perf_counter(), time.process_time()
    for i in range(1, n_steps + 1):
        t = START + i * step
        for block in advance(t):
            ticks += block.time_msc.shape[0]
        if t >= next_bar:  # what the market-data actor does on each M5 close
            next_bar += 300.0
            for name in market.symbols:
                market.rates_from_pos(name, TIMEFRAME_M5, 0, 3)
                market.rates_from_pos(name, TIMEFRAME_M15, 0, 3)
                bar_reads += 2
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    assert market.now == end
    return init_s, wall, cpu, ticks, market.nbytes, bar_reads


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures; exit 1 if a run misses the target."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", type=float, default=24.0, help="broker hours to simulate")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    n_symbols = len(default_symbols())
    print(f"simulated market: {n_symbols} symbols, {args.hours:g} h of broker time")
    ok = True
    quirky = QUIRKS.quoting(default_symbols())
    for label, step, quoting in (("coarse", 60.0, None), ("engine", 5.0, None),
                                 ("fine", 1.0, None), ("quirky", 5.0, quirky)):
        init_s, wall, cpu, ticks, nbytes, reads = _run(step, args.hours, args.seed, quoting)
        verdict = "ok" if wall <= TARGET_S * args.hours / 24.0 else "SLOW"
        ok = ok and verdict == "ok"
        print(
            f"{label:>6}: step {step:g} s, {round(args.hours * 3600 / step)} advances, "
            f"{wall:.2f} s wall, {cpu:.2f} s CPU ({verdict}, target {TARGET_S:g} s per day), "
            f"{ticks:,} ticks ({ticks / wall:,.0f}/s), {reads:,} bar reads, "
            f"market holds {nbytes / 2**20:.1f} MiB, start-up {init_s:.2f} s"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak process RSS {peak:.0f} MiB")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
