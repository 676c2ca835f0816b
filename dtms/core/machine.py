"""The trade state machine: a transition table and one pure ``step``.

Theory of operation (specification §4). ``TABLE`` lists every transition in priority order:
broker facts first (a vanished main or hedge), then the account guard's lock (a breached loss
limit closes every trade), the terminal CHOCH, the timers, recovery before deterioration.
``step(trade, event, policy)`` applies one event and returns a ``Decision``: the new state, the
commands to send and notes. Two rules hold everywhere:

* **one transition per evaluation** — the first matching rule fires and the step ends;
* **nothing is committed before the broker confirms** — a rule with commands puts the trade in
  a pending sub-state of its old state (``dtms.core.pending`` settles it from outcomes and
  snapshots). While a transition is pending no other rule fires.

Events are idempotent: an evaluation or snapshot not newer than the last one seen, or an
outcome for a command that is not in flight, changes nothing and emits nothing.

Two rules may live in this file: the table is data, read by tests and docs alike; and every
decision is a function of (trade, event, policy) alone — no clock, no I/O.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from typing import Any, assert_never

from dtms.core.evolve import evolve
from dtms.core.facts import Facts
from dtms.core.messages import (
    ActionBlocked,
    ActionDone,
    ActionFailed,
    ActionUnknown,
    Command,
    Evaluated,
    Event,
    MarketFacts,
    Note,
    NoteKind,
    Observed,
    Wait,
)
from dtms.core.news import in_blackout
from dtms.core.pending import (
    WAIT_NOTICE,
    TransitionRecord,
    apply_outcome,
    recognise_hedge,
    resolve,
)
from dtms.core.policy import Policy
from dtms.core.rules import Trigger, fire
from dtms.core.trade import InFlight, TradeState, new_trade
from dtms.core.types import AccountView, PositionView, State

OPEN = frozenset(s for s in State if s.is_open)


class Rule(enum.Enum):
    """Names of the transitions (stable: they are journaled)."""

    MAIN_VANISHED = "main_vanished"
    HEDGE_VANISHED = "hedge_vanished"
    GUARD = "guard_locked"
    CHOCH = "choch_against"
    FLAT_TIMER = "flat_timer_expired"
    WEEKEND = "weekend_flatten"
    NEWS = "news_flatten"
    RECOVERED = "recovered"
    NOT_RECOVERED = "not_recovered"
    STRUCTURE_RESUMED = "structure_resumed"
    L1_RECOVERED = "l1_recovered"
    L2_RECOVERED = "l2_recovered"
    WARN_L1 = "warning_l1"
    WARN_L2 = "warning_l2"
    HEDGE_OVER_LIMIT = "hedge_replaced_risk"
    NO_HEDGE_CLOSE = "hedge_replaced_close"
    NO_HEDGE_STOP = "hedge_replaced_stop"
    HEDGE = "hedge"


@dataclass(frozen=True, slots=True)
class Transition:
    """One row of the transition table."""

    rule: Rule
    sources: frozenset[State]
    target: State
    trigger: Trigger
    actions: tuple[str, ...]
    """Action names, in the order their commands are sent."""
    fact: bool = False
    """The trigger is a broker fact: it fires at once, whatever back-off a failure set."""
    urgent: bool = False
    """It fires whatever back-off another action's failure set (its own failures back off)."""


_L1, _L2, _HEDGED, _REC = (frozenset({s}) for s in (State.WARNING_L1, State.WARNING_L2,
                                                      State.HEDGED, State.RECOVERING))
T, R, S, G = Transition, Rule, State, Trigger

