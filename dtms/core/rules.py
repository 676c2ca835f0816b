"""Trigger conditions and firing one rule of the transition table.

Theory of operation: a ``Trigger`` is a predicate over (trade, facts, policy). Score-based
triggers need a fresh deep evaluation; facts (a vanished position) and timers hold on any
event. Comparisons are inclusive, as the specification says. ``fire`` checks the trigger, then
plans the rule's actions: if nothing must reach the broker the transition commits at once,
otherwise the trade goes pending. An action that fails its preconditions is skipped with a
reason, except the hedge, without which a trade cannot be HEDGED: then the whole transition is
blocked, with the reason.
"""

from __future__ import annotations

import enum
import math
from dataclasses import replace

from dtms.core.facts import Facts
from dtms.core.messages import (
    Action,
    CloseBy,
    ClosePartial,
    ClosePosition,
    Command,
    ModifyStops,
    Note,
    NoteKind,
    Role,
    Wait,
)
from dtms.core.news import NewsFlatten, describe, flatten_due, in_blackout
from dtms.core.pending import WAIT_NOTICE, TransitionRecord, commit, in_flight
from dtms.core.planning import (
    Hold,
    Skip,
    hedge_worst_case,
    hold_if_frozen,
    plan_breakeven,
    plan_close_all,
    plan_close_hedge,
    plan_hard_stop,
    plan_open_hedge,
    plan_partial_close,
    plan_re_add,
    plan_tighten_sl,
)
from dtms.core.policy import (
    ActionParams,
    Hedging,
    InsteadOfHedge,
    MachinePolicy,
    OrphanPolicy,
    Policy,
    WeekendPolicy,
)
from dtms.core.score import ScoreResult
from dtms.core.trade import Blocked, Pending, TradeState
from dtms.core.types import AccountView, State


class Trigger(enum.Enum):
    """Conditions of the transition table."""

    MAIN_VANISHED = "main position no longer at the broker"
    HEDGE_VANISHED = "hedge position vanished while the main lives"
    GUARD_LOCKED = "account guard locked the account (loss limit)"
    CHOCH_AGAINST = "CHOCH against the trade"
    FLAT_TIMER_EXPIRED = "flat timer expired"
    WEEKLY_CLOSE_NEAR = "weekly close within the flatten window (weekend_policy)"
    NEWS_NEAR = "high-impact news within news.flatten_minutes (news.flatten)"
    RECOVERY_EXPIRED_SCORE_OK = "recovery timer expired and score >= recovered"
    RECOVERY_EXPIRED_SCORE_LOW = "recovery timer expired and score < recovered"
    BACK_BEYOND_HEDGE_ENTRY = "price back beyond the hedge entry, an M15 bar after it opened"
    SCORE_AT_LEAST_L1_RECOVER = "score >= L1 recovery"
    SCORE_AT_LEAST_L2_RECOVER = "score >= L2 recovery"
    SCORE_AT_MOST_L1 = "score <= L1 warning"
    SCORE_AT_MOST_L2 = "score <= L2 warning"
    HEDGE_OVER_LIMIT = "hedge trigger, the hedge's stop-loss would breach the daily loss limit"
    NO_HEDGE_CLOSE = "hedge trigger, hedging forbidden or netting (instead_of_hedge close)"
    NO_HEDGE_STOP = "hedge trigger, hedging forbidden or netting (instead_of_hedge hard_stop)"
    SCORE_AT_MOST_HEDGE_OR_CONFLUENCE = "score <= hedge threshold or hedge confluence"


