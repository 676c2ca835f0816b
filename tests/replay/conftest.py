"""Fixtures of the replay tests: the real EURUSD M5 slice and small hand-written exports."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtms.replay.bars import BarFile, load_bar_files

REAL_M5 = Path(__file__).resolve().parent.parent / "data" / "real" / \
    "EURUSD_M5_2022-01-04_2022-02-22.csv.gz"
HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>\n"


@pytest.fixture(scope="session")
def real_bars() -> BarFile:
    """The real slice, read as ``dtms replay --bars`` reads it."""
    return load_bar_files([str(REAL_M5)])[0]


def write_bars(path: Path, rows: list[tuple[str, str, float]]) -> Path:
    """An M5 export with one flat bar per (date, time, price)."""
    lines = [HEADER]
    for day, clock, price in rows:
        lines.append(f"{day}\t{clock}\t{price:.5f}\t{price + 0.0002:.5f}\t{price - 0.0002:.5f}"
                     f"\t{price:.5f}\t40\t0\t10\n")
    path.write_text("".join(lines))
    return path
