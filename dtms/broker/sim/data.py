"""The read-only history functions of the simulated terminal: bars, ticks, orders, deals.

Bars and ticks come from the market as the packed numpy arrays of the real package; an unknown
symbol or a request past ``maxbars`` gives ``None`` with ``(-1, 'Terminal: Call failed')``.
History orders and deals are filtered by date range (both ends inclusive), by ``ticket``
(for deals: the ORDER ticket, as in MT5), by ``position`` or by a group mask on the symbol.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from dtms.broker import constants as c
from dtms.broker.rates import TICKS_DTYPE
from dtms.broker.sim.terminal import Terminal, epoch, match_group
from dtms.broker.structs import TradeDeal, TradeOrder

StructArray = npt.NDArray[np.void]


class DataCalls(Terminal):
    """``copy_rates_*``, ``copy_ticks_*`` and ``history_*`` of the MT5 API."""

    # --- bars and ticks --------------------------------------------------------------------
    def copy_rates_from_pos(
        self, symbol: str, timeframe: int, start_pos: int, count: int
    ) -> StructArray | None:
        """``count`` bars back from ``start_pos`` (0 is the forming bar), oldest first."""
        with self._server.lock:
            if not self._begin("copy_rates_from_pos") or not self._bars_args(
                symbol, timeframe, count, start_pos
            ):
                return None
            return self._rates(self._server.market.rates_from_pos, symbol, timeframe,
                               start_pos, count)

    def copy_rates_from(
        self, symbol: str, timeframe: int, date_from: Any, count: int
    ) -> StructArray | None:
        """``count`` bars whose open time is at or before ``date_from``, oldest first."""
        with self._server.lock:
            if not self._begin("copy_rates_from") or not self._bars_args(
                symbol, timeframe, count
            ):
                return None
            t = epoch(date_from)
            if t is None:
                self._fail(c.RES_E_INVALID_PARAMS, c.MSG_INVALID_ARGUMENTS)
                return None
            return self._rates(self._server.market.rates_from, symbol, timeframe, t, count)

    def copy_rates_range(
        self, symbol: str, timeframe: int, date_from: Any, date_to: Any
    ) -> StructArray | None:
        """Bars with ``date_from <= open time <= date_to``, oldest first."""
        with self._server.lock:
            if not self._begin("copy_rates_range") or not self._bars_args(symbol, timeframe, 0):
                return None
            lo, hi = epoch(date_from), epoch(date_to)
            if lo is None or hi is None:
                self._fail(c.RES_E_INVALID_PARAMS, c.MSG_INVALID_ARGUMENTS)
                return None
            return self._rates(self._server.market.rates_range, symbol, timeframe, lo, hi)

    def copy_ticks_range(
        self, symbol: str, date_from: Any, date_to: Any, flags: int
    ) -> StructArray | None:
        """Ticks with ``date_from <= time <= date_to``, oldest first."""
        with self._server.lock:
            if not self._begin("copy_ticks_range"):
                return None
            lo, hi = epoch(date_from), epoch(date_to)
            if lo is None or hi is None or not isinstance(flags, int):
                self._fail(c.RES_E_INVALID_PARAMS, c.MSG_INVALID_ARGUMENTS)
                return None
            return self._ticks(symbol, lo, hi, flags, None)

    def copy_ticks_from(
        self, symbol: str, date_from: Any, count: int, flags: int
    ) -> StructArray | None:
        """Up to ``count`` ticks from ``date_from`` on, oldest first."""
        with self._server.lock:
            if not self._begin("copy_ticks_from"):
                return None
            lo = epoch(date_from)
            if lo is None or not isinstance(count, int) or count < 0:
                self._fail(c.RES_E_INVALID_PARAMS, c.MSG_INVALID_ARGUMENTS)
                return None
            return self._ticks(symbol, lo, self._server.market.now, flags, count)

    def _bars_args(self, symbol: object, timeframe: object, count: object,
                   start_pos: object = 0) -> bool:
        if not isinstance(symbol, str) or timeframe not in c.TIMEFRAME_SECONDS:
            self._fail(c.RES_E_INVALID_PARAMS, c.MSG_INVALID_ARGUMENTS)
            return False
        if not (isinstance(count, int) and isinstance(start_pos, int)) or count < 0 or (
            start_pos < 0
        ):
            self._fail(c.RES_E_INVALID_PARAMS, c.MSG_INVALID_ARGUMENTS)
            return False
        if symbol not in self._server.symbols or start_pos + count > self._server.settings.maxbars:
            self._fail(c.RES_E_FAIL)
            return False
        return True

    def _rates(
        self, fn: Callable[..., StructArray | None], *args: Any
    ) -> StructArray | None:
        try:
            rates = fn(*args)
        except ValueError:
            rates = None
        if rates is None:
            self._fail(c.RES_E_FAIL)
            return None
        return self._ok(rates)

    def _ticks(
        self, symbol: object, lo: float, hi: float, flags: int, count: int | None
    ) -> StructArray | None:
        if not isinstance(symbol, str) or symbol not in self._server.symbols:
            self._fail(c.RES_E_FAIL)
            return None
        ticks = self._server.market.ticks_range(symbol, lo, hi)
        if ticks is None:
            self._fail(c.RES_E_FAIL)
            return None
        if flags == c.COPY_TICKS_TRADE:  # FX quotes carry no trades (no last price)
            ticks = np.empty(0, dtype=TICKS_DTYPE)
        return self._ok(ticks if count is None else ticks[:count])

    # --- history ---------------------------------------------------------------------------
    def history_deals_get(
        self, date_from: Any = None, date_to: Any = None, *args: Any, group: str | None = None,
        ticket: int | None = None, position: int | None = None,
    ) -> tuple[TradeDeal, ...] | None:
        """Deals by date range (and group), or by ``ticket`` (ORDER ticket) or ``position``."""
        with self._server.lock:
            if not self._begin("history_deals_get"):
                return None
            rng = self._history_args(date_from, date_to, args, ticket, position)
            if rng is None:
                return None
            deals = tuple(
                d for d in self._server.book.deals
                if (ticket is None or d.order == ticket)
                and (position is None or d.position_id == position)
                and rng[0] <= d.time <= rng[1]
                and (group is None or match_group(d.symbol, group))
            )
            return self._empty_history(deals)

    def history_orders_get(
        self, date_from: Any = None, date_to: Any = None, *args: Any, group: str | None = None,
        ticket: int | None = None, position: int | None = None,
    ) -> tuple[TradeOrder, ...] | None:
        """History orders by date range (and group), or by ``ticket`` or ``position`` id."""
        with self._server.lock:
            if not self._begin("history_orders_get"):
                return None
            rng = self._history_args(date_from, date_to, args, ticket, position)
            if rng is None:
                return None
            orders = tuple(
                o for o in self._server.book.orders
                if (ticket is None or o.ticket == ticket)
                and (position is None or o.position_id == position)
                and rng[0] <= o.time_setup <= rng[1]
                and (group is None or match_group(o.symbol, group))
            )
            return self._empty_history(orders)

    def history_deals_total(self, date_from: Any, date_to: Any) -> int | None:
        """How many deals fall in the date range."""
        with self._server.lock:
            if not self._begin("history_deals_total"):
                return None
            lo, hi = epoch(date_from), epoch(date_to)
            if lo is None or hi is None:
                self._fail(c.RES_E_INVALID_PARAMS, c.MSG_INVALID_ARGUMENTS)
                return None
            return self._ok(sum(1 for d in self._server.book.deals if lo <= d.time <= hi))

    def history_orders_total(self, date_from: Any, date_to: Any) -> int | None:
        """How many history orders fall in the date range."""
        with self._server.lock:
            if not self._begin("history_orders_total"):
                return None
            lo, hi = epoch(date_from), epoch(date_to)
            if lo is None or hi is None:
                self._fail(c.RES_E_INVALID_PARAMS, c.MSG_INVALID_ARGUMENTS)
                return None
            return self._ok(sum(1 for o in self._server.book.orders if lo <= o.time_setup <= hi))

    def _history_args(
        self, date_from: Any, date_to: Any, extra: tuple[Any, ...], ticket: Any, position: Any
    ) -> tuple[float, float] | None:
        """The date range to filter on (all time without dates), or None after an error."""
        if extra:
            self._fail(c.RES_E_INVALID_PARAMS, c.MSG_UNNAMED_ARGUMENTS)
            return None
        for name, value in (("ticket", ticket), ("position", position)):
            if value is not None and not isinstance(value, int):
                self._fail(c.RES_E_INVALID_PARAMS, c.invalid_argument(name))
                return None
        if date_from is None and date_to is None:
            if ticket is None and position is None:
                self._fail(c.RES_E_INVALID_PARAMS, c.MSG_INVALID_ARGUMENT_COUNT)
                return None
            return (-math.inf, math.inf)
        lo, hi = epoch(date_from), epoch(date_to)
        if lo is None or hi is None:
            self._fail(c.RES_E_INVALID_PARAMS, c.MSG_INVALID_ARGUMENTS)
            return None
        return (lo, hi)
