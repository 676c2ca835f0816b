"""The MT5 surface dtms talks to, stated as a ``typing.Protocol``.

Anything that looks like the ``MetaTrader5`` module satisfies it: the real package, the mt5linux
adapter and the simulator (``dtms.broker.sim.SimBroker``). The conventions are the real
package's, not Python's:

* a failing function returns ``None`` (``False`` for ``initialize``/``login``/``symbol_select``)
  and ``last_error()`` says why; nothing raises;
* ``last_error()`` is ``(1, 'Success')`` after a successful call;
* the filters of ``positions_get``, ``orders_get``, ``history_*_get`` and ``symbols_get`` are
  keyword-only (a positional one gives ``None`` with ``(-2, 'Unnamed arguments not allowed')``);
* ``order_send``/``order_check`` take exactly one positional ``dict`` whose fields have strict
  Python types (floats must be ``float``, ints ``int``);
* times in results are ints in broker-server epoch seconds (or ms for ``*_msc``); date arguments
  are a ``datetime`` (read with ``.timestamp()``) or an int of seconds.

The module's constants are attributes too (``mt5.TRADE_ACTION_DEAL``); the protocol lists the ones
dtms uses, ``dtms.broker.constants`` has them all.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol, TypeAlias, runtime_checkable

import numpy as np
import numpy.typing as npt

from dtms.broker.structs import (
    AccountInfo,
    OrderCheckResult,
    OrderSendResult,
    SymbolInfo,
    TerminalInfo,
    Tick,
    TradeDeal,
    TradeOrder,
    TradePosition,
)

DateLike: TypeAlias = datetime | int
"""A date argument: a datetime (aware is safest; naive is read as local time) or epoch seconds."""

StructArray: TypeAlias = npt.NDArray[np.void]
"""A packed structured array of rates (RATES_DTYPE) or ticks (TICKS_DTYPE)."""


@runtime_checkable
class Mt5Api(Protocol):
    """The functions and constants of the ``MetaTrader5`` module that dtms relies on."""

    TIMEFRAME_M1: int
    TIMEFRAME_M5: int
    TIMEFRAME_M15: int
    TIMEFRAME_H1: int
    COPY_TICKS_ALL: int
    ORDER_TYPE_BUY: int
    ORDER_TYPE_SELL: int
    ORDER_TYPE_CLOSE_BY: int
    ORDER_FILLING_FOK: int
    ORDER_FILLING_IOC: int
    ORDER_FILLING_RETURN: int
    ORDER_TIME_GTC: int
    POSITION_TYPE_BUY: int
    POSITION_TYPE_SELL: int
    DEAL_ENTRY_IN: int
    DEAL_ENTRY_OUT: int
    DEAL_ENTRY_INOUT: int
    DEAL_ENTRY_OUT_BY: int
    DEAL_REASON_SL: int
    DEAL_REASON_TP: int
    DEAL_REASON_SO: int
    TRADE_ACTION_DEAL: int
    TRADE_ACTION_SLTP: int
    TRADE_ACTION_CLOSE_BY: int
    ACCOUNT_MARGIN_MODE_RETAIL_NETTING: int
    ACCOUNT_MARGIN_MODE_RETAIL_HEDGING: int
    TRADE_RETCODE_DONE: int
    TRADE_RETCODE_PLACED: int
    TRADE_RETCODE_DONE_PARTIAL: int
    RES_S_OK: int

    # --- session ---------------------------------------------------------------------------
    def initialize(
        self,
        path: str = ...,
        *,
        login: int = ...,
        password: str = ...,
        server: str = ...,
        timeout: int = ...,
        portable: bool = ...,
    ) -> bool:
        """Attach to the terminal (and log in when credentials are given)."""
        ...

    def login(
        self, login: int, *, password: str = ..., server: str = ..., timeout: int = ...
    ) -> bool:
        """Switch the attached terminal to another account."""
        ...

    def shutdown(self) -> None:
        """Close the link to the terminal for the whole process."""
        ...

    def last_error(self) -> tuple[int, str]:
        """The outcome of the previous call: ``(code, description)``."""
        ...

    def version(self) -> tuple[int, int, str] | None:
        """``(500, build, 'DD Mon YYYY')`` of the terminal."""
        ...

    # --- account, terminal, symbols ------------------------------------------------------------
    def account_info(self) -> AccountInfo | None:
        """The logged-in account."""
        ...

    def terminal_info(self) -> TerminalInfo | None:
        """The terminal's state and settings."""
        ...

    def symbols_total(self) -> int | None:
        """How many symbols the server offers."""
        ...

    def symbols_get(self, *, group: str = ...) -> tuple[SymbolInfo, ...] | None:
        """Every symbol, or those matching a group mask (``"*,!*EUR*"``)."""
        ...

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        """One symbol's properties and live quote."""
        ...

    def symbol_info_tick(self, symbol: str) -> Tick | None:
        """One symbol's last tick."""
        ...

    def symbol_select(self, symbol: str, enable: bool = ...) -> bool:
        """Show or hide a symbol in Market Watch."""
        ...

    # --- positions, orders, history ------------------------------------------------------------
    def positions_total(self) -> int | None:
        """How many positions are open."""
        ...

    def positions_get(
        self, *, symbol: str = ..., group: str = ..., ticket: int = ...
    ) -> tuple[TradePosition, ...] | None:
        """Open positions, all or filtered (``symbol`` wins over ``ticket``)."""
        ...

    def orders_total(self) -> int | None:
        """How many pending orders are active."""
        ...

    def orders_get(
        self, *, symbol: str = ..., group: str = ..., ticket: int = ...
    ) -> tuple[TradeOrder, ...] | None:
        """Active pending orders."""
        ...

    def history_orders_get(
        self,
        date_from: DateLike = ...,
        date_to: DateLike = ...,
        *,
        group: str = ...,
        ticket: int = ...,
        position: int = ...,
    ) -> tuple[TradeOrder, ...] | None:
        """History orders in a date range, or by order ``ticket`` or ``position`` id."""
        ...

    def history_deals_get(
        self,
        date_from: DateLike = ...,
        date_to: DateLike = ...,
        *,
        group: str = ...,
        ticket: int = ...,
        position: int = ...,
    ) -> tuple[TradeDeal, ...] | None:
        """Deals in a date range, or by ``ticket`` (the ORDER ticket) or ``position`` id."""
        ...

    # --- trading ---------------------------------------------------------------------------
    def order_calc_margin(
        self, action: int, symbol: str, volume: float, price: float
    ) -> float | None:
        """Margin of an order in account currency, ignoring what is already open."""
        ...

    def order_calc_profit(
        self, action: int, symbol: str, volume: float, price_open: float, price_close: float
    ) -> float | None:
        """Profit of a BUY/SELL between two prices, in account currency."""
        ...

    def order_check(self, request: dict[str, Any], /) -> OrderCheckResult | None:
        """Validate a request and project the account after it (retcode 0 'Done' when fine)."""
        ...

    def order_send(self, request: dict[str, Any], /) -> OrderSendResult | None:
        """Send a trade request to the server."""
        ...

    # --- market data -----------------------------------------------------------------------
    def copy_rates_from(
        self, symbol: str, timeframe: int, date_from: DateLike, count: int
    ) -> StructArray | None:
        """``count`` bars whose open time is <= ``date_from``, oldest first."""
        ...

    def copy_rates_from_pos(
        self, symbol: str, timeframe: int, start_pos: int, count: int
    ) -> StructArray | None:
        """``count`` bars back from position ``start_pos`` (0 is the forming bar), oldest first."""
        ...

    def copy_rates_range(
        self, symbol: str, timeframe: int, date_from: DateLike, date_to: DateLike
    ) -> StructArray | None:
        """Bars with ``date_from <= open time <= date_to``, oldest first."""
        ...

    def copy_ticks_range(
        self, symbol: str, date_from: DateLike, date_to: DateLike, flags: int
    ) -> StructArray | None:
        """Ticks between two dates, oldest first."""
        ...
