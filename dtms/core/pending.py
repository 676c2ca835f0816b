"""Pending transitions: outcomes, snapshot resolution, commit.

Theory of operation (specification §4, "Pending phases and outcomes"). A pending transition
holds its commands and what became of each. An outcome event moves one command on:

* DONE — executed. A *close* is not believed from the return code alone: it waits
  (CONFIRMING) for a snapshot that no longer lists the position, and a DONE close still listed
  after ``close_confirm_seconds`` counts as not executed. The broker may keep listing a closed
  position for a few hundred milliseconds; the wait tolerates that.
* FAILED — refused for good. A close refused with 10036 (position closed) may simply mean the
  position is already gone: it is confirmed from the snapshot like a DONE close.
* UNKNOWN — never re-sent. Snapshots taken ``unknown_settle_seconds`` later decide by what
  exists: a position the runtime links to this trade's hedge means the hedge was opened. One
  that did not execute was lost on the way (a link outage), not refused: it becomes a wait
  (``Wait.LOST``) and is re-planned from fresh facts at the next check, not at the next bar.
* BLOCKED — not sent, or refused for a passing reason (market closed, stale data, a frozen
  position, AutoTrading off, a deadline passed in the queue). A wait, not a failure: it never
  counts toward giving up, and the trade re-plans from fresh facts once the cause is gone.

When every command is final the transition commits if all are DONE; otherwise the trade stays in
its old state: after a failure the failures are counted for this episode and nothing is re-sent
before the next deep check; after a wait, nothing is counted and the trade records what it waits
for (``TradeState.blocked``). Effects of the commands that did execute (a partial close, an SL)
are kept either way: they happened at the broker.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from dtms.core.facts import Facts
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
    ModifyStops,
    Note,
    NoteKind,
    OpenHedge,
    ReAdd,
    Role,
    Wait,
)
from dtms.core.policy import Policy
from dtms.core.trade import Blocked, CommandStatus, Hedge, InFlight, TradeState
from dtms.core.types import PositionView, State

RETCODE_POSITION_CLOSED = 10036
WAIT_NOTICE = "wait:"
"""Prefix of the notices that say once per episode what a trade waits for."""


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    """A committed transition, as the journal records it."""

    at: float
    ticket: int
    source: State
    target: State
    rule: str
    reason: str
    score: float | None


Resolved = tuple[TradeState, tuple[Note, ...], TransitionRecord | None]


def in_flight(command: Command, at: float, trade: TradeState) -> InFlight:
    """The record of a command just handed to the gateway."""
    return InFlight(command, CommandStatus.SENT, at, before_volume=trade.volume)


def _is_close(command: Command) -> bool:
    return isinstance(command, ClosePosition | CloseBy)


def apply_outcome(
    trade: TradeState, event: ActionDone | ActionFailed | ActionUnknown | ActionBlocked,
    policy: Policy,
) -> Resolved:
    """Record one command's outcome; settle the transition when every command is final."""
    pending = trade.pending
    assert pending is not None
    index = pending.find(event.command_id)
    assert index is not None
    item = pending.commands[index]
    if item.final:
        return trade, (), None
    notes: list[Note] = []
    match event:
        case ActionDone():
            if _is_close(item.command):
                item = replace(
                    item, status=CommandStatus.CONFIRMING, since=event.at, retcode=event.retcode
                )
            else:
                item = replace(
                    item,
                    status=CommandStatus.DONE,
                    since=event.at,
                    ticket=event.ticket,
                    volume=event.volume,
                    price=event.price,
                    retcode=event.retcode,
                )
                trade = _effects(trade, item, event.at)
        case ActionFailed():
            if _is_close(item.command) and event.retcode == RETCODE_POSITION_CLOSED:
                item = replace(
                    item,
                    status=CommandStatus.CONFIRMING,
                    since=event.at,
                    retcode=event.retcode,
                    reason=event.reason,
                )
            else:
                item = replace(
                    item,
                    status=CommandStatus.FAILED,
                    since=event.at,
                    retcode=event.retcode,
                    reason=event.reason,
                )
                notes.append(
                    Note(
                        NoteKind.FAILED,
                        f"{item.command.action.value} failed: {event.reason}",
                        item.command.action,
                        event.retcode,
                    )
                )
        case ActionBlocked():
            item = replace(item, status=CommandStatus.BLOCKED, since=event.at,
                           reason=event.reason, wait=event.wait)
        case ActionUnknown():
            item = replace(item, status=CommandStatus.UNKNOWN, since=event.at, reason=event.reason)
            notes.append(
                Note(
                    NoteKind.ALERT,
                    f"{item.command.action.value} outcome unknown "
                    f"({event.reason}); deciding from the next snapshots, not re-sending",
                    item.command.action,
                )
            )
    trade = replace(trade, pending=pending.with_item(index, item))
    return _settle_if_done(trade, tuple(notes), event.at, policy)


