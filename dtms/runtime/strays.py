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

from collections.abc import Callable
from typing import TYPE_CHECKING

from loguru import logger

from dtms.core.messages import Role
from dtms.core.policy import OrphanPolicy
from dtms.core.types import PositionView
from dtms.runtime.direct import DirectCloser, outcome_text
from dtms.runtime.identity import Book, Ownership

if TYPE_CHECKING:
    import trio

    from dtms.runtime.actor import ActorContext
    from dtms.runtime.market_data import SymbolFeed

class Strays:
    """Closes orphans and identifies unclaimed positions."""

    def __init__(self, ctx: ActorContext, ownership: Ownership, identify_seconds: float,
                 halt: Callable[[float, str], None]) -> None:
        self._ctx = ctx
        self._ownership = ownership
        self._identify = identify_seconds
        self._halt = halt
        self._closer = DirectCloser(ctx)
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
                feed = self._closer.due(pos, now)
                if feed is None:
                    continue
                self._log.warning(f"#{pos.ticket} ({role.value} of #{parent}, comment "
                                  f"{pos.comment!r}) is an orphan: its trade is gone; closing "
                                  "it (orphan_hedge_policy = close)")
                nursery.start_soon(self._close, pos, parent, role, feed)

    def forget(self, tickets: set[int]) -> None:
        """Positions that are gone."""
        self._closer.forget(tickets)
        for ticket in tickets:
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
        outcome = await self._closer.close(pos, feed, f"{parent}-orphan-{pos.ticket}", role)
        self._log.info(f"#{pos.ticket} orphan close: {outcome_text(outcome)}")
