"""The account guard's Trio shell: reads the account's money, applies the core, acts on a lock.

Theory of operation. While a loss limit is set (``[guard]``), the supervisor calls
:meth:`AccountGuard.check` every cycle; every ``check_seconds`` it reads ``account_info``
(balance and equity: open profit and loss included) and hands the reading to
``dtms.core.guard.check``. On a new broker day it first rebuilds the balance at the reset from
the deals since then, so a dtms that started late still takes the day's start the firm takes.

State changes are journaled (meta ``guard``) *before* anything acts on them: a restart keeps the
day's start, the lock and its reason. A lock reaches every trade actor with its cycle (the
``guard_locked`` rule closes the trade, its hedge and re-add, close-by when allowed); a position
opened while locked gets an actor and is closed the same way. With ``flatten_scope = account``
the guard also closes, itself, the positions no actor manages (ignored magics, outside the
scope, quarantined trades). Operator requests (``dtms guard unlock``) arrive through the journal
(meta ``guard_unlock``), from another process, and are answered in the guard's journaled state,
which ``dtms status`` shows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from loguru import logger

from dtms.broker import constants as C
from dtms.core.guard import (
    DAILY,
    GuardDecision,
    GuardEventKind,
    GuardState,
    Money,
    check,
    clock_text,
    day_of,
    measure,
    reset_at,
    reset_due,
    unlock,
)
from dtms.core.guard_limits import FlattenScope, GuardSettings
from dtms.core.messages import Role
from dtms.core.policy import OrphanPolicy
from dtms.core.types import AccountView, PositionView
from dtms.journal.codec import from_plain, to_plain
from dtms.runtime.direct import DirectCloser, outcome_text
from dtms.runtime.events import EventKind, OperatorEvent, Severity
from dtms.runtime.identity import Book

if TYPE_CHECKING:
    import trio

    from dtms.runtime.actor import ActorContext
    from dtms.runtime.market_data import SymbolFeed

STATE_KEY = "guard"
REQUEST_KEY = "guard_unlock"

_TRADES = frozenset({C.DEAL_TYPE_BUY, C.DEAL_TYPE_SELL})
"""Deal types of trading (the others are balance operations: deposits, credit, bonuses)."""

_KINDS = {
    GuardEventKind.WARNING: (EventKind.GUARD_WARNING, Severity.WARNING),
    GuardEventKind.TRIGGERED: (EventKind.GUARD_TRIGGERED, Severity.CRITICAL),
    GuardEventKind.RELEASED: (EventKind.GUARD_RELEASED, Severity.INFO),
    GuardEventKind.UNLOCKED: (EventKind.GUARD_RELEASED, Severity.WARNING),
}


@dataclass(frozen=True, slots=True)
class Reading:
    """The last account reading, for status."""

    money: Money


class AccountGuard:
    """Loss limits on the account's equity, and the lock that keeps it flat."""

    def __init__(self, ctx: ActorContext, settings: GuardSettings) -> None:
        self._ctx = ctx
        self.s = settings
        self.limits = settings.limits()
        self.enabled = settings.enabled
        saved = ctx.journal.file.get_meta(STATE_KEY)
        self.state: GuardState = from_plain(GuardState, saved) if saved else GuardState()
        self.reading: Reading | None = None
        self._next = -math.inf
        self._failing = False
        self._closer = DirectCloser(ctx)
        self._log = logger.bind(component="guard")
        lock = self.state.lock
        if lock is not None and self.enabled:
            self._log.critical(f"account guard LOCKED since {clock_text(lock.since)} broker "
                               f"time: {lock.reason}; keeping the account flat")
        elif lock is not None:
            self._log.warning(f"the journal holds a guard lock ({lock.reason}) but [guard] sets "
                              "no limit now: it is not enforced")

    @property
    def lock(self) -> str:
        """Why the account is locked ("" while it is not, or while no limit is set)."""
        lock = self.state.lock
        return lock.reason if lock is not None and self.enabled else ""

    # ------------------------------------------------------------------ one cycle

    async def check(self, now: float) -> None:
        """Handle an operator request, and read the account when a reading is due."""
        request = self._ctx.journal.file.get_meta(REQUEST_KEY)
        if isinstance(request, dict) and str(request.get("id", "")) != self.state.request:
            await self._apply(unlock(self.state, str(request.get("id", "")), now), now)
            self._next = -math.inf  # measure at once: an overall breach may still stand
        if not self.enabled or now < self._next:
            return
        self._next = now + self.s.check_seconds
        r = await self._ctx.gateway.call("account_info")
        acc = r.value
        if not r.ok or acc is None:
            if not self._failing:
                self._log.warning(f"account_info unavailable ({r.reason}); the guard keeps its "
                                  "last state until the account can be read")
            self._failing = True
            return
        self._failing = False
        money = Money(now, float(acc.balance), float(acc.equity), str(acc.currency))
        at_reset = None
        if reset_due(self.state, now, self.s.reset_hour):
            at_reset = await self._balance_at_reset(now, money.balance)
        d = check(self.state, money, self.limits, self.s.warning_at, self.s.reset_hour,
                  initial_balance=self.s.initial_balance, balance_at_reset=at_reset)
        self.reading = Reading(money)
        await self._apply(d, now)

    async def _balance_at_reset(self, now: float, balance: float) -> float | None:
        """The balance at the current day's reset: today's balance minus what trading added
        since (deals of positions; deposits and withdrawals are not trading and stay in).

        None when history cannot be read (the balance now stands in for it).
        """
        start = reset_at(day_of(now, self.s.reset_hour), self.s.reset_hour)
        r = await self._ctx.gateway.call("history_deals_get", int(start), int(now) + 86_400)
        if not r.ok or r.value is None:
            return None
        traded = sum(float(d.profit) + float(d.commission) + float(d.swap)
                     + float(getattr(d, "fee", 0.0)) for d in r.value
                     if float(d.time) >= start and int(d.type) in _TRADES)
        return round(balance - traded, 2)

    async def _apply(self, d: GuardDecision, now: float) -> None:
        if d.state != self.state:
            plain = to_plain(d.state)
            await self._ctx.journal.write(lambda f: f.set_meta(STATE_KEY, plain))
            self.state = d.state
        for event in d.events:
            kind = _KINDS.get(event.kind)
            if event.kind is GuardEventKind.TRIGGERED:
                self._log.critical(f"ACCOUNT GUARD: {event.text}")
            elif kind is not None and kind[1] is not Severity.INFO:
                self._log.warning(f"account guard: {event.text}")
            else:
                self._log.info(f"account guard: {event.text}")
            if kind is not None:
                self._ctx.events.publish(OperatorEvent(kind[0], now, event.text, kind[1],
                                                       data={"guard": event.kind.value}))

    # ------------------------------------------------------------------ keeping it flat

    def targets(self, present: Mapping[int, PositionView], book: Book, actors: set[int],
                quarantined: Iterable[int]) -> list[PositionView]:
        """Positions the lock must close that no trade actor (nor the orphan policy) will.

        ``managed``: quarantined trades with their hedges and re-adds, and orphans the orphan
        policy keeps. ``account``: also every position dtms does not manage (ignored magics,
        outside the scope). Unclaimed positions with dtms's magic are left to their
        identification (they become a trade's hedge, or halt dtms).
        """
        if self.state.lock is None:
            return []
        live = actors | set(book.mains) | set(quarantined)
        closes_orphans = self._ctx.policy.actions.orphan_hedge_policy is OrphanPolicy.CLOSE
        out: dict[int, PositionView] = {}
        for parent, children in (*book.hedges.items(), *book.readds.items()):
            if parent in actors or (parent not in live and closes_orphans):
                continue  # an actor's close_all, or the orphan policy, closes them
            out.update((p.ticket, p) for p in children)
        for ticket in quarantined:
            if ticket in book.mains:
                out[ticket] = book.mains[ticket]
        if self.s.flatten_scope is FlattenScope.ACCOUNT:
            handled = actors | {p.ticket for ps in (*book.hedges.values(),
                                                    *book.readds.values()) for p in ps}
            for ticket, pos in present.items():
                if ticket not in handled and ticket not in book.unclaimed:
                    out.setdefault(ticket, pos)
        return list(out.values())

    def sweep(self, positions: Iterable[PositionView], now: float, nursery: trio.Nursery) -> None:
        """Close, directly, the positions the lock must close that no actor manages."""
        for pos in positions:
            feed = self._closer.due(pos, now)
            if feed is None:
                continue
            self._log.warning(f"#{pos.ticket} {pos.symbol} {pos.side.value} {pos.volume} lots "
                              f"(magic {pos.magic}): closed by the account guard's lock")
            nursery.start_soon(self._close, pos, feed)

    async def _close(self, pos: PositionView, feed: SymbolFeed) -> None:
        outcome = await self._closer.close(pos, feed, f"guard-{pos.ticket}", Role.MAIN)
        self._log.info(f"#{pos.ticket} guard close: {outcome_text(outcome)}")

    def forget(self, tickets: Iterable[int]) -> None:
        """Positions that are gone."""
        self._closer.forget(tickets)

    def account_view(self, account: AccountView) -> AccountView:
        """The account as trades plan with it: with the money the daily limit leaves when
        ``hedge_risk_check`` is on (a hedge whose stop would lose more is replaced by a close)."""
        if not (self.enabled and self.s.hedge_risk_check) or self.reading is None:
            return account
        views = measure(self.state, self.reading.money.equity, self.limits, self.s.warning_at)
        daily = next((v for v in views if v.name == DAILY), None)
        if daily is None:
            return account
        return replace(account, loss_room=max(daily.distance, 0.0))

    # ------------------------------------------------------------------ status

    def status(self) -> dict[str, Any]:
        """The guard as plain JSON-ready values: limits, distances, the lock."""
        st = self.state
        out: dict[str, Any] = {
            "enabled": self.enabled,
            "preset": self.s.preset.value,
            "locked": bool(self.lock),
            "lock_reason": self.lock,
            "locked_since": st.lock.since if st.lock and self.lock else None,
            "day_start": st.day_start,
            "day_start_at": st.day_start_at or None,
            "day_start_late": st.late,
            "initial_balance": st.initial,
            "next_reset": reset_at(st.day + 1, self.s.reset_hour) if st.day >= 0 else None,
            "suspended": list(st.suspended),
            "last_request": st.request,
            "last_answer": st.answer,
            "limits": {},
        }
        reading = self.reading
        if reading is None:
            return out
        out.update(balance=reading.money.balance, equity=reading.money.equity,
                   currency=reading.money.currency, read_at=reading.money.at)
        views = measure(st, reading.money.equity, self.limits, self.s.warning_at)
        out["limits"] = {v.name: {"limit": round(v.limit, 2), "loss": round(v.loss, 2),
                                  "distance": round(v.distance, 2), "floor": round(v.floor, 2),
                                  "level": v.level.value} for v in views}
        return out


__all__ = ["REQUEST_KEY", "STATE_KEY", "AccountGuard"]
