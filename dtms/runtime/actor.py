"""The trade actor: one Trio task per ticket, a thin shell around ``dtms.core``.

Theory of operation. Each supervisor cycle delivers the actor its slice of the broker snapshot
and its symbol's feed (the mailbox keeps only the newest; an actor busy at the broker skips
stale snapshots instead of queueing them). The actor updates the VWAP-flip memory on each new
closed M5 bar, steps the core with an ``Observed`` event, then with an ``Evaluated`` event on a
new closed M15 bar or when the fast check asks for an early deep check. Every decision is
journaled; a decision with commands is journaled *before* the first command is sent (the
intent), each command's outcome after it. The actor retires when its trade is CLOSED and
nothing is pending.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from operator import attrgetter

import trio

from dtms.core.indicators import SymbolIndicators
from dtms.core.layers import ScoreParams
from dtms.core.machine import Decision, Rule, step, wants_early_check, wants_recheck
from dtms.core.messages import (
    Action,
    ActionBlocked,
    ActionDone,
    ActionFailed,
    ActionUnknown,
    CloseBy,
    ClosePartial,
    ClosePosition,
    Command,
    Evaluated,
    Event,
    MarketFacts,
    ModifyStops,
    NoteKind,
    Observed,
    OpenHedge,
    ReAdd,
    Role,
)
from dtms.core.policy import Policy
from dtms.core.regime import Adaptation
from dtms.core.score import FlipState, ScoreResult, score_trade, update_flip
from dtms.core.trade import CommandStatus, InFlight, TradeState
from dtms.core.types import Quote, Side, State
from dtms.journal.owner import Journal, Op
from dtms.runtime.delivery import CycleInput
from dtms.runtime.events import EventBus, EventKind, OperatorEvent, Severity
from dtms.runtime.execution import ExecContext, Executor
from dtms.runtime.gateway import Gateway
from dtms.runtime.logs import TradeLog
from dtms.runtime.market_data import FeedView, SymbolFeed
from dtms.wakeup import Wakeup

OPEN_UNKNOWN_MEMORY_SECONDS = 300.0
"""How long after a lost open answer a new open first looks for the lost one's position."""


@dataclass(slots=True)
class Counters:
    """Process-wide counters the status reports (shared by every actor)."""

    deep_checks: int = 0
    early_checks: int = 0
    actions_done: int = 0
    actions_failed: int = 0
    actions_unknown: int = 0
    last_check_at: float = 0.0
    by_action: dict[str, list[int]] = field(default_factory=dict)

    def count(self, action: Action, ok: bool) -> None:
        pair = self.by_action.setdefault(action.value, [0, 0])
        pair[0 if ok else 1] += 1


@dataclass(slots=True)
class ActorContext:
    """What every actor shares: journal, gateway, policy, clock, counters."""

    journal: Journal
    gateway: Gateway
    policy: Policy
    score_params: ScoreParams
    broker_now: Callable[[], float]
    stale_tick_seconds: float
    scores_per_trade: int
    counters: Counters = field(default_factory=Counters)
    events: EventBus = field(default_factory=EventBus)
    """Operator events (hedges, closes, alerts) for whoever listens."""
    stopping: bool = False
    observe_time: Callable[..., None] | None = None
    """Learns broker time from reported times (live brokers); None when the clock is exact."""
    observe_ticks: Callable[[Mapping[str, float]], None] | None = None
    """Learns broker time from each cycle's freshest tick (live brokers)."""
    clock_known: Callable[[], bool] = lambda: True
    """Whether ``broker_now`` is calibrated (an estimated clock is not until a tick arrived)."""
    feeds: dict[str, SymbolFeed] = field(default_factory=dict)
    """The symbols' feeds (their polled quotes; a 10018 marks one closed)."""
    sent_orders: set[int] = field(default_factory=set)
    """Order tickets the broker returned to this process (its deals, not another manager's)."""
    halted: Callable[[], str] = lambda: ""
    """Why dtms must not act at all now ("" while it may)."""
    trading_disabled: Callable[[], None] = lambda: None
    """Called on a 10027 answer: the account is re-read at once."""
    link_position: Callable[[int, int, Role], None] = lambda ticket, parent, role: None
    """Called when an open of this process is known to have made position ``ticket``."""
    owner_of: Callable[[int], int | None] = lambda ticket: None
    """The trade a position of dtms's is linked to (None when it is linked to none)."""
    sending: Callable[[float, Command], object] = lambda at, command: None
    """Called right before a command goes to the broker (its deals are this process's);
    returns a token for ``answered``."""
    answered: Callable[[object, bool], None] = lambda token, lost: None
    """Called with the token once the command's answer came (``lost``: it did not)."""


