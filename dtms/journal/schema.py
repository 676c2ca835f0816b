"""The journal's SQLite schema, versioned with ``PRAGMA user_version``.

A new file gets the current schema; an older one is migrated in order; a newer one (written by
a newer dtms) is refused rather than misread.
"""

from __future__ import annotations

SCHEMA_VERSION = 2

SCHEMA_V1 = """
CREATE TABLE trades (
    ticket            INTEGER PRIMARY KEY,
    symbol            TEXT    NOT NULL,
    side              TEXT    NOT NULL,
    entry             REAL    NOT NULL,
    initial_volume    REAL    NOT NULL,
    current_volume    REAL    NOT NULL,
    initial_sl        REAL    NOT NULL,
    initial_tp        REAL    NOT NULL,
    state             TEXT    NOT NULL,
    state_since       REAL    NOT NULL,
    score             REAL,
    flat_deadline     REAL,
    recovery_deadline REAL,
    cross_counter     INTEGER NOT NULL DEFAULT 0,
    flip_against      INTEGER NOT NULL DEFAULT 0,
    favour_crosses    INTEGER NOT NULL DEFAULT 0,
    flip_in_favour    INTEGER NOT NULL DEFAULT 0,
    flip_bar_time     INTEGER NOT NULL DEFAULT 0,
    last_eval_id      INTEGER NOT NULL DEFAULT 0,
    last_deep_check_at REAL   NOT NULL DEFAULT 0,
    hedge_ticket      INTEGER,
    hedge_volume      REAL,
    hedges_opened     INTEGER NOT NULL DEFAULT 0,
    partial_closes    INTEGER NOT NULL DEFAULT 0,
    parent_ticket     INTEGER,
    opened_at         REAL    NOT NULL,
    closed_at         REAL,
    close_reason      TEXT    NOT NULL DEFAULT '',
    pending           TEXT,
    quarantined       INTEGER NOT NULL DEFAULT 0,
    alert             TEXT    NOT NULL DEFAULT '',
    state_json        TEXT    NOT NULL,
    updated_at        REAL    NOT NULL
);
CREATE INDEX trades_open ON trades (closed_at);

CREATE TABLE transitions (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ts        REAL    NOT NULL,
    ticket    INTEGER NOT NULL,
    from_state TEXT   NOT NULL,
    to_state  TEXT    NOT NULL,
    rule      TEXT    NOT NULL,
    reason    TEXT    NOT NULL,
    score     REAL
);
CREATE INDEX transitions_ticket ON transitions (ticket, id);

CREATE TABLE actions (
    id               TEXT    PRIMARY KEY,
    ts               REAL    NOT NULL,
    ticket           INTEGER NOT NULL,
    symbol           TEXT    NOT NULL,
    type             TEXT    NOT NULL,
    params           TEXT    NOT NULL,
    status           TEXT    NOT NULL,
    retcode          INTEGER,
    broker_comment   TEXT    NOT NULL DEFAULT '',
    result_ticket    INTEGER,
    error            TEXT    NOT NULL DEFAULT '',
    state_before     TEXT    NOT NULL,
    state_after      TEXT,
    score            REAL,
    updated_at       REAL    NOT NULL
);
CREATE INDEX actions_ticket ON actions (ticket, ts);
CREATE INDEX actions_ts ON actions (ts);

CREATE TABLE notes (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    ts      REAL    NOT NULL,
    ticket  INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    action  TEXT,
    retcode INTEGER,
    text    TEXT    NOT NULL
);
CREATE INDEX notes_ticket ON notes (ticket, id);

CREATE TABLE scores (
    id      INTEGER PRIMARY KEY AUTOINCREMENT,
    ts      REAL    NOT NULL,
    ticket  INTEGER NOT NULL,
    total   REAL    NOT NULL,
    layers  TEXT    NOT NULL,
    analysis TEXT   NOT NULL DEFAULT ''
);
CREATE INDEX scores_ticket ON scores (ticket, id);

CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
"""

SCHEMA_V2 = """
ALTER TABLE trades ADD COLUMN detail_pruned INTEGER NOT NULL DEFAULT 0;
CREATE INDEX trades_closed ON trades (closed_at, detail_pruned);
CREATE INDEX notes_ts ON notes (ts);
"""
"""Retention: closed trades whose detail was pruned are marked (their row stays longer)."""

MIGRATIONS: dict[int, str] = {1: SCHEMA_V1, 2: SCHEMA_V2}
"""Script that brings a file from version ``n - 1`` to ``n``."""
