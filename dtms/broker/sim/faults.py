"""What can go wrong between a client and a real MT5 account, on demand and reproducibly.

Theory of operation: :class:`FaultSettings` holds rates and probabilities (all off by default).
:class:`Faults` draws from one seeded RNG, so a run with the same seed and the same sequence of
calls meets the same faults. Three kinds exist:

* *per call*: latency (passed to the broker's ``sleep``), and for ``order_send`` a server answer
  that replaces execution (requote, no prices, no money) or a lost answer (the order executes,
  the call returns ``None`` with ``(-10005, 'IPC timeout')``);
* *on the broker timeline*: IPC outages and hand closes of a random position, as Poisson
  processes whose next event time :meth:`Faults.next_event_after` draws;
* *scripted*: answers queued by the scenario API (``next_order_send``, ``fail_next``), which
  win over the random ones.

:class:`Link` is the terminal link: lost at an outage's start, and only ``initialize()`` after
the outage's end brings it back, as with a real terminal.
"""

from __future__ import annotations

import enum
import random
from collections import deque
from dataclasses import dataclass, field

from dtms.broker import constants as c
from dtms.core.params import knob

TRADE_CALLS = frozenset({"order_send", "order_check"})


@dataclass(frozen=True, slots=True)
class FaultSettings:
    """Fault injection of the simulated broker (all off by default)."""

    requote_probability: float = knob(
        0.0, "chance that order_send answers 10004 REQUOTE with fresh prices", ge=0.0, le=1.0
    )
    price_off_probability: float = knob(
        0.0, "chance that order_send answers 10021 PRICE_OFF (no quotes)", ge=0.0, le=1.0
    )
    no_money_probability: float = knob(
        0.0, "chance that order_send answers 10019 NO_MONEY regardless of margin", ge=0.0, le=1.0
    )
    timeout_executed_probability: float = knob(
        0.0,
        "chance that order_send executes but the answer is lost (None, -10005 IPC timeout)",
        ge=0.0,
        le=1.0,
    )
    ipc_outages_per_hour: float = knob(
        0.0, "mean number of terminal link losses per hour of broker time", ge=0.0, le=3600.0
    )
    ipc_outage_seconds: float = knob(
        30.0, "how long a link loss lasts (initialize() fails until then)", gt=0.0, le=86400.0
    )
    call_latency_ms: float = knob(
        0.0, "fixed latency of every API call, in broker-time milliseconds", ge=0.0, le=60000.0
    )
    order_latency_ms: float = knob(
        0.0, "extra latency of order_send (the trade server round trip), ms", ge=0.0, le=60000.0
    )
    latency_jitter_ms: float = knob(
        0.0, "uniform random extra latency per call, up to this many ms", ge=0.0, le=60000.0
    )
    external_closes_per_hour: float = knob(
        0.0,
        "mean number of positions closed by someone else (a hand, another EA) per hour",
        ge=0.0,
        le=3600.0,
    )


class TradeFault(enum.Enum):
    """What the trade server does with one order_send instead of a plain execution."""

    REQUOTE = c.TRADE_RETCODE_REQUOTE
    PRICE_OFF = c.TRADE_RETCODE_PRICE_OFF
    NO_MONEY = c.TRADE_RETCODE_NO_MONEY
    ANSWER_LOST = c.RES_E_INTERNAL_FAIL_TIMEOUT


@dataclass(frozen=True, slots=True)
class ForcedAnswer:
    """A scripted answer for the next order_send: ``retcode``, after executing or not."""

    retcode: int
    execute: bool = False


@dataclass(slots=True)
class Link:
    """The IPC link between the Python process and the terminal."""

    initialized: bool = False
    down_until: float = float("-inf")
    """Broker time at which the current (or last) outage ends."""
    outages: list[list[float]] = field(default_factory=list)
    """[lost at, restored at] of every outage, in broker time; restored is +inf until the first
    ``initialize()`` that succeeds after it (what a client lived through, not the fault alone)."""

    def lose(self, now: float, until: float) -> None:
        """Drop the link at ``now``; ``initialize()`` fails until ``until``."""
        if not self.outages or self.outages[-1][1] != float("inf"):
            self.outages.append([now, float("inf")])
        self.initialized = False
        self.down_until = max(self.down_until, until)

    def restored(self, now: float) -> None:
        """An ``initialize()`` succeeded at ``now``."""
        self.initialized = True
        if self.outages and self.outages[-1][1] == float("inf"):
            self.outages[-1][1] = now

    def reachable(self, now: float) -> bool:
        """Whether the terminal answers an ``initialize()`` at ``now``."""
        return now >= self.down_until


@dataclass(slots=True)
class Faults:
    """The seeded source of every injected fault, plus the scripted ones."""

    settings: FaultSettings
    seed: int
    forced_sends: deque[ForcedAnswer] = field(default_factory=deque)
    forced_errors: dict[str, deque[tuple[int, str]]] = field(default_factory=dict)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(f"dtms-sim-faults-{self.seed}")

    def latency(self, fn_name: str) -> float:
        """Broker seconds the call ``fn_name`` takes (0 when latency is off)."""
        s = self.settings
        ms = s.call_latency_ms
        if fn_name == "order_send":
            ms += s.order_latency_ms
        if s.latency_jitter_ms > 0:
            ms += self._rng.uniform(0.0, s.latency_jitter_ms)
        return ms / 1000.0

    def trade_fault(self) -> TradeFault | None:
        """Draw the fault (if any) for one order_send that passed validation."""
        s = self.settings
        for kind, p in (
            (TradeFault.REQUOTE, s.requote_probability),
            (TradeFault.PRICE_OFF, s.price_off_probability),
            (TradeFault.NO_MONEY, s.no_money_probability),
            (TradeFault.ANSWER_LOST, s.timeout_executed_probability),
        ):
            if p > 0 and self._rng.random() < p:
                return kind
        return None

    def next_event_after(self, t: float, per_hour: float) -> float | None:
        """The time of the next event of a Poisson process with ``per_hour`` rate after ``t``."""
        if per_hour <= 0:
            return None
        return t + self._rng.expovariate(per_hour / 3600.0)

    def pick(self, n: int) -> int:
        """A uniformly random index below ``n``."""
        return self._rng.randrange(n)

    def take_forced_error(self, fn_name: str) -> tuple[int, str] | None:
        """The scripted ``last_error`` for this call of ``fn_name``, if one is queued."""
        queue = self.forced_errors.get(fn_name)
        return queue.popleft() if queue else None

    def take_forced_send(self) -> ForcedAnswer | None:
        """The scripted answer for this order_send, if one is queued."""
        return self.forced_sends.popleft() if self.forced_sends else None
