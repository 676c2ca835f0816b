"""The market of a ``--shock`` run: history, a drift against the book, then the shock.

Theory of operation. dtms decides on closed M15 bars and takes one step per decision (warning,
then partial close, then hedge), so for every trade to need its hedge *in the same minute* the
whole book must have met two bad bars before the shock and be judged on the same bar after it.
The run is laid on the M15 grid:

* ``first_close`` (C0): dtms starts just after it and judges every trade on the bar that closed
  there (-> WARNING_L1, tighten the stop);
* C0 + 15 min: the next bar (-> WARNING_L2, close half);
* ``deciding_close`` (C2 = C0 + 30 min): the shock happens in the last 90 s before it, and every
  trade that needs a hedge is judged on this bar (-> HEDGED): the burst.

Prices drift against the exposed side from one minute before C0's bar opens until the shock,
then jump, then stay level (with noise) for ``TAIL_SECONDS``. A local simulator with the run's
seed generates that market (its own regime process for the history, a scripted path from there
on) and writes each symbol's M1 bars as an MT5 bar export; the served simulator replays the file
(``market.load_csv``): the bars before its clock become history, the later ones its ticks. After
the file's last bar the regime process resumes.
"""

from __future__ import annotations

import calendar
import time
from dataclasses import dataclass
from pathlib import Path

from dtms.broker import constants as C
from dtms.broker.sim import ManualClock, SimBroker, SimSettings
from dtms.broker.sim.market_settings import MarketSettings

M15 = 900
RUN_DAY = (2026, 3, 5, 14, 0, 0)
"""C0 of every run: a Thursday afternoon, 86 hours after the week's open, far from the weekend."""
HISTORY_SECONDS = 100 * 3600
SHOCK_SECONDS = (90.0, 30.0)
"""The shock runs from 90 s to 30 s before the deciding bar closes."""
TAIL_SECONDS = 1800.0
NOISE = 0.00002
HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"


@dataclass(frozen=True, slots=True)
class ShockTimes:
    """Where a shock run sits on the broker clock."""

    first_close: float
    """C0: dtms's first judgement is of the bar closing here."""

    @property
    def deciding_close(self) -> float:
        """C2: the bar whose close decides the hedges."""
        return self.first_close + 2 * M15

    @property
    def shock_start(self) -> float:
        """When prices start to jump."""
        return self.deciding_close - SHOCK_SECONDS[0]

    @property
    def end(self) -> float:
        """End of the scripted market."""
        return self.deciding_close + TAIL_SECONDS


def run_start() -> float:
    """C0 of a run (broker epoch seconds)."""
    return float(calendar.timegm(RUN_DAY))


def write_shock_market(folder: Path, symbols: tuple[str, ...], falls: tuple[bool, ...], *,
                       seed: int, drift: float, shock: float, times: ShockTimes,
                       market: MarketSettings | None = None) -> dict[str, Path]:
    """Write one bar file per symbol for ``market.load_csv``; return their paths."""
    c0 = times.first_close
    begin = c0 - M15 - 60.0
    clock = ManualClock(begin)
    sim = SimBroker(SimSettings(seed=seed, start_time=begin), clock=clock,
                    market_settings=market)
    sim.initialize()
    for sym, down in zip(symbols, falls, strict=True):
        tick = sim.symbol_info_tick(sym)
        assert tick is not None, f"the simulator does not quote {sym}"
        mid = (tick.bid + tick.ask) / 2
        sign = -1.0 if down else 1.0
        drifted = mid * (1 + sign * drift)
        shocked = mid * (1 + sign * (drift + shock))
        sim.market.script_path(sym, [
            (times.shock_start, drifted),
            (times.deciding_close - SHOCK_SECONDS[1], shocked),
            (times.end, shocked),
        ], noise=NOISE)
    clock.set(times.end)
    paths = {}
    folder.mkdir(parents=True, exist_ok=True)
    for sym in symbols:
        rates = sim.copy_rates_range(sym, C.TIMEFRAME_M1, int(c0 - HISTORY_SECONDS),
                                     int(times.end))
        assert rates is not None, f"the simulator has no bars of {sym}"
        path = folder / f"{sym}.csv"
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(HEADER)
            for bar in rates:
                t = time.gmtime(int(bar["time"]))
                fh.write(f"{time.strftime('%Y.%m.%d', t)}\t{time.strftime('%H:%M:%S', t)}\t"
                         f"{float(bar['open'])!r}\t{float(bar['high'])!r}\t{float(bar['low'])!r}\t"
                         f"{float(bar['close'])!r}\t"
                         f"{int(bar['tick_volume'])}\t0\t{int(bar['spread'])}\n")
        paths[sym] = path
    return paths
