"""Watching a running dtms from outside, as ``dtms status`` and ``top`` would.

Every ``sample_seconds`` the observer reads dtms's memory (RSS, from the OS), the status dtms
writes into its journal every heartbeat (cycle durations, gateway statistics, counters), a few
counts for the progress line (trades, hedges, give-ups, quarantines), and the new lines of the
logs and console outputs, looking for tracebacks. It never talks to the broker.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

TRACEBACK = "Traceback (most recent call last)"


@dataclass(frozen=True, slots=True)
class Beat:
    """One heartbeat of one dtms process, as read from its journal."""

    wall: float
    pid: int
    status: dict[str, Any]


@dataclass(slots=True)
class Progress:
    """Counts for the live progress line."""

    trades: int = 0
    hedges: int = 0
    give_ups: int = 0
    quarantined: int = 0
    tracebacks: int = 0


@dataclass(slots=True)
class Observer:
    """Samples one run's dtms processes, journal and logs."""

    journal: Path
    logs: list[Path]
    """Files (or folders, whose ``*.log`` and ``*.out`` count) scanned for tracebacks."""
    rss: list[tuple[float, int, int]] = field(default_factory=list)
    """(wall time, pid, bytes) of every sample of a live process."""
    beats: list[Beat] = field(default_factory=list)
    progress: Progress = field(default_factory=Progress)
    traceback_lines: list[str] = field(default_factory=list)
    _conn: sqlite3.Connection | None = None
    _last_beat: float = 0.0
    _offsets: dict[Path, int] = field(default_factory=dict)

    def sample(self, pid: int | None) -> None:
        """Take one sample (``pid``: the dtms process running now, if any)."""
        now = time.time()
        if pid is not None:
            with contextlib.suppress(psutil.Error):
                self.rss.append((now, pid, int(psutil.Process(pid).memory_info().rss)))
        conn = self._connect()
        if conn is not None:
            try:
                self._read_journal(conn, now)
            except sqlite3.Error:
                self.close()  # a half-created journal; try again next time
        self._scan_logs()

    def rss_of(self, pid: int) -> list[int]:
        """Every RSS sample of one process."""
        return [r for _, p, r in self.rss if p == pid]

    def close(self) -> None:
        """Release the journal connection."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connect(self) -> sqlite3.Connection | None:
        if self._conn is None and self.journal.exists():
            uri = f"file:{self.journal.as_posix()}?mode=ro"
            try:
                self._conn = sqlite3.connect(uri, uri=True, timeout=1.0, isolation_level=None)
            except sqlite3.Error:
                return None
        return self._conn

    def _read_journal(self, conn: sqlite3.Connection, now: float) -> None:
        if not conn.execute("SELECT 1 FROM sqlite_master WHERE name='meta'").fetchone():
            return
        row = conn.execute("SELECT value FROM meta WHERE key='process'").fetchone()
        if row:
            status = json.loads(row[0])
            beat_at = float(status.get("heartbeat_wall", 0.0))
            if beat_at > self._last_beat and status.get("monitoring_active"):
                self._last_beat = beat_at
                self.beats.append(Beat(now, int(status.get("pid", 0)), status))
        p = self.progress
        p.trades = conn.execute("SELECT count(*) FROM trades WHERE parent_ticket IS NULL"
                                ).fetchone()[0]
        p.hedges = conn.execute("SELECT count(*) FROM actions WHERE type='open_hedge' AND "
                                "status='done'").fetchone()[0]
        p.give_ups = conn.execute("SELECT count(*) FROM notes WHERE kind='alert' AND text LIKE "
                                  "'%giving up%'").fetchone()[0]
        p.quarantined = conn.execute("SELECT count(*) FROM trades WHERE quarantined=1"
                                     ).fetchone()[0]

    def _scan_logs(self) -> None:
        for path in self._files():
            try:
                size = path.stat().st_size
            except OSError:
                continue
            start = self._offsets.get(path, 0)
            if size < start:  # rotated
                start = 0
            if size == start:
                continue
            with open(path, "rb") as fh:
                fh.seek(start)
                chunk = fh.read(size - start)
            end = chunk.rfind(b"\n") + 1  # whole lines only; the rest next time
            self._offsets[path] = start + end
            for line in chunk[:end].decode("utf-8", "replace").splitlines():
                if TRACEBACK in line:
                    self.traceback_lines.append(f"{path.name}: {line.strip()}")
        self.progress.tracebacks = len(self.traceback_lines)

    def _files(self) -> list[Path]:
        found = []
        for item in self.logs:
            if item.is_dir():
                found += sorted(item.glob("*.log")) + sorted(item.glob("*.out"))
            elif item.exists():
                found.append(item)
        return found

    def finish(self) -> None:
        """A last look at the logs and the journal after every process ended."""
        self.sample(None)
        self.close()