TABLE: tuple[Transition, ...] = (
    T(R.MAIN_VANISHED, OPEN, S.CLOSED, G.MAIN_VANISHED, ("close_all",), fact=True),
    T(R.HEDGE_VANISHED, _HEDGED, S.WARNING_L2, G.HEDGE_VANISHED, (), fact=True),
    T(R.GUARD, OPEN, S.CLOSED, G.GUARD_LOCKED, ("close_all",), urgent=True),
    T(R.CHOCH, OPEN, S.CLOSED, G.CHOCH_AGAINST, ("close_all",)),
    T(R.FLAT_TIMER, _HEDGED, S.CLOSED, G.FLAT_TIMER_EXPIRED, ("close_all",)),
    T(R.WEEKEND, _HEDGED, S.CLOSED, G.WEEKLY_CLOSE_NEAR, ("close_all",)),
    T(R.NEWS, OPEN, S.CLOSED, G.NEWS_NEAR, ("close_all",)),
    T(R.RECOVERED, _REC, S.HEALTHY, G.RECOVERY_EXPIRED_SCORE_OK, ("re_add",)),
    T(R.NOT_RECOVERED, _REC, S.CLOSED, G.RECOVERY_EXPIRED_SCORE_LOW, ("close_all",)),
    T(R.STRUCTURE_RESUMED, _HEDGED, S.RECOVERING, G.BACK_BEYOND_HEDGE_ENTRY, ("close_hedge",)),
    T(R.L1_RECOVERED, _L1, S.HEALTHY, G.SCORE_AT_LEAST_L1_RECOVER, ()),
    T(R.L2_RECOVERED, _L2, S.WARNING_L1, G.SCORE_AT_LEAST_L2_RECOVER, ()),
    T(R.WARN_L1, frozenset({S.HEALTHY}), S.WARNING_L1, G.SCORE_AT_MOST_L1, ("tighten_sl",)),
    T(R.WARN_L2, _L1, S.WARNING_L2, G.SCORE_AT_MOST_L2, ("partial_close", "move_sl_breakeven")),
    T(R.HEDGE_OVER_LIMIT, _L2, S.CLOSED, G.HEDGE_OVER_LIMIT, ("close_all",)),
    T(R.NO_HEDGE_CLOSE, _L2, S.CLOSED, G.NO_HEDGE_CLOSE, ("close_all",)),
    T(R.NO_HEDGE_STOP, _L2, S.WARNING_L2, G.NO_HEDGE_STOP, ("hard_stop",)),
    T(R.HEDGE, _L2, S.HEDGED, G.SCORE_AT_MOST_HEDGE_OR_CONFLUENCE, ("open_hedge",)),
)
"""The transition table, in priority order (one row a line: it is read like the README's)."""
del T, R, S, G


_BY_STATE: dict[State, tuple[Transition, ...]] = {
    state: tuple(t for t in TABLE if state in t.sources) for state in State
}
"""The table's rows for each state, in priority order (read once, not per step)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """What one step decided."""

    trade: TradeState
    commands: tuple[Command, ...] = ()
    notes: tuple[Note, ...] = ()
    transition: TransitionRecord | None = None
    """The transition committed by this step, if any (for the journal)."""
    started: Rule | None = None
    """The transition that went pending in this step, if any."""
    resolved: tuple[InFlight, ...] = ()
    """Commands whose unknown or unconfirmed outcome this step's snapshot decided."""


def step(trade: TradeState, event: Event, policy: Policy) -> Decision:
    """Apply one event to a trade; return the new state, commands and notes."""
    match event:
        case ActionDone() | ActionFailed() | ActionUnknown() | ActionBlocked():
            if trade.pending is None or trade.pending.find(event.command_id) is None:
                return Decision(trade)
            new, notes, record = apply_outcome(trade, event, policy)
            return Decision(new, notes=notes, transition=record)
        case Observed():
            back = trade.last_observed_at - event.at
            if back >= policy.machine.clock_jump_seconds:
                trade = rebase(trade, back)  # the server clock went back (daylight saving)
            elif event.at <= trade.last_observed_at:
                return Decision(trade)  # a replay, or a snapshot older than one seen
            facts = _fresh(Facts.from_observed(event), trade)
            reversed_ = _reversed(trade, facts)
            if reversed_ is not None:
                return reversed_
            changes = _sync(trade, facts.main)
            changes.update(track_market(trade, facts.market, policy))
            changes["last_observed_at"] = event.at
            if event.flip is not None:
                changes["flip"] = event.flip
            return _decide(evolve(trade, **changes), facts, policy)
        case Evaluated():
            if event.eval_id <= trade.last_eval_id:
                return Decision(trade)
            facts = _fresh(Facts.from_evaluated(event), trade)
            reversed_ = _reversed(trade, facts)
            if reversed_ is not None:
                return reversed_
            changes = _sync(trade, facts.main)
            changes.update(track_market(trade, facts.market, policy))
            changes.update(last_eval_id=event.eval_id, score=event.score.total, flip=event.flip,
                           last_deep_check_at=event.at)
            return _decide(evolve(trade, **changes), facts, policy)
        case _:
            assert_never(event)


