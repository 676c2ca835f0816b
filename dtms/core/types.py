"""Plain values shared by every part of the core.

Theory of operation: the core never talks to a broker. What it knows of the world arrives as
these immutable values, built by the runtime from broker facts: closed bars (``Bars``), a
symbol's trading rules (``SymbolSpec``), a quote (``Quote``), an open position
(``PositionView``) and the account (``AccountView``). Labels are enums with one spelling
everywhere; the original system lost its regime adaptation to 'Range' vs 'RANGE' typos.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class Side(enum.Enum):
    """Direction of a position."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for BUY, -1 for SELL: multiply a price move by it to get 'in favour'."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        """The side that offsets this one (a hedge's side)."""
        return Side.SELL if self is Side.BUY else Side.BUY


class State(enum.Enum):
    """Health states of a managed trade."""

    HEALTHY = "HEALTHY"
    WARNING_L1 = "WARNING_L1"
    WARNING_L2 = "WARNING_L2"
    HEDGED = "HEDGED"
    RECOVERING = "RECOVERING"
    CLOSED = "CLOSED"

    @property
    def is_open(self) -> bool:
        """True for every state but the terminal CLOSED."""
        return self is not State.CLOSED


class Outcome(enum.Enum):
    """How a request to the broker ended (specification §4, "pending phases and outcomes").

    DONE: executed (10009/10008, or 10010 with the remainder handled). DEFINITIVE: refused, and
    re-sending the same request would be refused again (no money, invalid stops, netting
    account, position closed, not sent at all). FIXABLE: refused for a reason a refreshed price
    or another filling mode can fix (requote, price changed/off, too many requests). UNKNOWN:
    nobody knows whether it executed (timeout, lost answer, IPC loss); decide from the next
    broker snapshot, never by re-sending. BLOCKED: not sent, or refused for a passing reason
    (market closed 10018, AutoTrading off 10027, a frozen position 10029, a deadline passed in
    the queue, the broker link down): a wait, never a failure.
    """

    DONE = "done"
    DEFINITIVE = "definitive"
    FIXABLE = "fixable"
    UNKNOWN = "unknown"
    BLOCKED = "blocked"


class Session(enum.Enum):
    """Trading session by UTC hour."""

    ASIAN = "ASIAN"
    LONDON = "LONDON"
    OVERLAP = "OVERLAP"
    NEW_YORK = "NEW_YORK"


class Volatility(enum.Enum):
    """Volatility regime from ATR relative to its own mean."""

    LOW = "LOW"
    NORMAL = "NORMAL"
    HIGH = "HIGH"


class Structure(enum.Enum):
    """Market structure regime from Bollinger band width."""

    RANGE = "RANGE"
    TREND = "TREND"


@dataclass(frozen=True, slots=True)
class Bars:
    """A window of closed bars, oldest first, as read-only numpy arrays.

    ``time`` is the bar's open time in broker-server epoch seconds, as MT5 returns it.
    ``volume`` is the tick volume as float.
    """

    time: IntArray
    open: FloatArray
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray

    def __post_init__(self) -> None:
        n = len(self.time)
        for name in ("open", "high", "low", "close", "volume"):
            if len(getattr(self, name)) != n:
                raise ValueError(f"Bars.{name} has {len(getattr(self, name))} rows, time has {n}")
        for name in ("time", "open", "high", "low", "close", "volume"):
            getattr(self, name).flags.writeable = False

    def __len__(self) -> int:
        return len(self.time)

    @classmethod
    def from_rates(cls, rates: npt.NDArray[np.void]) -> Bars:
        """Build from an MT5 rates array (fields time, open, high, low, close, tick_volume)."""
        return cls(
            time=np.ascontiguousarray(rates["time"], dtype=np.int64),
            open=np.ascontiguousarray(rates["open"], dtype=np.float64),
            high=np.ascontiguousarray(rates["high"], dtype=np.float64),
            low=np.ascontiguousarray(rates["low"], dtype=np.float64),
            close=np.ascontiguousarray(rates["close"], dtype=np.float64),
            volume=np.ascontiguousarray(rates["tick_volume"], dtype=np.float64),
        )

    @classmethod
    def empty(cls) -> Bars:
        """A window with no bars."""
        f = np.empty(0, dtype=np.float64)
        return cls(np.empty(0, dtype=np.int64), f.copy(), f.copy(), f.copy(), f.copy(), f.copy())

    def tail(self, n: int) -> Bars:
        """The newest ``n`` bars (or all of them if fewer)."""
        s = slice(max(len(self) - n, 0), None)
        return Bars(
            self.time[s], self.open[s], self.high[s], self.low[s], self.close[s], self.volume[s]
        )


