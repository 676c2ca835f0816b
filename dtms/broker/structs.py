"""The result structs of the MetaTrader5 API, with the real field order.

The real package returns ``PyStructSequence`` objects: they index, unpack, ``len()`` and
``repr()`` like tuples and add ``_asdict()``. These named tuples do the same and a bit more
(``_fields``, ``_replace``, ``_make``); code that must also run against the real package must not
use those extras. As in the real package, ``_asdict()`` of :class:`OrderSendResult` and
:class:`OrderCheckResult` leaves ``request`` a :class:`TradeRequest`, not a dict.

Each type has ``from_dict`` so an adapter that receives plain dicts over a wire (``_asdict()`` on
the far side) can rebuild the struct; missing keys take the zero value of their field.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, TypeVar

_T = TypeVar("_T", bound=tuple[Any, ...])


def _build(cls: type[_T], data: Mapping[str, Any]) -> _T:
    fields: tuple[str, ...] = cls._fields  # type: ignore[attr-defined]
    return cls(**{name: data[name] for name in fields if name in data})


def _request_of(value: Any) -> TradeRequest:
    if isinstance(value, TradeRequest):
        return value
    if isinstance(value, Mapping):
        return TradeRequest.from_dict(value)
    if hasattr(value, "_asdict"):
        return TradeRequest.from_dict(value._asdict())
    return TradeRequest(*value) if value is not None else TradeRequest()


class TradeRequest(NamedTuple):
    """A trade request as echoed in results (the input is a plain dict with these keys)."""

    action: int = 0
    magic: int = 0
    order: int = 0
    symbol: str = ""
    volume: float = 0.0
    price: float = 0.0
    stoplimit: float = 0.0
    sl: float = 0.0
    tp: float = 0.0
    deviation: int = 0
    type: int = 0
    type_filling: int = 0
    type_time: int = 0
    expiration: int = 0
    comment: str = ""
    position: int = 0
    position_by: int = 0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TradeRequest:
        """Rebuild from a plain dict (unknown keys are ignored)."""
        return _build(cls, data)


class OrderSendResult(NamedTuple):
    """The answer of ``order_send``: success is retcode 10009 (DONE) or 10008 (PLACED)."""

    retcode: int = 0
    deal: int = 0
    order: int = 0
    volume: float = 0.0
    price: float = 0.0
    bid: float = 0.0
    ask: float = 0.0
    comment: str = ""
    request_id: int = 0
    retcode_external: int = 0
    request: TradeRequest = TradeRequest()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrderSendResult:
        """Rebuild from a plain dict; ``request`` may be a dict or a struct."""
        result = _build(cls, data)
        return result._replace(request=_request_of(data.get("request")))


class OrderCheckResult(NamedTuple):
    """The answer of ``order_check``: success is retcode 0 with comment 'Done'.

    ``balance`` … ``margin_level`` are the projected values after the trade.
    """

    retcode: int = 0
    balance: float = 0.0
    equity: float = 0.0
    profit: float = 0.0
    margin: float = 0.0
    margin_free: float = 0.0
    margin_level: float = 0.0
    comment: str = ""
    request: TradeRequest = TradeRequest()

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> OrderCheckResult:
        """Rebuild from a plain dict; ``request`` may be a dict or a struct."""
        result = _build(cls, data)
        return result._replace(request=_request_of(data.get("request")))


class TradePosition(NamedTuple):
    """An open position. ``ticket == identifier`` == the opening order's ticket."""

    ticket: int = 0
    time: int = 0
    time_msc: int = 0
    time_update: int = 0
    time_update_msc: int = 0
    type: int = 0
    magic: int = 0
    identifier: int = 0
    reason: int = 0
    volume: float = 0.0
    price_open: float = 0.0
    sl: float = 0.0
    tp: float = 0.0
    price_current: float = 0.0
    swap: float = 0.0
    profit: float = 0.0
    symbol: str = ""
    comment: str = ""
    external_id: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TradePosition:
        """Rebuild from a plain dict."""
        return _build(cls, data)


