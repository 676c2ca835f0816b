"""The evidence a run is judged on: the broker's history, dtms's journal, dtms's lifetimes.

Theory of operation. The checks and the figures never trust one side alone. From the broker's
deal history this module rebuilds every position's life (opened, closed, by whom, each change of
volume); from the journal it reads what dtms decided and what it believes; and it knows when a
dtms process was actually running (between its first heartbeat and its end), so "after one
cycle" is counted in dtms's own running time. Broker times are epoch seconds of the trade server.
"""

from __future__ import annotations

import json
import sqlite3
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtms.broker import constants as C
from dtms.stress.world import BrokerFacts

EXITS = frozenset({C.DEAL_ENTRY_OUT, C.DEAL_ENTRY_OUT_BY, C.DEAL_ENTRY_INOUT})
INF = float("inf")


@dataclass(slots=True)
class PositionLife:
    """One position as the deal history tells it."""

    ticket: int
    symbol: str
    magic: int
    buy: bool
    initial: float
    """Volume of the opening deal."""
    volume: float
    """Volume left after the last deal."""
    opened: float
    closed: float = INF
    """Broker time of the exit that left nothing (inf while open)."""
    changes: list[tuple[float, float, int, int]] = field(default_factory=list)
    """(time, volume after, magic of the deal, entry) of every exit deal, in time order."""

    def open_at(self, t: float) -> bool:
        """Whether the position was open at broker time ``t``."""
        return self.opened <= t < self.closed


def lives_of(deals: Iterable[Any]) -> dict[int, PositionLife]:
    """Every position the history opened, with its exits."""
    ordered = sorted(deals, key=lambda d: (int(d.time_msc), int(d.ticket)))
    lives: dict[int, PositionLife] = {}
    for d in ordered:
        pid = int(d.position_id)
        t = int(d.time_msc) / 1000.0
        if int(d.entry) == C.DEAL_ENTRY_IN and pid not in lives:
            lives[pid] = PositionLife(pid, str(d.symbol), int(d.magic),
                                      int(d.type) == C.DEAL_TYPE_BUY, float(d.volume),
                                      float(d.volume), t)
        elif int(d.entry) in EXITS and pid in lives:
            life = lives[pid]
            left = round(max(life.volume - float(d.volume), 0.0), 8)
            if int(d.entry) == C.DEAL_ENTRY_INOUT:
                left = round(float(d.volume) - life.volume, 8)  # netting reversal
            life.volume = left
            life.changes.append((t, left, int(d.magic), int(d.entry)))
            if left <= 1e-9:
                life.closed = t
    return lives


@dataclass(frozen=True, slots=True)
class Journaled:
    """What dtms's journal says at the end of the run."""

    trades: dict[int, dict[str, Any]]
    actions: list[dict[str, Any]]
    """Every action row, oldest first; ``params`` decoded."""
    give_ups: list[dict[str, Any]]
    last_snapshot_at: float | None
    status: dict[str, Any]

    def actions_of(self, kind: str) -> list[dict[str, Any]]:
        """Action rows of one type (``open_hedge``, ``tighten_sl``...), oldest first."""
        return [a for a in self.actions if a["type"] == kind]


def read_journal(path: Path) -> Journaled:
    """Read the journal of a finished run (read-only)."""
    conn = sqlite3.connect(f"file:{path.as_posix()}?mode=ro", uri=True)
    conn.row_factory = sqlite3.Row
    try:
        trades = {int(r["ticket"]): dict(r) for r in conn.execute("SELECT * FROM trades")}
        actions = []
        for r in conn.execute("SELECT * FROM actions ORDER BY ts, rowid"):
            row = dict(r)
            row["params"] = json.loads(row["params"])
            actions.append(row)
        give_ups = [dict(r) for r in conn.execute(
            "SELECT * FROM notes WHERE kind='alert' AND text LIKE '%giving up%'")]
        row = conn.execute("SELECT value FROM meta WHERE key='process'").fetchone()
        status = json.loads(row[0]) if row else {}
    finally:
        conn.close()
    return Journaled(trades, actions, give_ups, status.get("last_snapshot_at"), status)


@dataclass(frozen=True, slots=True)
class Uptime:
    """When dtms was running and looking, in broker time: from each process's first heartbeat
    to its end, less the terminal link's outages (from the outage until a client's
    ``initialize()`` brought the link back: nobody can act on the account in between)."""

    spans: tuple[tuple[float, float], ...]
    link_down: tuple[tuple[float, float], ...] = ()

    def running(self, start: float, end: float) -> float:
        """Seconds within [start, end] during which dtms was running with a link."""
        return _overlap(self.spans, start, end) - sum(
            _overlap(self.spans, max(a, start), min(b, end)) for a, b in self.link_down
            if min(b, end) > max(a, start))

    @property
    def first(self) -> float:
        """When the first process started looking."""
        return self.spans[0][0] if self.spans else INF


def _overlap(spans: tuple[tuple[float, float], ...], start: float, end: float) -> float:
    """Seconds of [start, end] inside the (disjoint) spans."""
    total = 0.0
    for a, b in spans:
        lo, hi = max(a, start), min(b, end)
        if hi > lo:
            total += hi - lo
    return total


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything a finished run is judged on."""

    broker: BrokerFacts
    journal: Journaled
    uptime: Uptime
    lives: dict[int, PositionLife]
    stop_samples: tuple[tuple[float, dict[int, tuple[float, int]]], ...]
    """(broker time, ticket -> (SL, type)) read whenever dtms was down, and at the end."""
    managed: frozenset[int]
    """Positions the trader's EA opened for dtms to manage."""
    ignored_magics: frozenset[int]
    dtms_magic: int
    tracebacks: tuple[str, ...] = ()
    exits: tuple[tuple[int, str, int | None], ...] = ()
    """(pid, how it ended, exit code) of every dtms process."""

    def own_positions(self) -> dict[int, PositionLife]:
        """Positions dtms opened (its magic on the opening deal)."""
        return {t: p for t, p in self.lives.items() if p.magic == self.dtms_magic}

    def parents(self) -> dict[int, int]:
        """dtms's positions -> the trade they belong to, from the journal's own record of what
        each open made (never from the comment alone: brokers cut and drop comments)."""
        out: dict[int, int] = {}
        for a in self.journal.actions:
            if a["type"] in ("open_hedge", "re_add") and a["result_ticket"]:
                out[int(a["result_ticket"])] = int(a["ticket"])
        for ticket, t in self.journal.trades.items():
            if t.get("hedge_ticket"):
                out.setdefault(int(t["hedge_ticket"]), ticket)
            if t.get("parent_ticket"):
                out.setdefault(ticket, int(t["parent_ticket"]))
        return out


def by_ticket(rows: Iterable[dict[str, Any]]) -> dict[int, list[dict[str, Any]]]:
    """Rows grouped by their ``ticket``, order kept."""
    out: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        out[int(r["ticket"])].append(r)
    return out
