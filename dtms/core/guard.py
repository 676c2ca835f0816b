"""The account guard: the day's start, warnings, the breach lock, resets and unlocks.

Theory of operation. The runtime reads the account's balance and equity every few seconds and
hands them to :func:`check` with the guard's journaled ``GuardState``; ``check`` returns the new
state and what happened (``GuardEvent``). Everything is a function of its arguments:

* **Days** are counted on the broker's clock from the reset hour: day ``n`` begins at
  ``n * 86400 + reset_hour * 3600``. The state remembers the day its start belongs to, and only
  a *later* day resets it: a clock that goes back (a daylight-saving switch, a corrected server
  clock) never resets twice, and a process that was down over several resets resets once.
* **The day's start** is the balance at the reset (the runtime rebuilds it from the deals since
  the reset, so a late start still takes the right figure), the equity at the first reading of
  the day, or the higher of the two. For equity a late reading is all there is; it is marked.
* **Levels**: a loss at or beyond ``warning_at`` of a limit warns once a day; at or beyond the
  limit the account is *locked*: the runtime closes every managed position and keeps the
  account flat. The lock and its reason are state, so a restart keeps them.
* **Release**: the next reset releases a lock (and a limit still breached then locks again at
  once); an operator's unlock releases it now, and the limits it breached are not enforced
  again before the next reset. Each request is handled once, by its id.

Rules for this module: pure (stdlib only); time is the broker time passed in.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, replace

from dtms.core.guard_limits import DayStart, Limits, LossUnit, OverallMode, PercentOf

DAY = 86_400.0
LATE_SECONDS = 120.0
"""A day's start read this long after the reset is marked late (information only)."""
DAILY, OVERALL = "daily", "overall"


class Level(enum.Enum):
    """Where a loss stands against its limit."""

    OK = "ok"
    WARNING = "warning"
    BREACHED = "breached"


class GuardEventKind(enum.Enum):
    """What a check or a request changed."""

    DAY_STARTED = "day_started"
    WARNING = "warning"
    TRIGGERED = "triggered"
    RELEASED = "released"
    """The daily reset released a lock."""
    UNLOCKED = "unlocked"
    """An operator released a lock."""
    REQUEST_IGNORED = "request_ignored"


@dataclass(frozen=True, slots=True)
class GuardEvent:
    """One thing the guard decided, with the operator line that says it."""

    kind: GuardEventKind
    text: str


@dataclass(frozen=True, slots=True)
class Lock:
    """The account is locked: flat, and kept flat."""

    reason: str
    limits: tuple[str, ...]
    since: float


@dataclass(frozen=True, slots=True)
class GuardState:
    """What the guard remembers across restarts (journaled)."""

    day: int = -1
    """Broker day the day's start belongs to (-1 before the first reading)."""
    day_start: float = 0.0
    day_start_at: float = 0.0
    late: bool = False
    """The day's start was read late (equity basis): dtms was not running at the reset."""
    initial: float = 0.0
    peak: float = 0.0
    """Highest day's start so far (the trailing overall limit's reference)."""
    lock: Lock | None = None
    warned: tuple[str, ...] = ()
    """Limits that warned today (each warns once a day)."""
    suspended: tuple[str, ...] = ()
    """Limits an operator unlocked today: not enforced again before the next reset."""
    request: str = ""
    """Id of the last operator request handled."""
    answer: str = ""
    """What that request did."""


@dataclass(frozen=True, slots=True)
class Money:
    """The account's money at one broker time."""

    at: float
    balance: float
    equity: float
    currency: str = ""


@dataclass(frozen=True, slots=True)
class LimitView:
    """One limit against the account now: for status, and for the decision."""

    name: str
    limit: float
    """The limit in money."""
    loss: float
    """The loss it measures now (negative: a gain)."""
    floor: float
    """Equity at which it is breached."""
    level: Level

    @property
    def distance(self) -> float:
        """Money left before the breach (negative once beyond it)."""
        return self.limit - self.loss


