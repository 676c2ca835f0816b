"""The journal keeps history: locked, corrupt and foreign files are refused, never recreated."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import trio

from dtms.core.messages import Action, ClosePosition, OpenHedge, Role
from dtms.core.score import FlipState
from dtms.core.trade import CommandStatus, Hedge, InFlight, Pending, TradeState, new_trade
from dtms.core.types import Side, State
from dtms.errors import JournalError
from dtms.journal.codec import dump_trade, load_trade
from dtms.journal.owner import open_journal
from dtms.journal.schema import SCHEMA_VERSION
from dtms.journal.store import JournalFile, open_readonly

from ..core.kit import T0, position


def _busy_trade() -> TradeState:
    """A trade with every kind of nested state filled in."""
    t = new_trade(position(), T0)
    hedge = OpenHedge("1001-3", Action.OPEN_HEDGE, 1001, "EURUSD", Side.SELL, 0.25, 1.101,
                      "DTMS_HEDGE_1001", 7)
    close = ClosePosition("1001-4", Action.CLOSE_ALL, 1001, "EURUSD", Side.BUY, 0.5, Role.MAIN)
    pending = Pending("hedge", State.HEDGED, T0 + 5, (
        InFlight(hedge, CommandStatus.UNKNOWN, T0 + 6, reason="timeout"),
        InFlight(close, CommandStatus.SENT, T0 + 6, before_volume=0.5),
    ), "score -6.20 <= -6")
    return replace(t, state=State.WARNING_L2, score=-6.2, pending=pending,
                   flip=FlipState(adverse_crosses=3, against=True, last_bar_time=int(T0)),
                   hedge=Hedge(55, 0.25, T0, 1.2), failures=(("open_hedge", 2),),
                   notices=("hedge:netting",), flat_deadline=T0 + 4500, seq=4)


def test_trade_state_round_trips_through_json_exactly() -> None:
    t = _busy_trade()
    assert load_trade(dump_trade(t)) == t


def test_new_journal_is_wal_versioned_and_resumes_open_trades(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    f = JournalFile.open(path)
    t = _busy_trade()
    with f.transaction():
        f.save_trade(t, T0)
        f.save_trade(replace(new_trade(position(ticket=7), T0), state=State.CLOSED,
                             closed_at=T0), T0)
    f.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()
    again = JournalFile.open(path)
    assert again.open_trades() == [t]
    assert again.is_known(7) and again.load(7) is not None
    again.close()


def test_a_second_process_cannot_open_the_same_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    holder = JournalFile.open(path)
    try:
        with pytest.raises(JournalError, match="in use by another dtms process"):
            JournalFile.open(path)
        code = ("import sys; from dtms.journal.store import JournalFile; "
                "JournalFile.open(sys.argv[1])")
        out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                             text=True)
        assert out.returncode != 0 and "in use by another dtms process" in out.stderr
    finally:
        holder.close()
    JournalFile.open(path).close()  # released with the holder


@pytest.mark.parametrize("content", [b"this is not a database" * 100, b"\x00" * 4096])
def test_a_corrupt_file_is_refused_and_left_untouched(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "j.sqlite3"
    path.write_bytes(content)
    with pytest.raises(JournalError, match="refusing to start"):
        JournalFile.open(path)
    assert path.read_bytes() == content


def test_a_damaged_journal_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    f = JournalFile.open(path)
    with f.transaction():
        for i in range(300):
            f.save_trade(new_trade(position(ticket=i + 1), T0), T0)
    f.close()
    data = bytearray(path.read_bytes())
    data[4096:8192] = b"\xff" * 4096  # trash a page in the middle
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError):
        JournalFile.open(path)
    assert path.read_bytes() == bytes(data)


def test_a_foreign_sqlite_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE customers (id INTEGER)")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="not a dtms journal"):
        JournalFile.open(path)


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    JournalFile.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(JournalError, match="newer than this dtms understands"):
        JournalFile.open(path)


def test_readers_see_commits_while_the_writer_holds_the_journal(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    f = JournalFile.open(path)
    with f.transaction():
        f.save_trade(new_trade(position(), T0), T0)
    reader = open_readonly(path)
    assert reader.execute("SELECT count(*) FROM trades").fetchone()[0] == 1
    with f.transaction():
        f.save_trade(new_trade(position(ticket=2), T0), T0)
    assert reader.execute("SELECT count(*) FROM trades").fetchone()[0] == 2
    reader.close()
    f.close()


def test_missing_journal_is_a_clear_message_for_status_commands(tmp_path: Path) -> None:
    with pytest.raises(JournalError, match="no journal at"):
        open_readonly(tmp_path / "absent.sqlite3")


async def test_owner_task_batches_concurrent_writes_into_few_commits(tmp_path: Path) -> None:
    async with open_journal(tmp_path / "j.sqlite3") as journal:
        async def one(i: int) -> None:
            t = new_trade(position(ticket=i + 1), T0)
            await journal.write(lambda f: f.save_trade(t, T0))

        async with trio.open_nursery() as n:
            for i in range(200):
                n.start_soon(one, i)
        assert len(journal.file.open_trades()) == 200
        assert journal.commits < 20  # 200 durable writes, a handful of transactions


async def test_cancelling_the_program_still_commits_queued_writes(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with trio.move_on_after(1):
        async with open_journal(path) as journal:
            t = new_trade(position(ticket=77), T0)
            journal.write_nowait(lambda f: f.save_trade(t, T0))
            await trio.sleep_forever()  # cancelled here, with the write still queued
    f = JournalFile.open(path)
    try:
        assert [x.ticket for x in f.open_trades()] == [77]
    finally:
        f.close()


async def test_several_saves_of_a_trade_in_one_commit_write_only_the_newest(
    tmp_path: Path,
) -> None:
    async with open_journal(tmp_path / "j.sqlite3") as journal:
        t = new_trade(position(ticket=5), T0)
        for i in range(10):
            journal.save_nowait(replace(t, score=float(i)), T0 + i)
        await journal.flush()
        assert journal.file.load(5).score == 9.0  # type: ignore[union-attr]
        assert journal.ops_written == 1


def test_scores_are_pruned_to_the_newest_per_trade(tmp_path: Path) -> None:
    f = JournalFile.open(tmp_path / "j.sqlite3")
    try:
        with f.transaction():
            for i in range(30):
                for ticket in (1, 2):
                    f.add_score(ticket, T0 + i, float(i), [], "", keep=5)
            f.prune_scores(5)
        rows = f.conn.execute("SELECT ticket, total FROM scores ORDER BY ticket, id").fetchall()
        assert [r[1] for r in rows if r[0] == 1] == [25.0, 26.0, 27.0, 28.0, 29.0]
        assert len(rows) == 10
    finally:
        f.close()


def test_the_fast_encoder_writes_the_same_document_as_to_plain() -> None:
    import json

    from dtms.journal.codec import to_plain

    t = _busy_trade()
    assert json.loads(dump_trade(t)) == to_plain(t)


async def test_a_routine_check_writes_progress_only_and_loads_back_exactly(
    tmp_path: Path,
) -> None:
    async with open_journal(tmp_path / "j.sqlite3") as journal:
        t = _busy_trade()
        journal.save_nowait(t, T0)
        await journal.flush()
        later = replace(t, score=-1.25, last_eval_id=t.last_eval_id + 900_000,
                        last_deep_check_at=T0 + 900,
                        flip=FlipState(adverse_crosses=4, favour_crosses=1, against=True,
                                       in_favour=False, last_bar_time=int(T0) + 600))
        journal.save_nowait(later, T0 + 900, full=False)
        await journal.flush()
        json_state = journal.file.conn.execute(
            "SELECT state_json FROM trades WHERE ticket=?", (t.ticket,)).fetchone()[0]
        assert load_trade(json_state) == t  # the JSON was not rewritten
        assert journal.file.load(t.ticket) == later  # the columns carry the progress
        assert journal.file.open_trades() == [later]
        moved = replace(later, state=State.HEDGED)
        journal.save_nowait(moved, T0 + 901)
        journal.save_nowait(replace(moved, score=-2.0), T0 + 902, full=False)
        await journal.flush()
        assert journal.file.load(t.ticket) == replace(moved, score=-2.0)  # full save kept
