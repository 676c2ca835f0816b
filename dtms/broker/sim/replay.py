"""Replaying bars exported from MetaTrader 5 ("Export bars") as simulated ticks.

The file is tab-separated (commas and semicolons are accepted too) with the header
``<DATE> <TIME> <OPEN> <HIGH> <LOW> <CLOSE> <TICKVOL> <VOL> <SPREAD>``; D1 exports have no
``<TIME>`` column. Dates look like ``2024.01.02`` and times like ``00:05:00``, in broker time.
``<TICKVOL>``, ``<VOL>`` and ``<SPREAD>`` may be missing. A gzip-compressed file (``.gz``) is
read as the text it holds. Every problem with the file is one ``ValueError`` naming the file,
the line and what is wrong.

Inside each bar, ticks walk open -> nearer extreme -> farther extreme -> close, linearly, at
evenly spaced times within the bar, as MT5's tester does from OHLC. Their count is the bar's
tick volume (at least 4, at most ``replay_max_ticks_per_bar``), so the M1 bars rebuilt from
them carry the file's open, high, low, close and spread.
"""

from __future__ import annotations

import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from dtms.broker.sim.process import I32, I64

F64 = npt.NDArray[np.float64]

_SOURCE_FRAMES = (
    60, 120, 180, 240, 300, 360, 600, 720, 900, 1200, 1800, 3600, 7200, 10_800, 14_400, 21_600,
    28_800, 43_200, 86_400,
)
"""Bar lengths of MT5's timeframes from M1 to D1, in seconds."""
_REQUIRED = ("DATE", "OPEN", "HIGH", "LOW", "CLOSE")


@dataclass(frozen=True, slots=True)
class ReplayBars:
    """Bars read from a file: open times (s), bid OHLC, tick volumes, spreads in points."""

    path: str
    tf_s: int
    time: I64
    open: F64
    high: F64
    low: F64
    close: F64
    tick_volume: I64
    spread: I32

    def __len__(self) -> int:
        return int(self.time.shape[0])

    @property
    def end_s(self) -> int:
        """Time the last bar closes."""
        return int(self.time[-1]) + self.tf_s


def _decode(path: str) -> str:
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ValueError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    if raw.startswith(b"\x1f\x8b"):
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise ValueError(f"{path}: the gzip file is damaged ({exc})") from exc
    try:
        if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
            return raw.decode("utf-16")
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: line 1: the file is not UTF-8 or UTF-16 text") from exc


def _separator(header: str) -> str | None:
    for sep in ("\t", ",", ";"):
        if sep in header:
            return sep
    return None


def _bad(path: str, line: int, problem: str) -> ValueError:
    return ValueError(f"{path}: line {line}: {problem}")


def _numbers(path: str, col: str, cells: list[str], lines: list[int]) -> F64:
    try:
        return np.array(cells, dtype=np.float64)
    except ValueError:
        pass
    for cell, line in zip(cells, lines, strict=True):
        try:
            float(cell)
        except ValueError:
            raise _bad(path, line, f"unparsable number {cell!r} in <{col}>") from None
    raise AssertionError("unreachable")  # pragma: no cover


def _epoch_seconds(
    path: str, dates: list[str], times: list[str] | None, lines: list[int]
) -> I64:
    try:  # the whole column at once; a bad cell falls back to the row loop that names it
        iso = np.char.replace(np.char.replace(np.array(dates), ".", "-"), "/", "-")
        days = iso.astype("datetime64[D]").astype(np.int64)
        secs = np.zeros(len(dates), dtype=np.int64)
        if times is not None:
            secs = _clock_column(times)
        return days * 86_400 + secs
    except ValueError:
        pass
    days = np.empty(len(dates), dtype=np.int64)
    secs = np.zeros(len(dates), dtype=np.int64)
    for k, (cell, line) in enumerate(zip(dates, lines, strict=True)):
        try:
            day = np.datetime64(cell.replace(".", "-").replace("/", "-"), "D")
        except ValueError:
            raise _bad(path, line, f"unparsable date {cell!r} in <DATE>") from None
        days[k] = day.astype(np.int64)
        if times is not None:
            secs[k] = _clock_seconds(path, times[k], line)
    return days * 86_400 + secs


