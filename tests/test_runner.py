"""dtms run's wiring: a simulated account continues its journal; a journal keeps its account."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trio
import trio.testing

from dtms.broker.sim import SimSettings
from dtms.config import Settings
from dtms.core.trade import new_trade
from dtms.errors import JournalError
from dtms.journal.store import JournalFile
from dtms.runner import continue_simulation, next_session_start

from .core.kit import T0, position
from .runtime.harness import simulated


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(("after", "start"), [
    ("2026-03-02 06:00", "2026-03-02 07:00"),  # Monday before the open
    ("2026-03-02 07:00", "2026-03-03 07:00"),  # strictly after
    ("2026-03-06 15:00", "2026-03-09 07:00"),  # Friday afternoon -> Monday
    ("2026-03-07 12:00", "2026-03-09 07:00"),  # Saturday -> Monday
])
def test_next_session_start_is_a_weekday_open(after: str, start: str) -> None:
    assert next_session_start(_utc(after)) == _utc(start)


def test_a_new_simulated_run_continues_after_the_journal(tmp_path: Path) -> None:
    settings = Settings()
    settings = replace(settings, journal=replace(settings.journal, path=str(tmp_path / "j.db")))
    assert continue_simulation(settings) == settings.broker.sim  # no journal yet
    f = JournalFile.open(tmp_path / "j.db")
    with f.transaction():
        f.save_trade(new_trade(position(ticket=557_416_999), T0), T0 + 86_400)
    f.close()
    sim = continue_simulation(settings)
    assert sim.first_ticket > 557_416_999
    assert sim.start_time > T0 + 86_400
    assert datetime.fromtimestamp(sim.start_time, UTC).weekday() < 5


async def test_a_journal_refuses_another_account(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock) as h:
        await h.settle()
    other = SimSettings(login=777, server="Other-Live")
    with pytest.raises(BaseExceptionGroup) as info:
        async with simulated(tmp_path, autojump_clock, sim_settings=other):
            pass
    found = info.group_contains(JournalError, match="belongs to account 5012345 on dtms-Sim")
    assert found
    async with simulated(tmp_path, autojump_clock) as h:  # the right account still works
        await h.settle()
