"""Which positions dtms opened, and for which trade: identity by ticket, never by comment.

Theory of operation. Brokers drop request comments, truncate them (to 16-27 characters) or
replace them; reading ``DTMS_HEDGE_{ticket}`` back from a position made a dropped comment look
like a new trade (and a second hedge was opened for it) and a truncated one
(``DTMS_HEDGE_55741``) look like the hedge of another ticket. So dtms links its own positions
by what the broker gave back for them:

* the ticket an open returned (a hedge's or re-add's position ticket, kept in the trade's state
  and journal) — ``Ownership.links``;
* for an open whose answer was lost (a timeout, a restart mid-order): the position that matches
  the command still pending for it — same symbol, side and volume, dtms's magic, opened at or
  after the decision — ``claim``;
* the comment only as a hint, when it names a trade in full.

A position carrying dtms's magic that none of these explain is never managed as a trade: it is
*unclaimed*, and the supervisor decides what it is (an orphan of this process, or another
manager's order on the account).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dtms.core.messages import OpenHedge, ReAdd, Role
from dtms.core.policy import ActionParams
from dtms.core.trade import CommandStatus, TradeState
from dtms.core.types import PositionView

CLAIM_TOLERANCE_SECONDS = 60.0
"""A position may carry an open time this much before the decision that sent its order
(the broker clock is learned from ticks and can trail the server's)."""
_EPS = 1e-9


@dataclass(slots=True)
class Book:
    """One snapshot, sorted by what dtms made of each position."""

    mains: dict[int, PositionView] = field(default_factory=dict)
    hedges: dict[int, list[PositionView]] = field(default_factory=dict)
    """Parent ticket -> its hedge positions."""
    readds: dict[int, list[PositionView]] = field(default_factory=dict)
    unclaimed: dict[int, PositionView] = field(default_factory=dict)
    """Positions with dtms's magic that no trade of this process explains."""

    def children(self, role: Role) -> dict[int, list[PositionView]]:
        """The hedges or the re-adds, by parent."""
        return self.hedges if role is Role.HEDGE else self.readds


class Ownership:
    """The links from dtms's own positions to their trades."""

    def __init__(self, params: ActionParams, ignore_magics: Iterable[int] = ()) -> None:
        self._params = params
        self._ignore = frozenset(ignore_magics)
        self.links: dict[int, tuple[int, Role]] = {}

    def learn(self, trades: Iterable[TradeState]) -> None:
        """Link the hedge and re-add tickets the trades know (at start, after each cycle)."""
        for t in trades:
            if t.hedge is not None:
                self.links[t.hedge.ticket] = (t.ticket, Role.HEDGE)
            if t.readd_ticket:
                self.links[t.readd_ticket] = (t.ticket, Role.READD)

    def link(self, ticket: int, parent: int, role: Role) -> None:
        """Record that position ``ticket`` was opened by dtms for trade ``parent``."""
        self.links[ticket] = (parent, role)

    def owner_of(self, ticket: int) -> int | None:
        """The trade position ``ticket`` is linked to, if any."""
        link = self.links.get(ticket)
        return link[0] if link else None

    def forget(self, tickets: Iterable[int]) -> None:
        """Drop links of positions that are gone for good."""
        for ticket in tickets:
            self.links.pop(ticket, None)

    def sort(self, positions: Iterable[PositionView], trades: Mapping[int, TradeState]) -> Book:
        """Sort a snapshot into main trades, their hedges and re-adds, and unclaimed ones."""
        book = Book()
        magic = self._params.magic
        claimed: set[tuple[int, Role]] | None = None
        for pos in positions:
            if pos.magic in self._ignore:
                continue
            link = self.links.get(pos.ticket)
            if link is None and pos.magic == magic:
                if claimed is None:  # what the trades hold already, known once per snapshot
                    claimed = set(self.links.values())
                link = self._claim(pos, trades, claimed)
                if link is not None:
                    self.links[pos.ticket] = link
                    claimed.add(link)
            if link is not None:
                parent, role = link
                book.children(role).setdefault(parent, []).append(pos)
            elif pos.magic == magic:
                book.unclaimed[pos.ticket] = pos
            else:
                book.mains[pos.ticket] = pos
        return book

    def _claim(self, pos: PositionView, trades: Mapping[int, TradeState],
               claimed: set[tuple[int, Role]]) -> tuple[int, Role] | None:
        """The trade whose pending open this position is, or whose full comment it carries.

        Several trades of one symbol and side can have lost the answer to an open in the same
        cycle: a trade that holds a position of that role already (``claimed``) takes no other,
        and the open whose volume is the position's wins over a larger one (a 0.02 hedge is
        not a 0.03 one's; the 0.03 one is claimed apart)."""
        best: tuple[float, float, int, Role] | None = None
        for t in trades.values():
            if t.symbol != pos.symbol or t.pending is None:
                continue
            started = t.pending.started_at
            for item in t.pending.commands:
                c = item.command
                if not isinstance(c, OpenHedge | ReAdd):
                    continue
                if item.status is not CommandStatus.UNKNOWN:
                    continue  # a sent order's own answer links its position, by ticket
                role = Role.HEDGE if isinstance(c, OpenHedge) else Role.READD
                if (t.ticket, role) in claimed:
                    continue
                if role is Role.HEDGE and t.hedge is not None:
                    continue
                if role is Role.READD and t.readd_ticket:
                    continue
                if c.side is not pos.side or pos.volume > c.volume + _EPS:
                    continue
                if pos.time < started - CLAIM_TOLERANCE_SECONDS:
                    continue
                rank = (abs(c.volume - pos.volume), abs(pos.time - started))
                if best is None or rank < best[:2]:
                    best = (*rank, t.ticket, role)
        if best is not None:
            return best[2], best[3]
        return self._hinted(pos, trades)

    def _hinted(self, pos: PositionView, trades: Mapping[int, TradeState]
                ) -> tuple[int, Role] | None:
        """A comment that names an open trade in full (never a prefix of a ticket)."""
        p = self._params
        for prefix, role in ((p.hedge_comment_prefix, Role.HEDGE),
                             (p.readd_comment_prefix, Role.READD)):
            digits = pos.comment[len(prefix):] if pos.comment.startswith(prefix) else ""
            if not digits.isdigit():
                continue
            trade = trades.get(int(digits))
            if trade is None or not trade.is_open or trade.symbol != pos.symbol:
                continue
            if pos.side is not (trade.side.opposite if role is Role.HEDGE else trade.side):
                continue
            if pos.time < trade.opened_at - CLAIM_TOLERANCE_SECONDS:
                continue
            return trade.ticket, role
        return None
