"""Market data: one feed per symbol, shared by every trade on it.

Theory of operation (specification §1). A feed backfills its windows once (600 closed M5 and
300 closed M15 bars, the forming bar at position 0 excluded), then, each time the broker clock
passes a bar close, fetches only the newest few bars through the gateway, replaces bars with an
equal ``time`` and appends newer ones. So a cycle costs at most two calls per symbol with a new
bar (M5, plus M15 at a quarter hour), never one per trade. Indicators are computed once per new
closed bar. A feed reports gaps (bars further apart than two periods) once, and staleness: the
newest closed bar older than two periods, or the last tick older than ``stale_tick_seconds``.
Bars with NaN prices are dropped with a warning.

Each cycle the feed also reads the symbol's tick (``poll_quote``, one call per symbol, batched
with the others'): its time feeds the broker clock, its bid/ask are the quote every trade on
the symbol plans and sends with (no per-order quote read), and its age says whether the symbol
trades. A symbol is *closed* — nothing is sent, timers pause — when it answered 10018
MARKET_CLOSED and has not ticked since, when its last tick is older than
``market_closed_after_seconds`` (the weekend, a daily break), or when the broker disabled it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import numpy.typing as npt
from loguru import logger

from dtms.broker.rates import RATES_DTYPE
from dtms.core.indicators import IndicatorParams, SymbolIndicators, compute
from dtms.core.regime import Adaptation, RegimeParams, adapt
from dtms.core.types import Bars, Quote, SymbolSpec
from dtms.runtime.gateway import Gateway, Priority
from dtms.runtime.settings import MarketDataSettings

TIMEFRAME_M5 = 5
TIMEFRAME_M15 = 15
M5, M15 = 300, 900

Rates = npt.NDArray[np.void]


@dataclass(frozen=True, slots=True)
class FeedView:
    """What trades read of a symbol in one cycle (immutable)."""

    symbol: str
    spec: SymbolSpec
    indicators: SymbolIndicators | None
    adaptation: Adaptation | None
    m5_time: int
    """Open time of the newest closed M5 bar (0 before the backfill)."""
    m15_close: int
    """Close time of the newest closed M15 bar: the id of a deep check."""
    stale: bool
    stale_reason: str = ""
    quote: Quote | None = None
    """The symbol's last tick (broker time, bid, ask), read this cycle."""
    closed: bool = False
    """The symbol does not trade now: nothing is sent, timers pause."""


@dataclass(slots=True)
class _Window:
    period: int
    keep: int
    rows: Rates = field(default_factory=lambda: np.empty(0, dtype=RATES_DTYPE))
    next_try: float = 0.0

    @property
    def newest(self) -> int:
        return int(self.rows["time"][-1]) if len(self.rows) else 0

    def due(self, now: float) -> bool:
        """Whether a bar newer than the newest closed one should have closed by ``now``."""
        return now >= self.newest + 2 * self.period and now >= self.next_try

    def stale(self, now: float, periods: float) -> bool:
        return not len(self.rows) or now - (self.newest + self.period) > periods * self.period