def holds(trigger: Trigger, trade: TradeState, f: Facts, policy: Policy) -> str | None:
    """Return the reason text when ``trigger`` holds, else None."""
    m = policy.machine
    s = f.score if f.fresh else None
    match trigger:
        case Trigger.MAIN_VANISHED:
            return "main position no longer exists at the broker" if f.main is None else None
        case Trigger.HEDGE_VANISHED:
            h = trade.hedge
            gone = h is not None and f.at > trade.changed_at and (
                f.hedge is None or f.hedge.ticket != h.ticket)
            return f"hedge #{h.ticket} vanished (SL hit or closed by hand)" if gone and h else None
        case Trigger.GUARD_LOCKED:
            return f"account guard: {f.lock}" if f.lock else None
        case Trigger.CHOCH_AGAINST:
            return "CHOCH against the trade" if m.close_on_choch and s and s.choch_against else None
        case Trigger.FLAT_TIMER_EXPIRED:
            d = trade.flat_deadline
            expired = d is not None and market_time(trade, f.at, policy) >= d
            return f"flat timer expired ({m.flat_timer_minutes:g} min hedged)" if expired else None
        case Trigger.WEEKLY_CLOSE_NEAR:
            if m.weekend_policy is not WeekendPolicy.FLATTEN_HEDGED:
                return None
            left = until_weekly_close(f.at, m)
            near = left <= m.weekend_flatten_minutes * 60.0
            return f"weekly close in {left / 60:.0f} min (weekend_policy flatten_hedged)" \
                if near else None
        case Trigger.NEWS_NEAR:
            n = policy.news
            if n.flatten is NewsFlatten.NONE or f.market is None or (
                    n.flatten is NewsFlatten.HEDGED and trade.state is not State.HEDGED):
                return None
            event = flatten_due(f.market.news, f.at, n.flatten_minutes)
            return f"{describe(event, f.at)} (news.flatten {n.flatten.value})" if event else None
        case Trigger.RECOVERY_EXPIRED_SCORE_OK | Trigger.RECOVERY_EXPIRED_SCORE_LOW:
            d = trade.recovery_deadline
            if d is None or market_time(trade, f.at, policy) < d:
                return None
            ok = trade.score is not None and trade.score >= m.recovered_score
            if ok != (trigger is Trigger.RECOVERY_EXPIRED_SCORE_OK):
                return None
            cmp = ">=" if ok else "<"
            return f"recovery timer expired, score {_fmt(trade.score)} {cmp} {m.recovered_score:g}"
        case Trigger.BACK_BEYOND_HEDGE_ENTRY:
            # The move the hedge was opened against is undone: once an M15 bar has closed
            # since the hedge opened, any snapshot that shows the price back beyond the hedge's
            # entry. A break of structure in favour, the earlier rule, lies further than the
            # hedge's 0.5 ATR stop: on real EURUSD the stop was always hit first and the rule
            # never fired; judged only at M15 closes, the price rule still lost most hedges to
            # their stop between two closes.
            h = trade.hedge
            if h is None or f.hedge is None or f.main is None:
                return None
            closed_after = f.at // m.m15_seconds > h.opened_at // m.m15_seconds
            back = (f.main.price_current - f.hedge.price_open) * trade.side.sign
            return "price back beyond the hedge's entry" if closed_after and back > 0 else None
        case Trigger.SCORE_AT_LEAST_L1_RECOVER:
            return _cmp(s, ">=", m.l1_recover_score)
        case Trigger.SCORE_AT_LEAST_L2_RECOVER:
            return _cmp(s, ">=", m.l2_recover_score)
        case Trigger.SCORE_AT_MOST_L1:
            return _cmp(s, "<=", m.warning_l1_score)
        case Trigger.SCORE_AT_MOST_L2:
            return _cmp(s, "<=", m.warning_l2_score)
        case Trigger.SCORE_AT_MOST_HEDGE_OR_CONFLUENCE:
            return _hedge_due(s, m)
        case Trigger.HEDGE_OVER_LIMIT:
            due = _hedge_due(s, m)
            room = f.account.loss_room if f.account is not None else None
            if due is None or room is None or f.main is None or f.market is None or \
                    no_hedge(f, policy.actions) is not None:
                return None
            worst = hedge_worst_case(f.main, f.market, policy.actions)
            if worst is None or worst <= room:
                return None
            cur = f.account.currency if f.account else ""
            return (f"{due}; the hedge's stop-loss would lose about {worst:,.2f} {cur}, more than "
                    f"the {room:,.2f} {cur} the daily loss limit leaves: close instead")
        case Trigger.NO_HEDGE_CLOSE | Trigger.NO_HEDGE_STOP:
            wanted = (InsteadOfHedge.CLOSE if trigger is Trigger.NO_HEDGE_CLOSE
                      else InsteadOfHedge.HARD_STOP)
            p = policy.actions
            why = no_hedge(f, p)
            due = _hedge_due(s, m) if why and p.instead_of_hedge is wanted else None
            return f"{due}; {why}: {wanted.value} instead" if due else None


