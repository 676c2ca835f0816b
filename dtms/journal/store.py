"""The journal file: opening it safely, writing rows, reading trades back.

Opening refuses, with one clear line, a file that another dtms process holds, a file that is
not a dtms journal or is corrupt, and a file written by a newer schema. It never deletes or
recreates an existing file: history is never lost to a startup problem.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dtms.core.evolve import evolve
from dtms.core.machine import Decision
from dtms.core.messages import Command, Note
from dtms.core.pending import TransitionRecord
from dtms.core.score import FlipState
from dtms.core.trade import TradeState
from dtms.errors import JournalError
from dtms.journal.codec import dump_trade, load_trade, to_plain
from dtms.journal.schema import MIGRATIONS, SCHEMA_VERSION
from dtms.locks import Held, ProcessLock

APPLICATION_ID = 0x64746D73  # "dtms"
PRUNE_EVERY = 5000
"""Score rows inserted between two prunings of the scores table."""


class _ProcessLock(ProcessLock):
    """An exclusive advisory lock on ``<journal>.lock``: one dtms process per journal."""

    def acquire(self) -> None:
        try:
            super().acquire()
        except Held as held:
            raise JournalError(
                f"journal {self.path.with_suffix('')} is in use by another dtms process "
                f"(pid {held.holder}); stop it first or pass another --journal"
            ) from held


def _connect(path: Path, *, readonly: bool) -> sqlite3.Connection:
    uri = f"file:{path.as_posix()}?mode={'ro' if readonly else 'rwc'}"
    conn = sqlite3.connect(uri, uri=True, timeout=2.0, isolation_level=None,
                           check_same_thread=False)
    conn.row_factory = sqlite3.Row
    return conn


def _check(conn: sqlite3.Connection, path: Path) -> int:
    """Validate an existing file; return its schema version (0 for an empty database)."""
    try:
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]
        if tables and app_id != APPLICATION_ID:
            raise JournalError(f"{path} is an SQLite file but not a dtms journal; refusing to "
                               "use it (it was left untouched)")
        if tables:
            verdict = conn.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                raise JournalError(f"journal {path} is corrupt ({verdict}); refusing to start. "
                                   "It was left untouched: move it aside to start a new journal")
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc):
            raise JournalError(f"journal {path} is locked by another program; close it and "
                               "retry") from exc
        raise JournalError(f"journal {path} is corrupt or not a database ({exc}); refusing to "
                           "start. It was left untouched: move it aside to start a new "
                           "journal") from exc
    if version > SCHEMA_VERSION:
        raise JournalError(f"journal {path} has schema version {version}, newer than this "
                           f"dtms understands ({SCHEMA_VERSION}); upgrade dtms")
    return int(version)


def check_writable(p: Path) -> None:
    """Refuse, with one line and without touching it, a journal dtms could not keep.

    A read-only file used to start, then crash an actor at its first write; a 0-byte file is
    not a journal (SQLite would quietly make one in it).
    """
    if p.is_dir():
        raise JournalError(f"journal path {p} is a directory, not a file")
    if not p.parent.is_dir():
        raise JournalError(f"journal directory {p.parent} does not exist (or is not a directory)")
    if not os.access(p.parent, os.W_OK | os.X_OK):
        raise JournalError(f"journal directory {p.parent} is not writable (SQLite keeps its "
                           "write-ahead log next to the journal)")
    if not p.exists():
        return
    if p.stat().st_size == 0:
        raise JournalError(f"journal {p} is an empty file (0 bytes), not a dtms journal; it was "
                           "left untouched: remove it to start a new journal")
    if not os.access(p, os.R_OK | os.W_OK):
        raise JournalError(f"journal {p} is not writable (read-only file); dtms must write "
                           "every intent before it sends an order: fix its permissions")


class JournalFile:
    """The read-write journal of one running dtms process."""

    def __init__(self, path: Path, conn: sqlite3.Connection, lock: _ProcessLock) -> None:
        self.path = path
        self.conn = conn
        self._lock = lock
        self._scores_since_prune = 0

    @classmethod
    def open(cls, path: str | os.PathLike[str]) -> JournalFile:
        """Open (or create) the journal, lock it for this process, bring the schema up to date."""
        p = Path(path)
        check_writable(p)
        lock = _ProcessLock(p.with_name(p.name + ".lock"))
        lock.acquire()
        try:
            conn = _connect(p, readonly=False)
            version = _check(conn, p)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("PRAGMA foreign_keys=ON")
                for target in range(version + 1, SCHEMA_VERSION + 1):
                    # executescript commits whatever is open first, so the migration carries
                    # its own transaction: a failure leaves the file at the old version.
                    conn.executescript(
                        f"BEGIN IMMEDIATE;\n{MIGRATIONS[target]}\n"
                        f"PRAGMA user_version={target};\n"
                        f"PRAGMA application_id={APPLICATION_ID};\nCOMMIT;"
                    )
                # prove it can be written now, not at the first intent of a live trade
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES ('write_probe', '1')")
                conn.execute("ROLLBACK")
            except sqlite3.OperationalError as exc:
                conn.close()
                raise JournalError(f"journal {p} cannot be written ({exc}); it was left "
                                   "untouched") from exc
        except BaseException:
            lock.release()
            raise
        return cls(p, conn, lock)

    def close(self) -> None:
        """Checkpoint, close the connection and release the process lock."""
        try:
            self.conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
            self.conn.close()
        finally:
            self._lock.release()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group writes into one transaction."""
        with _transaction(self.conn):
            yield

    # ------------------------------------------------------------------ writes

    def save_trade(self, t: TradeState, at: float, *, parent: int | None = None,
                   quarantined: bool = False, alert: str = "") -> None:
        """Insert or replace a trade's row (columns for queries, JSON for resuming)."""
        pending = t.pending.transition if t.pending else None
        f = t.flip
        self.conn.execute(
            """INSERT INTO trades (ticket, symbol, side, entry, initial_volume, current_volume,
                initial_sl, initial_tp, state, state_since, score, flat_deadline,
                recovery_deadline, cross_counter, flip_against, favour_crosses, flip_in_favour,
                flip_bar_time, last_eval_id, last_deep_check_at, hedge_ticket, hedge_volume,
                hedges_opened, partial_closes, parent_ticket, opened_at, closed_at, close_reason,
                pending, quarantined, alert, state_json, updated_at)
            VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
            ON CONFLICT(ticket) DO UPDATE SET current_volume=excluded.current_volume,
                state=excluded.state, state_since=excluded.state_since, score=excluded.score,
                flat_deadline=excluded.flat_deadline, recovery_deadline=excluded.recovery_deadline,
                cross_counter=excluded.cross_counter, flip_against=excluded.flip_against,
                favour_crosses=excluded.favour_crosses, flip_in_favour=excluded.flip_in_favour,
                flip_bar_time=excluded.flip_bar_time, last_eval_id=excluded.last_eval_id,
                last_deep_check_at=excluded.last_deep_check_at,
                hedge_ticket=excluded.hedge_ticket, hedge_volume=excluded.hedge_volume,
                hedges_opened=excluded.hedges_opened, partial_closes=excluded.partial_closes,
                closed_at=excluded.closed_at, close_reason=excluded.close_reason,
                pending=excluded.pending, quarantined=excluded.quarantined, alert=excluded.alert,
                state_json=excluded.state_json, updated_at=excluded.updated_at""",
            (t.ticket, t.symbol, t.side.value, t.entry, t.initial_volume, t.volume, t.initial_sl,
             t.initial_tp, t.state.value, t.since, t.score, t.flat_deadline, t.recovery_deadline,
             f.adverse_crosses, int(f.against), f.favour_crosses, int(f.in_favour),
             f.last_bar_time, t.last_eval_id, t.last_deep_check_at,
             t.hedge.ticket if t.hedge else None, t.hedge.volume if t.hedge else None,
             t.hedges_opened, t.partial_closes, parent, t.opened_at, t.closed_at, t.close_reason,
             pending, int(quarantined), alert, dump_trade(t), at),
        )

    def save_progress(self, t: TradeState, at: float) -> None:
        """Write only what a routine deep check changes: score, flip memory, evaluation id.

        These columns override the JSON state on load, so a check that changed nothing else
        does not re-encode the whole trade.
        """
        f = t.flip
        self.conn.execute(
            "UPDATE trades SET score=?, cross_counter=?, flip_against=?, favour_crosses=?, "
            "flip_in_favour=?, flip_bar_time=?, last_eval_id=?, last_deep_check_at=?, "
            "updated_at=? WHERE ticket=?",
            (t.score, f.adverse_crosses, int(f.against), f.favour_crosses, int(f.in_favour),
             f.last_bar_time, t.last_eval_id, t.last_deep_check_at, at, t.ticket),
        )

    def add_transition(self, r: TransitionRecord) -> None:
        """Record a committed transition."""
        self.conn.execute(
            "INSERT INTO transitions (ts, ticket, from_state, to_state, rule, reason, score) "
            "VALUES (?,?,?,?,?,?,?)",
            (r.at, r.ticket, r.source.value, r.target.value, r.rule, r.reason, r.score),
        )

    def add_intent(self, c: Command, before: TradeState, at: float,
                   score: float | None = None) -> None:
        """Record an action before it is sent (status 'intent').

        ``score`` is the score of the evaluation that decided it (the trade's state *before*
        the decision still holds the previous one).
        """
        params = to_plain(c)
        ticket = getattr(c, "main_ticket", None) or before.ticket
        self.conn.execute(
            "INSERT OR IGNORE INTO actions (id, ts, ticket, symbol, type, params, status, "
            "state_before, score, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
            (c.id, at, ticket, c.symbol, c.action.value, json.dumps(params), "intent",
             before.state.value, before.score if score is None else score, at),
        )

    def update_action(self, command_id: str, status: str, at: float, *, retcode: int | None = None,
                      broker_comment: str = "", result_ticket: int | None = None, error: str = "",
                      state_after: str | None = None) -> None:
        """Move an action on: sent, done, failed, unknown, confirmed."""
        self.conn.execute(
            "UPDATE actions SET status=?, retcode=COALESCE(?, retcode), "
            "broker_comment=CASE WHEN ?='' THEN broker_comment ELSE ? END, "
            "result_ticket=COALESCE(?, result_ticket), "
            "error=CASE WHEN ?='' THEN error ELSE ? END, "
            "state_after=COALESCE(?, state_after), updated_at=? WHERE id=?",
            (status, retcode, broker_comment, broker_comment, result_ticket, error, error,
             state_after, at, command_id),
        )

    def add_note(self, ticket: int, note: Note, at: float) -> None:
        """Record a skipped/blocked/failed action or an alert."""
        self.conn.execute(
            "INSERT INTO notes (ts, ticket, kind, action, retcode, text) VALUES (?,?,?,?,?,?)",
            (at, ticket, note.kind.value, note.action.value if note.action else None,
             note.retcode, note.text),
        )

    def add_score(self, ticket: int, at: float, total: float, layers: list[dict[str, Any]],
                  analysis: str, keep: int) -> None:
        """Record a score; keep only the newest ``keep`` per trade."""
        self.conn.execute(
            "INSERT INTO scores (ts, ticket, total, layers, analysis) VALUES (?,?,?,?,?)",
            (at, ticket, total, json.dumps(layers), analysis),
        )
        self._scores_since_prune += 1
        if self._scores_since_prune >= PRUNE_EVERY:
            self.prune_scores(keep)

    def prune_scores(self, keep: int) -> None:
        """Keep only the newest ``keep`` score rows of each trade (run every few thousand)."""
        self._scores_since_prune = 0
        self.conn.execute(
            "DELETE FROM scores WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() OVER "
            "(PARTITION BY ticket ORDER BY id DESC) AS n FROM scores) WHERE n > ?)", (keep,),
        )

    def prune(self, detail_before: float, rows_before: float) -> list[int]:
        """Apply the retention: delete the detail of trades closed before ``detail_before``
        (actions, notes, transitions, scores) and the rows of those closed before
        ``rows_before``. Returns the tickets whose detail went (their logs may go too).

        Freed pages are reused by later writes, so the file stops growing once the retention
        period is reached.
        """
        tickets = [int(r[0]) for r in self.conn.execute(
            "SELECT ticket FROM trades WHERE closed_at IS NOT NULL AND closed_at < ? AND "
            "pending IS NULL AND detail_pruned = 0", (detail_before,))]
        for table in ("actions", "notes", "transitions", "scores"):
            self.conn.executemany(f"DELETE FROM {table} WHERE ticket=?", ((t,) for t in tickets))
        self.conn.executemany("UPDATE trades SET detail_pruned=1 WHERE ticket=?",
                              ((t,) for t in tickets))
        self.conn.execute("DELETE FROM trades WHERE closed_at IS NOT NULL AND closed_at < ? AND "
                          "pending IS NULL", (rows_before,))
        return tickets

    def set_meta(self, key: str, value: Any) -> None:
        """Store a process-level fact (heartbeat, data health, gateway statistics)."""
        self.conn.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO "
                          "UPDATE SET value=excluded.value", (key, json.dumps(value)))

    def get_meta(self, key: str) -> Any:
        """A process-level fact stored with ``set_meta`` (None when absent)."""
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def record(self, before: TradeState, d: Decision, at: float, *, save: bool = True) -> None:
        """Everything one decision wrote: state (unless saved apart), transition, intents, notes."""
        if save:
            self.save_trade(d.trade, at)
        if d.transition is not None:
            self.add_transition(d.transition)
        for c in d.commands:
            self.add_intent(c, before, at, d.trade.score)
        for n in d.notes:
            self.add_note(d.trade.ticket, n, at)

    # ------------------------------------------------------------------ reads

    def open_trades(self) -> list[TradeState]:
        """Every trade the journal still manages (not CLOSED, or CLOSED with work pending)."""
        rows = self.conn.execute(
            f"SELECT {_STATE_COLUMNS} FROM trades WHERE closed_at IS NULL OR pending IS NOT NULL "
            "ORDER BY ticket").fetchall()
        return [_state_of(r) for r in rows]

    def load(self, ticket: int) -> TradeState | None:
        """One trade's journaled state."""
        row = self.conn.execute(f"SELECT {_STATE_COLUMNS} FROM trades WHERE ticket=?",
                                (ticket,)).fetchone()
        return _state_of(row) if row else None

    def opened_by_dtms(self, ticket: int, symbol: str, side: str, volume: float, opened: float,
                       tolerance: float = 60.0) -> tuple[int, str] | None:
        """Whether this journal's process sent the order that opened position ``ticket``.

        Returns ``(parent ticket, "hedge" | "readd")``: an open whose result was this ticket, or
        one whose answer was lost (or whose outcome is still unknown) with the same symbol, side
        and volume, decided at most ``tolerance`` seconds after the position opened.
        """
        row = self.conn.execute(
            "SELECT ticket, type FROM actions WHERE result_ticket=? AND type IN "
            "('open_hedge','re_add') LIMIT 1", (ticket,)).fetchone()
        if row is None:
            rows = self.conn.execute(
                "SELECT ticket, type, params FROM actions WHERE symbol=? AND type IN "
                "('open_hedge','re_add') AND status IN ('intent','sent','unknown','failed') "
                "AND ts <= ? ORDER BY ts DESC LIMIT 50", (symbol, opened + tolerance)).fetchall()
            for r in rows:
                params = json.loads(r["params"])
                if params.get("side") == side and abs(float(params.get("volume", 0)) - volume) \
                        < 1e-9:
                    row = r
                    break
        if row is None:
            return None
        return int(row["ticket"]), "hedge" if row["type"] == "open_hedge" else "readd"

    def is_known(self, ticket: int) -> bool:
        """Whether the journal has ever managed this ticket."""
        return self.conn.execute("SELECT 1 FROM trades WHERE ticket=?",
                                 (ticket,)).fetchone() is not None


_STATE_COLUMNS = ("state_json, score, cross_counter, flip_against, favour_crosses, "
                  "flip_in_favour, flip_bar_time, last_eval_id, last_deep_check_at")


def _state_of(row: sqlite3.Row) -> TradeState:
    """The JSON state with the progress columns (written more often) laid over it."""
    t = load_trade(row[0])
    flip = FlipState(int(row[2]), int(row[4]), bool(row[3]), bool(row[5]), int(row[6]))
    return evolve(t, score=row[1], flip=flip, last_eval_id=int(row[7]),
                  last_deep_check_at=float(row[8]))


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def open_readonly(path: str | os.PathLike[str]) -> sqlite3.Connection:
    """A read-only connection for status commands (works while ``dtms run`` writes)."""
    p = Path(path)
    if not p.exists():
        raise JournalError(f"no journal at {p}: has `dtms run` been started here?")
    conn = _connect(p, readonly=True)
    try:
        _check(conn, p)
    except JournalError:
        conn.close()
        raise
    return conn
