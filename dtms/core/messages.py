"""The closed set of messages that cross the core's boundary.

Theory of operation: the trade actor feeds ``step`` *events* — facts, named in the past tense
(``Observed`` a broker snapshot, ``Evaluated`` a deep check, ``ActionDone``/``ActionFailed``/
``ActionUnknown`` the outcome of a command) — and carries out the *commands* it returns,
imperatives (``ModifyStops``, ``ClosePartial``, ``OpenHedge``, ``ClosePosition``, ``CloseBy``,
``ReAdd``). A broker fact is always accepted; the world is never "illegal". ``Note`` records
what the machine decided not to do and why (a skipped action carries its reason), so the journal
and the operator log can say it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dtms.core.news import NewsEvent
from dtms.core.score import FlipState, ScoreResult
from dtms.core.types import AccountView, PositionView, Quote, Side, SymbolSpec


class Action(enum.Enum):
    """The defensive actions of specification §4."""

    TIGHTEN_SL = "tighten_sl"
    PARTIAL_CLOSE = "partial_close"
    MOVE_SL_BREAKEVEN = "move_sl_breakeven"
    OPEN_HEDGE = "open_hedge"
    CLOSE_HEDGE = "close_hedge"
    CLOSE_ALL = "close_all"
    RE_ADD = "re_add"
    HARD_STOP = "hard_stop"
    """The stop that replaces a hedge when hedging is forbidden or impossible."""


class Wait(enum.Enum):
    """Why an action waits instead of being sent: blocked, not failed (specification §4).

    A wait never counts toward giving up an action; the trade re-plans from fresh facts once the
    cause is gone.
    """

    MARKET_CLOSED = "the market is closed"
    STALE_DATA = "market data is stale"
    FROZEN = "the position is inside the freeze level"
    TRADING_DISABLED = "trading is disabled (AutoTrading off)"
    NOT_SENT = "the request was not sent (its deadline passed in the queue)"
    LOST = "the request was lost on the way (its outcome unknown, not executed at the broker)"
    CHANGED = "the position changed since the decision"
    HALTED = "dtms halted its actions"
    WIDE_SPREAD = "the spread is far above its typical value"
    NEWS = "a high-impact news event is near"


class Role(enum.Enum):
    """Which of a trade's positions a command acts on."""

    MAIN = "main"
    HEDGE = "hedge"
    READD = "readd"


# --------------------------------------------------------------------------- commands


@dataclass(frozen=True, slots=True)
class ModifyStops:
    """Set a position's SL (TP kept as is). Sent only when it tightens by at least a point."""

    id: str
    action: Action
    ticket: int
    symbol: str
    sl: float
    tp: float


@dataclass(frozen=True, slots=True)
class ClosePartial:
    """Close part of the main position: an opposite DEAL with ``position`` = ticket."""

    id: str
    action: Action
    ticket: int
    symbol: str
    side: Side
    """Side of the position being reduced (the order goes the other way)."""
    volume: float


@dataclass(frozen=True, slots=True)
class OpenHedge:
    """Open the opposite position that hedges ``main_ticket``."""

    id: str
    action: Action
    main_ticket: int
    symbol: str
    side: Side
    volume: float
    sl: float
    comment: str
    magic: int


@dataclass(frozen=True, slots=True)
class ClosePosition:
    """Close one position of the trade in full (an opposite DEAL with ``position``).

    ``volume`` is what the snapshot showed; the executor re-reads the position right before
    sending and closes what is actually left (after a close-by, the main keeps a remainder).
    """

    id: str
    action: Action
    ticket: int
    symbol: str
    side: Side
    volume: float
    role: Role


@dataclass(frozen=True, slots=True)
class CloseBy:
    """Offset the main position with its hedge (TRADE_ACTION_CLOSE_BY: one spread saved)."""

    id: str
    action: Action
    ticket: int
    by_ticket: int
    symbol: str


@dataclass(frozen=True, slots=True)
class ReAdd:
    """Add back part of what the partial close took, same side as the main trade."""

    id: str
    action: Action
    main_ticket: int
    symbol: str
    side: Side
    volume: float
    sl: float
    comment: str
    magic: int


