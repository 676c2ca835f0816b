"""The transition table, walked on and beside every boundary, one step per evaluation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from dtms.core.machine import TABLE, Rule, step, wants_recheck
from dtms.core.messages import (
    ActionDone,
    ActionFailed,
    ActionUnknown,
    CloseBy,
    ClosePartial,
    ClosePosition,
    Evaluated,
    ModifyStops,
    NoteKind,
    Observed,
    OpenHedge,
    Wait,
)
from dtms.core.policy import InsteadOfHedge, Policy
from dtms.core.score import FlipState
from dtms.core.trade import TradeState, new_trade
from dtms.core.types import Side, State

from .kit import HEDGING, M15, NETTING, POLICY, T0, Driver, hedge_of, market, position, score

# (state before, score, state after one evaluation). Boundaries: -2, -4, -6 going down;
# 0 and -2 coming back (inclusive comparisons).
BOUNDARIES = [
    (State.HEALTHY, -1.99, State.HEALTHY),
    (State.HEALTHY, -2.0, State.WARNING_L1),
    (State.HEALTHY, -2.01, State.WARNING_L1),
    (State.HEALTHY, -9.0, State.WARNING_L1),  # one transition per evaluation
    (State.WARNING_L1, -3.99, State.WARNING_L1),
    (State.WARNING_L1, -4.0, State.WARNING_L2),
    (State.WARNING_L1, -9.0, State.WARNING_L2),
    (State.WARNING_L1, -0.01, State.WARNING_L1),
    (State.WARNING_L1, 0.0, State.HEALTHY),
    (State.WARNING_L1, 3.0, State.HEALTHY),
    (State.WARNING_L2, -5.99, State.WARNING_L2),
    (State.WARNING_L2, -6.0, State.HEDGED),
    (State.WARNING_L2, -2.01, State.WARNING_L2),
    (State.WARNING_L2, -2.0, State.WARNING_L1),
    (State.WARNING_L2, 5.0, State.WARNING_L1),  # recovery is one level per evaluation
    (State.HEDGED, 9.0, State.HEDGED),  # only structure gets a hedged trade out
]


def position_trade() -> TradeState:
    """A fresh BUY trade, in profit by 15 pips."""
    return new_trade(position(price_current=1.10150), T0)


def _driver_in(state: State) -> Driver:
    """A driver whose trade reached ``state`` through real transitions."""
    d = Driver(position_trade(), position(price_current=1.10150))
    d.bid = 1.10150  # in profit, so breakeven is valid on the way down
    path = {State.HEALTHY: [], State.WARNING_L1: [-2.0], State.WARNING_L2: [-2.0, -4.0],
            State.HEDGED: [-2.0, -4.0, -6.0]}[state]
    for total in path:
        d.evaluate(total)
    assert d.trade.state is state and d.trade.pending is None
    return d


@pytest.mark.parametrize(("before", "total", "after"), BOUNDARIES)
def test_boundaries_one_step_per_evaluation(before: State, total: float, after: State) -> None:
    d = _driver_in(before)
    d.evaluate(total)
    assert d.trade.state is after
    assert d.trade.pending is None


def test_table_rows_are_in_priority_order_and_cover_every_state() -> None:
    names = [t.rule for t in TABLE]
    assert names.index(Rule.MAIN_VANISHED) == 0
    # recovery before deterioration, timers and facts before both
    assert names.index(Rule.L1_RECOVERED) < names.index(Rule.WARN_L2)
    assert names.index(Rule.STRUCTURE_RESUMED) < names.index(Rule.HEDGE)
    assert names.index(Rule.FLAT_TIMER) < names.index(Rule.STRUCTURE_RESUMED)
    sources = set().union(*(t.sources for t in TABLE))
    assert sources == {s for s in State if s.is_open}


def test_healthy_to_l1_tightens_sl_to_point_three_r_behind_price() -> None:
    d = Driver(position_trade(), position(price_current=1.10150))
    d.bid = 1.10150
    decision = d.evaluate(-2.5)
    (cmd,) = decision.commands
    assert isinstance(cmd, ModifyStops)
    # R = 1.10000 - 1.09500 = 0.005; 0.3 R = 0.0015 behind the bid 1.10150
    assert cmd.sl == pytest.approx(1.10000)
    assert d.main is not None and d.main.sl == pytest.approx(1.10000)
    assert d.trade.state is State.WARNING_L1 and d.trade.sl == pytest.approx(1.10000)


def test_l1_to_l2_closes_half_and_moves_to_breakeven() -> None:
    d = _driver_in(State.WARNING_L1)
    decision = d.evaluate(-4.0)
    kinds = [type(c) for c in decision.commands]
    assert kinds == [ClosePartial, ModifyStops]
    partial = decision.commands[0]
    assert isinstance(partial, ClosePartial) and partial.volume == 0.5
    assert d.trade.state is State.WARNING_L2
    assert d.trade.volume == 0.5 and d.trade.partial_closes == 1 and d.trade.closed_volume == 0.5


def test_l2_to_hedged_opens_half_volume_opposite_hedge_with_atr_stop_and_flat_timer() -> None:
    d = _driver_in(State.WARNING_L2)
    decision = d.evaluate(-6.0)
    (cmd,) = decision.commands
    assert isinstance(cmd, OpenHedge)
    assert cmd.side is Side.SELL and cmd.volume == 0.25  # half of the 0.5 left after the partial
    assert cmd.comment == "DTMS_HEDGE_1001" and cmd.magic == POLICY.actions.magic
    # SELL hedge enters at the bid; its SL sits 0.5 ATR (0.001) above
    assert cmd.sl == pytest.approx(d.bid + 0.001)
    assert d.trade.state is State.HEDGED
    assert d.trade.hedge is not None and d.trade.hedge.ticket == d.hedge.ticket  # type: ignore[union-attr]
    assert d.trade.flat_deadline == pytest.approx(d.now + 75 * 60)


def test_flat_timer_fires_at_75_minutes_on_the_broker_clock_and_closes_all() -> None:
    d = _driver_in(State.HEDGED)
    opened = d.trade.hedge.opened_at  # type: ignore[union-attr]
    sent = len(d.sent)
    d.observe(at=opened + 75 * 60 - 1)
    assert d.trade.state is State.HEDGED and len(d.sent) == sent  # a second early: nothing
    before = len(d.sent)
    d.observe(at=opened + 75 * 60)  # inclusive
    assert d.trade.state is State.CLOSED
    closes = d.sent[before:]
    assert any(isinstance(c, CloseBy) for c in closes)  # EURUSD allows close-by
    assert d.main is None and d.hedge is None
    assert d.trade.close_reason.startswith("flat timer expired")


def _price_to(d: Driver, bid: float) -> None:
    """Move the market (and the main position's current price) to ``bid``."""
    assert d.main is not None
    d.bid = bid
    d.main = replace(d.main, price_current=bid)


def test_price_back_beyond_the_hedge_entry_recovers_closes_hedge_and_starts_the_timer() -> None:
    d = _driver_in(State.HEDGED)
    assert d.hedge is not None
    hedged_at, entry = d.trade.hedge.opened_at, d.hedge.price_open  # type: ignore[union-attr]
    _price_to(d, entry + 0.0001)
    d.observe(at=hedged_at + 60)  # no M15 bar has closed since the hedge opened
    assert d.trade.state is State.HEDGED
    _price_to(d, entry)  # back at the entry is not beyond it
    d.evaluate(0.0, at=hedged_at + M15)
    assert d.trade.state is State.HEDGED
    _price_to(d, entry + 0.0001)
    d.observe(at=hedged_at + M15 + 40)  # a snapshot is enough once a bar has closed
    assert d.trade.state is State.RECOVERING
    assert d.hedge is None and d.trade.hedge is None
    assert isinstance(d.sent[-1], ClosePosition)
    assert d.trade.recovery_deadline is not None
    assert d.trade.flat_deadline is None


@pytest.mark.parametrize(("total", "after"), [(1.0, State.HEALTHY), (0.99, State.CLOSED)])
def test_recovery_timer_judges_the_latest_score_at_30_minutes(total: float, after: State) -> None:
    d = _driver_in(State.HEDGED)
    assert d.hedge is not None
    _price_to(d, d.hedge.price_open + 0.0001)
    d.evaluate(0.0, at=d.trade.hedge.opened_at + M15)  # type: ignore[union-attr]
    assert d.trade.state is State.RECOVERING
    deadline = d.trade.recovery_deadline
    assert deadline is not None
    d.evaluate(total, at=deadline - 60)
    assert d.trade.state is State.RECOVERING
    d.observe(at=deadline)
    assert d.trade.state is after


def test_choch_against_is_terminal_from_any_open_state() -> None:
    for state in (State.HEALTHY, State.WARNING_L1, State.WARNING_L2, State.HEDGED):
        d = _driver_in(state)
        d.evaluate(5.0, choch=True)
        assert d.trade.state is State.CLOSED, state
        assert d.main is None and d.hedge is None


def test_choch_ignored_when_close_on_choch_is_off() -> None:
    off = Policy(machine=replace(POLICY.machine, close_on_choch=False))
    d = Driver(position_trade(), position(), policy=off)
    d.evaluate(5.0, choch=True)
    assert d.trade.state is State.HEALTHY


def test_hedge_confluence_hedges_even_with_a_mild_score() -> None:
    d = _driver_in(State.WARNING_L2)
    d.evaluate(-3.0, confluence=True)
    assert d.trade.state is State.HEDGED


def test_hedge_vanished_returns_to_l2_and_a_new_hedge_needs_a_new_trigger() -> None:
    d = _driver_in(State.HEDGED)
    d.hedge = None  # its SL was hit
    d.observe()
    assert d.trade.state is State.WARNING_L2 and d.trade.hedge is None
    assert d.trade.flat_deadline is None
    d.observe()
    assert d.trade.state is State.WARNING_L2  # no new hedge without a trigger
    d.evaluate(-6.5)
    assert d.trade.state is State.HEDGED and d.trade.hedges_opened == 2
    d.hedge = None
    d.observe()
    decision = d.evaluate(-8.0)
    assert d.trade.state is State.WARNING_L2 and decision.commands == ()
    assert any("max 2" in n.text for n in decision.notes)


def test_main_vanished_closes_the_orphan_hedge() -> None:
    d = _driver_in(State.HEDGED)
    assert d.hedge is not None
    hedge_ticket = d.hedge.ticket
    d.main = None  # SL hit or closed by hand
    d.observe()
    assert d.trade.state is State.CLOSED
    assert d.hedge is None
    last = d.sent[-1]
    assert isinstance(last, ClosePosition) and last.ticket == hedge_ticket


def test_main_vanished_without_hedge_closes_without_commands() -> None:
    d = _driver_in(State.WARNING_L1)
    d.main = None
    decision = d.observe()
    assert d.trade.state is State.CLOSED and decision.commands == ()
    assert decision.transition is not None and decision.transition.rule == "main_vanished"


def test_netting_account_refuses_the_hedge_once_and_clearly() -> None:
    # with instead_of_hedge = none; the other replacements: test_guard_hedging.py
    d = _driver_in(State.WARNING_L2)
    d.account = NETTING
    d.policy = replace(POLICY, actions=replace(POLICY.actions,
                                               instead_of_hedge=InsteadOfHedge.NONE))
    first = d.evaluate(-7.0)
    second = d.evaluate(-7.0)
    assert d.trade.state is State.WARNING_L2
    assert first.commands == () and second.commands == ()
    blocked = [n for n in first.notes if n.kind is NoteKind.BLOCKED]
    assert len(blocked) == 1 and "netting" in blocked[0].text
    assert not [n for n in second.notes if n.kind is NoteKind.BLOCKED]


def test_state_is_not_committed_before_the_broker_confirms() -> None:
    d = _driver_in(State.WARNING_L2)
    decision = d.evaluate(-6.0, auto=False)
    assert decision.started is Rule.HEDGE
    assert d.trade.state is State.WARNING_L2 and d.trade.pending is not None
    assert d.trade.hedge is None
    # further evaluations while pending change nothing and send nothing
    later = d.evaluate(-9.0, auto=False)
    assert later.commands == () and d.trade.state is State.WARNING_L2


def test_definitive_failure_stays_and_backs_off_until_the_next_deep_check() -> None:
    d = _driver_in(State.WARNING_L2)
    decision = d.evaluate(-6.0, auto=False)
    (cmd,) = decision.commands
    d._apply(step(d.trade, ActionFailed(cmd.id, d.now, 10019, "No money"), POLICY))
    assert d.trade.state is State.WARNING_L2 and d.trade.pending is None
    assert d.trade.failures_of(cmd.action) == 1
    assert d.observe().commands == ()  # no re-send on a snapshot
    again = d.evaluate(-6.0, auto=False)
    assert len(again.commands) == 1  # the next deep check tries again


def test_three_failures_of_the_hedge_stop_it_for_the_episode_with_an_alert() -> None:
    d = _driver_in(State.WARNING_L2)
    notes = []
    for _ in range(3):
        (cmd,) = d.evaluate(-6.0, auto=False).commands
        decision = step(d.trade, ActionFailed(cmd.id, d.now, 10019, "No money"), POLICY)
        d._apply(decision)
        notes.extend(decision.notes)
    assert any(n.kind is NoteKind.ALERT and "giving up" in n.text for n in notes)
    blocked = d.evaluate(-6.0, auto=False)
    assert blocked.commands == ()
    # a new episode (back to L1 and down again) may try again
    d.evaluate(-2.0)
    assert d.trade.state is State.WARNING_L1
    d.evaluate(-4.0)
    assert len(d.evaluate(-6.0, auto=False).commands) == 1


def test_unknown_hedge_outcome_is_resolved_from_the_snapshot_not_resent() -> None:
    d = _driver_in(State.WARNING_L2)
    (cmd,) = d.evaluate(-6.0, auto=False).commands
    assert isinstance(cmd, OpenHedge)
    d._apply(step(d.trade, ActionUnknown(cmd.id, d.now, "timeout"), POLICY))
    assert d.trade.pending is not None
    # the order did execute at the broker
    assert d.main is not None
    d.hedge = hedge_of(d.main, 7777, cmd.volume, cmd.sl, d.now)
    assert d.observe(at=d.now + 0.5).commands == ()  # too early to judge: still pending
    assert d.trade.pending is not None
    d.observe(at=d.now + 5)
    assert d.trade.state is State.HEDGED and d.trade.hedge is not None
    assert d.trade.hedge.ticket == 7777 and d.trade.hedges_opened == 1
    assert [c for c in d.sent if isinstance(c, OpenHedge)] == []  # never re-sent


def test_unknown_outcome_not_found_was_lost_and_is_replanned_at_the_next_check() -> None:
    d = _driver_in(State.WARNING_L2)
    (cmd,) = d.evaluate(-6.0, auto=False).commands
    d._apply(step(d.trade, ActionUnknown(cmd.id, d.now, "timeout"), POLICY))
    d.observe(at=d.now + 5)
    assert d.trade.state is State.WARNING_L2 and d.trade.pending is None
    # lost on the way (not executed), not refused: nothing counted, a wait re-planned at the
    # next check rather than after the next bar
    assert d.trade.failures_of(cmd.action) == 0
    assert d.trade.blocked is not None and d.trade.blocked.wait is Wait.LOST
    assert wants_recheck(d.trade, None, None, d.now + 10, POLICY)


def test_done_close_waits_for_the_snapshot_and_tolerates_the_listing_lag() -> None:
    d = _driver_in(State.WARNING_L1)
    decision = d.evaluate(0.0, choch=True, auto=False)
    (cmd,) = decision.commands
    assert isinstance(cmd, ClosePosition)
    d._apply(step(d.trade, ActionDone(cmd.id, d.now), POLICY))
    assert d.trade.state is State.WARNING_L1  # DONE alone is not believed
    d.observe(at=d.now + 0.3)  # still listed a few hundred ms later: tolerated
    assert d.trade.state is State.WARNING_L1 and d.trade.pending is not None
    d.main = None
    d.observe(at=d.now + 0.3)
    assert d.trade.state is State.CLOSED


def test_done_close_still_listed_after_the_window_counts_as_failed() -> None:
    d = _driver_in(State.WARNING_L1)
    (cmd,) = d.evaluate(0.0, choch=True, auto=False).commands
    d._apply(step(d.trade, ActionDone(cmd.id, d.now), POLICY))
    d.observe(at=d.now + POLICY.machine.close_confirm_seconds + 1)
    assert d.trade.pending is None and d.trade.state is State.WARNING_L1
    assert d.trade.failures_of(cmd.action) == 1


def test_no_money_on_a_close_is_not_a_failure_until_the_snapshot_says_so() -> None:
    # 10036 on a close means "already closed": confirm from the snapshot
    d = _driver_in(State.WARNING_L1)
    (cmd,) = d.evaluate(0.0, choch=True, auto=False).commands
    d._apply(step(d.trade, ActionFailed(cmd.id, d.now, 10036, "Position closed"), POLICY))
    d.main = None
    d.observe()
    assert d.trade.state is State.CLOSED


def test_replayed_events_change_nothing() -> None:
    d = _driver_in(State.HEALTHY)
    ev = Evaluated(T0 + M15, int(T0 + M15), score(-5.0), FlipState(), market(), HEDGING,
                   position(), None)
    first = step(d.trade, ev, POLICY)
    assert first.commands
    second = step(first.trade, ev, POLICY)
    assert second.commands == () and second.trade == first.trade
    obs = Observed(T0 + 5, position())
    a = step(d.trade, obs, POLICY)
    assert step(a.trade, obs, POLICY).trade == a.trade
    (cmd,) = first.commands
    done = step(first.trade, ActionDone(cmd.id, T0 + M15), POLICY)
    assert step(done.trade, ActionDone(cmd.id, T0 + M15), POLICY).trade == done.trade


def test_replaying_a_state_only_transition_does_not_take_a_second_step() -> None:
    d = _driver_in(State.WARNING_L2)
    ev = Evaluated(d.now + M15, int(d.now + M15), score(5.0), FlipState(), market(d.bid),
                   HEDGING, d.main, None)
    first = step(d.trade, ev, POLICY)
    assert first.trade.state is State.WARNING_L1
    again = step(first.trade, ev, POLICY)
    assert again.trade.state is State.WARNING_L1 and again.transition is None


def test_a_hedge_found_at_the_broker_is_attached_not_duplicated() -> None:
    d = _driver_in(State.WARNING_L2)
    assert d.main is not None
    d.hedge = hedge_of(d.main, 4242, 0.25, time=d.now)
    decision = d.observe()
    assert d.trade.state is State.HEDGED and d.trade.hedge is not None
    assert d.trade.hedge.ticket == 4242 and decision.commands == ()
    assert d.evaluate(-9.0).commands == ()


def test_stale_market_blocks_new_actions_but_not_due_closes() -> None:
    d = _driver_in(State.HEALTHY)
    ev = Evaluated(d.now + M15, int(d.now + M15), score(-3.0), FlipState(),
                   market(stale=True), HEDGING, d.main, None)
    blocked = step(d.trade, ev, POLICY)
    assert blocked.commands == () and blocked.trade.state is State.HEALTHY
    assert any(n.kind is NoteKind.WAITING for n in blocked.notes)  # a wait, not a failure
    assert blocked.trade.failures == () and blocked.trade.retry_after_eval is None
    assert blocked.trade.blocked is not None
    assert blocked.trade.blocked.wait is Wait.STALE_DATA
    again = replace(ev, at=ev.at + M15, eval_id=ev.eval_id + 1)
    assert step(blocked.trade, again, POLICY).notes == ()  # said once per stale episode
    fresh = replace(ev, at=ev.at + 2 * M15, eval_id=ev.eval_id + 2, market=market(stale=False))
    assert step(blocked.trade, fresh, POLICY).commands  # fresh data: the action goes out
    h = _driver_in(State.HEDGED)
    assert h.trade.flat_deadline is not None
    at = h.trade.flat_deadline
    obs = Observed(at, h.main, h.hedge, None, market(stale=True, at=at))
    assert step(h.trade, obs, POLICY).commands  # the due close still runs


def test_winning_sell_hedge_side_and_sl_mirror_the_buy() -> None:
    sell = position(side=Side.SELL, price_open=1.10000, sl=1.10500, price_current=1.09850)
    d = Driver(new_trade(sell, T0), sell)
    d.bid = 1.09850
    for total in (-2.0, -4.0):
        d.evaluate(total)
    (cmd,) = d.evaluate(-6.0).commands
    assert isinstance(cmd, OpenHedge) and cmd.side is Side.BUY
    ask = round(d.bid + 10 * 0.00001, 5)
    assert cmd.sl == pytest.approx(ask - 0.001)
    assert d.trade.state is State.HEDGED


def test_a_snapshot_older_than_the_hedge_does_not_make_it_vanish() -> None:
    d = _driver_in(State.HEDGED)
    assert d.trade.hedge is not None
    opened = d.trade.hedge.opened_at
    # read before the hedge order executed, delivered after it was confirmed
    stale = Observed(opened - 0.5, d.main, None, None, market(d.bid))
    d.trade = replace(d.trade, last_observed_at=opened - 1)
    decision = step(d.trade, stale, POLICY)
    assert decision.trade.state is State.HEDGED and decision.transition is None
    fresh = Observed(opened + 1, d.main, None, None, market(d.bid))
    assert step(decision.trade, fresh, POLICY).trade.state is State.WARNING_L2


def test_a_stale_snapshot_cannot_make_a_stop_looser_than_the_one_just_set() -> None:
    d = Driver(position_trade(), position(price_current=1.10150))
    d.bid = 1.10150
    d.evaluate(-2.5)  # HEALTHY -> WARNING_L1, SL moved to 1.10000 at the broker
    assert d.trade.sl == pytest.approx(1.10000)
    tightened_at = d.trade.changed_at
    # read before the modify: still shows the old 1.09500. At a bid of 1.10100 a new stop
    # would be 1.09950: tighter than the stale SL, but looser than the real 1.10000.
    old_view = replace(d.main, sl=1.09500, price_current=1.10100)
    ev = Evaluated(tightened_at, int(tightened_at) + 7, score(-2.5), FlipState(),
                   market(1.10100, at=tightened_at), HEDGING, old_view, None)
    decision = step(replace(d.trade, state=State.HEALTHY), ev, POLICY)
    assert decision.commands == ()
    assert any("would not tighten" in n.text for n in decision.notes)
    assert decision.trade.sl == pytest.approx(1.10000)


def test_a_broker_clock_going_back_an_hour_is_a_clock_reset_not_a_replay() -> None:
    d = _driver_in(State.HEDGED)
    t = d.trade
    assert t.flat_deadline is not None
    left = t.flat_deadline - t.last_observed_at
    older = Observed(t.last_observed_at - 120, d.main, d.hedge, None, market(d.bid))
    assert step(t, older, POLICY).trade == t  # a late snapshot: ignored
    back = Observed(t.last_observed_at - 3600, d.main, d.hedge, None, market(d.bid))
    moved = step(t, back, POLICY).trade
    assert moved.last_observed_at == back.at
    assert moved.flat_deadline == pytest.approx(back.at + left)  # the timer keeps its length
    assert moved.last_eval_id < t.last_eval_id - 3_500_000  # new bars still count
    assert moved.hedge is not None and moved.state is State.HEDGED
