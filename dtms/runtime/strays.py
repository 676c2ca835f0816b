"""Positions dtms opened whose trade is gone (orphans), and ones nobody can explain.

Theory of operation. An *orphan* is a hedge or re-add whose main trade no longer exists: with
``orphan_hedge_policy = close`` it is closed, whatever its symbol (a symbol with no main left
still gets a feed for it), and each attempt is logged. An *unclaimed* position carries dtms's
magic but no trade of this process links to it. It is never managed as a trade; after a short
grace (an answer may still be on its way) the journal is asked whether this process sent the
order that made it — an open intent with that result ticket, or one whose outcome was lost
with the same symbol, side and volume. If so it is linked to its trade (or closed as an orphan);
if not, another manager is trading with dtms's magic and dtms stops acting.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING

from loguru import logger

from dtms.core.messages import Action, ActionUnknown, ClosePosition, Role
from dtms.core.policy import OrphanPolicy
from dtms.core.types import PositionView
from dtms.runtime.execution import ExecContext, Executor
from dtms.runtime.identity import Book, Ownership

if TYPE_CHECKING:
    import trio

    from dtms.runtime.actor import ActorContext
    from dtms.runtime.market_data import SymbolFeed

RETRY_SECONDS = 30.0
"""An orphan close that did not take is tried again after this long."""


class Strays:
    """Closes orphans and identifies unclaimed positions."""

    def __init__(self, ctx: ActorContext, ownership: Ownership, identify_seconds: float,
                 stale_tick_seconds: float, halt: Callable[[float, str], None]) -> None:
        self._ctx = ctx
        self._ownership = ownership
        self._identify = identify_seconds
        self._stale = stale_tick_seconds
        self._halt = halt
        self._closing: dict[int, float] = {}
        self._unclaimed_since: dict[int, float] = {}
        self._log = logger.bind(component="supervisor")

    def symbols(self, book: Book, live: set[int]) -> set[str]:
        """Symbols that need a feed for orphans or unclaimed positions."""
        out = {p.symbol for p in book.unclaimed.values()}
        for parent, positions in (*book.hedges.items(), *book.readds.items()):
            if parent not in live:
                out |= {p.symbol for p in positions}
        return out

    def handle(self, book: Book, live: set[int], now: float, nursery: trio.Nursery) -> None:
        """Identify unclaimed positions; close orphans by policy."""
        self._identify_unclaimed(book, now)
        if self._ctx.policy.actions.orphan_hedge_policy is not OrphanPolicy.CLOSE:
            return
        for parent, positions, role in (*((p, ps, Role.HEDGE) for p, ps in book.hedges.items()),
                                        *((p, ps, Role.READD) for p, ps in book.readds.items())):
            if parent in live:
                continue
            for pos in positions:
                if now - self._closing.get(pos.ticket, -math.inf) < RETRY_SECONDS:
                    continue
                feed = self._ctx.feeds.get(pos.symbol)
                if feed is None or feed.spec is None or self._ctx.stopping:
                    continue
                self._closing[pos.ticket] = now
                self._log.warning(f"#{pos.ticket} ({role.value} of #{parent}, comment "
                                  f"{pos.comment!r}) is an orphan: its trade is gone; closing "
                                  "it (orphan_hedge_policy = close)")
                nursery.start_soon(self._close, pos, parent, role, feed)

    def forget(self, tickets: set[int]) -> None:
        """Positions that are gone."""
        for ticket in tickets:
            self._closing.pop(ticket, None)
            self._unclaimed_since.pop(ticket, None)

    def _identify_unclaimed(self, book: Book, now: float) -> None:
        for ticket in set(self._unclaimed_since) - set(book.unclaimed):
            del self._unclaimed_since[ticket]
        for ticket, pos in book.unclaimed.items():
            since = self._unclaimed_since.get(ticket)
            if since is None:
                self._unclaimed_since[ticket] = now
                self._log.warning(f"#{ticket} {pos.symbol} {pos.side.value} {pos.volume} carries "
                                  f"dtms's magic (comment {pos.comment!r}) but no trade of this "
                                  "process links to it yet; it is not managed as a trade")
                continue
            if now - since < self._identify:
                continue
            found = self._ctx.journal.file.opened_by_dtms(
                pos.ticket, pos.symbol, pos.side.value, pos.volume, float(pos.time))
            if found is None:
                self._halt(now, f"position #{ticket} ({pos.symbol} {pos.side.value} "
                           f"{pos.volume} lots, comment {pos.comment!r}) carries dtms's magic "
                           "but this dtms never sent the order that opened it")
                del self._unclaimed_since[ticket]
                continue
            parent, role = found
            self._ownership.link(ticket, parent, Role(role))
            self._log.info(f"#{ticket} identified from the journal as the {role} of #{parent}")

    async def _close(self, pos: PositionView, parent: int, role: Role, feed: SymbolFeed) -> None:
        assert feed.spec is not None
        ctx = self._ctx
        exec_ctx = ExecContext(ctx.gateway, feed.spec, ctx.policy.actions, ctx.broker_now,
                               self._stale, feed, ctx.halted, ctx.trading_disabled,
                               ctx.sent_orders)
        cmd = ClosePosition(f"{parent}-orphan-{pos.ticket}", Action.CLOSE_ALL, pos.ticket,
                            pos.symbol, pos.side, pos.volume, role)
        token = ctx.sending(ctx.broker_now(), cmd)
        outcome = await Executor(exec_ctx).execute(cmd)
        ctx.answered(token, isinstance(outcome, ActionUnknown))
        self._log.info(f"#{pos.ticket} orphan close: {type(outcome).__name__}"
                       f"{'' if not hasattr(outcome, 'reason') else ' (' + outcome.reason + ')'}")
