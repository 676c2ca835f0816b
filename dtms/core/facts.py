"""What one event tells the transition rules, whichever event it was.

Theory of operation: ``step`` receives two kinds of events that carry broker facts, a positions
snapshot (``Observed``) and a deep check (``Evaluated``). The rules, the planner and the
resolution of pending commands read both through one ``Facts`` value, so none of them needs to
know which event it came from; only a deep check is ``fresh`` (score-based triggers may fire).
"""

from __future__ import annotations

from dataclasses import dataclass

from dtms.core.messages import Evaluated, MarketFacts, Observed
from dtms.core.score import ScoreResult
from dtms.core.types import AccountView, PositionView


@dataclass(frozen=True, slots=True)
class Facts:
    """What an event tells the rules, whichever event it was."""

    at: float
    fresh: bool
    """True for a deep evaluation (score-based triggers may fire)."""
    main: PositionView | None
    hedge: PositionView | None
    readd: PositionView | None
    market: MarketFacts | None
    account: AccountView | None
    score: ScoreResult | None
    lock: str = ""
    """Why the account guard locked the account ("" while it is not locked)."""

    @classmethod
    def from_observed(cls, e: Observed) -> Facts:
        """Facts of a positions snapshot."""
        return cls(e.at, False, e.main, e.hedge, e.readd, e.market, None, None, e.lock)

    @classmethod
    def from_evaluated(cls, e: Evaluated) -> Facts:
        """Facts of a deep evaluation."""
        return cls(e.at, True, e.main, e.hedge, e.readd, e.market, e.account, e.score, e.lock)