def _clock_column(times: list[str]) -> I64:
    """Seconds of the day of ``HH:MM[:SS]`` cells; ValueError on any cell that is not one."""
    parts = np.char.partition(np.array(times), ":")
    rest = np.char.partition(parts[:, 2], ":")
    h, m = parts[:, 0], rest[:, 0]
    s = np.where(rest[:, 2] == "", "0", rest[:, 2])
    if (parts[:, 1] != ":").any() or np.char.count(rest[:, 2], ":").any():
        raise ValueError("not a time")
    hours, minutes, seconds = (np.char.strip(a) for a in (h, m, s))
    if not all(np.char.isdigit(a).all() for a in (hours, minutes, seconds)):
        raise ValueError("not a time")
    hh, mm, ss = (a.astype(np.int64) for a in (hours, minutes, seconds))
    if ((hh >= 24) | (mm >= 60) | (ss >= 60)).any():
        raise ValueError("out of range")
    return hh * 3600 + mm * 60 + ss


def _clock_seconds(path: str, cell: str, line: int) -> int:
    parts = cell.split(":")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        h, m, s = (int(p) for p in [*parts, "0"][:3])
        if not (0 <= h < 24 and 0 <= m < 60 and 0 <= s < 60):
            raise ValueError
    except ValueError:
        raise _bad(path, line, f"unparsable time {cell!r} in <TIME>") from None
    return h * 3600 + m * 60 + s


def read_mt5_csv(path: str | os.PathLike[str], default_spread: int) -> ReplayBars:
    """Read an MT5 bar export; raise one ``ValueError`` naming file, line and problem."""
    name = os.fspath(path)
    text = _decode(name)
    rows = [(i + 1, ln) for i, ln in enumerate(text.splitlines()) if ln.strip()]
    if not rows:
        raise _bad(name, 1, "the file is empty (expected a header such as <DATE>\\t<TIME>...)")
    head_line, header = rows[0]
    sep = _separator(header)
    cols = [c.strip().strip("<>").upper() for c in (header.split(sep) if sep else [header])]
    for col in _REQUIRED:
        if col not in cols:
            raise _bad(name, head_line, f"missing column <{col}> in the header")
    for col in cols:
        if cols.count(col) > 1:
            raise _bad(name, head_line, f"column <{col}> appears twice in the header")
    data = rows[1:]
    if not data:
        raise _bad(name, head_line + 1, "no bars after the header")
    lines = [ln for ln, _ in data]
    split = [t.rstrip(" ").split(sep) if sep else [t] for _, t in data]
    for (line, _), fields in zip(data, split, strict=True):
        if len(fields) != len(cols):
            raise _bad(name, line, f"expected {len(cols)} fields, found {len(fields)}")
    columns = list(zip(*split, strict=True))  # one tuple per column, in header order
    cells: dict[str, list[str]] = {c: [v.strip() for v in columns[k]] for k, c in enumerate(cols)}
    time = _epoch_seconds(name, cells["DATE"], cells.get("TIME"), lines)
    o, h, lo, c = (_numbers(name, k, cells[k], lines) for k in ("OPEN", "HIGH", "LOW", "CLOSE"))
    n = len(lines)
    vol = (
        _numbers(name, "TICKVOL", cells["TICKVOL"], lines) if "TICKVOL" in cells
        else np.zeros(n)
    )
    spread = (
        _numbers(name, "SPREAD", cells["SPREAD"], lines) if "SPREAD" in cells
        else np.full(n, float(default_spread))
    )
    _validate(name, lines, time, o, h, lo, c, vol, spread)
    tf_s = _source_timeframe(name, time, "TIME" in cells)
    return ReplayBars(
        name, tf_s, time, o, h, lo, c, vol.astype(np.int64), spread.astype(np.int32)
    )


