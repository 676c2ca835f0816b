"""The state machine against what real markets and brokers do (specification §4, §5).

Waits are not failures (a closed market, stale data, a frozen position, AutoTrading off, a
request that never left the queue); broker facts fire whatever the back-off; timers count only
while the symbol trades; a netting position reversed or scaled in by hand is re-read.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from dtms.core.machine import step
from dtms.core.messages import (
    ActionBlocked,
    ActionFailed,
    ClosePosition,
    Evaluated,
    ModifyStops,
    NoteKind,
    Observed,
    Wait,
)
from dtms.core.policy import MachinePolicy, Policy, WeekendPolicy
from dtms.core.score import FlipState
from dtms.core.trade import new_trade
from dtms.core.types import Side, State

from .kit import EURUSD, HEDGING, M15, NETTING, POLICY, T0, Driver, market, position, score


def _hedged() -> Driver:
    d = Driver(new_trade(position(price_current=1.10150), T0), position(price_current=1.10150))
    d.bid = 1.10150
    for total in (-2.0, -4.0, -6.0):
        d.evaluate(total)
    assert d.trade.state is State.HEDGED and d.trade.flat_deadline is not None
    return d


def _eval(d: Driver, total: float, **kw: object) -> Evaluated:
    at = float(kw.pop("at", d.now + M15))  # type: ignore[arg-type]
    mk = kw.pop("market", market(d.bid, at=at))
    account = kw.pop("account", HEDGING)
    return Evaluated(at, int(at), score(total, bar_time=int(at) - M15), FlipState(), mk,
                     account, d.main, d.hedge, d.readd)  # type: ignore[arg-type]


def test_a_blocked_send_is_a_wait_never_a_failure_and_is_re_planned() -> None:
    d = Driver(new_trade(position(), T0), position())
    first = step(d.trade, _eval(d, -3.0), POLICY)
    (cmd,) = first.commands
    for _ in range(5):  # five weekends' worth of 10018: never "given up"
        waited = step(first.trade, ActionBlocked(cmd.id, d.now, Wait.MARKET_CLOSED, "10018"),
                      POLICY)
        t = waited.trade
        assert t.pending is None and t.state is State.HEALTHY
        assert t.failures == () and t.retry_after_eval is None
        assert t.blocked is not None and t.blocked.wait is Wait.MARKET_CLOSED
        assert [n.kind for n in waited.notes] == [NoteKind.WAITING]
        # while the market stays closed: nothing sent, nothing said again
        d.trade = t
        for _ in range(3):
            d.now += M15
            quiet = step(d.trade, _eval(d, -3.0, market=market(d.bid, at=d.now, closed=True)),
                         POLICY)
            assert quiet.commands == () and quiet.notes == ()
            d.trade = quiet.trade
        d.now += M15
        first = step(d.trade, _eval(d, -3.0), POLICY)  # it trades again: sent once more
        (cmd,) = first.commands
        assert first.trade.blocked is None


def test_nothing_is_sent_while_the_market_is_closed() -> None:
    d = _hedged()
    assert d.trade.flat_deadline is not None
    end = d.trade.flat_deadline + 1
    closed = Observed(end, d.main, d.hedge, None, market(d.bid, at=end, closed=True), HEDGING)
    out = step(d.trade, closed, POLICY)
    assert out.commands == () and out.trade.state is State.HEDGED


def test_a_flat_timer_started_before_the_weekend_keeps_its_minutes_for_the_reopening() -> None:
    d = _hedged()
    deadline = d.trade.flat_deadline
    assert deadline is not None
    left = 15 * 60.0
    last_tick = deadline - left  # the market stops ticking 15 minutes before expiry
    d.observe(at=last_tick)  # a tick at last_tick
    # the weekend: no ticks, the runtime says closed; far past the deadline nothing fires
    for hours in (1, 10, 40):
        at = last_tick + hours * 3600
        ev = Observed(at, d.main, d.hedge, None, market(d.bid, at=last_tick, closed=True),
                      HEDGING)
        out = step(d.trade, ev, POLICY)
        assert out.commands == () and out.trade.state is State.HEDGED
        d.trade = out.trade
    reopen = last_tick + 49 * 3600
    grace = POLICY.machine.market_tick_grace_seconds
    ev = Observed(reopen, d.main, d.hedge, None, market(d.bid, at=reopen), HEDGING)
    d.trade = step(d.trade, ev, POLICY).trade
    assert d.trade.flat_deadline == pytest.approx(reopen + left - grace)
    before = d.trade.flat_deadline - 1
    ev = Observed(before, d.main, d.hedge, None, market(d.bid, at=before), HEDGING)
    assert step(d.trade, ev, POLICY).commands == ()
    due = d.trade.flat_deadline
    ev = Observed(due, d.main, d.hedge, None, market(d.bid, at=due), HEDGING)
    assert step(d.trade, ev, POLICY).commands  # now the close goes out


def test_timers_pause_when_the_symbol_stops_ticking_even_before_it_is_called_closed() -> None:
    d = _hedged()
    deadline = d.trade.flat_deadline
    assert deadline is not None
    d.observe(at=deadline - 120)  # the last tick, two minutes before the deadline
    silent = deadline + 600
    ev = Observed(silent, d.main, d.hedge, None, market(d.bid, at=deadline - 120), HEDGING)
    assert step(d.trade, ev, POLICY).commands == ()  # paused at last tick + grace
    ticking = deadline + 601
    ev = Observed(ticking, d.main, d.hedge, None, market(d.bid, at=ticking), HEDGING)
    assert step(d.trade, ev, POLICY).commands  # a short silence is not a closure: it counts


def test_a_vanished_main_fires_at_once_whatever_the_back_off() -> None:
    d = Driver(new_trade(position(), T0), position())
    first = step(d.trade, _eval(d, -3.0), POLICY)
    (cmd,) = first.commands
    failed = step(first.trade, ActionFailed(cmd.id, d.now, 10016, "invalid stops"), POLICY)
    assert failed.trade.retry_after_eval is not None  # backing off until the next deep check
    gone = Observed(d.now + 5, None, None, None, market(d.bid, at=d.now + 5), HEDGING)
    out = step(failed.trade, gone, POLICY)
    assert out.transition is not None and out.trade.state is State.CLOSED


def test_a_hedged_trade_whose_main_vanished_during_back_off_closes_its_hedge_at_once() -> None:
    d = _hedged()
    hedge = d.hedge
    assert hedge is not None
    t = replace(d.trade, retry_after_eval=d.trade.last_eval_id)
    gone = Observed(d.now + 5, None, hedge, None, market(d.bid, at=d.now + 5), HEDGING)
    out = step(t, gone, POLICY)
    assert [c.ticket for c in out.commands if isinstance(c, ClosePosition)] == [hedge.ticket]


def test_a_frozen_position_waits_instead_of_failing() -> None:
    spec = replace(EURUSD, freeze_level=50)
    main = position(price_current=1.10000, sl=1.09960)  # SL 40 points under the bid
    d = Driver(replace(new_trade(main, T0), state=State.WARNING_L1), main)
    ev = _eval(d, -4.0, market=market(1.10000, spec=spec, at=d.now + M15))
    out = step(d.trade, ev, POLICY)  # the partial close would touch a frozen position
    assert out.commands == ()
    assert out.trade.blocked is not None and out.trade.blocked.wait is Wait.FROZEN
    assert out.trade.failures == ()


def test_autotrading_off_makes_every_action_wait_and_they_resume_when_it_is_back() -> None:
    d = Driver(new_trade(position(), T0), position())
    off = replace(HEDGING, trade_allowed=False)
    out = step(d.trade, _eval(d, -3.0, account=off), POLICY)
    assert out.commands == () and out.trade.blocked is not None
    assert out.trade.blocked.wait is Wait.TRADING_DISABLED
    d.trade, d.now = out.trade, d.now + M15
    back = step(d.trade, _eval(d, -3.0), POLICY)
    assert len(back.commands) == 1 and back.trade.blocked is None


def test_a_netting_position_reversed_by_hand_is_managed_as_a_new_trade() -> None:
    d = Driver(new_trade(position(volume=1.0), T0), position(volume=1.0), account=NETTING)
    d.evaluate(-2.0)
    assert d.trade.state is State.WARNING_L1
    reversed_ = position(side=Side.SELL, volume=1.0, price_open=1.09900, sl=1.10400,
                         price_current=1.09900)
    d.main = reversed_
    out = d.observe()
    t = out.trade
    assert t.side is Side.SELL and t.state is State.HEALTHY and t.entry == 1.09900
    assert t.initial_sl == 1.10400 and t.volume == 1.0
    assert out.transition is not None and out.transition.rule == "reversed"
    # from now on it is scored and protected as a SELL: a tightened stop sits above the price
    d.bid = 1.09950
    cmds = d.evaluate(-2.0).commands
    assert cmds and isinstance(cmds[0], ModifyStops) and cmds[0].sl > 1.09950


def test_a_netting_position_scaled_in_by_hand_takes_the_average_entry() -> None:
    main = position(volume=1.0, price_open=1.10000, price_current=1.10150)
    d = Driver(new_trade(main, T0), main, account=NETTING)
    d.bid = 1.10150
    d.main = replace(main, volume=2.0, price_open=1.10100)  # added 1 lot at 1.10200
    d.observe()
    assert d.trade.entry == 1.10100 and d.trade.volume == 2.0
    d.evaluate(-2.0)
    cmds = d.evaluate(-4.0).commands
    breakeven = [c for c in cmds if isinstance(c, ModifyStops)]
    assert breakeven and breakeven[0].sl == pytest.approx(1.10100 + 10 * EURUSD.point)


def test_weekend_policy_flattens_hedged_trades_before_the_weekly_close() -> None:
    flatten = Policy(MachinePolicy(weekend_policy=WeekendPolicy.FLATTEN_HEDGED,
                                   weekend_flatten_minutes=15, weekly_close_day=4,
                                   weekly_close_hour=21.0))
    d = _hedged()
    friday_close = 1_772_830_800.0  # Friday 2026-03-06 21:00 broker time (UTC+0)
    for at, closes in ((friday_close - 16 * 60, False), (friday_close - 14 * 60, True)):
        ev = Observed(at, d.main, d.hedge, None, market(d.bid, at=at), HEDGING)
        out = step(replace(d.trade, flat_deadline=at + 3600), ev, flatten)
        assert bool(out.commands) is closes
    at = friday_close - 5 * 60
    ev = Observed(at, d.main, d.hedge, None, market(d.bid, at=at), HEDGING)
    assert step(replace(d.trade, flat_deadline=at + 3600), ev, POLICY).commands == ()  # hold