Command = ModifyStops | ClosePartial | OpenHedge | ClosePosition | CloseBy | ReAdd

# --------------------------------------------------------------------------- events


@dataclass(frozen=True, slots=True)
class MarketFacts:
    """What the planner needs to know of the symbol at decision time."""

    spec: SymbolSpec
    quote: Quote
    atr_m15: float | None
    """ATR14 on M15, or None while too few bars exist."""
    stale: bool = False
    """Stale data blocks every *new* defensive action; closes already due still run."""
    closed: bool = False
    """The symbol does not trade now (market closed, a break, or it answered 10018 and has not
    ticked since): nothing is sent, closes included, until it trades again."""
    wide_spread: bool = False
    """The spread is above ``spread_filter_multiple`` times its typical value: no new defensive
    order (closes excepted) until it narrows."""
    news: tuple[NewsEvent, ...] = ()
    """Calendar events near now that concern this symbol (broker time)."""


@dataclass(frozen=True, slots=True)
class Observed:
    """A broker positions snapshot, as it concerns this trade (every supervisor cycle)."""

    at: float
    """Broker time of the snapshot."""
    main: PositionView | None
    hedge: PositionView | None = None
    """The position carrying this trade's hedge comment and dtms's magic, if any."""
    readd: PositionView | None = None
    market: MarketFacts | None = None
    flip: FlipState | None = None
    """Updated VWAP-flip memory when a new closed M5 bar arrived since the last snapshot."""
    account: AccountView | None = None
    """The account as last read (trading allowed or not); None when unknown."""
    lock: str = ""
    """Why the account guard locked the account ("" while it is not locked)."""


@dataclass(frozen=True, slots=True)
class Evaluated:
    """A deep check: a new closed M15 bar (or an early check) produced a fresh score."""

    at: float
    eval_id: int
    """Strictly increasing per trade (the M15 bar time, or the time of an early check)."""
    score: ScoreResult
    flip: FlipState
    market: MarketFacts
    account: AccountView
    main: PositionView | None
    hedge: PositionView | None = None
    readd: PositionView | None = None
    early: bool = False
    """An early deep check (fast check saw a flip or an adverse move), rate-limited per trade."""
    lock: str = ""
    """Why the account guard locked the account ("" while it is not locked)."""


@dataclass(frozen=True, slots=True)
class ActionDone:
    """The broker executed a command (10009/10008, or 10010 with the remainder handled)."""

    command_id: str
    at: float
    retcode: int = 10009
    ticket: int = 0
    """Resulting position ticket (the order ticket on a hedging account) for opens."""
    volume: float = 0.0
    price: float = 0.0


@dataclass(frozen=True, slots=True)
class ActionFailed:
    """The broker refused a command for good (fixable retries exhausted count as refused)."""

    command_id: str
    at: float
    retcode: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class ActionBlocked:
    """A command was not sent, or was refused for a passing reason: it waits, it did not fail."""

    command_id: str
    at: float
    wait: Wait
    reason: str


@dataclass(frozen=True, slots=True)
class ActionUnknown:
    """Nobody knows whether a command executed; the next snapshots decide."""

    command_id: str
    at: float
    reason: str


ActionOutcome = ActionDone | ActionFailed | ActionUnknown | ActionBlocked
Event = Observed | Evaluated | ActionOutcome

# --------------------------------------------------------------------------- notes


class NoteKind(enum.Enum):
    """What a note reports."""

    SKIPPED = "skipped"
    """An action of a transition was not sent; the transition went on without it."""
    BLOCKED = "blocked"
    """A transition could not start (e.g. hedge preconditions failed)."""
    FAILED = "failed"
    """A command failed; the trade stays in its state."""
    ALERT = "alert"
    """Something an operator must look at."""
    WAITING = "waiting"
    """An action waits for a passing condition (market closed, stale data, frozen position)."""
    INFO = "info"


@dataclass(frozen=True, slots=True)
class Note:
    """A decision not to act, a failure, or an alert, with its reason."""

    kind: NoteKind
    text: str
    action: Action | None = None
    retcode: int | None = None
