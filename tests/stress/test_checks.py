"""Each check of ``dtms stress`` finds its violation in a history that has it, and nothing in
one that does not. The histories are real MT5 deal records (``TradeDeal``) and journal rows."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from dtms.broker import constants as C
from dtms.broker.structs import TradeDeal
from dtms.stress.checks import CHECKS, Limits, Violation, verdict
from dtms.stress.evidence import Evidence, Journaled, Uptime, lives_of
from dtms.stress.world import BrokerFacts

EA, DTMS, OTHER = 1001, 20240601, 777
LIMITS = Limits(cycle_seconds=2.0, orphan_grace_cycles=3.0, stale_tick_seconds=60.0,
                partial_close_max=1, partial_close_ratio=0.5)
_next = iter(range(5000, 9000))


def deal(t: float, position: int, entry: int, volume: float, magic: int, *, buy: bool = True,
         symbol: str = "EURUSD") -> TradeDeal:
    ticket = next(_next)
    return TradeDeal(ticket=ticket, order=ticket, time=int(t), time_msc=int(t * 1000),
                     type=C.DEAL_TYPE_BUY if buy else C.DEAL_TYPE_SELL, entry=entry, magic=magic,
                     position_id=position, reason=C.DEAL_REASON_EXPERT, volume=volume,
                     price=1.1, symbol=symbol)


IN, OUT = C.DEAL_ENTRY_IN, C.DEAL_ENTRY_OUT


def clean_deals() -> list[TradeDeal]:
    """Trade #100 (BUY 0.1): half closed by dtms, hedged (#200), the hedge closed when the main
    was closed by hand. Trade #101 still open. Position #300 of another EA, left alone."""
    return [
        deal(0, 100, IN, 0.1, EA),
        deal(1, 101, IN, 0.2, EA, buy=False),
        deal(2, 300, IN, 0.1, OTHER),
        deal(50, 100, OUT, 0.05, DTMS, buy=False),
        deal(100, 200, IN, 0.03, DTMS, buy=False),
        deal(490, 100, OUT, 0.05, 0, buy=False),
        deal(492, 200, OUT, 0.03, DTMS),
    ]


def action(ticket: int, kind: str, ts: float, status: str = "done", **extra: Any
           ) -> dict[str, Any]:
    row = {"id": f"{ticket}-{kind}-{ts}", "ts": ts, "ticket": ticket, "symbol": "EURUSD",
           "type": kind, "params": extra.pop("params", {}), "status": status,
           "result_ticket": None, "error": "", "updated_at": ts + 1}
    row.update(extra)
    return row


def trade(ticket: int, side: str, closed_at: float | None, hedge: int | None = None,
          initial_sl: float = 1.05) -> dict[str, Any]:
    return {"ticket": ticket, "side": side, "state": "CLOSED" if closed_at else "HEDGED",
            "closed_at": closed_at, "close_reason": "closed by hand" if closed_at else "",
            "hedge_ticket": hedge, "parent_ticket": None, "initial_sl": initial_sl}


def clean_journal() -> Journaled:
    trades = {100: trade(100, "BUY", 491.0, 200), 101: trade(101, "SELL", None)}
    actions = [
        action(100, "tighten_sl", 20, params={"sl": 1.06}),
        action(100, "partial_close", 49),
        action(100, "open_hedge", 99, result_ticket=200),
        action(101, "tighten_sl", 20, params={"sl": 1.14}),
    ]
    trades[101]["initial_sl"] = 1.15
    return Journaled(trades, actions, [], last_snapshot_at=600.0, status={})


def evidence(deals: list[TradeDeal] | None = None, journal: Journaled | None = None,
             **changes: Any) -> Evidence:
    deals = clean_deals() if deals is None else deals
    ticks = {"EURUSD": np.arange(0.0, 700.0, 1.0)}
    facts = BrokerFacts(650.0, (), tuple(deals), ticks)
    samples = ((0.0, {100: (1.05, 0), 101: (1.15, 1), 300: (1.0, 0)}),
               (300.0, {100: (1.06, 0), 101: (1.14, 1), 300: (1.0, 0)}))
    ev = Evidence(facts, journal or clean_journal(), Uptime(((5.0, 640.0),)), lives_of(deals),
                  samples, frozenset({100, 101}), frozenset({OTHER}), DTMS)
    return replace(ev, **changes)


def kinds(violations: list[Violation]) -> list[str]:
    return sorted(v.kind for v in violations)


def test_a_clean_history_passes_every_check() -> None:
    assert verdict(evidence(), LIMITS) == []


def test_two_hedges_of_one_trade_open_at_once() -> None:
    deals = [*clean_deals(), deal(300, 201, IN, 0.03, DTMS, buy=False),
             deal(495, 201, OUT, 0.03, DTMS)]
    j = clean_journal()
    j = replace(j, actions=[*j.actions, action(100, "open_hedge", 299, result_ticket=201)])
    assert kinds(verdict(evidence(deals, j), LIMITS)) == ["duplicate hedge"]


def test_a_position_with_dtms_magic_no_action_opened() -> None:
    deals = [*clean_deals(), deal(300, 202, IN, 0.03, DTMS, buy=False)]
    found = verdict(evidence(deals), LIMITS)
    assert "unexplained position" in kinds(found)


