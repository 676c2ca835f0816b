"""Retention keeps the journal and the per-trade logs flat (specification §6)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

import trio

from dtms.core.machine import Decision
from dtms.core.messages import Action, ModifyStops, Note, NoteKind
from dtms.core.pending import TransitionRecord
from dtms.core.trade import TradeState, new_trade
from dtms.core.types import State
from dtms.journal.owner import open_journal
from dtms.journal.schema import MIGRATIONS, SCHEMA_V1
from dtms.journal.store import JournalFile
from dtms.runtime.logs import TradeLogRouter, trade_log_path
from dtms.runtime.retention import DAY, prune_once
from dtms.runtime.settings import JournalSettings

from ..core.kit import T0, position


def _with_history(f: JournalFile, ticket: int, closed_at: float | None) -> None:
    t: TradeState = new_trade(position(ticket=ticket), T0)
    if closed_at is not None:
        t = replace(t, state=State.CLOSED, closed_at=closed_at)
    cmd = ModifyStops(f"{ticket}-1", Action.TIGHTEN_SL, ticket, "EURUSD", 1.1, 0.0)
    record = TransitionRecord(T0, ticket, State.HEALTHY, State.WARNING_L1, "warning_l1", "x", -2)
    d = Decision(t, (cmd,), (Note(NoteKind.INFO, "hello"),), record)
    with f.transaction():
        f.record(t, d, T0)
        f.add_score(ticket, T0, -2.0, [], "", 200)


def _count(f: JournalFile, table: str, ticket: int) -> int:
    return int(f.conn.execute(f"SELECT count(*) FROM {table} WHERE ticket=?",
                              (ticket,)).fetchone()[0])


async def test_detail_of_long_closed_trades_goes_with_their_logs_open_ones_stay(
    tmp_path: Path,
) -> None:
    settings = JournalSettings(path=str(tmp_path / "j.sqlite3"), retention_days=7,
                               trade_retention_days=30)
    now = T0 + 60 * DAY
    router = TradeLogRouter(tmp_path / "logs", 8)
    for ticket in (1, 2, 3, 4):
        trade_log_path(tmp_path / "logs", ticket).write_text("a line\n")
    async with open_journal(settings.path) as journal:
        f = journal.file
        _with_history(f, 1, None)  # open: never pruned
        _with_history(f, 2, now - 3 * DAY)  # closed 3 days ago: kept
        _with_history(f, 3, now - 10 * DAY)  # closed 10 days ago: detail and log go
        _with_history(f, 4, now - 40 * DAY)  # closed 40 days ago: the row goes too
        pruned = await prune_once(journal, settings, tmp_path / "logs", now)
        assert sorted(pruned) == [3, 4]
        for table in ("actions", "notes", "transitions", "scores"):
            assert (_count(f, table, 1), _count(f, table, 2)) == (1, 1), table
            assert (_count(f, table, 3), _count(f, table, 4)) == (0, 0), table
        assert f.load(3) is not None and f.load(4) is None
        assert await prune_once(journal, settings, tmp_path / "logs", now) == []  # once only
    router.close()
    assert [trade_log_path(tmp_path / "logs", t).exists() for t in (1, 2, 3, 4)] == [
        True, True, False, False]


async def test_a_trade_log_rotates_at_its_size_and_keeps_one_older_part(tmp_path: Path) -> None:
    from loguru import logger

    router = TradeLogRouter(tmp_path, 4, max_bytes=2000)
    sink = logger.add(router.write, format="{message}", filter=lambda r: "ticket" in r["extra"])
    try:
        log = logger.bind(ticket=9)
        for i in range(200):
            log.info(f"line {i:04d} " + "x" * 40)
    finally:
        logger.remove(sink)
        router.close()
    path = trade_log_path(tmp_path, 9)
    older = path.with_suffix(".1.log")
    parts = [p for p in (path, older) if p.exists()]
    assert older in parts and all(p.stat().st_size <= 2100 for p in parts)
    assert "line 0199" in "".join(p.read_text() for p in parts)  # the newest line is kept
    assert {x.name for x in tmp_path.joinpath("trades").iterdir()} <= {"9.1.log", "9.log"}


def test_each_trade_log_gets_its_own_lines_whole_and_in_order_past_the_open_files_cap(
    tmp_path: Path,
) -> None:
    from loguru import logger

    router = TradeLogRouter(tmp_path, 2)  # 5 tickets through 2 open files
    sink = logger.add(router.write, format="{message}", filter=lambda r: "ticket" in r["extra"])
    try:
        for i in range(30):
            logger.bind(ticket=i % 5).info(f"#{i % 5} line {i:02d}: stop 1.08 → 1.09, 5 €")
    finally:
        logger.remove(sink)
        router.close()
    for ticket in range(5):
        lines = trade_log_path(tmp_path, ticket).read_text(encoding="utf-8").splitlines()
        assert lines == [f"#{ticket} line {i:02d}: stop 1.08 → 1.09, 5 €"
                         for i in range(ticket, 30, 5)]


def test_a_version_1_journal_is_migrated_and_keeps_its_trades(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    conn = sqlite3.connect(path)
    conn.executescript(f"{SCHEMA_V1}\nPRAGMA user_version=1;\nPRAGMA application_id="
                       f"{0x64746D73};")
    conn.close()
    f = JournalFile.open(path)
    with f.transaction():
        f.save_trade(new_trade(position(ticket=5), T0), T0)
    assert f.load(5) is not None
    assert f.conn.execute("PRAGMA user_version").fetchone()[0] == max(MIGRATIONS)
    f.close()


async def test_the_app_applies_the_retention_on_its_own(tmp_path: Path) -> None:
    # keep_flat runs for as long as dtms runs; one pass happens at start
    from dtms.runtime.retention import keep_flat

    settings = JournalSettings(path=str(tmp_path / "j.sqlite3"), retention_days=1,
                               trade_retention_days=1)
    async with open_journal(settings.path) as journal:
        _with_history(journal.file, 8, T0)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(keep_flat, journal, settings, tmp_path, lambda: T0 + 2 * DAY)
            await trio.sleep(0.1)
            nursery.cancel_scope.cancel()
        assert journal.file.load(8) is None