class TradeOrder(NamedTuple):
    """An active (pending) or history order."""

    ticket: int = 0
    time_setup: int = 0
    time_setup_msc: int = 0
    time_done: int = 0
    time_done_msc: int = 0
    time_expiration: int = 0
    type: int = 0
    type_time: int = 0
    type_filling: int = 0
    state: int = 0
    magic: int = 0
    position_id: int = 0
    position_by_id: int = 0
    reason: int = 0
    volume_initial: float = 0.0
    volume_current: float = 0.0
    price_open: float = 0.0
    sl: float = 0.0
    tp: float = 0.0
    price_current: float = 0.0
    price_stoplimit: float = 0.0
    symbol: str = ""
    comment: str = ""
    external_id: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TradeOrder:
        """Rebuild from a plain dict."""
        return _build(cls, data)


class TradeDeal(NamedTuple):
    """A deal in the account history; ``profit`` is non-zero only on exits."""

    ticket: int = 0
    order: int = 0
    time: int = 0
    time_msc: int = 0
    type: int = 0
    entry: int = 0
    magic: int = 0
    position_id: int = 0
    reason: int = 0
    volume: float = 0.0
    price: float = 0.0
    commission: float = 0.0
    swap: float = 0.0
    profit: float = 0.0
    fee: float = 0.0
    symbol: str = ""
    comment: str = ""
    external_id: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TradeDeal:
        """Rebuild from a plain dict."""
        return _build(cls, data)


class Tick(NamedTuple):
    """The last quote of a symbol (``symbol_info_tick``)."""

    time: int = 0
    bid: float = 0.0
    ask: float = 0.0
    last: float = 0.0
    volume: int = 0
    time_msc: int = 0
    flags: int = 0
    volume_real: float = 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Tick:
        """Rebuild from a plain dict."""
        return _build(cls, data)


class AccountInfo(NamedTuple):
    """The trading account (``account_info``)."""

    login: int = 0
    trade_mode: int = 0
    leverage: int = 0
    limit_orders: int = 0
    margin_so_mode: int = 0
    trade_allowed: bool = False
    trade_expert: bool = False
    margin_mode: int = 0
    currency_digits: int = 0
    fifo_close: bool = False
    balance: float = 0.0
    credit: float = 0.0
    profit: float = 0.0
    equity: float = 0.0
    margin: float = 0.0
    margin_free: float = 0.0
    margin_level: float = 0.0
    margin_so_call: float = 0.0
    margin_so_so: float = 0.0
    margin_initial: float = 0.0
    margin_maintenance: float = 0.0
    assets: float = 0.0
    liabilities: float = 0.0
    commission_blocked: float = 0.0
    name: str = ""
    server: str = ""
    currency: str = ""
    company: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountInfo:
        """Rebuild from a plain dict."""
        return _build(cls, data)


class TerminalInfo(NamedTuple):
    """The terminal (``terminal_info``); ``trade_allowed`` is the AutoTrading button."""

    community_account: bool = False
    community_connection: bool = False
    connected: bool = False
    dlls_allowed: bool = False
    trade_allowed: bool = False
    tradeapi_disabled: bool = False
    email_enabled: bool = False
    ftp_enabled: bool = False
    notifications_enabled: bool = False
    mqid: bool = False
    build: int = 0
    maxbars: int = 0
    codepage: int = 0
    ping_last: int = 0
    community_balance: float = 0.0
    retransmission: float = 0.0
    company: str = ""
    name: str = ""
    language: str = ""
    path: str = ""
    data_path: str = ""
    commondata_path: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TerminalInfo:
        """Rebuild from a plain dict."""
        return _build(cls, data)


