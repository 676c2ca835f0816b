"""dtms with the simulator's broker quirks on, checked at the broker (issue 7).

Comments dropped, truncated or replaced; empty and partial snapshots; a quiet symbol's old tick
next to the broker clock; a daily break; another EA trading with dtms's magic.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from dtms.broker import constants as C
from dtms.broker.sim import QuirkSettings, SimSettings
from dtms.config import Settings
from dtms.core.types import State

from .harness import HOUR, Harness, OnSend, journal_rows, open_trade, path, simulated

GRIND = [(0, 0), (135, -42), (330, -50)]
MAGIC = Settings().actions.magic


def _quirky(**quirks: Any) -> SimSettings:
    return SimSettings(quirks=QuirkSettings(**quirks))


def _dtms_positions(h: Harness) -> list[Any]:
    return [p for p in h.sim.positions_get() or () if p.magic == MAGIC]


async def _watch_most_dtms_positions(h: Harness, most: list[int]) -> None:
    while True:
        most[0] = max(most[0], len(_dtms_positions(h)))
        await trio.sleep(1)


# ----------------------------------------------------------------------------- identity


@pytest.mark.parametrize("quirk", [
    {"comment_drop": True},
    {"comment_truncate": 16},  # DTMS_HEDGE_557416501 -> DTMS_HEDGE_55741
    {"comment_replace_on_stops": True},
])
async def test_a_hedge_whose_comment_the_broker_changed_stays_the_hedge_of_its_trade(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, quirk: dict[str, Any]
) -> None:
    async with simulated(tmp_path, autojump_clock, sim_settings=_quirky(**quirk)) as h:
        ticket, mid = open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
        path(h.sim, "EURUSD", h.now(), mid, GRIND)
        most = [0]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_watch_most_dtms_positions, h, most)
            await h.until(lambda: h.state(ticket) is State.HEDGED, within=4 * HOUR,
                          what="HEDGED")
            (hedge,) = _dtms_positions(h)
            assert hedge.comment != f"DTMS_HEDGE_{ticket}" or "comment_replace_on_stops" in quirk
            assert hedge.ticket not in h.app.supervisor.actors  # never managed as a trade
            await h.until(lambda: h.state(ticket) is State.CLOSED, within=3 * HOUR,
                          what="the flat-timer close")
            nursery.cancel_scope.cancel()
        assert most == [1]  # never a second hedge
        assert h.trade(ticket).close_reason.startswith("flat timer expired")
        assert h.sim.positions_get() == ()
        out = [d for d in h.deals_of(hedge.ticket) if d.entry in (C.DEAL_ENTRY_OUT,
                                                                   C.DEAL_ENTRY_OUT_BY)]
        assert out  # closed by dtms with its trade, not earlier as an orphan
        assert not h.app.supervisor.halted


async def test_a_lost_answer_with_a_dropped_comment_is_still_recognised_as_the_hedge(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    def is_hedge(req: dict[str, Any]) -> bool:
        return str(req.get("comment", "")).startswith("DTMS_HEDGE_")

    def wrap(sim: Any) -> OnSend:
        return OnSend(sim, is_hedge, lambda req: sim.scenario.next_order_send(
            C.TRADE_RETCODE_TIMEOUT, execute=True))

    async with simulated(tmp_path, autojump_clock, sim_settings=_quirky(comment_drop=True),
                         wrap=wrap) as h:
        ticket, mid = open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
        path(h.sim, "EURUSD", h.now(), mid, GRIND)
        most = [0]
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_watch_most_dtms_positions, h, most)
            await h.until(lambda: h.state(ticket) is State.HEDGED, within=4 * HOUR,
                          what="HEDGED, from the snapshot")
            await trio.sleep(1800)
            nursery.cancel_scope.cancel()
        (hedge,) = _dtms_positions(h)
        assert most == [1] and hedge.comment == ""
        t = h.trade(ticket)
        assert t.hedge is not None and t.hedge.ticket == hedge.ticket
        assert not h.app.supervisor.halted


# ----------------------------------------------------------------------------- snapshots


async def test_one_empty_or_partial_snapshot_retires_nothing_and_forgets_no_hedge(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock) as h:
        ticket, mid = open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
        other, _ = open_trade(h.sim, "EURUSD", "SELL", 0.5, stop_pips=150)
        path(h.sim, "EURUSD", h.now(), mid, GRIND)
        await h.until(lambda: h.state(ticket) is State.HEDGED, within=4 * HOUR, what="HEDGED")
        hedge = h.trade(ticket).hedge
        assert hedge is not None
        for missing in (None, [ticket], [hedge.ticket], [other]):
            h.sim.scenario.glitch_next_snapshot(missing)
            await h.settle()
            await h.settle()
            assert h.state(ticket) is State.HEDGED and h.state(other) is not State.CLOSED
            t = h.trade(ticket)
            assert t.hedge is not None and t.hedge.ticket == hedge.ticket
        assert len(_dtms_positions(h)) == 1
        assert h.app.supervisor.presence.glitches >= 4
    rules = [r[0] for r in journal_rows(tmp_path, "SELECT rule FROM transitions")]
    assert "main_vanished" not in rules and "hedge_vanished" not in rules


async def test_a_glitching_terminal_changes_nothing_over_a_whole_trade(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    glitchy = _quirky(empty_snapshot_probability=0.05, partial_snapshot_probability=0.05)
    async with simulated(tmp_path, autojump_clock, sim_settings=glitchy) as h:
        ticket, mid = open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
        path(h.sim, "EURUSD", h.now(), mid, GRIND)
        await h.until(lambda: h.state(ticket) is State.CLOSED, within=6 * HOUR, what="CLOSED")
        t = h.trade(ticket)
        assert t.close_reason.startswith("flat timer expired") and t.hedges_opened == 1
        assert h.sim.positions_get() == ()
        assert h.app.supervisor.presence.glitches > 10  # the terminal did glitch, often


async def test_a_position_missing_everywhere_for_a_while_is_managed_again_when_listed(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    class Hiding:
        """A terminal that loses one position from every answer for a while."""

        def __init__(self, sim: Any) -> None:
            self._sim, self.hidden, self.until = sim, 0, 0.0

        def __getattr__(self, name: str) -> Any:
            return getattr(self._sim, name)

        def positions_get(self, **kw: Any) -> Any:
            found = self._sim.positions_get(**kw)
            if found is None or self._sim.market.now >= self.until:
                return found
            return tuple(p for p in found if p.ticket != self.hidden)

    holder: dict[str, Hiding] = {}

    def wrap(sim: Any) -> Hiding:
        holder["t"] = Hiding(sim)
        return holder["t"]

    async with simulated(tmp_path, autojump_clock, wrap=wrap) as h:
        ticket, _ = open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
        await h.until(lambda: h.state(ticket) is State.HEALTHY, within=60, what="managed")
        hiding = holder["t"]
        hiding.hidden, hiding.until = ticket, h.now() + 120
        await h.until(lambda: h.state(ticket) is State.CLOSED, within=300,
                      what="closed after it stayed missing")
        await h.until(lambda: ticket in h.app.supervisor.actors and h.state(ticket) is not
                      State.CLOSED, within=300, what="managed again once listed")
        assert h.position(ticket) is not None


# ----------------------------------------------------------------------------- time


async def test_a_quiet_symbols_old_tick_never_moves_the_learned_broker_clock(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    quiet = _quirky(quiet_symbols=("EURGBP",), quiet_tick_seconds=2400)
    async with simulated(tmp_path, autojump_clock, symbols=("EURUSD", "EURGBP", "GBPUSD"),
                         sim_settings=quiet, live_clock=True) as h:
        ticket, mid = open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
        open_trade(h.sim, "EURGBP", "BUY", 1.0, stop_pips=150)
        path(h.sim, "EURUSD", h.now(), mid, GRIND)
        worst = [0.0]

        async def watch() -> None:
            while True:
                if h.app.supervisor.ctx.clock_known():
                    worst[0] = max(worst[0], abs(h.app.supervisor.ctx.broker_now() - h.now()))
                await trio.sleep(30)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            await h.until(lambda: h.state(ticket) is State.HEDGED, within=4 * HOUR,
                          what="HEDGED")
            hedge = h.trade(ticket).hedge
            assert hedge is not None
            await h.until(lambda: h.state(ticket) is State.CLOSED, within=3 * HOUR,
                          what="the flat-timer close")
            nursery.cancel_scope.cancel()
        assert worst[0] < 5  # the learned clock stays on the broker's
        t = h.trade(ticket)
        assert t.closed_at is not None and t.closed_at - hedge.opened_at >= 75 * 60 - 5


async def test_a_flat_timer_running_into_a_daily_break_keeps_its_minutes(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    morning = replace(_quirky(daily_breaks=("EURUSD 11:30-12:30",)),
                      start_time=datetime(2026, 3, 3, 9, 0, tzinfo=UTC).timestamp())
    async with simulated(tmp_path, autojump_clock, sim_settings=morning) as h:
        ticket, mid = open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
        path(h.sim, "EURUSD", h.now(), mid, GRIND)
        await h.until(lambda: h.state(ticket) is State.HEDGED, within=4 * HOUR, what="HEDGED")
        hedge = h.trade(ticket).hedge
        assert hedge is not None
        await h.until(lambda: h.state(ticket) is State.CLOSED, within=4 * HOUR, what="CLOSED")
        t = h.trade(ticket)
        assert t.close_reason.startswith("flat timer expired")
        assert t.closed_at is not None
        assert t.closed_at - hedge.opened_at >= 75 * 60 + 55 * 60  # the hour's break not counted


# ----------------------------------------------------------------------------- managers


async def test_another_ea_trading_with_dtms_magic_halts_dtms(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    foreign = _quirky(foreign_magic=MAGIC, foreign_orders_per_hour=2.0)
    async with simulated(tmp_path, autojump_clock, sim_settings=foreign) as h:
        _ticket, mid = open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
        path(h.sim, "EURUSD", h.now(), mid, GRIND)
        await h.until(lambda: bool(h.app.supervisor.halted), within=6 * HOUR, what="halted")
        assert "dtms's magic" in h.app.supervisor.halted
        halted_at = h.now()
        sent = set(h.app.supervisor.ctx.sent_orders)
        await trio.sleep(3 * HOUR)
        later = [d for d in h.sim.history_deals_get(int(halted_at) + 5, int(h.now()) + 1) or ()
                 if d.order in h.app.supervisor.ctx.sent_orders and d.order not in sent]
        assert later == []  # dtms sends nothing once halted
