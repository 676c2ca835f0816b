"""History from the journal: one trade's transitions, actions, notes and scores.

Blocking SQLite reads on a read-only connection of their own (the journal owner keeps writing
meanwhile, WAL allows it); the API runs them in a worker thread. Every list is bounded.
"""

from __future__ import annotations

import json
import os
import sqlite3
from contextlib import closing
from typing import Any

from dtms.journal.store import open_readonly

TRADE_COLUMNS = (
    "ticket, symbol, side, entry, initial_volume, current_volume, initial_sl, initial_tp, "
    "state, state_since, score, flat_deadline, recovery_deadline, hedge_ticket, hedge_volume, "
    "hedges_opened, partial_closes, parent_ticket, opened_at, closed_at, close_reason, pending, "
    "quarantined, alert, state_json"
)


def _rows(conn: sqlite3.Connection, query: str, *args: Any) -> list[dict[str, Any]]:
    return [dict(r) for r in conn.execute(query, args)]


def trade_detail(path: str | os.PathLike[str], ticket: int, limit: int = 500
                 ) -> dict[str, Any] | None:
    """Everything the journal holds about one trade (None when it does not know the ticket)."""
    with closing(open_readonly(path)) as conn:
        row = conn.execute(f"SELECT {TRADE_COLUMNS} FROM trades WHERE ticket=?",
                           (ticket,)).fetchone()
        if row is None:
            return None
        trade = dict(row)
        state = json.loads(trade.pop("state_json"))
        trade["sl"] = state.get("sl")
        trade["tp"] = state.get("tp")
        trade["quarantined"] = bool(trade["quarantined"])
        transitions = _rows(conn, "SELECT ts, from_state, to_state, rule, reason, score FROM "
                            "transitions WHERE ticket=? ORDER BY id LIMIT ?", ticket, limit)
        actions = _rows(conn, "SELECT id, ts, type, params, status, retcode, broker_comment, "
                        "result_ticket, error, state_before, state_after, score, updated_at "
                        "FROM actions WHERE ticket=? ORDER BY ts, rowid LIMIT ?", ticket, limit)
        for a in actions:
            a["params"] = json.loads(a["params"])
        notes = _rows(conn, "SELECT ts, kind, action, retcode, text FROM notes WHERE ticket=? "
                      "ORDER BY id DESC LIMIT ?", ticket, min(limit, 50))
        scores = _rows(conn, "SELECT ts, total, layers, analysis FROM scores WHERE ticket=? "
                       "ORDER BY id DESC LIMIT ?", ticket, limit)
    scores.reverse()
    for s in scores:
        s["layers"] = json.loads(s["layers"])
    latest = scores[-1] if scores else None
    return {
        "trade": trade,
        "layers": latest["layers"] if latest else [],
        "analysis": latest["analysis"] if latest else "",
        "transitions": transitions,
        "actions": actions,
        "notes": notes,
        "score_history": [{"ts": s["ts"], "total": s["total"],
                           "layers": {x["name"]: x["weighted"] for x in s["layers"]}}
                          for s in scores],
    }


def closed_count(path: str | os.PathLike[str]) -> int:
    """Trades the journal holds as closed."""
    with closing(open_readonly(path)) as conn:
        return int(conn.execute("SELECT count(*) FROM trades WHERE closed_at IS NOT NULL"
                                ).fetchone()[0])


def tail(path: str | os.PathLike[str], lines: int, max_bytes: int = 4 << 20) -> list[str]:
    """The last ``lines`` lines of a text file (reads at most ``max_bytes`` from its end)."""
    with open(path, "rb") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        block, data = 64 * 1024, b""
        pos = size
        while pos > 0 and data.count(b"\n") <= lines and size - pos < max_bytes:
            step = min(block, pos)
            pos -= step
            fh.seek(pos)
            data = fh.read(step) + data
    text = data.decode("utf-8", errors="replace").splitlines()
    return text[-lines:]
