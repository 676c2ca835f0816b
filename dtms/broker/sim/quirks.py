"""What real brokers and terminals do that a polite simulator would not, switch by switch.

Theory of operation: :class:`QuirkSettings` (``[broker.sim.quirks]``) holds one knob per
behaviour, every one off by default, so the default simulator stays as polite as the MT5
documentation. Each switch acts on its own:

* *comments*: the trade server drops client comments, truncates them, or replaces a
  position's comment with its own tag when its stops change (:class:`Comments`);
* *snapshots*: an unfiltered ``positions_get()`` sometimes answers ``()`` or leaves positions
  out, as a glitching terminal does (:class:`Snapshots`);
* *quoting*: quiet symbols whose last tick lags the clock, and daily breaks with 10018
  (:meth:`QuirkSettings.quoting`, applied by the market);
* *trading rules*: ``volume_max`` and stops/freeze levels imposed on every symbol
  (:meth:`QuirkSettings.rules`);
* *other people* (``dtms.broker.sim.others``): the AutoTrading button pressed at random, hand
  reversals and scale-ins on netting accounts, another EA trading with the same magic.

Randomness comes from the simulator's seed, one stream per quirk (:func:`quirk_rng`), so the
same seed and the same calls give the same run, and switching one quirk on does not move the
draws of another (nor those of the faults).
"""

from __future__ import annotations

import dataclasses
import random
import re
from collections import deque
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field

from dtms.broker.sim.hours import Quoting
from dtms.broker.sim.symbols import SimSymbol
from dtms.core.params import knob