def test_a_hedge_left_open_after_its_main_closed_while_dtms_ran() -> None:
    deals = [d for d in clean_deals() if not (d.position_id == 200 and d.entry == OUT)]
    deals.append(deal(560, 200, OUT, 0.03, DTMS))  # 70 s after the main closed
    assert kinds(verdict(evidence(deals), LIMITS)) == ["orphan hedge"]


def test_an_orphan_while_no_dtms_ran_is_not_dtms_s_fault() -> None:
    deals = [d for d in clean_deals() if not (d.position_id == 200 and d.entry == OUT)]
    deals.append(deal(560, 200, OUT, 0.03, DTMS))
    down = Uptime(((5.0, 485.0), (557.0, 640.0)))  # killed before the hand close
    assert verdict(evidence(deals, uptime=down), LIMITS) == []


def test_an_orphan_while_the_terminal_link_was_down_waits_for_the_link() -> None:
    deals = [d for d in clean_deals() if not (d.position_id == 200 and d.entry == OUT)]
    deals.append(deal(560, 200, OUT, 0.03, DTMS))  # main closed at 490
    outage = Uptime(((5.0, 640.0),), link_down=((488.0, 556.0),))  # lost, then restored
    assert verdict(evidence(deals, uptime=outage), LIMITS) == []
    short = Uptime(((5.0, 640.0),), link_down=((488.0, 500.0),))  # back long before the close
    assert kinds(verdict(evidence(deals, uptime=short), LIMITS)) == ["orphan hedge"]


def test_a_managed_position_the_journal_never_saw() -> None:
    deals = [*clean_deals(), deal(10, 102, IN, 0.1, EA)]
    found = verdict(evidence(deals, managed=frozenset({100, 101, 102})), LIMITS)
    assert kinds(found) == ["forgotten trade", "journal/broker"]


def test_journal_open_but_closed_at_the_broker_long_before_the_last_snapshot() -> None:
    j = clean_journal()
    trades = dict(j.trades)
    trades[100] = trade(100, "BUY", None, 200)
    found = verdict(evidence(journal=replace(j, trades=trades)), LIMITS)
    assert kinds(found) == ["journal/broker"]


def test_an_action_whose_outcome_stayed_unknown() -> None:
    j = clean_journal()
    j = replace(j, actions=[*j.actions, action(101, "partial_close", 300, "unknown")])
    assert kinds(verdict(evidence(journal=j), LIMITS)) == ["unresolved outcome"]


@pytest.mark.parametrize("side, sl", [("BUY", 1.04), ("SELL", 1.16)])
def test_a_stop_change_that_loosens(side: str, sl: float) -> None:
    j = clean_journal()
    ticket = 100 if side == "BUY" else 101
    j = replace(j, actions=[*j.actions, action(ticket, "tighten_sl", 300, params={"sl": sl})])
    assert kinds(verdict(evidence(journal=j), LIMITS)) == ["stop loosened"]


def test_a_stop_that_got_looser_between_two_readings() -> None:
    samples = ((0.0, {101: (1.15, 1)}), (300.0, {101: (1.16, 1)}))
    assert kinds(verdict(evidence(stop_samples=samples), LIMITS)) == ["stop loosened"]


def test_a_new_defensive_action_on_a_quiet_symbol() -> None:
    ev = evidence()
    quiet = {"EURUSD": np.arange(0.0, 20.0, 1.0)}  # no tick after 20 s
    found = verdict(replace(ev, broker=replace(ev.broker, tick_times=quiet)), LIMITS)
    assert set(kinds(found)) == {"action on stale data"}


def test_a_second_partial_close() -> None:
    deals = [*clean_deals()]
    deals.insert(4, deal(60, 101, OUT, 0.1, DTMS))  # half of #101
    deals.insert(5, deal(70, 101, OUT, 0.05, DTMS))  # and a half of the rest
    assert kinds(verdict(evidence(deals), LIMITS)) == ["second partial close"]


def test_a_full_close_split_by_volume_max_is_not_a_partial() -> None:
    deals = [*clean_deals(), deal(580, 101, OUT, 0.1, DTMS), deal(581, 101, OUT, 0.1, DTMS)]
    j = clean_journal()
    trades = dict(j.trades)
    trades[101] = trade(101, "SELL", 582.0, initial_sl=1.15)
    assert verdict(evidence(deals, replace(j, trades=trades)), LIMITS) == []


def test_dtms_touching_another_ea_s_position() -> None:
    deals = [*clean_deals(), deal(400, 300, OUT, 0.05, DTMS, buy=False)]
    assert kinds(verdict(evidence(deals), LIMITS)) == ["ignored magic touched"]
    samples = ((0.0, {300: (1.0, 0)}), (300.0, {300: (1.01, 0)}))
    assert kinds(verdict(evidence(stop_samples=samples), LIMITS)) == ["ignored magic touched"]


def test_tracebacks_and_processes_that_did_not_stop_cleanly() -> None:
    found = verdict(evidence(tracebacks=("dtms.log: Traceback (most recent call last):",),
                             exits=((1, "killed", -9), (2, "exited", 1), (3, "hung", None),
                                    (4, "stopped", 0))), LIMITS)
    assert kinds(found) == ["process ended", "traceback", "unclean stop"]


def test_every_check_is_exercised_here() -> None:
    names = {c.__name__ for c in CHECKS}
    tested = {"duplicate_hedges", "orphan_hedges", "forgotten_trades", "disagreements",
              "unresolved_outcomes", "loosened_stops", "stale_actions", "second_partials",
              "ignored_touched", "tracebacks", "process_ends"}
    assert names == tested