def no_hedge(f: Facts, p: ActionParams) -> str | None:
    """Why this account cannot take a hedge now (forbidden, or netting), else None."""
    if p.hedging is Hedging.FORBIDDEN:
        return "hedging is forbidden (actions.hedging)"
    if f.account is not None and not f.account.hedging:
        return "a netting account cannot hold a hedge"
    return None


def _hedge_due(s: ScoreResult | None, m: MachinePolicy) -> str | None:
    if s is None:
        return None
    if s.hedge_confluence:
        return f"hedge confluence (VWAP and volume flipped), score {s.total:.2f}"
    return _cmp(s, "<=", m.hedge_score)


def market_time(trade: TradeState, at: float, policy: Policy) -> float:
    """The time timers are judged at: ``at``, but never past the symbol's last tick plus the
    grace. Timers count minutes while the symbol trades; a market that stopped ticking (the
    weekend, a daily break) stops them, and ``track_market`` moves the deadlines on by the
    closure once it trades again."""
    if trade.market_seen <= 0:
        return at
    return min(at, trade.market_seen + policy.machine.market_tick_grace_seconds)


WEEK = 7 * 86_400.0


def until_weekly_close(at: float, m: MachinePolicy) -> float:
    """Seconds from broker time ``at`` to the next weekly close (``weekly_close_*``)."""
    days = math.floor(at / 86_400.0)
    weekday = (days + 3) % 7  # 1970-01-01 was a Thursday
    start_of_week = (days - weekday) * 86_400.0
    close = start_of_week + m.weekly_close_day * 86_400.0 + m.weekly_close_hour * 3600.0
    while close <= at:
        close += WEEK
    return close - at


def _cmp(s: ScoreResult | None, op: str, limit: float) -> str | None:
    if s is None:
        return None
    ok = s.total >= limit if op == ">=" else s.total <= limit
    return f"score {s.total:.2f} {op} {limit:g}" if ok else None


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.2f}"


_CLOSES = frozenset({"close_all", "close_hedge"})
_OPENS = frozenset({"open_hedge", "re_add"})

Fired = tuple[TradeState, tuple[Command, ...], tuple[Note, ...], TransitionRecord | None]


