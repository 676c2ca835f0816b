"""Trades driven through the state machine on the simulator; every step checked at the broker."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import trio.testing

from dtms.broker import constants as C
from dtms.config import Settings
from dtms.core.policy import ActionParams
from dtms.core.types import State

from .harness import HOUR, PIP, Harness, journal_rows, open_trade, path, simulated

MAGIC = ActionParams().magic


def _action(h: Harness, ticket: int, kind: str) -> dict:
    rows = h.app.journal.file.conn.execute(
        "SELECT params, status, retcode, result_ticket FROM actions WHERE ticket=? AND type=? "
        "ORDER BY ts", (ticket, kind)).fetchall()
    assert rows, f"no {kind} action journaled for #{ticket}"
    params, status, retcode, result = rows[-1]
    return {"params": json.loads(params), "status": status, "retcode": retcode,
            "result_ticket": result}


async def _walk_to_hedged(h: Harness, ticket: int, entry_sl: float, k: float = 0.5) -> None:
    """HEALTHY -> WARNING_L1 -> WARNING_L2 -> HEDGED, checking the broker at each step."""
    await h.until(lambda: h.state(ticket) is State.WARNING_L1, within=3 * HOUR, what="WARNING_L1")
    pos = h.position(ticket)
    tighten = _action(h, ticket, "tighten_sl")
    assert tighten["status"] == "done" and tighten["retcode"] == C.TRADE_RETCODE_DONE
    assert pos.sl == pytest.approx(tighten["params"]["sl"])  # the broker holds the new SL
    assert pos.sl > entry_sl  # tighter, never looser

    await h.until(lambda: h.state(ticket) is State.WARNING_L2, within=3 * HOUR, what="WARNING_L2")
    pos = h.position(ticket)
    assert pos is not None and pos.volume == pytest.approx(0.5)  # 50 % closed, same ticket
    outs = [d for d in h.deals_of(ticket) if d.entry == C.DEAL_ENTRY_OUT]
    assert [d.volume for d in outs] == [0.5] and outs[0].magic == MAGIC

    await h.until(lambda: h.state(ticket) is State.HEDGED, within=3 * HOUR, what="HEDGED")
    (hedge,) = h.hedges_of(ticket)
    t = h.trade(ticket)
    assert t.hedge is not None and t.hedge.ticket == hedge.ticket  # the hedge ticket is stored
    assert hedge.type == C.POSITION_TYPE_SELL and hedge.volume == pytest.approx(0.25)
    assert hedge.magic == MAGIC and hedge.comment == f"DTMS_HEDGE_{ticket}"
    opened = _action(h, ticket, "open_hedge")
    assert hedge.sl == pytest.approx(opened["params"]["sl"]) and hedge.sl > hedge.price_open
    atr = h.app.supervisor.feeds["EURUSD"].indicators.atr_m15
    assert hedge.sl - hedge.price_open == pytest.approx(k * atr, rel=0.5)


async def test_hedged_trade_is_flattened_by_the_flat_timer_after_75_minutes(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock) as h:
        ticket, mid = open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
        entry_sl = h.position(ticket).sl
        # a steady grind against the trade, then a slow drift: structure never resumes
        path(h.sim, "EURUSD", h.now(), mid, [(0, 0), (135, -42), (330, -50)])
        await _walk_to_hedged(h, ticket, entry_sl)
        hedge = h.hedges_of(ticket)[0]
        deadline = h.trade(ticket).flat_deadline
        assert deadline == pytest.approx(h.trade(ticket).hedge.opened_at + 75 * 60)
        await h.until(lambda: h.now() >= deadline - 60, within=2 * HOUR, what="near the deadline")
        assert h.state(ticket) is State.HEDGED and h.position(ticket) is not None
        await h.until(lambda: h.state(ticket) is State.CLOSED, within=600, what="flat close")
        assert h.now() - deadline < 30  # fired on time, on the broker clock
        assert h.position(ticket) is None and h.position(hedge.ticket) is None
        exits = [d for d in h.deals_of(ticket) + h.deals_of(hedge.ticket)
                 if d.entry in (C.DEAL_ENTRY_OUT, C.DEAL_ENTRY_OUT_BY)]
        assert exits and all(d.magic == MAGIC for d in exits)
        assert h.trade(ticket).close_reason.startswith("flat timer expired")
    rules = [r[0] for r in journal_rows(tmp_path, "SELECT rule FROM transitions WHERE ticket=? "
                                        "ORDER BY id", ticket)]
    assert rules == ["warning_l1", "warning_l2", "hedge", "flat_timer_expired"]


async def test_structure_resuming_closes_the_hedge_and_the_trade_recovers_to_healthy(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # With the default 0.5 ATR hedge stop, any reversal strong enough to break structure stops
    # the hedge out first (HEDGED -> WARNING_L2, tested elsewhere): a bullish BOS needs a close
    # above the 10-bar high, here ~28 pips above the hedge entry, while ATR14(M15) is ~6.5 pips.
    # A hedge stop of 8 ATR lets the recovery branch of the table play out at the broker.
    wide = Settings(actions=replace(ActionParams(), hedge_sl_atr=8.0))
    async with simulated(tmp_path, autojump_clock, settings=wide) as h:
        ticket, mid = open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
        entry_sl = h.position(ticket).sl
        path(h.sim, "EURUSD", h.now(), mid,
             [(0, 0), (135, -40), (150, -38), (175, -5), (190, 10), (400, 30)])
        await _walk_to_hedged(h, ticket, entry_sl, k=8.0)
        hedge = h.hedges_of(ticket)[0]
        await h.until(lambda: h.state(ticket) is State.RECOVERING, within=2 * HOUR,
                      what="RECOVERING")
        assert h.position(hedge.ticket) is None  # the hedge is closed at the broker
        assert h.position(ticket) is not None  # the main trade lives on
        closed = [d for d in h.deals_of(hedge.ticket) if d.entry == C.DEAL_ENTRY_OUT]
        assert len(closed) == 1 and closed[0].magic == MAGIC
        t = h.trade(ticket)
        assert t.hedge is None and t.recovery_deadline is not None
        deadline = t.recovery_deadline
        await h.until(lambda: h.state(ticket) is State.HEALTHY, within=HOUR, what="HEALTHY")
        assert h.now() >= deadline  # not before the 30-minute recovery timer
        assert h.position(ticket) is not None
    rules = [r[0] for r in journal_rows(tmp_path, "SELECT rule FROM transitions WHERE ticket=? "
                                        "ORDER BY id", ticket)]
    assert rules == ["warning_l1", "warning_l2", "hedge", "structure_resumed", "recovered"]
    assert PIP  # the path is in pips of EURUSD
