"""Bar files of a replay: which symbol each one is, its timeframe, and the server's clock.

Theory of operation: ``--bars`` takes MT5 "Export bars" files, one per symbol, named either by
the file (MT5 names an export ``EURUSD_M5_202201040000_202202221525.csv``: the symbol is what
comes before the first underscore) or explicitly (``EURUSD=path``). The timeframe is read from
the bar times (M1 to M15; the score reads M5 and M15 bars, so coarser bars cannot drive it).

MT5 stamps bars in the broker's server time. Retail FX servers stop quoting when New York
reaches 17:00 on Friday and start again at 17:00 on Sunday, so each weekend gap of a file
gives the server's offset to UTC: the bar that reopens the week minus Sunday 17:00 in New York
(21:00 or 22:00 UTC, depending on US daylight saving time), and the close that ends the week
minus Friday 17:00. The most common answer, rounded to half an hour, is the offset; the UTC
hours at which the weeks closed and opened tell the simulator when the market trades.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np

from dtms.broker.sim.replay import ReplayBars, read_mt5_csv
from dtms.errors import DtmsError

MINUTE_FRAMES = {60: "M1", 120: "M2", 180: "M3", 240: "M4", 300: "M5", 360: "M6", 600: "M10",
                 720: "M12", 900: "M15"}
"""The timeframes a replay accepts, by bar length in seconds."""

_WEEKEND_GAP_S = 24 * 3600
_SYMBOL = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.#!+-]*$")


class ReplayInputError(DtmsError):
    """A replay input (bars, trades, rule, option) is unusable; the message names it."""


@dataclass(frozen=True, slots=True)
class BarFile:
    """One symbol's recorded bars."""

    symbol: str
    path: str
    named_by: str
    """How the symbol was found: "file name" or "SYMBOL=path"."""
    bars: ReplayBars

    @property
    def timeframe(self) -> str:
        """MT5's name of the bar length (M1 ... M15)."""
        return MINUTE_FRAMES[self.bars.tf_s]

    @property
    def first_time(self) -> int:
        """Open time of the first bar (server time, epoch seconds)."""
        return int(self.bars.time[0])

    @property
    def end_time(self) -> int:
        """Close time of the last bar."""
        return self.bars.end_s


@dataclass(frozen=True, slots=True)
class ServerClock:
    """The broker server's offset to UTC and the UTC hours its weeks close and open."""

    utc_offset_hours: float
    source: str
    """Where the offset comes from, for the report ("given", "inferred from 7 weekends")."""
    week_close_utc_hour: float = 21.0
    """Hour of Friday (UTC) at which the latest week of the files closed."""
    week_open_utc_hour: float = 21.0
    """Hour of Sunday (UTC) at which the earliest week of the files opened."""


def parse_bar_argument(arg: str) -> tuple[str, str, str]:
    """``SYMBOL=path`` or ``path`` -> (symbol, path, how the symbol was found)."""
    head, sep, tail = arg.partition("=")
    if sep and head and _SYMBOL.match(head) and not Path(arg).exists():
        return head, tail, "SYMBOL=path"
    name = Path(arg).name
    for suffix in (".gz", ".csv", ".txt", ".tsv"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    symbol = name.split("_", 1)[0]
    if not symbol or not _SYMBOL.match(symbol):
        raise ReplayInputError(
            f"{arg}: cannot tell the symbol from the file name; write it as SYMBOL={arg}"
        )
    return symbol, arg, "file name"


def load_bar_files(args: list[str], default_spread: int = 10) -> list[BarFile]:
    """Read every ``--bars`` argument; one clear error for the first unusable one."""
    if not args:
        raise ReplayInputError("--bars: give at least one MT5 bar export")
    files: list[BarFile] = []
    for arg in args:
        symbol, path, how = parse_bar_argument(arg)
        if any(f.symbol == symbol for f in files):
            raise ReplayInputError(f"{path}: a second bar file for {symbol} (one per symbol)")
        try:
            bars = read_mt5_csv(path, default_spread)
        except ValueError as exc:
            raise ReplayInputError(str(exc)) from None
        if bars.tf_s not in MINUTE_FRAMES:
            raise ReplayInputError(
                f"{path}: bars are {bars.tf_s} s apart; dtms replay needs M1 to M15 bars (the "
                "score reads M5 and M15 bars)"
            )
        files.append(BarFile(symbol, path, how, bars))
    return files


def _new_york_offset(day: date) -> int:
    """UTC offset of New York on ``day`` (hours): -4 from the 2nd Sunday of March to the 1st
    Sunday of November, -5 otherwise (the US rule since 2007)."""
    def sunday(month: int, nth: int) -> date:
        first = date(day.year, month, 1)
        return first + timedelta(days=(6 - first.weekday()) % 7 + 7 * (nth - 1))

    return -4 if sunday(3, 2) <= day < sunday(11, 1) else -5


def _offset_to(server_s: int, weekday: int) -> float | None:
    """Server time minus UTC, if ``server_s`` is 17:00 New York time on ``weekday``."""
    server_day = datetime.fromtimestamp(server_s, UTC).date()
    for shift in (-1, 0, 1):
        day = server_day + timedelta(days=shift)
        if day.weekday() != weekday:
            continue
        ny_17 = datetime(day.year, day.month, day.day, 17, tzinfo=UTC).timestamp()
        utc_s = ny_17 - _new_york_offset(day) * 3600
        hours = (server_s - utc_s) / 3600
        if -12 <= hours <= 14:
            return round(hours * 2) / 2
    return None


def _weekends(bars: ReplayBars) -> list[tuple[int, int]]:
    """(close, reopen) server times of every gap of more than a day."""
    t = bars.time
    idx = np.flatnonzero(np.diff(t) > _WEEKEND_GAP_S)
    return [(int(t[i]) + bars.tf_s, int(t[i + 1])) for i in idx]


def infer_clock(files: list[BarFile], given: float | None = None) -> ServerClock:
    """The server clock: ``given`` (hours) or inferred from the files' weekend gaps.

    Raises:
        ReplayInputError: the offset is not given and no weekend gap shows it.
    """
    votes: Counter[float] = Counter()
    weekends = [w for f in files for w in _weekends(f.bars)]
    for close, reopen in weekends:
        for moment, weekday in ((close, 4), (reopen, 6)):
            found = _offset_to(moment, weekday)
            if found is not None:
                votes[found] += 1
    if given is not None:
        offset, source = float(given), "given (--utc-offset)"
    elif votes:
        offset, count = max(votes.items(), key=lambda kv: (kv[1], -abs(kv[0])))
        source = f"inferred from {len(weekends)} weekend gap(s) ({count} of {sum(votes.values())} "
        source += "week closes and opens agree)"
    else:
        names = ", ".join(f.path for f in files)
        raise ReplayInputError(
            f"{names}: no weekend gap to infer the server's UTC offset from; give it with "
            "--utc-offset HOURS"
        )
    closes = [((c - offset * 3600) % 86_400) / 3600 for c, _ in weekends]
    opens = [((o - offset * 3600) % 86_400) / 3600 for _, o in weekends]
    return ServerClock(
        offset, source,
        week_close_utc_hour=max(closes) if closes else 22.0,
        week_open_utc_hour=min(opens) if opens else 21.0,
    )
