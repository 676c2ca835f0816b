"""The supervisor wakes an actor only when something it needs changed, within a budget."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import trio
import trio.testing

from dtms.config import Settings
from dtms.runtime.settings import SupervisorSettings

from .harness import open_trade, simulated

N = 12
BUDGET = 5


async def test_quiet_trades_are_not_woken_every_cycle_and_deep_checks_keep_a_budget(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    settings = Settings(supervisor=replace(SupervisorSettings(),
                                           max_deep_checks_per_cycle=BUDGET))
    async with simulated(tmp_path, autojump_clock, settings=settings) as h:
        for _ in range(N):
            open_trade(h.sim, "EURUSD", "BUY", 0.1, stop_pips=300)
        sup = h.app.supervisor
        await h.until(lambda: len(sup.actors) == N, within=60, what="the actors")
        reports = []
        real = sup.cycle

        async def recording() -> object:
            c = sup.ctx.counters
            before = c.deep_checks
            report = await real()
            await h.settle()
            reports.append((report, c.deep_checks - before))
            return report

        sup.cycle = recording  # type: ignore[method-assign]
        await trio.sleep(4 * 900)  # at least three M15 bars, 2 s cycles in between
        sup.cycle = real  # type: ignore[method-assign]
    woken = [r.delivered for r, _ in reports if r.ok]
    # most cycles wake nobody or a few (fast checks are spread over 30 s by ticket)
    assert sum(woken) < len(woken) * N / 4
    deep = [d for _, d in reports]
    assert max(deep) <= BUDGET  # a bar's checks never exceed the budget in one cycle
    assert sum(deep) >= 3 * N  # and every trade was checked on every bar
