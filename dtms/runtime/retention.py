"""Retention: months of running keep the journal and the per-trade logs flat.

Once per ``prune_every_hours`` of broker time, the detail (actions, notes, transitions, scores)
of trades closed more than ``retention_days`` ago is deleted with their per-trade log files, and
the rows of trades closed more than ``trade_retention_days`` ago too. SQLite reuses the freed
pages, so the file stops growing once the retention period is reached.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path

import trio
from loguru import logger

from dtms.journal.owner import Journal
from dtms.runtime.logs import trade_log_path
from dtms.runtime.settings import JournalSettings

DAY = 86_400.0


async def keep_flat(journal: Journal, settings: JournalSettings, log_dir: str | Path,
                    broker_now: Callable[[], float], *, poll: float = 60.0) -> None:
    """Apply the retention for as long as dtms runs (a task of the app's nursery)."""
    every = settings.prune_every_hours * 3600.0
    last = -float("inf")
    while True:
        now = broker_now()
        if now - last >= every:
            last = now
            await prune_once(journal, settings, log_dir, now)
        await trio.sleep(poll)


async def prune_once(journal: Journal, settings: JournalSettings, log_dir: str | Path,
                     now: float) -> list[int]:
    """One pass of the retention at broker time ``now``; returns the pruned tickets."""
    pruned: list[int] = []
    detail = now - settings.retention_days * DAY
    rows = now - settings.trade_retention_days * DAY
    await journal.write(lambda f: pruned.extend(f.prune(detail, rows)))
    for ticket in pruned:
        path = trade_log_path(log_dir, ticket)
        for part in (path, path.with_suffix(".1.log")):
            with contextlib.suppress(OSError):  # already gone, or held open on Windows
                part.unlink()
    if pruned:
        logger.info(f"retention: pruned the detail and logs of {len(pruned)} closed trade(s)")
    return pruned