@dataclass(frozen=True, slots=True)
class SymbolSpec:
    """The trading rules of one symbol, as the broker states them (MT5 ``symbol_info``)."""

    name: str
    digits: int
    point: float
    volume_min: float
    volume_max: float
    volume_step: float
    stops_level: int = 0
    """Minimum SL/TP distance from the market, in points."""
    freeze_level: int = 0
    """Distance inside which a position cannot be modified or closed, in points."""
    spread: int = 0
    """Current spread in points."""
    filling_mode: int = 1
    """Bitmask of allowed fillings: 1 FOK, 2 IOC (SYMBOL_FILLING_*)."""
    order_mode: int = 127
    """Bitmask of allowed orders; bit 64 is close-by."""
    trade_mode: int = 4
    """SYMBOL_TRADE_MODE_*: 4 is full trading."""
    contract_size: float = 100_000.0
    exemode: int = 2
    """SYMBOL_TRADE_EXECUTION_*: 0 request, 1 instant, 2 market, 3 exchange."""

    @property
    def close_by_allowed(self) -> bool:
        """Whether TRADE_ACTION_CLOSE_BY is allowed on this symbol."""
        return bool(self.order_mode & 64)

    def round_price(self, price: float) -> float:
        """Round a price to the symbol's digits."""
        return round(price, self.digits)

    def volume_down(self, volume: float) -> float:
        """Round a volume down onto the volume step (never up), guarding float noise."""
        steps = math.floor(volume / self.volume_step + 1e-9)
        return round(steps * self.volume_step, 8)

    def volume_nearest(self, volume: float) -> float:
        """Round a volume to the nearest point on the volume step, ties down.

        Ties go down so a hedge sized as a ratio never exceeds that ratio (half of 0.01 lot is
        0.00, not a 100 % hedge).
        """
        steps = math.floor(volume / self.volume_step + 0.5 - 1e-9)
        return round(steps * self.volume_step, 8)

    def on_step(self, volume: float) -> bool:
        """Whether a volume sits on the volume step grid."""
        steps = volume / self.volume_step
        return abs(steps - round(steps)) < 1e-6


@dataclass(frozen=True, slots=True)
class Quote:
    """The latest bid/ask of a symbol and the broker time it was seen at (epoch seconds)."""

    time: float
    bid: float
    ask: float

    def exit_price(self, side: Side) -> float:
        """The price a position of ``side`` closes at (bid for a BUY, ask for a SELL)."""
        return self.bid if side is Side.BUY else self.ask

    def entry_price(self, side: Side) -> float:
        """The price a new order of ``side`` fills at (ask for a BUY, bid for a SELL)."""
        return self.ask if side is Side.BUY else self.bid


@dataclass(frozen=True, slots=True)
class PositionView:
    """An open position as the broker reports it."""

    ticket: int
    symbol: str
    side: Side
    volume: float
    price_open: float
    sl: float
    tp: float
    price_current: float
    magic: int = 0
    comment: str = ""
    time: int = 0
    """Open time, broker epoch seconds."""
    profit: float = 0.0


@dataclass(frozen=True, slots=True)
class AccountView:
    """The parts of the account that decide whether dtms may hedge."""

    hedging: bool
    """True when ``margin_mode`` is RETAIL_HEDGING; a netting account cannot hold a hedge."""
    trade_allowed: bool
    margin_free: float = 0.0
    currency: str = "USD"
    loss_room: float | None = None
    """Money the account guard's daily loss limit leaves now (None: no hedge-risk check)."""