def fire(
    rule: str,
    target: State,
    trigger: Trigger,
    actions: tuple[str, ...],
    trade: TradeState,
    f: Facts,
    policy: Policy,
    *,
    fact: bool = False,
    urgent: bool = False,
) -> Fired | None:
    """Fire one rule if its trigger holds; None lets the next rule be tried.

    ``fact``: the trigger is a broker fact (a vanished position). Facts fire at once, whatever
    back-off an earlier failure put the trade in. ``urgent``: the rule fires whatever back-off
    *another* action's failure set; a failure of its own actions still backs off (a refused
    close is not re-sent every cycle).
    """
    reason = holds(trigger, trade, f, policy)
    if reason is None:
        return None
    backing_off = (trade.retry_after_eval is not None
                   and trade.last_eval_id <= trade.retry_after_eval)
    if urgent and backing_off:
        backing_off = any(trade.failures_of(Action(a)) for a in actions)
    if actions and not fact and backing_off:
        return trade, (), (), None  # backing off: nothing is re-sent before the next deep check
    if actions:
        wait = waits_for(actions, f, policy)
        if wait is not None:
            text = _wait_text(wait, trade, f, policy)
            return _hold(trade, rule, Hold(Action(actions[0]), wait, text), f.at)
    commands: list[Command] = []
    notes: list[Note] = []
    seq = trade.seq
    for name in actions:
        planned, seq, blocked = _plan(name, trade, f, policy, seq)
        if isinstance(blocked, Hold):
            return _hold(trade, rule, blocked, f.at)
        if blocked is not None:
            return _blocked(trade, rule, blocked)
        for item in planned:
            if isinstance(item, Skip):
                notes.append(Note(NoteKind.SKIPPED, item.reason, item.action))
            else:
                commands.append(item)
    for c in commands:
        hold = _frozen(c, f)
        if hold is not None:
            return _hold(trade, rule, hold, f.at)
    trade = replace(trade, seq=seq)
    if not commands:
        new, record = commit(trade, target, rule, reason, f.at, policy)
        return new, (), tuple(notes), record
    pending = Pending(
        rule, target, f.at, tuple(in_flight(c, f.at, trade) for c in commands), reason
    )
    return replace(trade, pending=pending, blocked=None), tuple(commands), tuple(notes), None


def waits_for(actions: tuple[str, ...], f: Facts, policy: Policy) -> Wait | None:
    """A passing condition that keeps this transition's orders from being sent now.

    Nothing reaches a broker whose account may not trade or whose symbol is closed (closes
    included: they are sent once when it trades again). Stale data and a spread far above its
    typical value block new defensive actions only; closes that are due still run. Near
    high-impact news nothing opens exposure (a hedge, a re-add).
    """
    if f.account is not None and not f.account.trade_allowed:
        return Wait.TRADING_DISABLED
    market = f.market
    if market is None:
        return None
    if market.closed:
        return Wait.MARKET_CLOSED
    defensive = any(a not in _CLOSES for a in actions)
    if defensive and market.stale:
        return Wait.STALE_DATA
    if defensive and market.wide_spread:
        return Wait.WIDE_SPREAD
    if market.news and any(a in _OPENS for a in actions) and in_blackout(
            market.news, f.at, policy.news.blackout_minutes) is not None:
        return Wait.NEWS
    return None


def _wait_text(wait: Wait, trade: TradeState, f: Facts, policy: Policy) -> str:
    match wait:
        case Wait.STALE_DATA:
            return f"market data for {trade.symbol} is stale; new actions wait for fresh data"
        case Wait.MARKET_CLOSED:
            return f"{trade.symbol} is not trading now; sent once it trades again"
        case Wait.NEWS:
            event = in_blackout(f.market.news if f.market else (), f.at,
                                policy.news.blackout_minutes)
            about = describe(event, f.at) if event else wait.value
            return (f"{about}: no new exposure within {policy.news.blackout_minutes:g} min of "
                    "it; planned again once that passes")
        case Wait.WIDE_SPREAD:
            return (f"the spread of {trade.symbol} is far above its typical value; new "
                    "defensive orders wait until it narrows (closes do not)")
        case _:
            return f"{wait.value}; sent once that passes"


def _frozen(c: Command, f: Facts) -> Hold | None:
    """A hold when a position the command modifies or closes is inside the freeze level."""
    if f.market is None:
        return None
    quote, spec = f.market.quote, f.market.spec
    match c:
        case ModifyStops() | ClosePartial():
            return hold_if_frozen(c.action, f.main, quote, spec)
        case ClosePosition():
            pos = {Role.MAIN: f.main, Role.HEDGE: f.hedge, Role.READD: f.readd}[c.role]
            return hold_if_frozen(c.action, pos, quote, spec)
        case CloseBy():
            return (hold_if_frozen(c.action, f.main, quote, spec)
                    or hold_if_frozen(c.action, f.hedge, quote, spec))
        case _:
            return None


