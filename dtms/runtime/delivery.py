"""What the supervisor hands a trade actor each cycle, and whether it is worth handing.

An actor is woken only when its slice of the snapshot or its symbol's feed changed in a way it
acts on, or when it is due (see ``Supervisor._deliver``). What it was last handed is kept on the
actor and compared field by field, rather than as a separate signature per trade.
"""

from __future__ import annotations

from dataclasses import dataclass

from dtms.core.news import NewsEvent
from dtms.core.types import AccountView, PositionView
from dtms.runtime.market_data import FeedView


@dataclass(frozen=True, slots=True)
class CycleInput:
    """One cycle's facts for one trade."""

    at: float
    main: PositionView | None
    hedge: PositionView | None
    readd: PositionView | None
    feed: FeedView | None
    account: AccountView
    lock: str = ""
    """Why the account guard locked the account ("" while it is not)."""
    wide_spread: bool = False
    """The symbol's spread is far above its typical value (``[scope]`` spread filter)."""
    news: tuple[NewsEvent, ...] = ()
    """Calendar events near now that concern the symbol."""


def _facts(p: PositionView | None) -> tuple[object, ...] | None:
    """What of a position matters to its actor between fast checks (not the moving price)."""
    return None if p is None else (p.ticket, p.side, p.volume, p.sl, p.tp)


def _bars(f: FeedView | None) -> tuple[object, ...] | None:
    """What of a symbol's feed wakes its actors: a new bar, staleness, closure."""
    return None if f is None else (f.m5_time, f.m15_close, f.stale, f.closed)


def same_trade_facts(a: CycleInput, b: CycleInput | None) -> bool:
    """The trade's positions and what it may do (not the moving price or margin) are those of
    ``b``, the input the actor was last handed (compared, not kept apart: 1,500 trades' worth of
    fact tuples would be some 0.5 MB)."""
    return b is not None and _facts(a.main) == _facts(b.main) \
        and _facts(a.hedge) == _facts(b.hedge) and _facts(a.readd) == _facts(b.readd) \
        and a.account.hedging == b.account.hedging \
        and a.account.trade_allowed == b.account.trade_allowed and a.lock == b.lock


def same_market(a: CycleInput, b: CycleInput | None) -> bool:
    """The symbol has no new bar, staleness or closure, spread filter or news since ``b``."""
    return b is not None and _bars(a.feed) == _bars(b.feed) \
        and a.wide_spread == b.wide_spread and a.news == b.news