def _validate(
    path: str, lines: list[int], time: I64, o: F64, h: F64, lo: F64, c: F64, vol: F64,
    spread: F64,
) -> None:
    def first(mask: npt.ArrayLike) -> int | None:
        idx = np.flatnonzero(mask)
        return int(idx[0]) if idx.shape[0] else None

    prices = np.stack((o, h, lo, c))
    if (k := first(~np.isfinite(prices).all(axis=0) | (prices <= 0).any(axis=0))) is not None:
        raise _bad(path, lines[k], "prices must be finite and positive")
    if (k := first(h < lo)) is not None:
        raise _bad(path, lines[k], f"high {h[k]} < low {lo[k]}")
    if (k := first((o > h) | (o < lo) | (c > h) | (c < lo))) is not None:
        raise _bad(path, lines[k], f"open {o[k]} or close {c[k]} outside low..high")
    if (k := first(~np.isfinite(vol) | (vol < 0) | (vol != np.floor(vol)))) is not None:
        raise _bad(path, lines[k], f"tick volume {vol[k]} is not a whole number >= 0")
    if (k := first(~np.isfinite(spread) | (spread < 0) | (spread > 2**31 - 1))) is not None:
        raise _bad(path, lines[k], f"spread {spread[k]} is not a number of points >= 0")
    if (k := first(np.diff(time) <= 0)) is not None:
        raise _bad(path, lines[k + 1], "bar time is not after the previous bar's time")


def _source_timeframe(path: str, time: I64, has_time: bool) -> int:
    if not has_time:
        return 86_400
    if time.shape[0] < 2:
        return 60
    step = int(np.diff(time).min())
    for tf in reversed(_SOURCE_FRAMES):
        if step % tf == 0:
            return tf
    raise ValueError(f"{path}: bars are {step} s apart, which is no MT5 timeframe (M1 ... D1)")


def synth_ticks(
    bars: ReplayBars, lo: int, hi: int, point: float, digits: int, max_ticks: int
) -> tuple[I64, F64, F64, I32]:
    """Synthesise the ticks of bars ``lo:hi``: times (ms), bid, ask and spread (points)."""
    if hi <= lo:
        e = np.empty(0, dtype=np.float64)
        return np.empty(0, dtype=np.int64), e, e, np.empty(0, dtype=np.int32)
    sl = slice(lo, hi)
    o, h, low, c = bars.open[sl], bars.high[sl], bars.low[sl], bars.close[sl]
    n = np.clip(bars.tick_volume[sl], 4, max_ticks)
    total = int(n.sum())
    first = np.repeat(np.cumsum(n) - n, n)
    j = np.arange(total, dtype=np.int64) - first
    nn = np.repeat(n, n)
    p1, p2, p3 = (nn - 1) // 3, 2 * (nn - 1) // 3, nn - 1
    high_first = np.repeat(h - o <= o - low, n)
    e1 = np.where(high_first, np.repeat(h, n), np.repeat(low, n))
    e2 = np.where(high_first, np.repeat(low, n), np.repeat(h, n))
    ov, cv = np.repeat(o, n), np.repeat(c, n)
    with np.errstate(divide="ignore", invalid="ignore"):
        price = np.where(
            j <= p1, ov + (e1 - ov) * j / np.maximum(p1, 1),
            np.where(
                j <= p2, e1 + (e2 - e1) * (j - p1) / np.maximum(p2 - p1, 1),
                e2 + (cv - e2) * (j - p2) / np.maximum(p3 - p2, 1),
            ),
        )
    bid = np.round(price, digits)
    spread = np.repeat(bars.spread[sl], n).astype(np.int32)
    ask = np.round(bid + spread * point, digits)
    t_ms = np.repeat(bars.time[sl] * 1000, n) + (j * bars.tf_s * 1000) // nn
    return (
        np.asarray(t_ms, dtype=np.int64), np.asarray(bid, dtype=np.float64),
        np.asarray(ask, dtype=np.float64), spread,
    )
