"""Scope filters in the core: a spread far above its typical value, news blackouts, flattening
before news. (Which positions are managed at all is the runtime's: test_e2e_guard_scope.py.)"""

from __future__ import annotations

from dataclasses import replace

import pytest

from dtms.core.machine import Rule, wants_recheck
from dtms.core.messages import ClosePosition, ModifyStops, NoteKind, OpenHedge, Wait
from dtms.core.news import NewsEvent, NewsFlatten, NewsPolicy, flatten_due, in_blackout
from dtms.core.policy import Policy
from dtms.core.trade import new_trade
from dtms.core.types import State

from .kit import HEDGING, M15, POLICY, T0, Driver, position

NFP = NewsEvent(T0 + 3 * 3600, "USD", "high", "Non-Farm Payrolls")


def _news_policy(**kw: object) -> Policy:
    return replace(POLICY, news=replace(NewsPolicy(), **kw))


def _driver(policy: Policy = POLICY) -> Driver:
    main = position(price_current=1.10150)
    d = Driver(new_trade(main, T0), main, policy, HEDGING)
    d.bid = 1.10150
    return d


def test_blackout_and_flatten_windows_are_inclusive_where_they_should_be() -> None:
    e = (NFP,)
    assert in_blackout(e, NFP.at - 1800, 30) is NFP and in_blackout(e, NFP.at + 1800, 30) is NFP
    assert in_blackout(e, NFP.at - 1801, 30) is None and in_blackout(e, NFP.at + 1801, 30) is None
    assert flatten_due(e, NFP.at - 300, 5) is NFP and flatten_due(e, NFP.at - 301, 5) is None
    assert flatten_due(e, NFP.at, 5) is None  # passed: flatten is before the event only


def test_a_hedge_waits_out_a_news_blackout_then_goes_ahead() -> None:
    d = _driver()
    d.evaluate(-2.0)
    d.evaluate(-4.0)
    d.news = (NFP,)
    d.now = NFP.at - 20 * 60 - M15  # the next check is 20 minutes before the event
    first = d.evaluate(-6.0)
    assert first.commands == () and d.trade.state is State.WARNING_L2
    assert d.trade.blocked is not None and d.trade.blocked.wait is Wait.NEWS
    (note,) = [n for n in first.notes if n.kind is NoteKind.WAITING]
    assert "high-impact news in 20 min: USD Non-Farm Payrolls" in note.text
    assert d.evaluate(-6.0).notes == ()  # said once per episode
    assert not wants_recheck(d.trade, d.market(), HEDGING, d.now, POLICY)
    d.now = NFP.at + 31 * 60 - M15
    assert wants_recheck(d.trade, d.market(), HEDGING, d.now + M15, POLICY)
    after = d.evaluate(-6.0)
    assert [type(c) for c in after.commands] == [OpenHedge]
    assert d.trade.state is State.HEDGED


def test_stops_and_closes_are_not_held_back_by_news() -> None:
    d = _driver()
    d.news = (replace(NFP, at=T0 + M15),)  # the event is right now
    assert [type(c) for c in d.evaluate(-2.0).commands] == [ModifyStops]
    assert [type(c) for c in d.evaluate(0.0, choch=True).commands] == [ClosePosition]


def test_a_wide_spread_holds_defensive_orders_but_not_closes() -> None:
    d = _driver()
    d.wide_spread = True
    held = d.evaluate(-2.0)
    assert held.commands == () and d.trade.blocked is not None
    assert d.trade.blocked.wait is Wait.WIDE_SPREAD
    assert any("spread" in n.text for n in held.notes)
    assert not wants_recheck(d.trade, d.market(), HEDGING, d.now, POLICY)
    closing = d.evaluate(-2.0, choch=True)  # a close due now is not held back
    assert [type(c) for c in closing.commands] == [ClosePosition]
    d2 = _driver()
    d2.wide_spread = True
    d2.evaluate(-2.0)
    d2.wide_spread = False
    assert wants_recheck(d2.trade, d2.market(), HEDGING, d2.now, POLICY)
    assert [type(c) for c in d2.evaluate(-2.0).commands] == [ModifyStops]


@pytest.mark.parametrize(("mode", "state", "closes"), [
    (NewsFlatten.ALL, State.HEALTHY, True),
    (NewsFlatten.HEDGED, State.HEALTHY, False),
    (NewsFlatten.HEDGED, State.HEDGED, True),
    (NewsFlatten.NONE, State.HEDGED, False),
])
def test_flatten_before_news(mode: NewsFlatten, state: State, closes: bool) -> None:
    d = _driver(_news_policy(flatten=mode, flatten_minutes=10))
    if state is State.HEDGED:
        for total in (-2.0, -4.0, -6.0):
            d.evaluate(total)
        assert d.trade.state is State.HEDGED
    event = replace(NFP, at=d.now + 40 * 60)
    d.news = (event,)
    d.observe(at=event.at - 11 * 60)
    assert d.trade.state is state  # not yet
    decision = d.observe(at=event.at - 9 * 60)  # a snapshot is enough: no score needed
    assert (d.trade.state is State.CLOSED) == closes
    if closes:
        assert decision.started is Rule.NEWS
        assert "news in 9 min" in d.trade.close_reason
        assert d.main is None and d.hedge is None


def test_news_policy_refuses_an_unknown_impact_level() -> None:
    with pytest.raises(ValueError, match="'extreme' is not one of high, medium, low"):
        NewsPolicy(impacts=("high", "extreme"))
