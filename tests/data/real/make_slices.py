"""Rebuild the real-price slices of this folder from the source MT5 M1 export.

Usage: ``python tests/data/real/make_slices.py SOURCE_M1.csv`` (the source is described in
README.md next to this script). M5 bars are aggregated from the M1 bars of the same five
minutes: first open, highest high, lowest low, last close, summed tick volume, the first
bar's spread. The output is written gzip-compressed without a name or time stamp in its
header, so the same source gives the same bytes.
"""

from __future__ import annotations

import gzip
import sys
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from dtms.broker.sim.replay import read_mt5_csv

HERE = Path(__file__).resolve().parent
HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"


def m5_text(source: str) -> str:
    """The M5 export built from an M1 export."""
    rb = read_mt5_csv(source, 10)
    key = rb.time // 300
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    high = np.maximum.reduceat(rb.high, starts)
    low = np.minimum.reduceat(rb.low, starts)
    volume = np.add.reduceat(rb.tick_volume, starts)
    lines = [HEADER]
    for k, (i, j) in enumerate(zip(starts, ends, strict=True)):
        t = datetime.fromtimestamp(int(key[i]) * 300, UTC)
        lines.append(f"{t:%Y.%m.%d}\t{t:%H:%M:%S}\t{rb.open[i]:.5f}\t{high[k]:.5f}\t"
                     f"{low[k]:.5f}\t{rb.close[j - 1]:.5f}\t{volume[k]}\t0\t{rb.spread[i]}\n")
    return "".join(lines)


def main(source: str) -> None:
    out = HERE / "EURUSD_M5_2022-01-04_2022-02-22.csv.gz"
    data = m5_text(source).encode("ascii")
    out.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    bars = data.count(b"\n") - 1
    print(f"{out.name}: {bars} bars")


if __name__ == "__main__":
    main(sys.argv[1])