def _hold(trade: TradeState, rule: str, hold: Hold, at: float) -> Fired:
    """A transition that waits for a passing condition: noted once, nothing counted."""
    blocked = trade.blocked
    if blocked is None or blocked.rule != rule or blocked.wait is not hold.wait:
        trade = replace(trade, blocked=Blocked(rule, hold.wait, at))
    key = f"{WAIT_NOTICE}{rule}:{hold.wait.name}"
    if key in trade.notices:
        return trade, (), (), None
    note = Note(NoteKind.WAITING, f"{rule}: {hold.reason}", hold.action)
    return replace(trade, notices=(*trade.notices, key)[-16:]), (), (note,), None


def _plan(
    name: str, trade: TradeState, f: Facts, policy: Policy, seq: int
) -> tuple[list[Command | Skip], int, Skip | None]:
    """Plan one action: (commands or skips, next seq, blocking skip or None)."""
    p, m = policy.actions, policy.machine
    action = Action(name)

    def cid() -> str:
        nonlocal seq
        seq += 1
        return f"{trade.ticket}-{seq}"

    gave_up = trade.failures_of(action) >= m.max_action_failures
    if name == "close_all":
        orphans = f.main is not None or p.orphan_hedge_policy is OrphanPolicy.CLOSE
        count = 3 + (1 if f.readd else 0)
        ids = [f"{trade.ticket}-{seq + i + 1}" for i in range(count)]
        spec = f.market.spec if f.market else None
        cmds = plan_close_all(
            ids, trade, f.main, f.hedge, f.readd, spec, f.account, p, close_orphans=orphans
        )
        return list(cmds), seq + len(cmds), None
    if name == "close_hedge":
        return [plan_close_hedge(cid(), trade, f.hedge)], seq, None
    if f.main is None or f.market is None:
        return [Skip(action, "no market data or main position")], seq, None
    if gave_up:
        skip = Skip(action, f"gave up after {m.max_action_failures} failures this episode")
        return [], seq, skip if action in (Action.OPEN_HEDGE, Action.HARD_STOP) else None
    match action:
        case Action.TIGHTEN_SL:
            planned = plan_tighten_sl(cid(), trade, f.main, f.market, p)
        case Action.PARTIAL_CLOSE:
            planned = plan_partial_close(cid(), trade, f.main, f.market.spec, p)
        case Action.MOVE_SL_BREAKEVEN:
            planned = plan_breakeven(cid(), trade, f.main, f.market, p)
        case Action.RE_ADD:
            planned = plan_re_add(cid(), trade, f.main, f.market.spec, p)
        case Action.OPEN_HEDGE:
            account = f.account or AccountView(hedging=False, trade_allowed=False)
            planned = plan_open_hedge(
                cid(), trade, f.main, f.market, account, m.max_hedges_per_trade, p
            )
            if isinstance(planned, Skip):
                return [], seq, planned
        case Action.HARD_STOP:
            planned = plan_hard_stop(cid(), trade, f.main, f.market, m.max_hedges_per_trade, p)
            if isinstance(planned, Skip):
                return [], seq, planned  # without its stop the transition does not happen
        case _:
            raise AssertionError(f"unplanned action {action}")
    return [planned], seq, None


def _blocked(trade: TradeState, rule: str, skip: Skip) -> Fired:
    """A transition that cannot start; explained once per reason and trade."""
    key = f"{rule}:{skip.reason}"
    if key in trade.notices:
        return trade, (), (), None
    note = Note(NoteKind.BLOCKED, f"{rule} blocked: {skip.reason}", skip.action)
    return replace(trade, notices=(*trade.notices, key)[-16:]), (), (note,), None