class SymbolInfo(NamedTuple):
    """A symbol's properties and live quote (``symbol_info``), all 96 fields in order."""

    custom: bool = False
    chart_mode: int = 0
    select: bool = False
    visible: bool = False
    session_deals: int = 0
    session_buy_orders: int = 0
    session_sell_orders: int = 0
    volume: int = 0
    volumehigh: int = 0
    volumelow: int = 0
    time: int = 0
    digits: int = 0
    spread: int = 0
    spread_float: bool = False
    ticks_bookdepth: int = 0
    trade_calc_mode: int = 0
    trade_mode: int = 0
    start_time: int = 0
    expiration_time: int = 0
    trade_stops_level: int = 0
    trade_freeze_level: int = 0
    trade_exemode: int = 0
    swap_mode: int = 0
    swap_rollover3days: int = 0
    margin_hedged_use_leg: bool = False
    expiration_mode: int = 0
    filling_mode: int = 0
    order_mode: int = 0
    order_gtc_mode: int = 0
    option_mode: int = 0
    option_right: int = 0
    bid: float = 0.0
    bidhigh: float = 0.0
    bidlow: float = 0.0
    ask: float = 0.0
    askhigh: float = 0.0
    asklow: float = 0.0
    last: float = 0.0
    lasthigh: float = 0.0
    lastlow: float = 0.0
    volume_real: float = 0.0
    volumehigh_real: float = 0.0
    volumelow_real: float = 0.0
    option_strike: float = 0.0
    point: float = 0.0
    trade_tick_value: float = 0.0
    trade_tick_value_profit: float = 0.0
    trade_tick_value_loss: float = 0.0
    trade_tick_size: float = 0.0
    trade_contract_size: float = 0.0
    trade_accrued_interest: float = 0.0
    trade_face_value: float = 0.0
    trade_liquidity_rate: float = 0.0
    volume_min: float = 0.0
    volume_max: float = 0.0
    volume_step: float = 0.0
    volume_limit: float = 0.0
    swap_long: float = 0.0
    swap_short: float = 0.0
    margin_initial: float = 0.0
    margin_maintenance: float = 0.0
    session_volume: float = 0.0
    session_turnover: float = 0.0
    session_interest: float = 0.0
    session_buy_orders_volume: float = 0.0
    session_sell_orders_volume: float = 0.0
    session_open: float = 0.0
    session_close: float = 0.0
    session_aw: float = 0.0
    session_price_settlement: float = 0.0
    session_price_limit_min: float = 0.0
    session_price_limit_max: float = 0.0
    margin_hedged: float = 0.0
    price_change: float = 0.0
    price_volatility: float = 0.0
    price_theoretical: float = 0.0
    price_greeks_delta: float = 0.0
    price_greeks_theta: float = 0.0
    price_greeks_gamma: float = 0.0
    price_greeks_vega: float = 0.0
    price_greeks_rho: float = 0.0
    price_greeks_omega: float = 0.0
    price_sensitivity: float = 0.0
    basis: str = ""
    category: str = ""
    currency_base: str = ""
    currency_profit: str = ""
    currency_margin: str = ""
    bank: str = ""
    description: str = ""
    exchange: str = ""
    formula: str = ""
    isin: str = ""
    name: str = ""
    page: str = ""
    path: str = ""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SymbolInfo:
        """Rebuild from a plain dict."""
        return _build(cls, data)


class BookInfo(NamedTuple):
    """One market-depth entry (``market_book_get``)."""

    type: int = 0
    price: float = 0.0
    volume: int = 0
    volume_dbl: float = 0.0

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BookInfo:
        """Rebuild from a plain dict."""
        return _build(cls, data)


STRUCT_TYPES: tuple[type[Any], ...] = (
    TradeRequest, OrderSendResult, OrderCheckResult, TradePosition, TradeOrder, TradeDeal, Tick,
    AccountInfo, TerminalInfo, SymbolInfo, BookInfo,
)
"""Every struct type, e.g. for a wire codec that rebuilds results by type name."""
