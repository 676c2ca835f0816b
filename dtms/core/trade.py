"""A managed trade's state, as the journal persists it.

Theory of operation: ``TradeState`` is everything dtms knows about one main position and the
positions it opened for it (hedge, re-add), and everything it must remember across a restart:
the state and when it was entered, the timers as deadlines on the broker clock, the VWAP-flip
memory, counters that bound the actions (hedges opened, partial closes), and a *pending*
sub-state while commands are at the broker. A transition whose commands must reach the broker
is recorded in ``pending`` and committed only when every command has a final outcome; until
then the trade stays in its old state (the original system committed first and lost track).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

from dtms.core.messages import Action, Command, Wait
from dtms.core.score import FlipState
from dtms.core.types import PositionView, Side, State


class CommandStatus(enum.Enum):
    """Where one command of a pending transition stands."""

    SENT = "sent"
    """Handed to the gateway; no outcome yet."""
    UNKNOWN = "unknown"
    """The outcome was lost; the next snapshots decide."""
    CONFIRMING = "confirming"
    """A close the broker answered DONE; waiting for a snapshot without the position."""
    DONE = "done"
    FAILED = "failed"
    BLOCKED = "blocked"
    """Not sent, or refused for a passing reason (market closed, stale data, frozen): a wait."""


@dataclass(frozen=True, slots=True)
class InFlight:
    """One command of a pending transition and what became of it."""

    command: Command
    status: CommandStatus = CommandStatus.SENT
    since: float = 0.0
    """Broker time the status was entered (unknown/confirming windows count from it)."""
    ticket: int = 0
    volume: float = 0.0
    price: float = 0.0
    retcode: int | None = None
    reason: str = ""
    before_volume: float = 0.0
    """Main volume when a partial close was sent (to recognise it in a snapshot)."""
    wait: Wait | None = None
    """What a BLOCKED command waits for."""

    @property
    def final(self) -> bool:
        """Whether this command has reached DONE, FAILED or BLOCKED."""
        return self.status in _FINAL


_FINAL = frozenset({CommandStatus.DONE, CommandStatus.FAILED, CommandStatus.BLOCKED})


@dataclass(frozen=True, slots=True)
class Blocked:
    """A transition that could not reach the broker for a passing reason, and waits."""

    rule: str
    wait: Wait
    since: float


@dataclass(frozen=True, slots=True)
class Pending:
    """A transition waiting for its commands' outcomes."""

    transition: str
    """Name of the rule in the transition table."""
    target: State
    started_at: float
    commands: tuple[InFlight, ...]
    reason: str = ""

    def find(self, command_id: str) -> int | None:
        """Index of the command with this id, if it belongs to this transition."""
        for i, item in enumerate(self.commands):
            if item.command.id == command_id:
                return i
        return None

    def with_item(self, index: int, item: InFlight) -> Pending:
        """A copy with one command's record replaced."""
        items = list(self.commands)
        items[index] = item
        return replace(self, commands=tuple(items))

    @property
    def settled(self) -> bool:
        """Whether every command has a final outcome."""
        return all(item.final for item in self.commands)


@dataclass(frozen=True, slots=True)
class Hedge:
    """The live hedge of a trade."""

    ticket: int
    volume: float
    opened_at: float
    sl: float = 0.0


@dataclass(frozen=True, slots=True)
class TradeState:
    """Everything dtms remembers about one managed trade."""

    ticket: int
    symbol: str
    side: Side
    entry: float
    initial_volume: float
    volume: float
    initial_sl: float
    initial_tp: float
    sl: float
    tp: float
    state: State
    since: float
    opened_at: float
    magic: int = 0
    comment: str = ""
    score: float | None = None
    flip: FlipState = field(default_factory=FlipState)
    flat_deadline: float | None = None
    recovery_deadline: float | None = None
    hedge: Hedge | None = None
    hedges_opened: int = 0
    partial_closes: int = 0
    closed_volume: float = 0.0
    """Volume taken off by partial closes (the base of a re-add)."""
    readd_ticket: int | None = None
    pending: Pending | None = None
    failures: tuple[tuple[str, int], ...] = ()
    """Failed attempts per action in the current episode (reset by a committed transition)."""
    retry_after_eval: int | None = None
    """After a failure, nothing is re-sent before a deep check newer than this one."""
    changed_at: float = 0.0
    """Broker time of the last change dtms made at the broker. A snapshot taken at or before it
    may predate that change: it cannot prove an absence, and its volume and stops are older
    than the trade's own."""
    last_eval_id: int = 0
    last_observed_at: float = 0.0
    last_deep_check_at: float = 0.0
    """Broker time of the last deep check, regular or early."""
    seq: int = 0
    """Counter for command ids, so ids are unique and stable across restarts."""
    notices: tuple[str, ...] = ()
    """One-time explanations already given (e.g. 'netting account: hedging refused')."""
    blocked: Blocked | None = None
    """The last transition that waits for a passing condition (cleared by a commit)."""
    market_seen: float = 0.0
    """Broker time of the newest tick of the symbol seen: timers count only while it trades."""
    paused_at: float | None = None
    """While the market is closed: the broker time timers paused at (moved on at reopening)."""
    closed_at: float | None = None
    close_reason: str = ""

    def failures_of(self, action: Action) -> int:
        """How many times this action failed in the current episode."""
        for name, count in self.failures:
            if name == action.value:
                return count
        return 0

    def with_failure(self, action: Action) -> TradeState:
        """A copy with one more failure counted for ``action``."""
        counts = dict(self.failures)
        counts[action.value] = counts.get(action.value, 0) + 1
        return replace(self, failures=tuple(sorted(counts.items())))

    @property
    def is_open(self) -> bool:
        """Whether the trade is still managed (not CLOSED)."""
        return self.state.is_open


def new_trade(position: PositionView, at: float) -> TradeState:
    """The state of a trade first seen at broker time ``at``: HEALTHY, initial SL recorded."""
    return TradeState(
        ticket=position.ticket,
        symbol=position.symbol,
        side=position.side,
        entry=position.price_open,
        initial_volume=position.volume,
        volume=position.volume,
        initial_sl=position.sl,
        initial_tp=position.tp,
        sl=position.sl,
        tp=position.tp,
        state=State.HEALTHY,
        since=at,
        opened_at=float(position.time) if position.time else at,
        magic=position.magic,
        comment=position.comment,
    )