class TradeActor:
    """Owns one trade's state, score, timers and hedge lifecycle."""

    __slots__ = ("_inbox", "_last_fast", "_last_recheck", "_open_unknown_at", "_wake", "busy",
                 "ctx", "delivered", "last_input", "log", "ticket", "trade")

    def __init__(self, trade: TradeState, ctx: ActorContext) -> None:
        self.trade = trade
        self.ctx = ctx
        self.ticket = trade.ticket
        self.log = TradeLog(trade.ticket, trade.symbol)
        self._inbox: CycleInput | None = None
        self._wake = Wakeup()
        self._last_fast = -math.inf
        self._last_recheck = -math.inf
        self._open_unknown_at: float | None = None
        """Broker time of an open whose answer was lost: a later attempt first looks for it."""
        self.busy = False
        self.last_input: CycleInput | None = None
        """The last cycle it handled."""
        self.delivered: CycleInput | None = None
        """The last cycle it was handed (handled, or still in its mailbox)."""

    def deliver(self, inp: CycleInput) -> None:
        """Hand the actor this cycle's facts (replaces an undelivered older cycle)."""
        self._inbox = self.delivered = inp
        self._wake.set()

    @property
    def finished(self) -> bool:
        """True once the trade is CLOSED with nothing pending."""
        return self.trade.state is State.CLOSED and self.trade.pending is None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Handle cycles until the trade is closed and confirmed."""
        task_status.started()
        while not self.finished:
            await self._wake.wait()
            self._wake.clear()
            inp, self._inbox = self._inbox, None
            if inp is None:
                continue
            self.busy = True
            try:
                await self.handle(inp)
            finally:
                self.busy = False
        self.log.info(f"#{self.ticket} closed ({self.trade.close_reason}); actor retired")

    # ------------------------------------------------------------------ one cycle

    def due_at(self) -> float:
        """The broker time at which this actor needs a cycle even if nothing it sees changed:
        its next fast check, or :meth:`urgent_at`. Unchanged snapshots are not delivered
        before then."""
        fast = self._last_fast + self.ctx.policy.machine.fast_check_seconds
        return min(fast, self.urgent_at())

    def urgent_at(self) -> float:
        """When this actor must have a cycle whatever the load: a timer, or a command whose
        outcome snapshots decide (every cycle)."""
        t = self.trade
        if self.last_input is None or t.pending is not None or not t.is_open:
            return -math.inf
        deadlines = [d for d in (t.flat_deadline, t.recovery_deadline) if d is not None]
        if t.blocked is not None:  # a waiting transition is re-planned once its cause is gone
            deadlines.append(self._last_recheck + self.ctx.policy.machine.recheck_seconds)
        return min(deadlines, default=math.inf)

    async def handle(self, inp: CycleInput) -> None:
        """Apply one cycle: a deep check when one is due, else the snapshot alone."""
        if self.last_input is None:  # spread the trades' fast checks over the interval
            self._last_fast = inp.at - self.ticket % self.ctx.policy.machine.fast_check_seconds
        self.last_input = inp
        feed = inp.feed
        market = _market(inp, feed)
        ind, adaptation = (feed.indicators, feed.adaptation) if feed else (None, None)
        flip = self.trade.flip
        new_bar = False
        if ind is not None and adaptation is not None and feed is not None \
                and feed.m5_time > flip.last_bar_time and self.trade.is_open:
            flip = update_flip(flip, ind, self.trade.side, adaptation, self.ctx.score_params)
            new_bar = True
        eval_id, early = 0, False
        ready = self.trade.is_open and self.trade.pending is None and not self.ctx.stopping
        if ready and ind is not None and adaptation is not None and market is not None \
                and feed is not None:
            m = self.ctx.policy.machine
            if feed.m15_close * 1000 > self.trade.last_eval_id:
                eval_id = feed.m15_close * 1000
            elif self.trade.blocked is not None and inp.at - self._last_recheck >= \
                    m.recheck_seconds:
                self._last_recheck = inp.at  # a waiting transition is re-planned once its
                if not self.ctx.halted() and wants_recheck(self.trade, market, inp.account,
                                                           inp.at, self.ctx.policy):
                    eval_id = max(int(inp.at * 1000), self.trade.last_eval_id + 1)  # cause went
                    early = True
            elif inp.at - self._last_fast >= m.fast_check_seconds:
                self._last_fast = inp.at
                price = inp.main.price_current if inp.main else ind.last_price
                if wants_early_check(self.trade, price, flip.against, inp.at, self.ctx.policy):
                    eval_id, early = max(int(inp.at * 1000), self.trade.last_eval_id + 1), True
        if not eval_id or ind is None or adaptation is None or market is None:
            # the snapshot alone: facts, timers, outcomes of commands at the broker
            await self._apply(Observed(inp.at, inp.main, inp.hedge, inp.readd, market,
                                       flip if new_bar else None, inp.account, inp.lock))
            return
        # a deep check sees the same facts, timers included: one step does both
        await self._apply(self._evaluated(inp, eval_id, early, flip, market, ind, adaptation))

    def _evaluated(self, inp: CycleInput, eval_id: int, early: bool, flip: FlipState,
                   market: MarketFacts, ind: SymbolIndicators, adaptation: Adaptation,
                   ) -> Evaluated:
        """Score the trade (journaled, counted) and make the deep check's event."""
        s = score_trade(ind, adaptation, self.trade.side, flip, self.ctx.score_params)
        counters = self.ctx.counters
        counters.deep_checks += 1
        counters.early_checks += int(early)
        counters.last_check_at = inp.at
        ticket, at, keep = self.ticket, inp.at, self.ctx.scores_per_trade
        self.ctx.journal.write_nowait(lambda f: f.add_score(
            ticket, at, s.total, _layer_rows(s), s.analysis, keep))
        self.log.debug(f"#{self.ticket} score {s.total:+.2f} ({s.analysis})")
        return Evaluated(inp.at, eval_id, s, flip, market, inp.account, inp.main, inp.hedge,
                         inp.readd, early, inp.lock)

    # ------------------------------------------------------------------ stepping

    async def _apply(self, event: Event) -> None:
        commands, intent = self._decide(event)
        # While it waits for the journal and the broker an actor keeps only its commands (and
        # their intent until it is durable), not the event, the score or the decision: in a
        # burst every trade waits at once.
        del event
        if intent is not None:  # the intent must be durable before the order leaves
            await self.ctx.journal.write(intent)
            del intent  # it holds the decision
        for c in commands:
            await self._execute(c)

    def _decide(self, event: Event) -> tuple[tuple[Command, ...], Op | None]:
        """Step the core, journal and log the decision; return its commands, for the caller to
        send once their intent (returned too) is durable."""
        before = self.trade
        d = step(before, event, self.ctx.policy)
        self.trade = d.trade
        at = event.at
        journal = self.ctx.journal
        material = _material(before, d.trade)
        intent: Op | None = None
        if d.transition or d.commands or d.notes or material is not None:
            journal.save_nowait(d.trade, at, full=bool(d.transition or d.commands or d.notes
                                                       or material))
            if d.commands:
                intent = _record(before, d, at)
            elif d.transition or d.notes:
                journal.write_nowait(_record(before, d, at))
        self._log_decision(before, d)
        for item in d.resolved:
            self._record_resolution(item, at)
        return d.commands, intent

    def _record_resolution(self, item: InFlight, at: float) -> None:
        """Journal how a command whose outcome was unknown (or unconfirmed) ended."""
        done = item.status is CommandStatus.DONE
        status = {CommandStatus.DONE: "done", CommandStatus.BLOCKED: "blocked"}.get(item.status,
                                                                                   "failed")
        how = "confirmed by the broker snapshot" if done else item.reason
        self.log.info(f"#{self.ticket} {item.command.action.value}: {status}, {how}")
        ticket = item.ticket or None
        state_after = self.trade.state.value
        self.ctx.journal.write_nowait(lambda f: f.update_action(
            item.command.id, status, at, result_ticket=ticket if done else None,
            error="" if done else how, state_after=state_after))

    async def _execute(self, c: Command) -> None:
        spec = self.last_input.feed.spec if self.last_input and self.last_input.feed else None
        if self.ctx.stopping or spec is None:
            why = "dtms is stopping" if self.ctx.stopping else f"no symbol info for {c.symbol}"
            outcome: Event = ActionFailed(c.id, self.ctx.broker_now(), None, f"not sent: {why}")
        else:
            self.log.info(f"#{self.ticket} sending {c.action.value}: {_describe(c)}")
            self.ctx.journal.write_nowait(lambda f: f.update_action(c.id, "sent",
                                                                    self.ctx.broker_now()))
            shared = self.ctx
            ctx = ExecContext(shared.gateway, spec, shared.policy.actions, shared.broker_now,
                              shared.stale_tick_seconds, shared.feeds.get(c.symbol),
                              shared.halted, shared.trading_disabled, shared.sent_orders,
                              self._existing_check_since(c), shared.owner_of)
            token = shared.sending(shared.broker_now(), c)
            outcome = await Executor(ctx).execute(c)
            shared.answered(token, isinstance(outcome, ActionUnknown))
            self._track_open(c, outcome)
        await self._apply(outcome)
        self._record_outcome(c, outcome)
        self._link(c, outcome)

    def _existing_check_since(self, c: Command) -> float | None:
        """When an earlier open of this trade may have executed unseen (its answer was lost
        recently), a new one first looks for it at the broker."""
        at = self._open_unknown_at
        if not isinstance(c, OpenHedge | ReAdd) or at is None:
            return None
        return at if self.ctx.broker_now() - at < OPEN_UNKNOWN_MEMORY_SECONDS else None

    def _track_open(self, c: Command, outcome: Event) -> None:
        if isinstance(c, OpenHedge | ReAdd):
            if isinstance(outcome, ActionUnknown):
                self._open_unknown_at = outcome.at
            elif isinstance(outcome, ActionDone):
                self._open_unknown_at = None

    def _link(self, c: Command, outcome: Event) -> None:
        """Tell the supervisor which position an open made (identity by ticket, not comment)."""
        if isinstance(outcome, ActionDone) and outcome.ticket and isinstance(c, OpenHedge | ReAdd):
            role = Role.HEDGE if isinstance(c, OpenHedge) else Role.READD
            self.ctx.link_position(outcome.ticket, self.ticket, role)

    def _record_outcome(self, c: Command, outcome: Event) -> None:
        counters = self.ctx.counters
        state_after = self.trade.state.value
        retcode: int | None
        match outcome:
            case ActionDone():
                counters.actions_done += 1
                counters.count(c.action, True)
                status, error, retcode = "done", "", outcome.retcode
                self.log.info(f"#{self.ticket} {c.action.value} done (retcode {outcome.retcode}"
                              f"{f', ticket {outcome.ticket}' if outcome.ticket else ''})")
            case ActionFailed():
                counters.actions_failed += 1
                counters.count(c.action, False)
                status, error, retcode = "failed", outcome.reason, outcome.retcode
                self.log.warning(f"#{self.ticket} {c.action.value} failed: {outcome.reason}")
                if isinstance(c, OpenHedge):
                    self.log.error(f"Failed to place hedge order for {c.symbol} "
                                   f"#{self.ticket}: {outcome.reason}")
                    self._tell(EventKind.HEDGE_FAILED, outcome.at, f"hedge for {c.symbol} "
                               f"#{self.ticket} failed: {outcome.reason}", Severity.WARNING,
                               retcode=outcome.retcode)
            case ActionBlocked():
                status, error, retcode = "blocked", outcome.reason, None
                self.log.info(f"#{self.ticket} {c.action.value} waits: {outcome.reason}")
            case ActionUnknown():
                counters.actions_unknown += 1
                status, error, retcode = "unknown", outcome.reason, None
                if isinstance(c, OpenHedge):
                    self.log.error(f"Failed to place hedge order for {c.symbol} #{self.ticket}: "
                                   f"outcome unknown ({outcome.reason}); checking the broker")
            case _:
                return
        ticket = outcome.ticket if isinstance(outcome, ActionDone) and outcome.ticket else None
        at = outcome.at
        self.ctx.journal.write_nowait(lambda f: f.update_action(
            c.id, status, at, retcode=retcode, result_ticket=ticket, error=error,
            state_after=state_after))

    def _tell(self, kind: EventKind, at: float, text: str,
              severity: Severity = Severity.INFO, **data: object) -> None:
        self.ctx.events.publish(OperatorEvent(kind, at, text, severity, self.ticket,
                                              self.trade.symbol, data))

    def _log_decision(self, before: TradeState, d: Decision) -> None:
        t = d.trade
        if d.started is Rule.HEDGE:
            self.log.warning(f"Hedge trigger conditions met for {t.symbol} #{t.ticket} "
                             f"(score {_fmt(t.score)})")
        if d.transition is not None:
            r = d.transition
            self.log.info(f"#{t.ticket} {t.symbol} {t.side.value}: {r.source.value} -> "
                          f"{r.target.value} ({r.reason})")
            if r.target is State.HEDGED and t.hedge is not None:
                self.log.success(f"DTMS: Hedge opened for {t.symbol} #{t.ticket}: hedge "
                                 f"#{t.hedge.ticket} {t.hedge.volume} lots, SL {t.hedge.sl}")
                self._tell(EventKind.HEDGE_OPENED, r.at, f"hedge #{t.hedge.ticket} "
                           f"{t.hedge.volume} lots opened for {t.symbol} #{t.ticket} ({r.reason})",
                           hedge=t.hedge.ticket, volume=t.hedge.volume, sl=t.hedge.sl)
            elif r.target is State.CLOSED:
                self._tell(EventKind.TRADE_CLOSED, r.at, f"{t.symbol} #{t.ticket} closed: "
                           f"{r.reason}", rule=r.rule)
        for note in d.notes:
            text = f"#{t.ticket} {note.text}"
            match note.kind:
                case NoteKind.ALERT:
                    self.log.error(text)
                    if note.action is Action.OPEN_HEDGE and "giving up" in note.text:
                        self._tell(EventKind.HEDGE_GIVEN_UP, self.ctx.broker_now(), text,
                                   Severity.CRITICAL)
                case NoteKind.BLOCKED | NoteKind.FAILED:
                    self.log.warning(text)
                case _:
                    self.log.info(text)