def resolve(trade: TradeState, f: Facts, policy: Policy
            ) -> tuple[TradeState, tuple[Note, ...], TransitionRecord | None, tuple[InFlight, ...]]:
    """Decide unknown and confirming commands from a snapshot.

    Also returns the commands this snapshot decided (final now), so their journal rows can
    say how an unknown or a DONE-but-unconfirmed close ended.
    """
    pending = trade.pending
    assert pending is not None
    m = policy.machine
    decided: list[InFlight] = []
    for index, item in enumerate(pending.commands):
        if item.status is CommandStatus.UNKNOWN and f.at >= item.since + m.unknown_settle_seconds:
            executed, found = _executed(item, f)
            if not executed:  # lost on the way, not refused: re-planned, never counted
                item = replace(
                    item,
                    status=CommandStatus.BLOCKED,
                    reason=f"{item.reason}; not found at the broker: not executed",
                    wait=Wait.LOST,
                )
            else:
                item = replace(item, status=CommandStatus.DONE)
                if found is not None:
                    volume = found.volume
                    if isinstance(item.command, ClosePartial):
                        volume = round(item.before_volume - found.volume, 8)
                    item = replace(item, ticket=found.ticket, volume=volume, price=found.price_open)
                when = float(found.time) if found is not None and found.time else f.at
                trade = _effects(trade, item, when)
        elif item.status is CommandStatus.CONFIRMING:
            if _still_listed(item.command, f) is None:
                item = replace(item, status=CommandStatus.DONE)
                trade = _effects(trade, item, f.at)
            elif f.at >= item.since + m.close_confirm_seconds:
                item = replace(
                    item,
                    status=CommandStatus.FAILED,
                    reason=(
                        f"broker answered {item.retcode} but the position is still listed after "
                        f"{m.close_confirm_seconds:g} s"
                    ),
                )
        else:
            continue
        if item.final:
            decided.append(item)
        pending = pending.with_item(index, item)
    trade = replace(trade, pending=pending)
    return (*_settle_if_done(trade, (), f.at, policy), tuple(decided))


def _executed(item: InFlight, f: Facts) -> tuple[bool, PositionView | None]:
    """Whether an unknown command executed, judged by the snapshot, and the proving position."""
    c = item.command
    match c:
        case OpenHedge():
            return f.hedge is not None, f.hedge
        case ReAdd():
            return f.readd is not None, f.readd
        case ModifyStops():
            ok = f.main is not None and math.isclose(f.main.sl, c.sl, rel_tol=1e-9, abs_tol=1e-12)
            return ok, None
        case ClosePartial():
            shrunk = f.main is not None and f.main.volume < item.before_volume - 1e-9
            return shrunk, f.main if shrunk else None
        case ClosePosition() | CloseBy():
            return _still_listed(c, f) is None, None


def _still_listed(c: Command, f: Facts) -> PositionView | None:
    """The position a close command targets, if the snapshot still lists it."""
    if isinstance(c, CloseBy):
        return f.hedge if f.hedge is not None and f.hedge.ticket == c.by_ticket else None
    if isinstance(c, ClosePosition):
        pos = {Role.MAIN: f.main, Role.HEDGE: f.hedge, Role.READD: f.readd}[c.role]
        return pos if pos is not None and pos.ticket == c.ticket else None
    return None


def _effects(trade: TradeState, item: InFlight, at: float) -> TradeState:
    """What an executed command changed at the broker (snapshots older than it are stale)."""
    trade = replace(trade, changed_at=max(trade.changed_at, at))
    c = item.command
    match c:
        case ModifyStops():
            if c.action is Action.HARD_STOP:  # it stands in for a hedge
                return replace(trade, sl=c.sl, hedges_opened=trade.hedges_opened + 1)
            return replace(trade, sl=c.sl)
        case ClosePartial():
            volume = item.volume or c.volume
            return replace(
                trade,
                volume=round(trade.volume - volume, 8),
                partial_closes=trade.partial_closes + 1,
                closed_volume=round(trade.closed_volume + volume, 8),
            )
        case OpenHedge():
            hedge = Hedge(item.ticket, item.volume or c.volume, at, c.sl)
            return replace(trade, hedge=hedge, hedges_opened=trade.hedges_opened + 1)
        case CloseBy():
            return replace(trade, hedge=None)
        case ClosePosition():
            if c.role is Role.HEDGE:
                return replace(trade, hedge=None)
            if c.role is Role.READD:
                return replace(trade, readd_ticket=None)
            return replace(trade, volume=0.0)
        case ReAdd():
            return replace(trade, readd_ticket=item.ticket)


