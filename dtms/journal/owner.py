"""The journal owner task: the only writer of the journal file.

Actors hand it write operations through ``Journal.write`` (awaits the commit: used for an
intent, which must be durable before the order is sent) or ``Journal.write_nowait`` (scores,
heartbeats). The owner drains everything queued and commits it in one transaction, so 200 trades
hedging in the same cycle cost one commit, not 200. Reads run directly on the owner's
connection: they are short and happen in the Trio thread like everything else.
"""

from __future__ import annotations

import math
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import trio

from dtms.core.trade import TradeState
from dtms.errors import JournalError
from dtms.journal.store import JournalFile
from dtms.wakeup import Wakeup

Op = Callable[[JournalFile], None]


@dataclass(slots=True)
class _Batch:
    ops: list[Op]
    done: Wakeup | None
    """Set once committed (in a burst every trade waits for its intent: no trio.Event each)."""


class Journal:
    """Handle to the journal owner task."""

    def __init__(self, file: JournalFile) -> None:
        self.file = file
        self._send, self._receive = trio.open_memory_channel[_Batch](math.inf)
        self.commits = 0
        self.ops_written = 0
        self.commit_seconds: deque[float] = deque(maxlen=1000)
        """Wall seconds of the recent commits (bounded), for metrics."""
        self._failure: BaseException | None = None
        self._saves: dict[int, tuple[TradeState, float, bool]] = {}

    async def write(self, *ops: Op) -> None:
        """Queue write operations and wait until they are committed."""
        if self._failure is not None:
            raise JournalError(f"journal writes failed earlier: {self._failure}")
        done = Wakeup()
        self._send.send_nowait(_Batch(list(ops), done))
        await done.wait()
        if self._failure is not None:
            raise JournalError(f"journal write failed: {self._failure}")

    def write_nowait(self, *ops: Op) -> None:
        """Queue write operations; they are committed with the next batch."""
        if self._failure is None:
            self._send.send_nowait(_Batch(list(ops), None))

    def save_nowait(self, trade: TradeState, at: float, *, full: bool = True) -> None:
        """Queue a trade's state; of several saves of one trade per commit, only the newest
        is written (a trade can decide several times between two commits).

        ``full=False``: only the progress columns changed (``JournalFile.save_progress``).
        """
        if self._failure is None:
            first = not self._saves
            earlier = self._saves.get(trade.ticket)
            self._saves[trade.ticket] = (trade, at, full or (earlier is not None and earlier[2]))
            if first:
                self._send.send_nowait(_Batch([], None))

    async def _run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # Shielded: cancelling the program must not strand writes already queued (nor a
        # final flush waiting for them). The task ends when ``aclose`` closes the channel.
        with trio.CancelScope(shield=True):
            task_status.started()
            await self._serve()

    async def _serve(self) -> None:
        async for first in self._receive:
            self._commit(self._drain(first))
            # what was committed (every write's closure: decisions, scores) is not kept while
            # the owner waits for the next write; in a burst it is 1,500 trades' worth
            del first
            await trio.lowlevel.checkpoint()

    def _drain(self, first: _Batch) -> list[_Batch]:
        """``first`` and every batch queued behind it."""
        batches = [first]
        while True:
            try:
                batches.append(self._receive.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return batches

    @property
    def failure(self) -> BaseException | None:
        """The error that stopped journal writes, if one did (the journal is then read-only)."""
        return self._failure

    def _commit(self, batches: list[_Batch]) -> None:
        saves, self._saves = self._saves, {}
        started = time.perf_counter()
        try:
            with self.file.transaction():
                for trade, at, full in saves.values():
                    if full:
                        self.file.save_trade(trade, at)
                    else:
                        self.file.save_progress(trade, at)
                    self.ops_written += 1
                for batch in batches:
                    for op in batch.ops:
                        op(self.file)
                        self.ops_written += 1
            self.commits += 1
            self.commit_seconds.append(time.perf_counter() - started)
        except Exception as exc:  # a failed write must not be mistaken for a durable one
            self._failure = exc
        for batch in batches:
            if batch.done is not None:
                batch.done.set()

    async def flush(self) -> None:
        """Wait until everything queued so far is committed."""
        await self.write()

    async def aclose(self) -> None:
        """Flush and stop accepting writes (the owner task then ends)."""
        try:
            await self.flush()
        except JournalError:
            pass  # already reported to the writer that failed
        finally:
            self._send.close()


@asynccontextmanager
async def open_journal(path: str | os.PathLike[str]) -> AsyncIterator[Journal]:
    """Open the journal file and run its owner task for the body of the ``async with``."""
    file = JournalFile.open(path)
    try:
        async with trio.open_nursery() as nursery:
            journal = Journal(file)
            await nursery.start(journal._run)
            try:
                yield journal
            finally:
                with trio.CancelScope(shield=True):
                    await journal.aclose()
    finally:
        file.close()
