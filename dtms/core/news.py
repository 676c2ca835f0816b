"""News blackouts: no new hedge near a high-impact economic event, optionally flat before it.

Theory of operation. The user supplies a calendar file (``[news] calendar``, CSV or iCalendar;
the runtime reads it). For each symbol the runtime hands the core the relevant events near the
present (``MarketFacts.news``: an event of a currency the symbol's name contains, or of every
symbol, at an impact level of ``impacts``), in broker time. The rules read them here:

* **blackout** — within ``blackout_minutes`` before or after an event no order opens exposure
  (a hedge, a re-add): the transition waits, and is planned again once the window passed.
  Stops and closes are not held back: they reduce risk.
* **flatten** (optional) — ``flatten_minutes`` before an event, hedged trades (``hedged``) or
  every managed trade (``all``) on an affected symbol are closed.

Rules for this module: pure (stdlib only); times are broker times passed in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass

from dtms.core.params import knob

IMPACTS = ("high", "medium", "low")


class NewsFlatten(enum.Enum):
    """Which trades are closed before a high-impact event."""

    NONE = "none"
    HEDGED = "hedged"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class NewsEvent:
    """One economic event of the calendar, in broker time."""

    at: float
    currency: str
    """Upper-case currency code, or "" for an event that concerns every symbol."""
    impact: str
    title: str


@dataclass(frozen=True, slots=True)
class NewsPolicy:
    """News blackout read from a calendar file you supply (docs/guard.md)."""

    calendar: str = knob("", "CSV or iCalendar file of economic events (empty: no blackout)")
    impacts: tuple[str, ...] = knob(("high",), "impact levels that count: high, medium, low")
    blackout_minutes: float = knob(
        30.0, "no new hedge or re-add within this many minutes before or after an event", ge=0)
    flatten: NewsFlatten = knob(
        NewsFlatten.NONE, "close before an event: none, hedged (hedged trades) or all")
    flatten_minutes: float = knob(5.0, "flatten this many minutes before the event", gt=0)
    reload_seconds: float = knob(
        30.0, "how often (real seconds) the calendar file is looked at for a new version", gt=0)

    def __post_init__(self) -> None:
        unknown = [i for i in self.impacts if i not in IMPACTS]
        if unknown:
            raise ValueError(f"impacts: {unknown[0]!r} is not one of {', '.join(IMPACTS)}")

    @property
    def horizon_seconds(self) -> float:
        """How far ahead of now events matter (blackout or flatten)."""
        return max(self.blackout_minutes, self.flatten_minutes) * 60.0


def in_blackout(events: Iterable[NewsEvent], at: float, minutes: float) -> NewsEvent | None:
    """The event whose blackout window (± ``minutes``) holds ``at``, if any."""
    for e in events:
        if abs(e.at - at) <= minutes * 60.0:
            return e
    return None


def flatten_due(events: Iterable[NewsEvent], at: float, minutes: float) -> NewsEvent | None:
    """The event due within the next ``minutes`` (not yet passed), if any."""
    for e in events:
        if at < e.at <= at + minutes * 60.0:
            return e
    return None


def affects(event: NewsEvent, symbol: str) -> bool:
    """Whether ``event`` concerns ``symbol`` (its currency is part of the symbol's name)."""
    return not event.currency or event.currency in symbol.upper()


def describe(event: NewsEvent, at: float) -> str:
    """One line for an event seen from broker time ``at``."""
    minutes = (event.at - at) / 60.0
    when = f"in {minutes:.0f} min" if minutes >= 0 else f"{-minutes:.0f} min ago"
    who = event.currency or "all symbols"
    return f"{event.impact}-impact news {when}: {who} {event.title}".rstrip()


__all__ = ["IMPACTS", "NewsEvent", "NewsFlatten", "NewsPolicy", "affects", "describe",
           "flatten_due", "in_blackout"]
