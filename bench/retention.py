"""Benchmark of retention: a month of trading keeps the journal and the logs flat.

Run: ``python bench/retention.py`` (``--days 30 --trades 200 --retention-days 5``). The whole
system runs (journal, gateway, supervisor, actors, per-trade logs) against the simulator on
virtual time, for ``--days`` simulated days with about ``--trades`` positions open at any moment:
every ten minutes the scenario tops the book up with hand trades (both sides, 25-pip stop and
target, so they close by themselves within hours), and dtms manages, warns, hedges and closes
them. At the end of each simulated day the script prints the journal's size (with its WAL), the
log folder's size, and the rows of each journal table. After ``--retention-days`` (and the trade
rows after ``--trade-retention-days``) the journal and the per-trade logs must stop growing: the
benchmark fails when the last ten days grow by more than 15 %. The main log (``dtms.log``, all
trades together) is bounded by its rotation instead: at most ``rotation_mb`` x
(``keep_rotated`` + 1).

The cycle runs every 60 s here (the default is 2 s) to simulate a month in minutes; retention
does not depend on it.
"""

from __future__ import annotations

import argparse
import random
import sqlite3
import tempfile
from dataclasses import replace
from functools import partial
from pathlib import Path

import trio
import trio.testing
from loguru import logger

from dtms.broker.sim import SimBroker, SimSettings
from dtms.broker.sim.symbols import default_symbols
from dtms.config import Settings
from dtms.runtime.app import serve
from dtms.runtime.clock import broker_clock_from
from dtms.runtime.executor import InlineExecutor
from dtms.runtime.logs import setup_logging

DAY = 86_400.0
SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY")
PIP = {"EURUSD": 0.0001, "GBPUSD": 0.0001, "USDJPY": 0.01}


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _rows(journal: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    try:
        return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("trades", "actions", "notes", "transitions", "scores")}
    finally:
        conn.close()


def _top_up(sim: SimBroker, want: int, rng: random.Random) -> None:
    open_now = len(sim.positions_get() or ())
    for _ in range(max(want - open_now, 0)):
        symbol = rng.choice(SYMBOLS)
        tick = sim.symbol_info_tick(symbol)
        if tick is None or not sim.market.is_open(symbol, sim.market.now):
            continue
        side = rng.choice(("BUY", "SELL"))
        sign = 1 if side == "BUY" else -1
        price = tick.ask if side == "BUY" else tick.bid
        digits = sim.symbol_info(symbol).digits
        distance = 25 * PIP[symbol]
        sim.scenario.open_position(symbol, side, 0.1, sl=round(price - sign * distance, digits),
                                   tp=round(price + sign * distance, digits))


async def _run(args: argparse.Namespace, folder: Path, clock: trio.testing.MockClock
               ) -> list[tuple[int, int, int, int, dict]]:
    settings = Settings()
    settings = replace(
        settings,
        journal=replace(settings.journal, path=str(folder / "dtms.sqlite3"),
                        retention_days=args.retention_days,
                        trade_retention_days=args.trade_retention_days, prune_every_hours=6),
        logging=replace(settings.logging, dir=str(folder / "logs")),
        supervisor=replace(settings.supervisor, cycle_seconds=60.0, heartbeat_seconds=600.0,
                           account_lock_dir=str(folder)),
    )
    sim_settings = SimSettings(balance=10_000_000.0, leverage=500)
    broker_now = broker_clock_from(clock, sim_settings.start_time)
    table = {k: v for k, v in default_symbols().items() if k in SYMBOLS}
    sim = SimBroker(sim_settings, clock=broker_now, sleep=clock.jump, symbols=table)
    sim.initialize()
    rng = random.Random(args.seed)
    router = setup_logging(settings.logging, console=False)
    days: list[tuple[int, int, int, int, dict]] = []
    try:
        async with trio.open_nursery() as nursery:
            app = await nursery.start(partial(serve, settings, lambda: sim, broker_now,
                                              executor=InlineExecutor()))
            start = broker_now()
            for day in range(1, args.days + 1):
                while broker_now() < start + day * DAY:
                    _top_up(sim, args.trades, rng)
                    await trio.sleep(600)
                await app.journal.flush()
                journal = folder / "dtms.sqlite3"
                jsize = _size(journal) + _size(Path(f"{journal}-wal"))
                trade_logs = _size(folder / "logs" / "trades")
                main_log = _size(folder / "logs") - trade_logs
                days.append((day, jsize, trade_logs, main_log, _rows(journal)))
                print(f"day {day:2d}: journal {jsize / 1e6:6.2f} MB, trade logs "
                      f"{trade_logs / 1e6:6.2f} MB, main log {main_log / 1e6:6.2f} MB, rows "
                      f"{days[-1][4]}", flush=True)
            app.stop.set()
    finally:
        router.close()
        logger.remove()
    return days


def main() -> int:
    """Run the month and judge the last ten days."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--trades", type=int, default=200)
    p.add_argument("--retention-days", type=float, default=5.0)
    p.add_argument("--trade-retention-days", type=float, default=10.0)
    p.add_argument("--seed", type=int, default=7)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        clock = trio.testing.MockClock(autojump_threshold=0)
        days = trio.run(_run, args, Path(tmp), clock, clock=clock)
    tail = days[-10:]
    ok = True
    cap = Settings().logging.rotation_mb * (Settings().logging.keep_rotated + 1) * 1e6
    print(f"main log: {tail[-1][3] / 1e6:.2f} MB on day {tail[-1][0]} (bounded by its rotation: "
          f"at most {cap / 1e6:.0f} MB)")
    ok = tail[-1][3] <= cap
    for i, what in ((1, "journal"), (2, "per-trade logs")):
        first, last = tail[0][i], tail[-1][i]
        growth = (last - first) / first if first else 0.0
        print(f"{what}: {first / 1e6:.2f} MB on day {tail[0][0]} -> {last / 1e6:.2f} MB on day "
              f"{tail[-1][0]} ({growth:+.1%} over the last {len(tail)} days; target <= +15 %)")
        ok = ok and growth <= 0.15
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