@dataclass(frozen=True, slots=True)
class GuardDecision:
    """The new state, what happened, and the limits as measured."""

    state: GuardState
    events: tuple[GuardEvent, ...] = ()
    views: tuple[LimitView, ...] = ()


def day_of(at: float, reset_hour: float) -> int:
    """The broker day ``at`` belongs to, days beginning at ``reset_hour``."""
    return math.floor((at - reset_hour * 3600.0) / DAY)


def reset_at(day: int, reset_hour: float) -> float:
    """Broker time at which ``day`` begins."""
    return day * DAY + reset_hour * 3600.0


def reset_due(state: GuardState, at: float, reset_hour: float) -> bool:
    """Whether a reading at ``at`` starts a new day (never for a clock that went back)."""
    return day_of(at, reset_hour) > state.day


def measure(state: GuardState, equity: float, limits: Limits, warning_at: float
            ) -> tuple[LimitView, ...]:
    """Each set limit against ``equity``."""
    views = []
    if limits.daily_loss > 0:
        base = state.initial if limits.percent_of is PercentOf.INITIAL_BALANCE else state.day_start
        limit = _money(limits.daily_loss, limits.daily_unit, base)
        views.append(_view(DAILY, limit, state.day_start, equity, warning_at))
    if limits.overall_loss > 0:
        ref = state.initial
        if limits.overall_mode is OverallMode.TRAILING:
            ref = max(state.initial, state.peak)
        limit = _money(limits.overall_loss, limits.overall_unit, state.initial)
        views.append(_view(OVERALL, limit, ref, equity, warning_at))
    return tuple(views)


def _money(value: float, unit: LossUnit, base: float) -> float:
    return value if unit is LossUnit.MONEY else value / 100.0 * base


def _view(name: str, limit: float, ref: float, equity: float, warning_at: float) -> LimitView:
    loss = ref - equity
    level = Level.OK
    if loss >= limit - 1e-9:
        level = Level.BREACHED
    elif loss >= warning_at * limit - 1e-9:
        level = Level.WARNING
    return LimitView(name, limit, loss, ref - limit, level)


def check(state: GuardState, money: Money, limits: Limits, warning_at: float,
          reset_hour: float, *, initial_balance: float = 0.0,
          balance_at_reset: float | None = None) -> GuardDecision:
    """Apply one reading of the account.

    Args:
        initial_balance: the account size the limits refer to (0: the first balance seen,
            which the state keeps).
        balance_at_reset: the balance at the last reset, rebuilt from the deals since then
            (None: the balance now), used when this reading starts a new day.
    """
    events: list[GuardEvent] = []
    cur = money.currency
    if state.initial <= 0 or (initial_balance > 0 and state.initial != initial_balance):
        # the configured account size wins; else the first balance seen, kept for good
        initial = initial_balance if initial_balance > 0 else money.balance
        state = replace(state, initial=initial, peak=max(state.peak, initial))
    if reset_due(state, money.at, reset_hour):
        state, started = _new_day(state, money, limits, reset_hour, balance_at_reset)
        events.extend(started)
    views = measure(state, money.equity, limits, warning_at)
    for v in views:
        if v.level is not Level.OK and v.name not in state.warned:
            state = replace(state, warned=(*state.warned, v.name))
            if v.level is Level.BREACHED:
                continue  # the breach says it
            events.append(GuardEvent(GuardEventKind.WARNING, (
                f"{v.name} loss {_fmt(v.loss, cur)} is {v.loss / v.limit:.0%} of its limit "
                f"{_fmt(v.limit, cur)} (equity {_fmt(money.equity, cur)}, floor "
                f"{_fmt(v.floor, cur)})")))
    breached = [v for v in views if v.level is Level.BREACHED and v.name not in state.suspended]
    if breached and state.lock is None:
        names = tuple(v.name for v in breached)
        first = breached[0]
        reason = (f"{first.name} loss limit reached: equity {_fmt(money.equity, cur)} <= floor "
                  f"{_fmt(first.floor, cur)} (loss {_fmt(first.loss, cur)}, limit "
                  f"{_fmt(first.limit, cur)})")
        state = replace(state, lock=Lock(reason, names, money.at))
        nxt = clock_text(reset_at(state.day + 1, reset_hour))
        events.append(GuardEvent(GuardEventKind.TRIGGERED, (
            f"{reason}; closing every managed position and keeping the account flat until "
            f"the next reset ({nxt} broker time) or `dtms guard unlock`")))
    return GuardDecision(state, tuple(events), views)


