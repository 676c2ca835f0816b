"""Supervision: a crashing actor is restarted then quarantined; a restart resumes the journal."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path
from typing import ClassVar

import trio
import trio.testing

from dtms.config import Settings
from dtms.core.trade import TradeState
from dtms.core.types import State
from dtms.runtime.actor import ActorContext, CycleInput, TradeActor
from dtms.runtime.heartbeat import Heartbeat
from dtms.status import get_system_status, get_trade_status

from .harness import HOUR, journal_rows, open_trade, path, simulated


class Poisoned(TradeActor):
    """A trade actor that crashes on every cycle of one ticket (a bug we did not write yet)."""

    victim = 0
    crashes: ClassVar[list[float]] = []

    async def handle(self, inp: CycleInput) -> None:
        if self.ticket == Poisoned.victim:
            Poisoned.crashes.append(trio.current_time())
            raise RuntimeError("boom")
        await super().handle(inp)


def _factory(trade: TradeState, ctx: ActorContext) -> TradeActor:
    return Poisoned(trade, ctx)


async def test_a_crashing_actor_is_restarted_then_quarantined_and_the_others_keep_running(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    Poisoned.crashes = []
    async with simulated(tmp_path, autojump_clock, symbols=("EURUSD", "GBPUSD"),
                         actor_factory=_factory) as h:
        bad, _ = open_trade(h.sim, "GBPUSD", "BUY", 1.0, stop_pips=150)
        Poisoned.victim = bad
        good, mid = open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
        path(h.sim, "EURUSD", h.now(), mid, [(0, 0), (135, -42), (330, -50)])
        await h.until(lambda: bad in h.app.supervisor.quarantined, within=HOUR,
                      what="quarantine")
        # 1 crash + 3 restarts, waiting 0.5, 2 and 8 s before each restart (virtual time)
        assert len(Poisoned.crashes) == 4
        gaps = [b - a for a, b in pairwise(Poisoned.crashes)]
        for gap, delay in zip(gaps, (0.5, 2.0, 8.0), strict=True):
            assert delay <= gap < delay + 2 * h.settings.supervisor.cycle_seconds
        await h.until(lambda: h.state(good) is State.HEDGED, within=4 * HOUR,
                      what="the healthy actor to keep working")
        assert len(Poisoned.crashes) == 4  # quarantined: not restarted again
        assert h.position(bad) is not None  # left at the broker, with its SL
        reason = h.app.supervisor.quarantined[bad]
        assert "quarantined after 3 restarts" in reason and "SL at the broker" in reason
        h.app.journal.write_nowait(lambda f: None)
        await h.app.journal.flush()
        status = get_system_status(tmp_path / "dtms.sqlite3")
        assert status["quarantined"] == [bad]
        assert get_trade_status(bad, tmp_path / "dtms.sqlite3")["quarantined"] is True


async def test_restart_resumes_every_trade_and_closes_those_closed_while_down(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock, symbols=("EURUSD", "GBPUSD")) as h:
        sim = h.sim
        hedged, mid = open_trade(sim, "EURUSD", "BUY", 1.0, stop_pips=150)
        other, _ = open_trade(sim, "GBPUSD", "SELL", 1.0, stop_pips=150)
        path(sim, "EURUSD", h.now(), mid, [(0, 0), (135, -42), (400, -50)])
        await h.until(lambda: h.state(hedged) is State.HEDGED, within=4 * HOUR, what="HEDGED")
        before = h.trade(hedged)
        hedge = h.hedges_of(hedged)[0]
    # dtms is down; the broker lives on: one trade is closed by hand meanwhile
    await trio.sleep(300)
    assert sim.scenario.close_position(other)
    await trio.sleep(300)
    async with simulated(tmp_path, autojump_clock, symbols=("EURUSD", "GBPUSD"), sim=sim) as h2:
        await h2.settle()
        after = h2.trade(hedged)
        assert after.state is State.HEDGED
        assert after.hedge is not None and after.hedge.ticket == hedge.ticket  # re-attached
        assert after.flat_deadline == before.flat_deadline  # the timer survived the restart
        assert h2.trade(other).state is State.CLOSED
        assert h2.trade(other).close_reason == "main position no longer exists at the broker"
        await h2.until(lambda: h2.state(hedged) is State.CLOSED, within=2 * HOUR,
                       what="the flat timer, kept across the restart")
        assert h2.now() - before.flat_deadline < 30
        assert len([p for p in sim.positions_get() if p.comment.startswith("DTMS_HEDGE")]) == 0
    rules = [r[0] for r in journal_rows(tmp_path, "SELECT rule FROM transitions WHERE ticket=? "
                                        "ORDER BY id", hedged)]
    assert rules.count("hedge") == 1 and rules[-1] == "flat_timer_expired"


async def test_a_failed_snapshot_leaves_the_last_good_one_in_the_status(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock) as h:
        open_trade(h.sim, "EURUSD", "BUY", 0.1, stop_pips=300)
        sup = h.app.supervisor
        await h.until(lambda: len(sup.actors) == 1, within=60, what="the actor")
        good = sup.last_snapshot_at
        assert good is not None
        h.sim.scenario.fail_next("positions_get", last_error=(-10004, "No IPC connection"))
        await h.until(lambda: sup.last_report is not None and not sup.last_report.ok,
                      within=60, what="a failed snapshot")
        # the status still says when dtms last saw the account (never "no snapshot yet")
        beat = Heartbeat(sup, h.app.journal, "sim", 0.0, 1.0, Settings())
        assert beat.status(active=True)["last_snapshot_at"] == sup.last_snapshot_at >= good
        await h.until(lambda: sup.last_report is not None and sup.last_report.ok, within=60,
                      what="the next snapshot")
        assert sup.last_snapshot_at == sup.last_report.at