def rebase(trade: TradeState, back: float) -> TradeState:
    """Move every broker-time field back by ``back`` seconds (the broker's clock went back).

    Timers keep their remaining length, and bars of the new clock still count as new.
    """

    def b(t: float | None) -> float | None:
        return None if t is None else t - back

    pending = trade.pending
    if pending is not None:
        items = tuple(replace(i, since=i.since - back) for i in pending.commands)
        pending = replace(pending, started_at=pending.started_at - back, commands=items)
    hedge = trade.hedge and replace(trade.hedge, opened_at=trade.hedge.opened_at - back)
    return replace(
        trade, since=trade.since - back, flat_deadline=b(trade.flat_deadline),
        recovery_deadline=b(trade.recovery_deadline), changed_at=trade.changed_at - back,
        last_observed_at=trade.last_observed_at - back,
        last_deep_check_at=trade.last_deep_check_at - back,
        last_eval_id=max(int(trade.last_eval_id - back * 1000), 0), hedge=hedge, pending=pending,
    )


def _fresh(facts: Facts, trade: TradeState) -> Facts:
    """Facts whose main position is not older than what the trade itself knows.

    A snapshot taken at or before dtms's last change at the broker may predate that change:
    the trade's own volume and stops are newer, and plan from them (and rules that conclude
    an absence check the same time themselves).
    """
    if facts.main is None or facts.at > trade.changed_at:
        return facts
    main = replace(facts.main, volume=trade.volume, sl=trade.sl, tp=trade.tp)
    return replace(facts, main=main)


def _sync(trade: TradeState, main: PositionView | None) -> dict[str, Any]:
    """The broker's word on the main position's volume, entry and stops, as changes.

    On a netting account a trader may add to the position by hand: its volume grows and its
    ``price_open`` becomes the average entry, which breakeven and the risk unit must use (a
    stale first entry made "breakeven" lock in a loss). Returned as a dict so the step applies
    all its bookkeeping in one copy: a trade has some thirty fields and copying it is the
    core's largest per-step cost.
    """
    if main is None or trade.state is State.CLOSED:
        return {}
    partial_in_flight = trade.pending is not None and any(
        item.command.action.value == "partial_close" and not item.final
        for item in trade.pending.commands
    )
    volume = trade.volume if partial_in_flight else main.volume
    changes: dict[str, Any] = {"volume": volume, "sl": main.sl, "tp": main.tp}
    if main.price_open > 0 and main.price_open != trade.entry:
        changes["entry"] = main.price_open
    return changes


def _reversed(trade: TradeState, f: Facts) -> Decision | None:
    """A position that changed side (a netting position reversed by hand) is a new trade.

    Scoring it as the old side, and "partially closing" it with an order of the old side's
    opposite, would add exposure (BUY 1.0 reversed to SELL 1.0 became SELL 1.5). The trade
    starts over: HEALTHY on the new side, its entry, volume and stops read from the broker.
    """
    main = f.main
    if main is None or main.side is trade.side or not trade.is_open:
        return None
    fresh = new_trade(main, f.at)
    new = evolve(
        fresh, opened_at=trade.opened_at, seq=trade.seq, last_eval_id=trade.last_eval_id,
        last_observed_at=f.at, last_deep_check_at=trade.last_deep_check_at,
        market_seen=trade.market_seen, magic=trade.magic, comment=trade.comment,
    )
    text = (f"position reversed at the broker: {trade.side.value} -> {main.side.value} "
            f"{main.volume} lots @ {main.price_open}; managed from now on as a new trade")
    record = TransitionRecord(f.at, trade.ticket, trade.state, State.HEALTHY, "reversed", text,
                              trade.score)
    return Decision(new, notes=(Note(NoteKind.ALERT, text),), transition=record)


def track_market(trade: TradeState, market: MarketFacts | None, policy: Policy
                 ) -> dict[str, Any]:
    """Count timers only while the symbol trades: the newest tick time, deadlines moved on.

    Timers are judged at ``rules.market_time``: never past the last tick plus a grace, so they
    pause when the symbol stops ticking. When the runtime says the market is closed (the
    weekend, a daily break, a 10018), the pause point is remembered; at the first tick after it
    the flat and recovery deadlines move on by the closure. A timer started 15 minutes before
    the weekend close has 15 minutes left when the market reopens. A short silence (a quiet
    symbol at night) is never called closed and counts as trading time.
    """
    if market is None:
        return {}
    m = policy.machine
    tick, seen = market.quote.time, trade.market_seen
    changes: dict[str, Any] = {}
    if market.closed:
        if trade.paused_at is None and seen > 0:
            changes["paused_at"] = seen + m.market_tick_grace_seconds
        return changes
    if tick <= seen:
        return changes
    changes["market_seen"] = tick
    if trade.paused_at is not None:
        closed = max(tick - trade.paused_at, 0.0)
        changes["paused_at"] = None
        if trade.flat_deadline is not None:
            changes["flat_deadline"] = trade.flat_deadline + closed
        if trade.recovery_deadline is not None:
            changes["recovery_deadline"] = trade.recovery_deadline + closed
    return changes


