"""The hedging policy on the simulator, on hedging and netting accounts, checked at the broker.

A trade ground down to the hedge trigger: hedged where hedging is allowed and possible, closed
or stopped instead where it is forbidden (a prop-firm rule) or impossible (netting).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import trio.testing

from dtms.broker import constants as C
from dtms.broker.sim import MarginMode, SimSettings
from dtms.config import Settings
from dtms.core.policy import Hedging, InsteadOfHedge
from dtms.core.types import State

from .harness import HOUR, Harness, journal_rows, open_trade, path, simulated

GRIND = [(0, 0), (135, -42), (330, -50)]
MAGIC = Settings().actions.magic


def _settings(hedging: Hedging, instead: InsteadOfHedge) -> Settings:
    s = Settings()  # 10 s cycles: hours of grinding, decided on M15 bars
    return replace(s, actions=replace(s.actions, hedging=hedging, instead_of_hedge=instead),
                   supervisor=replace(s.supervisor, cycle_seconds=10.0))


def _dtms_opens(h: Harness) -> list[object]:
    """Deals of positions dtms opened (hedges): none may exist where hedging is off."""
    deals = h.sim.history_deals_get(0, int(h.now()) + 86_400) or ()
    return [d for d in deals if d.magic == MAGIC and d.entry == C.DEAL_ENTRY_IN]


CASES = [
    ("hedging", Hedging.ALLOWED, InsteadOfHedge.CLOSE, "hedge"),
    ("hedging", Hedging.FORBIDDEN, InsteadOfHedge.CLOSE, "hedge_replaced_close"),
    ("hedging", Hedging.FORBIDDEN, InsteadOfHedge.HARD_STOP, "hedge_replaced_stop"),
    ("netting", Hedging.ALLOWED, InsteadOfHedge.CLOSE, "hedge_replaced_close"),
    ("netting", Hedging.ALLOWED, InsteadOfHedge.HARD_STOP, "hedge_replaced_stop"),
]


@pytest.mark.parametrize(("mode", "hedging", "instead", "rule"), CASES)
async def test_each_hedging_policy_on_each_account(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, mode: str, hedging: Hedging,
    instead: InsteadOfHedge, rule: str,
) -> None:
    sim = SimSettings(margin_mode=MarginMode(mode))
    async with simulated(tmp_path, autojump_clock, sim_settings=sim,
                         settings=_settings(hedging, instead)) as h:
        ticket, mid = open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
        path(h.sim, "EURUSD", h.now(), mid, GRIND)
        await h.until(lambda: h.state(ticket) is State.WARNING_L2, within=4 * HOUR, what="L2")
        done = {"hedge": lambda: h.state(ticket) is State.HEDGED,
                "hedge_replaced_close": lambda: h.state(ticket) is State.CLOSED,
                "hedge_replaced_stop": lambda: h.trade(ticket).hedges_opened == 1}[rule]
        await h.until(done, within=4 * HOUR, what=rule)
        await h.settle()
        if rule == "hedge":
            assert len(h.hedges_of(ticket)) == 1 and len(_dtms_opens(h)) == 1
        else:
            assert _dtms_opens(h) == []  # never an opposite position, never a netted one
        if rule == "hedge_replaced_close":
            assert h.position(ticket) is None
            assert "close instead" in h.trade(ticket).close_reason
        if rule == "hedge_replaced_stop":
            pos = h.position(ticket)
            assert pos is not None and pos.volume == h.trade(ticket).volume
            assert pos.sl == pytest.approx(h.trade(ticket).sl)  # the hard stop, at the broker
            assert h.state(ticket) in (State.WARNING_L2, State.WARNING_L1)
    rules = journal_rows(tmp_path, "SELECT rule FROM transitions WHERE ticket=?", ticket)
    assert (rule,) in [tuple(r) for r in rules]
    actions = journal_rows(tmp_path, "SELECT type, status FROM actions WHERE ticket=? AND "
                           "type IN ('open_hedge', 'hard_stop')", ticket)
    expected = {"hedge": ("open_hedge", "done"), "hedge_replaced_stop": ("hard_stop", "done")}
    assert [tuple(a) for a in actions] == ([expected[rule]] if rule in expected else [])