_PROGRESS = frozenset({"score", "flip", "last_eval_id", "last_deep_check_at"})
_PROGRESS_OF = attrgetter(*sorted(_PROGRESS))
_REST_OF = attrgetter(
    *(f.name for f in fields(TradeState) if f.name not in _PROGRESS | {"last_observed_at"})
)


def _material(before: TradeState, after: TradeState) -> bool | None:
    """What of a decision is worth journaling: True the whole state, False only the progress
    columns (a routine deep check), None nothing (the snapshot time alone)."""
    if before is after:
        return None
    if _REST_OF(before) != _REST_OF(after):
        return True
    return False if _PROGRESS_OF(before) != _PROGRESS_OF(after) else None


def _record(before: TradeState, d: Decision, at: float) -> Op:
    """The journal write of a decision (its trade state is saved apart)."""
    return lambda f: f.record(before, d, at, save=False)


def _layer_rows(s: ScoreResult) -> list[dict[str, object]]:
    """A score's layers as the journal stores them (built when it commits, not kept before)."""
    return [{"name": x.name, "raw": x.raw, "normalised": x.normalised, "weight": x.weight,
             "weighted": x.weighted, "available": x.available} for x in s.layers]


def _market(inp: CycleInput, feed: FeedView | None) -> MarketFacts | None:
    """The symbol as a trade plans with it: the quote the feed read this cycle (its bid, ask and
    time), or, before the first one, the position's current price and the spread."""
    if feed is None:
        return None
    spec = feed.spec
    quote = feed.quote
    if quote is None:
        spread = spec.spread * spec.point
        if inp.main is not None:
            px = inp.main.price_current
            bid, ask = (px, px + spread) if inp.main.side is Side.BUY else (px - spread, px)
        elif feed.indicators is not None:
            bid = feed.indicators.last_price
            ask = bid + spread
        else:
            return None
        quote = Quote(inp.at, round(bid, spec.digits), round(ask, spec.digits))
    atr = None
    if feed.indicators is not None and math.isfinite(feed.indicators.atr_m15) \
            and feed.indicators.atr_m15 > 0:
        atr = feed.indicators.atr_m15
    return MarketFacts(spec, quote, atr, feed.stale, feed.closed, inp.wide_spread, inp.news)


def _describe(c: Command) -> str:
    """One operator line for a command."""
    match c:
        case ModifyStops():
            return f"SL -> {c.sl} on #{c.ticket}"
        case ClosePartial():
            return f"close {c.volume} lots of the {c.side.value} #{c.ticket}"
        case OpenHedge() | ReAdd():
            return f"{c.side.value} {c.volume} lots, SL {c.sl}, comment {c.comment}"
        case ClosePosition():
            return f"close {c.role.value} #{c.ticket} ({c.volume} lots)"
        case CloseBy():
            return f"close #{c.ticket} by its hedge #{c.by_ticket}"


def _fmt(v: float | None) -> str:
    return "n/a" if v is None else f"{v:+.2f}"
