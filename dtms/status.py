"""The read-only Python API: system status, one trade, action history.

These functions read the journal (and the status the running process writes into it every
few seconds), so they work from any process while ``dtms run`` runs, and after it stopped.
"""

from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from dtms.errors import DtmsError
from dtms.journal.store import open_readonly


def _journal_path(journal: str | os.PathLike[str] | None) -> Path:
    if journal is not None:
        return Path(journal)
    from dtms.config import load_settings

    return Path(load_settings().journal.path)


def _meta(conn: sqlite3.Connection) -> dict[str, Any]:
    row = conn.execute("SELECT value FROM meta WHERE key='process'").fetchone()
    return json.loads(row[0]) if row else {}


def _guard(conn: sqlite3.Connection, meta: dict[str, Any]) -> dict[str, Any]:
    """The guard as the heartbeat last saw it, its lock as journaled (written before it acts)."""
    guard = dict(meta.get("guard") or {})
    row = conn.execute("SELECT value FROM meta WHERE key='guard'").fetchone()
    if row is not None and guard.get("enabled", True):  # a guard set off enforces no lock
        saved = json.loads(row[0])
        lock = saved.get("lock")
        guard.update(locked=lock is not None, lock_reason=lock["reason"] if lock else "",
                     locked_since=lock["since"] if lock else None,
                     suspended=saved.get("suspended", []), last_request=saved.get("request", ""),
                     last_answer=saved.get("answer", ""))
    return guard


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _broker_now(meta: dict[str, Any]) -> float | None:
    """The broker clock now, extrapolated from the last heartbeat."""
    if not meta:
        return None
    if not meta.get("monitoring_active"):
        return float(meta.get("broker_time", 0.0))
    elapsed = max(time.time() - float(meta.get("heartbeat_wall", time.time())), 0.0)
    return float(meta.get("broker_time", 0.0)) + elapsed * float(meta.get("time_scale", 1.0))


def get_system_status(journal: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Whether dtms is monitoring, what it manages, how its checks and actions went."""
    with closing(open_readonly(_journal_path(journal))) as conn:
        meta = _meta(conn)
        by_state = dict(conn.execute(
            "SELECT state, count(*) FROM trades WHERE closed_at IS NULL GROUP BY state"))
        closed = conn.execute("SELECT count(*) FROM trades WHERE closed_at IS NOT NULL"
                              ).fetchone()[0]
        actions = dict(conn.execute("SELECT status, count(*) FROM actions GROUP BY status"))
        quarantined = [r[0] for r in conn.execute(
            "SELECT ticket FROM trades WHERE quarantined=1 AND closed_at IS NULL")]
        guard = _guard(conn, meta)
    fresh = bool(meta) and time.time() - float(meta.get("heartbeat_wall", 0)) < 3 * float(
        meta.get("heartbeat_interval", 5.0)) + 5
    active = bool(meta.get("monitoring_active")) and fresh and _alive(int(meta.get("pid", 0)))
    counters = meta.get("counters", {})
    return {
        "monitoring_active": active,
        "pid": meta.get("pid"),
        "broker": meta.get("broker"),
        "uptime_seconds": round(time.time() - float(meta["started_wall"]), 1)
        if active and "started_wall" in meta else 0.0,
        "active_trades": sum(by_state.values()),
        "trades_by_state": by_state,
        "closed_trades": closed,
        "checks": {
            "deep": counters.get("deep_checks", 0),
            "early": counters.get("early_checks", 0),
        },
        "actions": {
            "succeeded": actions.get("done", 0),
            "failed": actions.get("failed", 0),
            "unknown": actions.get("unknown", 0),
            "in_flight": actions.get("intent", 0) + actions.get("sent", 0),
            "by_action": counters.get("by_action", {}),
        },
        "data_health": meta.get("data_health", {}),
        "last_check_at": meta.get("last_check_at") or None,
        "last_snapshot_at": meta.get("last_snapshot_at"),
        "broker_time": _broker_now(meta),
        "quarantined": quarantined,
        "gateway": meta.get("gateway", {}),
        "cycle_seconds": meta.get("cycle_seconds", {}),
        "trading": meta.get("trading", {}),
        "waiting": meta.get("waiting", {}),
        "identity": meta.get("identity", {}),
        "guard": guard,
    }


def get_trade_status(ticket: int, journal: str | os.PathLike[str] | None = None
                     ) -> dict[str, Any]:
    """One trade: state, score and layers, timers remaining, hedge, warnings, last transition."""
    with closing(open_readonly(_journal_path(journal))) as conn:
        row = conn.execute("SELECT * FROM trades WHERE ticket=?", (ticket,)).fetchone()
        if row is None:
            raise DtmsError(f"ticket {ticket} is not in the journal")
        meta = _meta(conn)
        score = conn.execute("SELECT ts, total, layers, analysis FROM scores WHERE ticket=? "
                             "ORDER BY id DESC LIMIT 1", (ticket,)).fetchone()
        last = conn.execute("SELECT ts, from_state, to_state, rule, reason, score FROM "
                            "transitions WHERE ticket=? ORDER BY id DESC LIMIT 1",
                            (ticket,)).fetchone()
        warnings = [dict(r) for r in conn.execute(
            "SELECT ts, kind, action, retcode, text FROM notes WHERE ticket=? AND kind IN "
            "('alert','blocked','failed') ORDER BY id DESC LIMIT 10", (ticket,))]
    now = _broker_now(meta)

    def remaining(deadline: float | None) -> float | None:
        if deadline is None or now is None:
            return None
        return round(max(deadline - now, 0.0), 1)

    state = json.loads(row["state_json"])
    return {
        "ticket": ticket,
        "symbol": row["symbol"],
        "side": row["side"],
        "state": row["state"],
        "state_since": row["state_since"],
        "pending": row["pending"],
        "entry": row["entry"],
        "volume": row["current_volume"],
        "initial_volume": row["initial_volume"],
        "sl": state.get("sl"),
        "initial_sl": row["initial_sl"],
        "score": row["score"],
        "layers": json.loads(score["layers"]) if score else [],
        "analysis": score["analysis"] if score else "",
        "flat_timer_remaining": remaining(row["flat_deadline"]),
        "recovery_timer_remaining": remaining(row["recovery_deadline"]),
        "hedge_ticket": row["hedge_ticket"],
        "hedge_volume": row["hedge_volume"],
        "hedges_opened": row["hedges_opened"],
        "partial_closes": row["partial_closes"],
        "quarantined": bool(row["quarantined"]),
        "alert": row["alert"],
        "warnings": warnings,
        "last_transition": dict(last) if last else None,
        "closed_at": row["closed_at"],
        "close_reason": row["close_reason"],
    }


def get_action_history(ticket: int | None = None, limit: int = 50,
                       journal: str | os.PathLike[str] | None = None) -> list[dict[str, Any]]:
    """The newest actions (of one trade, or all), newest first."""
    if limit <= 0:
        raise DtmsError(f"limit must be positive, got {limit}")
    query = ("SELECT id, ts, ticket, symbol, type, params, status, retcode, broker_comment, "
             "result_ticket, error, state_before, state_after, score FROM actions")
    args: tuple[Any, ...] = ()
    if ticket is not None:
        query += " WHERE ticket=?"
        args = (ticket,)
    query += " ORDER BY ts DESC, rowid DESC LIMIT ?"
    with closing(open_readonly(_journal_path(journal))) as conn:
        rows = conn.execute(query, (*args, limit)).fetchall()
    out = []
    for r in rows:
        item = dict(r)
        item["params"] = json.loads(item["params"])
        out.append(item)
    return out