ALL_SYMBOLS = "*"
_BREAK = re.compile(r"^\s*(\S+)\s+(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, slots=True)
class DailyBreak:
    """One ``"SYMBOL HH:MM-HH:MM"`` entry of ``daily_breaks`` (broker-server time)."""

    symbol: str
    start: float
    """Seconds after broker midnight the break starts."""
    end: float
    """Seconds after broker midnight it ends; smaller than ``start`` when it wraps midnight."""

    @classmethod
    def parse(cls, text: str) -> DailyBreak:
        """Read ``"US30 23:00-00:05"`` (``"*"`` for every symbol); ValueError if malformed."""
        m = _BREAK.match(text)
        if m is None:
            raise ValueError(
                f"expected 'SYMBOL HH:MM-HH:MM' (e.g. 'US30 23:00-00:05'), got {text!r}"
            )
        symbol, h0, m0, h1, m1 = m.groups()
        if max(int(h0), int(h1)) > 23 or max(int(m0), int(m1)) > 59:
            raise ValueError(f"{text!r}: hours run 00..23 and minutes 00..59")
        start, end = int(h0) * 3600 + int(m0) * 60, int(h1) * 3600 + int(m1) * 60
        if start == end:
            raise ValueError(f"{text!r}: a break needs a start different from its end")
        return cls(symbol, float(start), float(end))


@dataclass(frozen=True, slots=True)
class QuirkSettings:
    """Broker and terminal behaviours of real accounts (all off by default)."""

    comment_drop: bool = knob(
        False, "the broker drops client comments: positions, orders and deals show ''"
    )
    comment_truncate: int = knob(
        0, "cut client comments to this many characters (0: off; real brokers: 16..27)",
        ge=0, le=31,
    )
    comment_replace_on_stops: bool = knob(
        False, "a position's comment becomes the broker's tag ([sl 1.08500]) when its SL/TP "
        "is modified",
    )
    empty_snapshot_probability: float = knob(
        0.0, "chance that an unfiltered positions_get() answers () while positions are open",
        ge=0.0, le=1.0,
    )
    partial_snapshot_probability: float = knob(
        0.0, "chance that an unfiltered positions_get() leaves out some open positions",
        ge=0.0, le=1.0,
    )
    quiet_symbols: tuple[str, ...] = knob(
        (), "symbols that tick only once per quiet_tick_seconds (a thin cross at night)"
    )
    quiet_tick_seconds: float = knob(
        900.0, "interval between two ticks of a quiet symbol, seconds", ge=1.0, le=86_400.0
    )
    daily_breaks: tuple[str, ...] = knob(
        (), "daily breaks in broker time, e.g. 'US30 23:00-00:05' ('*': every symbol): no "
        "ticks, no bars, 10018",
    )
    autotrading_toggles_per_hour: float = knob(
        0.0, "mean number of times per hour the trader switches AutoTrading off", ge=0.0,
        le=3600.0,
    )
    autotrading_off_seconds: float = knob(
        120.0, "how long AutoTrading stays off after a random toggle, seconds", gt=0.0,
        le=86_400.0,
    )
    volume_max: float = knob(
        0.0, "volume_max of every symbol, lots (0: each symbol's own)", ge=0.0, le=100_000.0
    )
    freeze_level: int = knob(
        -1, "trade_freeze_level of every symbol, points (-1: each symbol's own)", ge=-1,
        le=100_000,
    )
    stops_level: int = knob(
        -1, "trade_stops_level of every symbol, points (-1: each symbol's own)", ge=-1,
        le=100_000,
    )
    hand_reversals_per_hour: float = knob(
        0.0, "netting accounts: mean number of positions reversed by hand per hour", ge=0.0,
        le=3600.0,
    )
    hand_scale_ins_per_hour: float = knob(
        0.0, "netting accounts: mean number of positions added to by hand per hour", ge=0.0,
        le=3600.0,
    )
    foreign_magic: int = knob(
        0, "magic of another program trading this account (0: none)", ge=0
    )
    foreign_orders_per_hour: float = knob(
        0.0, "mean number of orders per hour that program sends (partial closes, small "
        "opposite positions)", ge=0.0, le=3600.0,
    )
    foreign_comment: str = knob("other EA", "comment of that program's orders")

    def __post_init__(self) -> None:
        for i, text in enumerate(self.daily_breaks):
            try:
                DailyBreak.parse(text)
            except ValueError as exc:
                raise ValueError(f"daily_breaks[{i}]: {exc}") from None
        for i, name in enumerate(self.quiet_symbols):
            if not name.strip():
                raise ValueError(f"quiet_symbols[{i}]: a symbol name cannot be empty")

    def breaks(self) -> list[DailyBreak]:
        """The parsed ``daily_breaks``."""
        return [DailyBreak.parse(text) for text in self.daily_breaks]

    def quoting(self, symbols: Mapping[str, SimSymbol]) -> dict[str, Quoting]:
        """Each symbol's quoting under these quirks (only symbols they change).

        Raises:
            ValueError: a quirk names a symbol that is not in ``symbols``.
        """
        breaks = self.breaks()
        named = {b.symbol for b in breaks if b.symbol != ALL_SYMBOLS} | set(self.quiet_symbols)
        _check_known(named, symbols, "[broker.sim.quirks] names")
        out: dict[str, Quoting] = {}
        for name, sym in symbols.items():
            own = tuple((b.start, b.end) for b in breaks if b.symbol in (name, ALL_SYMBOLS))
            quiet = self.quiet_tick_seconds if name in self.quiet_symbols else 0.0
            if own or quiet:
                out[name] = Quoting(sym.trades_weekends, own, quiet)
        return out

    def rules(self, sym: SimSymbol) -> SimSymbol:
        """``sym`` with the volume and level overrides applied.

        Raises:
            ValueError: ``volume_max`` is below the symbol's ``volume_min``.
        """
        changes: dict[str, float | int] = {}
        if self.volume_max > 0:
            if self.volume_max < sym.volume_min:
                raise ValueError(
                    f"quirks.volume_max {self.volume_max:g} is below {sym.name}'s volume_min "
                    f"{sym.volume_min:g}"
                )
            changes["volume_max"] = self.volume_max
        if self.freeze_level >= 0:
            changes["freeze_level"] = self.freeze_level
        if self.stops_level >= 0:
            changes["stops_level"] = self.stops_level
        return dataclasses.replace(sym, **changes) if changes else sym  # type: ignore[arg-type]


def _check_known(names: Collection[str], symbols: Mapping[str, SimSymbol], what: str) -> None:
    unknown = sorted(set(names) - set(symbols))
    if unknown:
        raise ValueError(
            f"{what} {', '.join(unknown)}, which the simulated broker does not list "
            f"(it lists {', '.join(symbols)})"
        )


def quirk_rng(seed: int, name: str) -> random.Random:
    """The random stream of one quirk, derived from the simulator's seed."""
    return random.Random(f"dtms-sim-quirk-{name}-{seed}")


@dataclass(frozen=True, slots=True)
class Comments:
    """How the trade server stores the comments of client requests and stop changes."""

    drop: bool = False
    truncate: int = 0
    replace_on_stops: bool = False

    @classmethod
    def of(cls, q: QuirkSettings) -> Comments:
        """The comment policy of quirks ``q``."""
        return cls(q.comment_drop, q.comment_truncate, q.comment_replace_on_stops)

    def client(self, comment: str) -> str:
        """The comment the server keeps for a client's request (an EA's or a hand's)."""
        if self.drop:
            return ""
        if self.truncate:
            return comment[: self.truncate]
        return comment


@dataclass(slots=True)
class Snapshots:
    """Glitches of the unfiltered ``positions_get()``: random ones and scripted ones."""

    settings: QuirkSettings
    seed: int
    scripted: deque[frozenset[int] | None] = field(default_factory=deque)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = quirk_rng(self.seed, "snapshot")

    @property
    def active(self) -> bool:
        """Whether the next unfiltered answer may glitch at all."""
        s = self.settings
        return bool(self.scripted) or (
            s.empty_snapshot_probability > 0 or s.partial_snapshot_probability > 0
        )

    def hidden(self, tickets: list[int]) -> Collection[int]:
        """Tickets the next unfiltered answer leaves out (all of them: an empty answer)."""
        if self.scripted:
            missing = self.scripted.popleft()
            return tickets if missing is None else missing
        if not tickets:
            return ()
        s = self.settings
        if s.empty_snapshot_probability > 0 and self._rng.random() < s.empty_snapshot_probability:
            return tickets
        if s.partial_snapshot_probability > 0 and (
            self._rng.random() < s.partial_snapshot_probability
        ):
            count = self._rng.randint(1, len(tickets))
            return set(self._rng.sample(tickets, count))
        return ()
