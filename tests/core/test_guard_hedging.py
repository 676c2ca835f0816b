"""The hedging policy: when hedging is forbidden or impossible, what replaces the hedge step."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dtms.core.machine import Rule, step
from dtms.core.messages import (
    Action,
    ActionFailed,
    ActionUnknown,
    ClosePosition,
    ModifyStops,
    NoteKind,
    OpenHedge,
)
from dtms.core.planning import hedge_worst_case
from dtms.core.policy import Hedging, InsteadOfHedge, Policy
from dtms.core.trade import new_trade
from dtms.core.types import AccountView, State

from .kit import HEDGING, NETTING, POLICY, T0, Driver, position

ATR = 0.00200  # kit.market's ATR14(M15)


def _policy(hedging: Hedging = Hedging.ALLOWED,
            instead: InsteadOfHedge = InsteadOfHedge.CLOSE) -> Policy:
    return replace(POLICY, actions=replace(POLICY.actions, hedging=hedging,
                                           instead_of_hedge=instead))


def _in_l2(policy: Policy, account: AccountView) -> Driver:
    main = position(price_current=1.10150)
    d = Driver(new_trade(main, T0), main, policy, account)
    d.bid = 1.10150  # in profit on the way down, so breakeven is valid
    d.evaluate(-2.0)
    d.evaluate(-4.0)
    assert d.trade.state is State.WARNING_L2
    return d


@pytest.mark.parametrize(("hedging", "account"), [(Hedging.FORBIDDEN, HEDGING),
                                                  (Hedging.ALLOWED, NETTING),
                                                  (Hedging.FORBIDDEN, NETTING)])
def test_close_instead_of_the_hedge_closes_the_trade(hedging: Hedging,
                                                     account: AccountView) -> None:
    d = _in_l2(_policy(hedging, InsteadOfHedge.CLOSE), account)
    decision = d.evaluate(-6.0)
    assert decision.started is Rule.NO_HEDGE_CLOSE
    assert [type(c) for c in decision.commands] == [ClosePosition]
    assert d.trade.state is State.CLOSED and d.main is None
    assert "close instead" in d.trade.close_reason
    assert ("forbidden" in d.trade.close_reason) == (hedging is Hedging.FORBIDDEN)
    assert not [c for c in d.sent if isinstance(c, OpenHedge)]


def test_confluence_alone_also_takes_the_replacement() -> None:
    d = _in_l2(_policy(Hedging.FORBIDDEN), HEDGING)
    d.evaluate(-4.5, confluence=True)
    assert d.trade.state is State.CLOSED and "confluence" in d.trade.close_reason


def test_a_hedging_account_that_allows_it_still_hedges() -> None:
    d = _in_l2(_policy(Hedging.ALLOWED, InsteadOfHedge.CLOSE), HEDGING)
    decision = d.evaluate(-6.0)
    assert decision.started is Rule.HEDGE and d.trade.state is State.HEDGED


@pytest.mark.parametrize("account", [HEDGING, NETTING])
def test_hard_stop_instead_of_the_hedge_caps_the_loss_at_the_hedges_risk(
        account: AccountView) -> None:
    hedging = Hedging.FORBIDDEN if account is HEDGING else Hedging.ALLOWED
    d = _in_l2(_policy(hedging, InsteadOfHedge.HARD_STOP), account)
    decision = d.evaluate(-6.0)
    assert decision.started is Rule.NO_HEDGE_STOP
    (cmd,) = decision.commands
    assert isinstance(cmd, ModifyStops) and cmd.action is Action.HARD_STOP
    # 1 lot losing from the bid what 0.5 lot would have risked 0.5 ATR away: 0.25 ATR
    assert cmd.sl == pytest.approx(1.10150 - 0.5 * 0.5 * ATR)
    assert d.trade.state is State.WARNING_L2 and d.trade.sl == cmd.sl
    assert d.trade.hedges_opened == 1 and d.trade.hedge is None
    assert decision.transition is None  # committed on the broker's answer, not before
    assert d.decisions[-1].transition is not None
    assert d.decisions[-1].transition.rule == "hedge_replaced_stop"
    # the same price next bar: the stop is already there; said once, no transition, no order
    again = d.evaluate(-6.0)
    blocked = [n for n in again.notes if n.kind is NoteKind.BLOCKED]
    assert again.commands == () and len(blocked) == 1 and "already" in blocked[0].text
    assert d.evaluate(-6.0).notes == ()


def test_hard_stops_count_as_hedges_and_stop_at_the_maximum() -> None:
    d = _in_l2(_policy(Hedging.FORBIDDEN, InsteadOfHedge.HARD_STOP), HEDGING)
    for bid in (1.10150, 1.10300):  # the price rose: each stop tightens the last
        d.bid = bid
        assert len(d.evaluate(-6.0).commands) == 1
    d.bid = 1.10500
    last = d.evaluate(-6.0)
    assert last.commands == () and d.trade.hedges_opened == 2
    assert any("max 2" in n.text for n in last.notes)


def test_a_hard_stop_keeps_the_pending_guarantees() -> None:
    d = _in_l2(_policy(Hedging.FORBIDDEN, InsteadOfHedge.HARD_STOP), HEDGING)
    (cmd,) = d.evaluate(-6.0, auto=False).commands
    d._apply(step(d.trade, ActionFailed(cmd.id, d.now, 10016, "Invalid stops"), d.policy))
    assert d.trade.failures_of(Action.HARD_STOP) == 1 and d.trade.hedges_opened == 0
    assert d.observe().commands == ()  # backing off until the next deep check
    (cmd,) = d.evaluate(-6.0, auto=False).commands
    d._apply(step(d.trade, ActionUnknown(cmd.id, d.now, "timeout"), d.policy))
    assert d.main is not None
    d.main = replace(d.main, sl=cmd.sl)  # it did execute at the broker
    d.observe(at=d.now + 5)
    assert d.trade.pending is None and d.trade.sl == cmd.sl and d.trade.hedges_opened == 1


def test_none_refuses_a_forbidden_hedge_once_and_clearly() -> None:
    d = _in_l2(_policy(Hedging.FORBIDDEN, InsteadOfHedge.NONE), HEDGING)
    first, second = d.evaluate(-7.0), d.evaluate(-7.0)
    assert d.trade.state is State.WARNING_L2 and first.commands == second.commands == ()
    blocked = [n for n in first.notes if n.kind is NoteKind.BLOCKED]
    assert len(blocked) == 1 and "hedging is forbidden" in blocked[0].text
    assert second.notes == ()


# ----------------------------------------------------------------------------- the guard's room


def test_the_hedges_worst_case_is_valued_by_the_brokers_own_profit() -> None:
    main = position(price_current=1.09800, profit=-200.0)  # 20 pips down on 1 lot: $10 a pip
    worst = hedge_worst_case(main, Driver(new_trade(main, T0), main).market(), POLICY.actions)
    # 0.5 lot, its stop 0.5 ATR (10 pips) plus the spread (1 pip) away: 11 pips at $5
    assert worst == pytest.approx(0.5 * (0.5 * ATR + 0.00010) * 100_000)


@pytest.mark.parametrize(("margin", "replaced"), [(-1.0, True), (1.0, False), (None, False)])
def test_a_hedge_whose_stop_would_breach_the_daily_limit_is_replaced_by_a_close(
        margin: float | None, replaced: bool) -> None:
    d = _in_l2(POLICY, HEDGING)
    assert d.main is not None
    worst = hedge_worst_case(d.main, d.market(), POLICY.actions)
    assert worst is not None and worst > 0
    d.account = replace(HEDGING, loss_room=None if margin is None else worst + margin)
    decision = d.evaluate(-6.0)
    if replaced:
        assert decision.started is Rule.HEDGE_OVER_LIMIT and d.trade.state is State.CLOSED
        assert "would lose about" in d.trade.close_reason
        assert not [c for c in d.sent if isinstance(c, OpenHedge)]
    else:
        assert decision.started is Rule.HEDGE and d.trade.state is State.HEDGED


def test_the_guards_room_does_not_matter_where_no_hedge_is_possible() -> None:
    d = _in_l2(_policy(Hedging.FORBIDDEN, InsteadOfHedge.HARD_STOP),
               replace(HEDGING, loss_room=0.0))
    assert d.evaluate(-6.0).started is Rule.NO_HEDGE_STOP
