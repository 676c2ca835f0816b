"""Benchmark of ``dtms replay``: eight months of M5 on one symbol with 1,000 trades.

Run: ``python bench/replay.py`` (options: ``--trades``, ``--copies``, ``--workers``,
``--keep``). Target: at most 2 minutes of wall time on this machine's two cores.

How the eight months are built: the repository's real EURUSD M5 slice (tests/data/real, seven
weeks of 2022) is stitched to itself five times, each copy 49 days (seven weeks, so weekdays
and weekends stay in place) after the one before and shifted in price so that it opens where
the previous copy closed. Every bar, tick volume and intraday pattern is real; only the level
is moved, and the thirty-five weeks (2022-01-04 .. 2022-09-06) keep the source's winter server
clock, so the offset is given (UTC-3.5) rather than inferred across a US summer-time date the
data never saw.

What is measured: the ``dtms replay`` command itself, in a child process, with
``--entries random:1000,sl=1.5,tp=2`` (random instants and sides, stop 1.5 and target 2 ATR14 of
M15, left to their stops): wall time from start to exit, and CPU seconds of the command and
its worker processes. Printed beside them: the machine's load average, since other programs
sharing the two cores stretch the wall time but not the CPU time.
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "tests" / "data" / "real" / "EURUSD_M5_2022-01-04_2022-02-22.csv.gz"
TARGET_S = 120.0
SHIFT_S = 49 * 86_400
HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"


def stitch(out: Path, copies: int) -> tuple[int, str, str]:
    """Write ``copies`` consecutive copies of the real slice; (bars, first day, last day)."""
    rows = [r.split("\t") for r in gzip.decompress(SOURCE.read_bytes()).decode().splitlines()[1:]]
    lines = [HEADER]
    offset = 0.0
    last_close = 0.0
    for k in range(copies):
        if k:
            offset += last_close - (float(rows[0][2]) + offset)
        for date, clock, o, h, lo, c, vol, v, spread in rows:
            t = datetime.strptime(f"{date} {clock}", "%Y.%m.%d %H:%M:%S").replace(tzinfo=UTC)
            stamp = datetime.fromtimestamp(t.timestamp() + k * SHIFT_S, UTC)
            prices = (float(x) + offset for x in (o, h, lo, c))
            lines.append(f"{stamp:%Y.%m.%d}\t{stamp:%H:%M:%S}\t" +
                         "\t".join(f"{p:.5f}" for p in prices) + f"\t{vol}\t{v}\t{spread}\n")
        last_close = float(rows[-1][5]) + offset
    out.write_text("".join(lines))
    return len(lines) - 1, lines[1][:10], lines[-1][:10]


def main() -> int:
    """Build the data, run the replay, print the figures."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trades", type=int, default=1000)
    p.add_argument("--copies", type=int, default=5, help="copies of the seven real weeks")
    p.add_argument("--workers", type=int, default=0, help="0: one per core")
    p.add_argument("--keep", help="directory to keep the bars file and the report in")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="dtms-bench-replay-") as tmp:
        where = Path(args.keep) if args.keep else Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        bars = where / "EURUSD_M5_stitched.csv"
        n, first, last = stitch(bars, args.copies)
        cmd = [sys.executable, "-m", "dtms.cli", "replay", "--bars", str(bars),
               "--entries", f"random:{args.trades},sl=1.5,tp=2", "--utc-offset", "-3.5",
               "--workers", str(args.workers), "--config", os.devnull,
               "--report", str(where / "report")]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        load = os.getloadavg()[0]
        started = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            print(done.stdout + done.stderr, file=sys.stderr)
            return 1
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        lines = done.stdout.splitlines()
        print(f"data: {n} M5 bars, {first} .. {last} ({args.copies} x seven real weeks)")
        print(f"trades: {args.trades} (random instants and sides, stop 1.5 / target 2 ATR14 M15)")
        print(f"cores: {os.cpu_count()}, load average before the run {load:.2f}")
        print(f"wall: {wall:.1f} s (target <= {TARGET_S:.0f} s)   cpu: {cpu:.1f} s")
        for line in done.stderr.splitlines():
            if "job " in line:
                print("  " + line.removeprefix("dtms replay: "))
        print("\n".join(lines[4:18]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
