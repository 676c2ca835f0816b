"""The seeded plan of a stress run: the trader's book, the hand closes, the kills.

Everything random in a run is drawn here, from ``random.Random(seed)``, before anything starts:
the same seed gives the same positions (symbol, side, volume, stop or none, magic), the same
hand closes at the same broker offsets and the same kill times. A plan is a value: tests build
one and look at it.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

from dtms.stress.settings import StressSettings

SYMBOLS = (
    "EURUSD", "GBPUSD", "USDJPY", "AUDUSD", "USDCHF", "USDCAD", "NZDUSD", "EURJPY", "GBPJPY",
    "EURGBP", "EURCHF", "AUDJPY", "CHFJPY", "EURAUD", "GBPCHF", "USDSGD",
)
"""Symbols a run trades, in order (``--symbols K`` takes the first K)."""

VOLUME_STEP = 0.01
EDGE_SECONDS = 60.0
"""No hand close or kill in the first or last minute of the run (broker seconds)."""


class Side(enum.Enum):
    """Which way a position goes."""

    BUY = "buy"
    SELL = "sell"


@dataclass(frozen=True, slots=True)
class PlannedPosition:
    """One position the trader's side of the world opens."""

    index: int
    symbol: str
    side: Side
    volume: float
    with_sl: bool
    magic: int
    ignored: bool
    """Opened by another EA whose magic dtms is told to ignore."""
    exposed: bool
    """On the side the shock goes against."""
    hand_close_at: float | None
    """Broker seconds after dtms first starts at which the trader closes it by hand."""


@dataclass(frozen=True, slots=True)
class Plan:
    """Everything a run will do to dtms, drawn from one seed."""

    seed: int
    symbols: tuple[str, ...]
    falls: tuple[bool, ...]
    """Per symbol: the shock makes it fall (else rise)."""
    positions: tuple[PlannedPosition, ...]
    run_seconds: float

    @property
    def managed(self) -> tuple[PlannedPosition, ...]:
        """The positions dtms must manage."""
        return tuple(p for p in self.positions if not p.ignored)

    @property
    def hand_closes(self) -> int:
        """How many positions the trader closes by hand."""
        return sum(p.hand_close_at is not None for p in self.positions)


def exposed_side(falls: bool) -> Side:
    """The side a shock in this direction goes against."""
    return Side.BUY if falls else Side.SELL


def make_plan(*, trades: int, symbols: int, minutes: float, seed: int,
              settings: StressSettings) -> Plan:
    """Draw a run's book and hand closes.

    Args:
        trades: positions opened (managed ones and other EAs' together).
        symbols: how many of :data:`SYMBOLS` they spread over.
        minutes: broker minutes dtms runs, from its first start.
    """
    rng = random.Random(f"dtms-stress-{seed}")
    names = SYMBOLS[:symbols]
    falls = tuple(i % 2 == 0 for i in range(len(names)))
    run = minutes * 60.0
    lo, hi = _window(run)
    steps = round((settings.max_volume - settings.min_volume) / VOLUME_STEP)
    positions = []
    for i in range(trades):
        k = i % len(names)
        ignored = bool(settings.ignored_magics) and rng.random() < settings.ignored_share
        exposed = rng.random() < settings.exposed_share
        side = exposed_side(falls[k])
        if not exposed:
            side = Side.SELL if side is Side.BUY else Side.BUY
        volume = round(settings.min_volume + VOLUME_STEP * rng.randint(0, max(steps, 0)), 2)
        with_sl = rng.random() >= settings.no_sl_share
        magic = rng.choice(settings.ignored_magics) if ignored else settings.ea_magic
        hand = None
        if not ignored and rng.random() < settings.hand_close_share:
            hand = rng.uniform(lo, hi)
        positions.append(PlannedPosition(i, names[k], side, volume, with_sl, magic, ignored,
                                         exposed, hand))
    return Plan(seed, names, falls, tuple(positions), run)


def kill_times(plan: Plan, kills: int, burst_at: float | None = None) -> tuple[float, ...]:
    """When to SIGKILL dtms, in broker seconds after its first start, drawn from the seed.

    With a shock (``burst_at``: the deciding close, in the same seconds) half the kills
    (rounded up) land in the two minutes after it, while most is in flight.
    """
    rng = random.Random(f"dtms-stress-kills-{plan.seed}")
    lo, hi = _window(plan.run_seconds)
    focused = (kills + 1) // 2 if burst_at is not None else 0
    times = []
    for j in range(kills):
        if j < focused and burst_at is not None:
            times.append(min(max(burst_at + rng.uniform(0.0, 120.0), lo), hi))
        else:
            times.append(rng.uniform(lo, hi))
    return tuple(sorted(times))


def _window(run: float) -> tuple[float, float]:
    """Where hand closes and kills may fall: not in the first or last minute (or quarter)."""
    return min(EDGE_SECONDS, run / 4), max(run - EDGE_SECONDS, run * 3 / 4)