def _settle_if_done(
    trade: TradeState, notes: tuple[Note, ...], at: float, policy: Policy
) -> Resolved:
    pending = trade.pending
    assert pending is not None
    if not pending.settled:
        return trade, notes, None
    failed = [item for item in pending.commands if item.status is CommandStatus.FAILED]
    waits = [item for item in pending.commands if item.status is CommandStatus.BLOCKED]
    trade = replace(trade, pending=None)
    if not failed and not waits:
        new, record = commit(trade, pending.target, pending.transition, pending.reason, at, policy)
        return new, notes, record
    if not failed:
        return _waiting(trade, pending.transition, waits[0], notes, at)
    limit = policy.machine.max_action_failures
    out = list(notes)
    for action in dict.fromkeys(item.command.action for item in failed):
        trade = trade.with_failure(action)
        count = trade.failures_of(action)
        if count >= limit:
            if action is Action.CLOSE_ALL or action is Action.CLOSE_HEDGE:
                text = f"{action.value} failed {count} times; will keep trying at each deep check"
            else:
                text = f"{action.value} failed {count} times; giving up for this episode"
            out.append(Note(NoteKind.ALERT, text, action))
    out.append(
        Note(
            NoteKind.FAILED,
            f"{pending.transition} not committed: stays "
            f"{trade.state.value} until the next deep check",
        )
    )
    return replace(trade, retry_after_eval=trade.last_eval_id), tuple(out), None


def _waiting(trade: TradeState, rule: str, item: InFlight, notes: tuple[Note, ...], at: float
             ) -> Resolved:
    """A transition that could not reach the broker for a passing reason: nothing counted."""
    wait = item.wait or Wait.NOT_SENT
    trade = replace(trade, blocked=Blocked(rule, wait, at))
    key = f"{WAIT_NOTICE}{rule}:{wait.name}"
    if key in trade.notices:
        return trade, notes, None
    text = f"{item.command.action.value} waits: {item.reason}"
    note = Note(NoteKind.WAITING, text, item.command.action)
    return replace(trade, notices=(*trade.notices, key)[-16:]), (*notes, note), None


def commit(
    trade: TradeState, target: State, rule: str, reason: str, at: float, policy: Policy
) -> tuple[TradeState, TransitionRecord]:
    """Enter ``target``: set or clear the timers, reset the episode's failures."""
    m = policy.machine
    flat: float | None = None
    recovery: float | None = None
    if target is State.HEDGED:
        opened = trade.hedge.opened_at if trade.hedge else at
        flat = opened + m.flat_timer_minutes * 60.0
    elif target is State.RECOVERING:
        recovery = at + m.recovery_timer_minutes * 60.0
    record = TransitionRecord(at, trade.ticket, trade.state, target, rule, reason, trade.score)
    hedge = None if rule == "hedge_vanished" else trade.hedge
    new = replace(
        trade,
        state=target,
        hedge=hedge,
        since=at,
        flat_deadline=flat,
        recovery_deadline=recovery,
        failures=(),
        retry_after_eval=None,
        blocked=None,
        closed_at=at if target is State.CLOSED else None,
        close_reason=reason if target is State.CLOSED else "",
    )
    return new, record


def recognise_hedge(trade: TradeState, f: Facts, policy: Policy) -> Resolved | None:
    """Attach a hedge found at the broker that the trade does not know (lost answer, restart)."""
    if f.hedge is None or f.main is None or f.at <= trade.changed_at:
        return None
    if trade.hedge is not None:
        if f.hedge.ticket != trade.hedge.ticket:
            key = f"second_hedge:{f.hedge.ticket}"
            if key not in trade.notices:
                note = Note(
                    NoteKind.ALERT,
                    f"a second position #{f.hedge.ticket} carries this "
                    f"trade's hedge comment; it is not managed",
                    Action.OPEN_HEDGE,
                )
                return replace(trade, notices=(*trade.notices, key)[-16:]), (note,), None
        return None
    opened = float(f.hedge.time) if f.hedge.time else f.at
    hedge = Hedge(f.hedge.ticket, f.hedge.volume, opened, f.hedge.sl)
    trade = replace(trade, hedge=hedge, hedges_opened=trade.hedges_opened + 1)
    note = Note(
        NoteKind.INFO,
        f"hedge #{f.hedge.ticket} found at the broker and attached",
        Action.OPEN_HEDGE,
    )
    if trade.state is State.HEDGED:
        return trade, (note,), None
    new, record = commit(
        trade,
        State.HEDGED,
        "hedge_recognised",
        f"hedge #{f.hedge.ticket} found at the broker",
        f.at,
        policy,
    )
    return new, (note,), record


def resume(trade: TradeState, at: float) -> TradeState:
    """After a restart, a command that was sent (or only journaled) has an unknown outcome."""
    if trade.pending is None:
        return trade
    items = tuple(
        replace(item, status=CommandStatus.UNKNOWN, since=at, reason="dtms restarted")
        if item.status is CommandStatus.SENT
        else item
        for item in trade.pending.commands
    )
    return replace(trade, pending=replace(trade.pending, commands=items))
