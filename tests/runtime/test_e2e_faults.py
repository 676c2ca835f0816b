"""Faults on the simulator: hand closes, stop-outs of the hedge, lost answers, outages, netting."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import trio
import trio.testing

from dtms.broker import constants as C
from dtms.broker.sim import MarginMode, SimSettings
from dtms.config import Settings
from dtms.core.policy import InsteadOfHedge
from dtms.core.types import State

from .harness import HOUR, Harness, OnSend, journal_rows, open_trade, path, simulated

GRIND = [(0, 0), (135, -42), (330, -50)]


def _is_hedge(request: dict[str, Any]) -> bool:
    return str(request.get("comment", "")).startswith("DTMS_HEDGE_")


def _is_sltp(request: dict[str, Any]) -> bool:
    return request.get("action") == C.TRADE_ACTION_SLTP


async def _start(h: Harness, steps: list[tuple[float, float]] = GRIND) -> int:
    ticket, mid = open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
    path(h.sim, "EURUSD", h.now(), mid, steps)
    return ticket


def _actions(tmp_path: Path, ticket: int) -> list[tuple[str, str, int | None, str]]:
    return [tuple(r) for r in journal_rows(
        tmp_path, "SELECT type, status, retcode, error FROM actions WHERE ticket=? ORDER BY ts, "
        "rowid", ticket)]


async def test_position_closed_by_hand_between_decision_and_send(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    holder: dict[str, int] = {}

    def wrap(sim: Any) -> OnSend:
        return OnSend(sim, _is_sltp, lambda req: sim.scenario.close_position(holder["t"]))

    async with simulated(tmp_path, autojump_clock, wrap=wrap) as h:
        holder["t"] = ticket = await _start(h)
        await h.until(lambda: h.state(ticket) is State.CLOSED, within=3 * HOUR, what="CLOSED")
        assert h.position(ticket) is None and h.sim.positions_get() == ()
        t = h.trade(ticket)
        assert t.close_reason == "main position no longer exists at the broker"
    (tighten,) = [a for a in _actions(tmp_path, ticket) if a[0] == "tighten_sl"]
    assert tighten[1] == "failed" and tighten[2] in (10036, 10013)  # the broker said closed


async def test_hedge_sent_as_the_main_is_closed_by_hand_leaves_no_orphan(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    holder: dict[str, int] = {}

    def wrap(sim: Any) -> OnSend:
        return OnSend(sim, _is_hedge, lambda req: sim.scenario.close_position(holder["t"]))

    async with simulated(tmp_path, autojump_clock, wrap=wrap) as h:
        holder["t"] = ticket = await _start(h)
        await h.until(lambda: h.state(ticket) is State.CLOSED, within=4 * HOUR, what="CLOSED")
        await h.settle()
        assert h.sim.positions_get() == ()  # the hedge that went out was closed as an orphan
    kinds = [(a[0], a[1]) for a in _actions(tmp_path, ticket)]
    assert ("open_hedge", "done") in kinds and ("close_all", "done") in kinds


async def test_hedge_stopped_out_returns_the_trade_to_l2_and_clears_the_flat_timer(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock) as h:
        # the price slides on after the hedge (never back beyond its entry, which would recover
        # the trade), then jumps over the hedge's stop between two snapshots
        ticket = await _start(h, [(0, 0), (135, -42), (150, -45), (170, -47), (170.02, -15),
                                  (400, -15)])
        await h.until(lambda: h.state(ticket) is State.HEDGED, within=4 * HOUR, what="HEDGED")
        hedge = h.hedges_of(ticket)[0]
        await h.until(lambda: h.position(hedge.ticket) is None, within=HOUR, what="hedge SL")
        await h.settle()
        sl_deals = [d for d in h.deals_of(hedge.ticket) if d.reason == C.DEAL_REASON_SL]
        assert len(sl_deals) == 1  # the broker stopped it out, not dtms
        t = h.trade(ticket)
        assert t.state in (State.WARNING_L2, State.WARNING_L1, State.HEALTHY)
        assert t.hedge is None and t.flat_deadline is None and t.hedges_opened == 1
        assert h.position(ticket) is not None
    rules = [r[0] for r in journal_rows(tmp_path, "SELECT rule FROM transitions WHERE ticket=? "
                                        "ORDER BY id", ticket)]
    assert rules[:4] == ["warning_l1", "warning_l2", "hedge", "hedge_vanished"]


async def test_main_closed_while_hedged_gets_its_hedge_closed(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock) as h:
        ticket = await _start(h)
        await h.until(lambda: h.state(ticket) is State.HEDGED, within=4 * HOUR, what="HEDGED")
        hedge = h.hedges_of(ticket)[0]
        assert h.sim.scenario.close_position(ticket)  # by hand, at the terminal
        await h.until(lambda: h.state(ticket) is State.CLOSED, within=600, what="CLOSED")
        assert h.position(hedge.ticket) is None
        (out,) = [d for d in h.deals_of(hedge.ticket) if d.entry == C.DEAL_ENTRY_OUT]
        assert out.reason == C.DEAL_REASON_EXPERT and out.magic == h.settings.actions.magic


async def test_timeout_whose_hedge_executed_is_recognised_and_never_repeated(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    def wrap(sim: Any) -> OnSend:
        return OnSend(sim, _is_hedge,
                      lambda req: sim.scenario.next_order_send(C.TRADE_RETCODE_TIMEOUT,
                                                               execute=True))

    async with simulated(tmp_path, autojump_clock, wrap=wrap) as h:
        ticket = await _start(h)
        async with h.most_hedges(ticket) as most:
            await h.until(lambda: h.state(ticket) is State.HEDGED, within=4 * HOUR,
                          what="HEDGED")
            await trio.sleep(1800)
        (hedge,) = h.hedges_of(ticket)
        assert most == [1]  # never a second hedge
        assert h.trade(ticket).hedge is not None and h.trade(ticket).hedge.ticket == hedge.ticket
    hedges = [a for a in _actions(tmp_path, ticket) if a[0] == "open_hedge"]
    assert len(hedges) == 1 and hedges[0][1] == "done"  # resolved from the snapshot
    unknown = journal_rows(tmp_path, "SELECT text FROM notes WHERE ticket=? AND kind='alert'",
                           ticket)
    assert any("outcome unknown" in r[0] for r in unknown)


async def test_gateway_disconnect_mid_run_reconnects_and_reconciles_without_duplicates(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    def wrap(sim: Any) -> OnSend:
        return OnSend(sim, _is_hedge, lambda req: sim.scenario.ipc_outage(45))

    async with simulated(tmp_path, autojump_clock, wrap=wrap) as h:
        ticket = await _start(h)
        async with h.most_hedges(ticket) as most:
            await h.until(lambda: h.app.gateway.statistics().reconnects == 1, within=4 * HOUR,
                          what="the reconnect")
            await h.until(lambda: h.state(ticket) is State.HEDGED, within=2 * HOUR,
                          what="HEDGED after the outage")
            await trio.sleep(600)
        stats = h.app.gateway.statistics()
        assert stats.connection_epoch == 2 and stats.connected
        assert most == [1] and len(h.hedges_of(ticket)) == 1
    hedges = journal_rows(tmp_path, "SELECT status, ts FROM actions WHERE ticket=? AND "
                          "type='open_hedge' ORDER BY ts, rowid", ticket)
    # the order sent into the outage was lost, not refused (decided from the snapshot): nothing
    # counted, and the hedge re-planned once the link was back, not a bar later
    assert [a[0] for a in hedges] == ["blocked", "done"]
    assert hedges[1][1] - hedges[0][1] < 45 + 120


async def test_netting_account_refuses_the_hedge_once_and_clearly(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # with instead_of_hedge = none (the replacements: test_e2e_guard_hedging.py)
    netting = SimSettings(margin_mode=MarginMode.NETTING)
    refuse = Settings()
    refuse = replace(refuse, actions=replace(refuse.actions,
                                             instead_of_hedge=InsteadOfHedge.NONE))
    async with simulated(tmp_path, autojump_clock, sim_settings=netting, settings=refuse) as h:
        ticket = await _start(h, [(0, 0), (135, -42), (400, -55)])
        await h.until(lambda: h.state(ticket) is State.WARNING_L2, within=4 * HOUR, what="L2")
        await trio.sleep(2 * HOUR)  # several deep checks with the score <= -6
        assert h.state(ticket) is State.WARNING_L2
        (pos,) = h.sim.positions_get()  # nothing was netted against the trade
        assert pos.ticket == ticket and pos.type == C.POSITION_TYPE_BUY
    notes = journal_rows(tmp_path, "SELECT kind, text FROM notes WHERE ticket=? AND "
                         "text LIKE '%netting%'", ticket)
    assert len(notes) == 1 and notes[0][0] == "blocked"
    assert not [a for a in _actions(tmp_path, ticket) if a[0] == "open_hedge"]


async def _two_hedged_on_one_bar(h: Harness, first_lots: float, second_lots: float
                                 ) -> tuple[int, int]:
    """Two EURUSD BUY trades driven to HEDGED on the same bar, then 10 minutes more."""
    first, mid = open_trade(h.sim, "EURUSD", "BUY", first_lots, stop_pips=150)
    second, _ = open_trade(h.sim, "EURUSD", "BUY", second_lots, stop_pips=150)
    path(h.sim, "EURUSD", h.now(), mid, GRIND)
    await h.until(lambda: all(h.state(t) is State.HEDGED for t in (first, second)),
                  within=4 * HOUR, what="both HEDGED")
    await trio.sleep(600)
    return first, second


async def test_two_lost_hedges_of_one_shape_but_two_volumes_each_find_their_own(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # two trades of one symbol and side hedge on the same bar (0.25 and 0.15 lots); both orders
    # execute and both answers are lost. The 0.15 position also fits the 0.25 open (no larger
    # than it, opened on the same bar): it once went to the 0.25 trade as a second hedge, and
    # the 0.15 trade, finding none, hedged again
    def wrap(sim: Any) -> OnSend:
        return OnSend(sim, _is_hedge, lambda req: sim.scenario.next_order_send(
            C.TRADE_RETCODE_TIMEOUT, execute=True), times=2)

    async with simulated(tmp_path, autojump_clock, wrap=wrap) as h:
        both = big, small = await _two_hedged_on_one_bar(h, 1.0, 0.6)
        for t, volume in ((big, 0.25), (small, 0.15)):  # half of what the partial close left
            (own,) = h.hedges_of(t)  # one hedge each at the broker, the one the trade holds
            held = h.trade(t).hedge
            assert held is not None and held.ticket == own.ticket
            assert own.volume == volume
    for t in both:  # neither was planned again
        assert [a[1] for a in _actions(tmp_path, t) if a[0] == "open_hedge"] == ["done"]


async def test_a_lost_hedge_never_takes_another_trade_s_hedge_of_the_same_shape(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # two trades hedge on the same bar with hedges of the same symbol, side and volume; the
    # first hedge's answer is lost and it did not execute. Planned again, that trade looks for
    # a position its lost attempt may have opened: the other trade's hedge, opened after the
    # attempt, matches in every way but is not its own
    def wrap(sim: Any) -> OnSend:
        return OnSend(sim, _is_hedge, lambda req: sim.scenario.next_order_send(
            C.TRADE_RETCODE_TIMEOUT, execute=False))

    async with simulated(tmp_path, autojump_clock, wrap=wrap) as h:
        both = await _two_hedged_on_one_bar(h, 1.0, 1.0)
        hedges = {t: h.trade(t).hedge for t in both}
        assert all(hedges.values()) and len({x.ticket for x in hedges.values() if x}) == 2
        for t in both:
            (own,) = h.hedges_of(t)  # one hedge each at the broker, the one the trade holds
            assert hedges[t] is not None and hedges[t].ticket == own.ticket
            assert h.state(t) is State.HEDGED
    lost = [a for t in both for a in _actions(tmp_path, t) if a[0] == "open_hedge"
            and a[1] == "blocked"]
    assert len(lost) == 1  # the lost one, planned again, not counted