class SymbolFeed:
    """Bar windows, indicators and staleness of one symbol."""

    def __init__(
        self,
        symbol: str,
        gateway: Gateway,
        settings: MarketDataSettings,
        ind_params: IndicatorParams,
        regime_params: RegimeParams,
        observe: Callable[..., None] | None = None,
    ) -> None:
        self.symbol = symbol
        self._observe = observe
        self._gw = gateway
        self._s = settings
        self._ip = ind_params
        self._rp = regime_params
        self._m5 = _Window(M5, ind_params.m5_bars)
        self._m15 = _Window(M15, ind_params.m15_bars)
        self.spec: SymbolSpec | None = None
        self.tick: Quote | None = None
        self.closed_at: float | None = None
        """Broker time of a 10018 answer; the symbol counts as closed until it ticks again."""
        self.reported_stale = False
        """Whether operators were last told its data is stale (or the symbol closed)."""
        self.indicators: SymbolIndicators | None = None
        self.adaptation: Adaptation | None = None
        self.error = ""
        self.calls = 0
        self._stale_logged = False
        self._gaps_logged: set[int] = set()
        self._log = logger.bind(symbol=symbol)

    # ------------------------------------------------------------------ broker reads

    async def _read(self, fn: str, *args: object) -> object | None:
        self.calls += 1
        result = await self._gw.call(fn, *args, priority=Priority.READ)
        return result.value if result.ok else None

    async def load_spec(self) -> bool:
        """Read the symbol's trading rules (selecting it in Market Watch if needed)."""
        info = await self._read("symbol_info", self.symbol)
        if info is not None and not getattr(info, "visible", True):
            await self._read("symbol_select", self.symbol, True)
        if info is None:
            self.error = f"symbol {self.symbol} is unknown to the broker"
            return False
        self.spec = spec_from_info(info)
        return True

    async def _rates(self, timeframe: int, count: int) -> Rates | None:
        rates = await self._read("copy_rates_from_pos", self.symbol, timeframe, 0, count)
        if rates is None:
            self.error = f"no {self._tf(timeframe)} bars for {self.symbol}"
            return None
        return np.asarray(rates)

    @staticmethod
    def _tf(timeframe: int) -> str:
        return "M5" if timeframe == TIMEFRAME_M5 else "M15"

    async def poll_quote(self) -> Quote | None:
        """Read the symbol's last tick; None when the broker gave none."""
        tick: Any = await self._read("symbol_info_tick", self.symbol)
        t = float(getattr(tick, "time_msc", 0) or 0) / 1000.0 or float(getattr(tick, "time", 0))
        if tick is None or t <= 0 or not tick.bid > 0:
            return self.tick
        quote = Quote(t, float(tick.bid), float(tick.ask))
        if self.tick is None or quote.time >= self.tick.time:
            self.tick = quote
        if self.closed_at is not None and quote.time > self.closed_at:
            self._log.info(f"{self.symbol}: trading again (tick at {quote.time:.0f})")
            self.closed_at = None
        return self.tick

    def mark_closed(self, at: float) -> None:
        """The broker answered 10018: nothing more is sent until the symbol ticks again."""
        if self.closed_at is None:
            self._log.warning(f"{self.symbol}: market closed (10018); orders wait until it "
                              "trades again")
        self.closed_at = at if self.closed_at is None else max(self.closed_at, at)

    def closed_reason(self, now: float) -> str:
        """Why the symbol does not trade now, or "" when it does."""
        if self.spec is not None and self.spec.trade_mode == 0:
            return "trading is disabled for the symbol"
        if self.closed_at is not None:
            return "the broker answered 10018 (market closed) and it has not ticked since"
        if self.tick is not None and now - self.tick.time > self._s.market_closed_after_seconds:
            return f"no tick for {(now - self.tick.time) / 60:.0f} min (market closed)"
        return ""

    # ------------------------------------------------------------------ refresh

    async def backfill(self, now: float) -> bool:
        """Load the spec and both windows; compute indicators. False when data is missing."""
        if self.spec is None and not await self.load_spec():
            return False
        ok = True
        for timeframe, window in ((TIMEFRAME_M5, self._m5), (TIMEFRAME_M15, self._m15)):
            rates = await self._rates(timeframe, window.keep + 1)
            if rates is None:
                ok = False
                continue
            self._merge(window, rates, timeframe)
        self._compute(now)
        return ok

    def due(self, now: float) -> bool:
        """Whether this cycle should fetch bars for the symbol."""
        return self._m5.due(now) or self._m15.due(now)

    async def refresh(self, now: float) -> bool:
        """Fetch the newest bars if one closed; True when a new closed bar arrived."""
        before = (self._m5.newest, self._m15.newest)
        for timeframe, window in ((TIMEFRAME_M5, self._m5), (TIMEFRAME_M15, self._m15)):
            if not window.due(now):
                continue
            missing = int((now - window.newest) // window.period)
            count = min(max(missing + 1, self._s.refresh_bars), window.keep + 1)
            rates = await self._rates(timeframe, count)
            if rates is not None:
                self._merge(window, rates, timeframe)
            if window.due(now):  # the bar has not appeared (market closed, or data late)
                window.next_try = now + self._s.retry_seconds
        if (self._m5.newest, self._m15.newest) == before:
            return False
        self._compute(now)
        return True

    def _merge(self, window: _Window, rates: Rates, timeframe: int) -> None:
        """Replace bars with an equal time, append newer ones; the forming bar is excluded."""
        if len(rates) == 0:
            return
        closed = rates[:-1]  # position 0 (the newest row) is still forming
        finite = (
            np.isfinite(closed["open"])
            & np.isfinite(closed["high"])
            & np.isfinite(closed["low"])
            & np.isfinite(closed["close"])
        )
        if not finite.all():
            self._log.warning(
                f"{self.symbol} {self._tf(timeframe)}: dropped "
                f"{int((~finite).sum())} bar(s) with NaN prices"
            )
            closed = closed[finite]
        if self.spec is not None:
            self.spec = replace(self.spec, spread=int(rates["spread"][-1]))
        if self._observe is not None:  # the forming bar opened before the broker's "now"
            self._observe(float(rates["time"][-1]), exact=False)
        merged = np.concatenate(
            [
                window.rows[
                    window.rows["time"]
                    < (closed["time"][0] if len(closed) else np.iinfo(np.int64).max)
                ],
                closed,
            ]
        )
        window.rows = merged[-window.keep :]
        self._report_gaps(window, timeframe)

    def _report_gaps(self, window: _Window, timeframe: int) -> None:
        times = window.rows["time"]
        if len(times) < 2:
            return
        jumps = np.nonzero(np.diff(times) > self._s.gap_bar_periods * window.period)[0]
        for i in jumps[-3:]:
            start = int(times[i])
            if start in self._gaps_logged:
                continue
            self._gaps_logged.add(start)
            hours = (int(times[i + 1]) - start) / 3600
            self._log.info(
                f"{self.symbol} {self._tf(timeframe)}: gap of {hours:.1f} h after bar "
                f"{start} (market closed or data missing)"
            )

    def _compute(self, now: float) -> None:
        if not len(self._m5.rows) or not len(self._m15.rows):
            return
        try:
            ind = compute(Bars.from_rates(self._m5.rows), Bars.from_rates(self._m15.rows), self._ip)
        except ValueError as exc:  # bad bars: say so, keep the previous indicators
            self._log.warning(f"{self.symbol}: indicators not computed ({exc})")
            return
        self.indicators = ind
        self.adaptation = adapt(self.symbol, ind, self._rp, self._ip.broker_utc_offset_hours)

    def closed_bars(self, timeframe: int) -> Rates:
        """A copy of the closed bars of one window (``TIMEFRAME_M5`` or ``TIMEFRAME_M15``),
        oldest first, for read-only surfaces such as a chart."""
        window = self._m5 if timeframe == TIMEFRAME_M5 else self._m15
        return window.rows.copy()

    # ------------------------------------------------------------------ view

    def view(self, now: float) -> FeedView | None:
        """The symbol as trades see it this cycle (None before the spec is known)."""
        if self.spec is None:
            return None
        periods = self._s.stale_bar_periods
        closed = self.closed_reason(now)
        reason = ""
        if self._m5.stale(now, periods):
            reason = "no closed M5 bar for over " + f"{periods * M5 / 60:g} min"
        elif self._m15.stale(now, periods):
            reason = "no closed M15 bar for over " + f"{periods * M15 / 60:g} min"
        elif self.tick is not None and now - self.tick.time > self._s.stale_tick_seconds \
                and not closed:
            reason = f"last tick {now - self.tick.time:.0f} s old"
        if reason and not self._stale_logged:
            self._log.warning(
                f"{self.symbol}: market data stale ({reason}); new defensive "
                "actions are blocked, due closes still run"
            )
        elif not reason and self._stale_logged:
            self._log.info(f"{self.symbol}: market data fresh again")
        self._stale_logged = bool(reason)
        m15_close = self._m15.newest + M15 if self._m15.newest else 0
        return FeedView(
            self.symbol,
            self.spec,
            self.indicators,
            self.adaptation,
            self._m5.newest,
            m15_close,
            bool(reason),
            reason,
            self.tick,
            bool(closed),
        )


def spec_from_info(info: object) -> SymbolSpec:
    """The core's view of an MT5 ``SymbolInfo``."""
    g = info.__getattribute__
    return SymbolSpec(
        name=str(g("name")),
        digits=int(g("digits")),
        point=float(g("point")),
        volume_min=float(g("volume_min")),
        volume_max=float(g("volume_max")),
        volume_step=float(g("volume_step")),
        stops_level=int(g("trade_stops_level")),
        freeze_level=int(g("trade_freeze_level")),
        spread=int(g("spread")),
        filling_mode=int(g("filling_mode")),
        order_mode=int(g("order_mode")),
        trade_mode=int(g("trade_mode")),
        contract_size=float(g("trade_contract_size")),
        exemode=int(g("trade_exemode")),
    )