def _passed(wait: Wait, market: MarketFacts | None, account: AccountView | None, at: float,
            policy: Policy) -> bool | None:
    """Whether a wait's cause has passed; None for a wait re-planned from fresh facts."""
    match wait:
        case Wait.MARKET_CLOSED:
            return market is not None and not market.closed
        case Wait.STALE_DATA:
            return market is not None and not market.stale
        case Wait.TRADING_DISABLED:
            return account is not None and account.trade_allowed
        case Wait.WIDE_SPREAD:
            return market is not None and not market.wide_spread
        case Wait.NEWS:
            minutes = policy.news.blackout_minutes
            return market is not None and in_blackout(market.news, at, minutes) is None
        case _:
            return None


def _cleared(trade: TradeState, facts: Facts, policy: Policy) -> TradeState:
    """Forget a wait whose cause is gone (its note may be given again in a later episode)."""
    blocked = trade.blocked
    if blocked is None:
        return trade
    gone = _passed(blocked.wait, facts.market, facts.account, facts.at, policy)
    if gone is None:
        gone = facts.fresh  # re-planned from fresh facts at the next deep check
    if not gone:
        return trade
    key = f"{WAIT_NOTICE}{blocked.rule}:{blocked.wait.name}"
    return evolve(trade, blocked=None, notices=tuple(n for n in trade.notices if n != key))


def _decide(trade: TradeState, facts: Facts, policy: Policy) -> Decision:
    trade = _cleared(trade, facts, policy)
    if trade.pending is not None:
        new, notes, record, decided = resolve(trade, facts, policy)
        return Decision(new, notes=notes, transition=record, resolved=decided)
    if not trade.is_open:
        return Decision(trade)
    adopted = recognise_hedge(trade, facts, policy)
    if adopted is not None:
        new, notes, record = adopted
        return Decision(new, notes=notes, transition=record)
    for transition in _BY_STATE[trade.state]:
        result = fire(
            transition.rule.value,
            transition.target,
            transition.trigger,
            transition.actions,
            trade,
            facts,
            policy,
            fact=transition.fact,
            urgent=transition.urgent,
        )
        if result is None:
            continue
        new, commands, notes, record = result
        started = transition.rule if commands else None
        return Decision(new, commands, notes, record, started)
    return Decision(trade)


def wants_early_check(
    trade: TradeState, price: float, flip_against: bool, at: float, policy: Policy
) -> bool:
    """Whether a fast check should trigger an early deep check.

    A VWAP flip against the trade, or an adverse move beyond ``early_check_adverse_move``
    from entry, is reason enough, at most once per ``early_check_min_interval_seconds`` after
    the last deep check of either kind (an early check right after a bar's check would only
    take a second step on the same data).
    """
    m = policy.machine
    if not trade.is_open or trade.pending is not None or trade.entry <= 0:
        return False
    if at - trade.last_deep_check_at < m.early_check_min_interval_seconds:
        return False
    adverse = trade.side.sign * (trade.entry - price) / trade.entry
    return flip_against or adverse > m.early_check_adverse_move


def wants_recheck(trade: TradeState, market: MarketFacts | None, account: AccountView | None,
                  at: float, policy: Policy) -> bool:
    """Whether a transition that waited should be re-planned now (by an early deep check).

    A closed market, stale data, disabled trading, a wide spread or a news blackout must be
    gone first; any other wait (a request that never left the queue, a frozen position, a
    position that changed) is re-planned from fresh facts at the next check.
    """
    blocked = trade.blocked
    if blocked is None or not trade.is_open or trade.pending is not None:
        return False
    if blocked.wait is Wait.STALE_DATA and market is not None and market.closed:
        return False
    gone = _passed(blocked.wait, market, account, at, policy)
    return True if gone is None else gone


def table_rows() -> list[tuple[str, str, str, str, str]]:
    """The table as text rows (source, target, rule, trigger, actions), for docs and status."""
    rows = []
    for t in TABLE:
        sources = "any open" if t.sources == OPEN else ", ".join(sorted(s.value for s in t.sources))
        rows.append(
            (sources, t.target.value, t.rule.value, t.trigger.value, ", ".join(t.actions) or "-")
        )
    return rows


__all__ = [
    "OPEN", "TABLE", "Decision", "Note", "NoteKind", "Rule", "Transition", "step",
    "wants_early_check", "wants_recheck",
]