def _new_day(state: GuardState, money: Money, limits: Limits, reset_hour: float,
             balance_at_reset: float | None) -> tuple[GuardState, list[GuardEvent]]:
    day = day_of(money.at, reset_hour)
    late = money.at - reset_at(day, reset_hour) > LATE_SECONDS
    balance = money.balance if balance_at_reset is None else balance_at_reset
    match limits.day_start:
        case DayStart.BALANCE:
            start, late = balance, False
        case DayStart.EQUITY:
            start = money.equity
        case DayStart.HIGHER:
            # a late reading does not know the equity at the reset: the higher of the two
            # figures known is the stricter day's start
            start = max(balance, money.equity)
    events = []
    if state.lock is not None:
        events.append(GuardEvent(GuardEventKind.RELEASED,
                                 f"daily reset: the lock is released ({state.lock.reason})"))
    first = state.day < 0
    state = replace(state, day=day, day_start=start, day_start_at=money.at, late=late,
                    peak=max(state.peak, start), lock=None, warned=(), suspended=())
    how = " (read late: dtms was not running at the reset)" if late else ""
    word = "guard started" if first else "new day"
    events.append(GuardEvent(GuardEventKind.DAY_STARTED,
                             f"{word}: the day's start is {_fmt(start, money.currency)}{how}"))
    return state, events


def unlock(state: GuardState, request: str, at: float) -> GuardDecision:
    """Handle an operator's unlock request (each id once)."""
    if not request or request == state.request:
        return GuardDecision(state)
    lock = state.lock
    if lock is None:
        answer = f"request {request}: the account was not locked; nothing to do"
        state = replace(state, request=request, answer=answer)
        return GuardDecision(state, (GuardEvent(GuardEventKind.REQUEST_IGNORED, answer),))
    suspended = tuple(dict.fromkeys((*state.suspended, *lock.limits)))
    answer = (f"request {request}: unlocked at {clock_text(at)} broker time ({lock.reason}); "
              f"the {' and '.join(lock.limits)} limit is not enforced again before the next "
              "reset")
    state = replace(state, lock=None, suspended=suspended, request=request, answer=answer)
    return GuardDecision(state, (GuardEvent(GuardEventKind.UNLOCKED, answer),))


def _fmt(x: float, currency: str) -> str:
    return f"{x:,.2f}{' ' + currency if currency else ''}"


def clock_text(t: float) -> str:
    """Broker epoch seconds as ``YYYY-MM-DD HH:MM`` (civil calendar, no clock read)."""
    days, secs = divmod(math.floor(t), 86_400)
    # days since 1970-01-01 to a civil date (H. Hinnant's algorithm)
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    y = yoe + era * 400 + (1 if m <= 2 else 0)
    return f"{y:04d}-{m:02d}-{d:02d} {secs // 3600:02d}:{secs // 60 % 60:02d}"


__all__ = ["DAILY", "OVERALL", "GuardDecision", "GuardEvent", "GuardEventKind", "GuardState",
           "Level", "LimitView", "Lock", "Money", "check", "clock_text", "day_of", "measure",
           "reset_at", "reset_due", "unlock"]
