"""The constants of the ``MetaTrader5`` package 5.0.6231, with the exact values and names.

Everything in :data:`MODULE_CONSTANTS` exists on the real module, including the odd names
(``DEAL_DIVIDEND``, ``DEAL_DIVIDEND_FRANKED`` and ``DEAL_TAX`` lack the ``TYPE_`` part) and
``ORDER_FILLING_BOC``, which older copies of the table lack. The ``SYMBOL_FILLING_*``,
``SYMBOL_ORDER_*`` and ``SYMBOL_EXPIRATION_*`` bitmask values and
``TRADE_RETCODE_HEDGE_PROHIBITED`` are kept here for the simulator and for code that reads
``symbol_info().filling_mode``, but the real package does **not** export them, so they are left
out of :data:`MODULE_CONSTANTS` and a broker object never carries them as attributes.

The module also holds the ``last_error()`` messages (:data:`ERROR_MESSAGES`) and the comments a
terminal writes into a trade result for each retcode (:data:`RETCODE_COMMENTS`). Comments marked
``[?]`` in the reference are the usual terminal wording, not verified strings.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

# --- timeframes -------------------------------------------------------------------------------
TIMEFRAME_M1: Final = 1
TIMEFRAME_M2: Final = 2
TIMEFRAME_M3: Final = 3
TIMEFRAME_M4: Final = 4
TIMEFRAME_M5: Final = 5
TIMEFRAME_M6: Final = 6
TIMEFRAME_M10: Final = 10
TIMEFRAME_M12: Final = 12
TIMEFRAME_M15: Final = 15
TIMEFRAME_M20: Final = 20
TIMEFRAME_M30: Final = 30
TIMEFRAME_H1: Final = 1 | 0x4000
TIMEFRAME_H2: Final = 2 | 0x4000
TIMEFRAME_H3: Final = 3 | 0x4000
TIMEFRAME_H4: Final = 4 | 0x4000
TIMEFRAME_H6: Final = 6 | 0x4000
TIMEFRAME_H8: Final = 8 | 0x4000
TIMEFRAME_H12: Final = 12 | 0x4000
TIMEFRAME_D1: Final = 24 | 0x4000
TIMEFRAME_W1: Final = 1 | 0x8000
TIMEFRAME_MN1: Final = 1 | 0xC000

# --- tick copying and tick flags ------------------------------------------------------------------
COPY_TICKS_ALL: Final = -1
COPY_TICKS_INFO: Final = 1
COPY_TICKS_TRADE: Final = 2
TICK_FLAG_BID: Final = 0x02
TICK_FLAG_ASK: Final = 0x04
TICK_FLAG_LAST: Final = 0x08
TICK_FLAG_VOLUME: Final = 0x10
TICK_FLAG_BUY: Final = 0x20
TICK_FLAG_SELL: Final = 0x40

# --- positions --------------------------------------------------------------------------------
POSITION_TYPE_BUY: Final = 0
POSITION_TYPE_SELL: Final = 1
POSITION_REASON_CLIENT: Final = 0
POSITION_REASON_MOBILE: Final = 1
POSITION_REASON_WEB: Final = 2
POSITION_REASON_EXPERT: Final = 3

# --- orders -----------------------------------------------------------------------------------
ORDER_TYPE_BUY: Final = 0
ORDER_TYPE_SELL: Final = 1
ORDER_TYPE_BUY_LIMIT: Final = 2
ORDER_TYPE_SELL_LIMIT: Final = 3
ORDER_TYPE_BUY_STOP: Final = 4
ORDER_TYPE_SELL_STOP: Final = 5
ORDER_TYPE_BUY_STOP_LIMIT: Final = 6
ORDER_TYPE_SELL_STOP_LIMIT: Final = 7
ORDER_TYPE_CLOSE_BY: Final = 8
ORDER_STATE_STARTED: Final = 0
ORDER_STATE_PLACED: Final = 1
ORDER_STATE_CANCELED: Final = 2
ORDER_STATE_PARTIAL: Final = 3
ORDER_STATE_FILLED: Final = 4
ORDER_STATE_REJECTED: Final = 5
ORDER_STATE_EXPIRED: Final = 6
ORDER_STATE_REQUEST_ADD: Final = 7
ORDER_STATE_REQUEST_MODIFY: Final = 8
ORDER_STATE_REQUEST_CANCEL: Final = 9
ORDER_FILLING_FOK: Final = 0
ORDER_FILLING_IOC: Final = 1
ORDER_FILLING_RETURN: Final = 2
ORDER_FILLING_BOC: Final = 3
ORDER_TIME_GTC: Final = 0
ORDER_TIME_DAY: Final = 1
ORDER_TIME_SPECIFIED: Final = 2
ORDER_TIME_SPECIFIED_DAY: Final = 3
ORDER_REASON_CLIENT: Final = 0
ORDER_REASON_MOBILE: Final = 1
ORDER_REASON_WEB: Final = 2
ORDER_REASON_EXPERT: Final = 3
ORDER_REASON_SL: Final = 4
ORDER_REASON_TP: Final = 5
ORDER_REASON_SO: Final = 6

# --- deals ------------------------------------------------------------------------------------
DEAL_TYPE_BUY: Final = 0
DEAL_TYPE_SELL: Final = 1
DEAL_TYPE_BALANCE: Final = 2
DEAL_TYPE_CREDIT: Final = 3
DEAL_TYPE_CHARGE: Final = 4
DEAL_TYPE_CORRECTION: Final = 5
DEAL_TYPE_BONUS: Final = 6
DEAL_TYPE_COMMISSION: Final = 7
DEAL_TYPE_COMMISSION_DAILY: Final = 8
DEAL_TYPE_COMMISSION_MONTHLY: Final = 9
DEAL_TYPE_COMMISSION_AGENT_DAILY: Final = 10
DEAL_TYPE_COMMISSION_AGENT_MONTHLY: Final = 11
DEAL_TYPE_INTEREST: Final = 12
DEAL_TYPE_BUY_CANCELED: Final = 13
DEAL_TYPE_SELL_CANCELED: Final = 14
DEAL_DIVIDEND: Final = 15  # sic: no TYPE_ in the real name
DEAL_DIVIDEND_FRANKED: Final = 16  # sic
DEAL_TAX: Final = 17  # sic
DEAL_ENTRY_IN: Final = 0
DEAL_ENTRY_OUT: Final = 1
DEAL_ENTRY_INOUT: Final = 2
DEAL_ENTRY_OUT_BY: Final = 3
DEAL_REASON_CLIENT: Final = 0
DEAL_REASON_MOBILE: Final = 1
DEAL_REASON_WEB: Final = 2
DEAL_REASON_EXPERT: Final = 3
DEAL_REASON_SL: Final = 4
DEAL_REASON_TP: Final = 5
DEAL_REASON_SO: Final = 6
DEAL_REASON_ROLLOVER: Final = 7
DEAL_REASON_VMARGIN: Final = 8
DEAL_REASON_SPLIT: Final = 9

# --- trade request actions --------------------------------------------------------------------
TRADE_ACTION_DEAL: Final = 1
TRADE_ACTION_PENDING: Final = 5
TRADE_ACTION_SLTP: Final = 6
TRADE_ACTION_MODIFY: Final = 7
TRADE_ACTION_REMOVE: Final = 8
TRADE_ACTION_CLOSE_BY: Final = 10

# --- symbol properties ------------------------------------------------------------------------
SYMBOL_CHART_MODE_BID: Final = 0
SYMBOL_CHART_MODE_LAST: Final = 1
SYMBOL_CALC_MODE_FOREX: Final = 0
SYMBOL_CALC_MODE_FUTURES: Final = 1
SYMBOL_CALC_MODE_CFD: Final = 2
SYMBOL_CALC_MODE_CFDINDEX: Final = 3
SYMBOL_CALC_MODE_CFDLEVERAGE: Final = 4
SYMBOL_CALC_MODE_FOREX_NO_LEVERAGE: Final = 5
SYMBOL_CALC_MODE_EXCH_STOCKS: Final = 32
SYMBOL_CALC_MODE_EXCH_FUTURES: Final = 33
SYMBOL_CALC_MODE_EXCH_OPTIONS: Final = 34
SYMBOL_CALC_MODE_EXCH_OPTIONS_MARGIN: Final = 36
SYMBOL_CALC_MODE_EXCH_BONDS: Final = 37
SYMBOL_CALC_MODE_EXCH_STOCKS_MOEX: Final = 38
SYMBOL_CALC_MODE_EXCH_BONDS_MOEX: Final = 39
SYMBOL_CALC_MODE_SERV_COLLATERAL: Final = 64
SYMBOL_TRADE_MODE_DISABLED: Final = 0
SYMBOL_TRADE_MODE_LONGONLY: Final = 1
SYMBOL_TRADE_MODE_SHORTONLY: Final = 2
SYMBOL_TRADE_MODE_CLOSEONLY: Final = 3
SYMBOL_TRADE_MODE_FULL: Final = 4
SYMBOL_TRADE_EXECUTION_REQUEST: Final = 0
SYMBOL_TRADE_EXECUTION_INSTANT: Final = 1
SYMBOL_TRADE_EXECUTION_MARKET: Final = 2
SYMBOL_TRADE_EXECUTION_EXCHANGE: Final = 3
SYMBOL_SWAP_MODE_DISABLED: Final = 0
SYMBOL_SWAP_MODE_POINTS: Final = 1
SYMBOL_SWAP_MODE_CURRENCY_SYMBOL: Final = 2
SYMBOL_SWAP_MODE_CURRENCY_MARGIN: Final = 3
SYMBOL_SWAP_MODE_CURRENCY_DEPOSIT: Final = 4
SYMBOL_SWAP_MODE_INTEREST_CURRENT: Final = 5
SYMBOL_SWAP_MODE_INTEREST_OPEN: Final = 6
SYMBOL_SWAP_MODE_REOPEN_CURRENT: Final = 7
SYMBOL_SWAP_MODE_REOPEN_BID: Final = 8
DAY_OF_WEEK_SUNDAY: Final = 0
DAY_OF_WEEK_MONDAY: Final = 1
DAY_OF_WEEK_TUESDAY: Final = 2
DAY_OF_WEEK_WEDNESDAY: Final = 3
DAY_OF_WEEK_THURSDAY: Final = 4
DAY_OF_WEEK_FRIDAY: Final = 5
DAY_OF_WEEK_SATURDAY: Final = 6
SYMBOL_ORDERS_GTC: Final = 0
SYMBOL_ORDERS_DAILY: Final = 1
SYMBOL_ORDERS_DAILY_NO_STOPS: Final = 2
SYMBOL_OPTION_RIGHT_CALL: Final = 0
SYMBOL_OPTION_RIGHT_PUT: Final = 1
SYMBOL_OPTION_MODE_EUROPEAN: Final = 0
SYMBOL_OPTION_MODE_AMERICAN: Final = 1

# --- account ----------------------------------------------------------------------------------
ACCOUNT_TRADE_MODE_DEMO: Final = 0
ACCOUNT_TRADE_MODE_CONTEST: Final = 1
ACCOUNT_TRADE_MODE_REAL: Final = 2
ACCOUNT_STOPOUT_MODE_PERCENT: Final = 0
ACCOUNT_STOPOUT_MODE_MONEY: Final = 1
ACCOUNT_MARGIN_MODE_RETAIL_NETTING: Final = 0
ACCOUNT_MARGIN_MODE_EXCHANGE: Final = 1
ACCOUNT_MARGIN_MODE_RETAIL_HEDGING: Final = 2

# --- market depth -----------------------------------------------------------------------------
BOOK_TYPE_SELL: Final = 1
BOOK_TYPE_BUY: Final = 2
BOOK_TYPE_SELL_MARKET: Final = 3
BOOK_TYPE_BUY_MARKET: Final = 4

# --- trade server return codes (no 10005, no 10037) ------------------------------------------
TRADE_RETCODE_REQUOTE: Final = 10004
TRADE_RETCODE_REJECT: Final = 10006
TRADE_RETCODE_CANCEL: Final = 10007
TRADE_RETCODE_PLACED: Final = 10008
TRADE_RETCODE_DONE: Final = 10009
TRADE_RETCODE_DONE_PARTIAL: Final = 10010
TRADE_RETCODE_ERROR: Final = 10011
TRADE_RETCODE_TIMEOUT: Final = 10012
TRADE_RETCODE_INVALID: Final = 10013
TRADE_RETCODE_INVALID_VOLUME: Final = 10014
TRADE_RETCODE_INVALID_PRICE: Final = 10015
TRADE_RETCODE_INVALID_STOPS: Final = 10016
TRADE_RETCODE_TRADE_DISABLED: Final = 10017
TRADE_RETCODE_MARKET_CLOSED: Final = 10018
TRADE_RETCODE_NO_MONEY: Final = 10019
TRADE_RETCODE_PRICE_CHANGED: Final = 10020
TRADE_RETCODE_PRICE_OFF: Final = 10021
TRADE_RETCODE_INVALID_EXPIRATION: Final = 10022
TRADE_RETCODE_ORDER_CHANGED: Final = 10023
TRADE_RETCODE_TOO_MANY_REQUESTS: Final = 10024
TRADE_RETCODE_NO_CHANGES: Final = 10025
TRADE_RETCODE_SERVER_DISABLES_AT: Final = 10026
TRADE_RETCODE_CLIENT_DISABLES_AT: Final = 10027
TRADE_RETCODE_LOCKED: Final = 10028
TRADE_RETCODE_FROZEN: Final = 10029
TRADE_RETCODE_INVALID_FILL: Final = 10030
TRADE_RETCODE_CONNECTION: Final = 10031
TRADE_RETCODE_ONLY_REAL: Final = 10032
TRADE_RETCODE_LIMIT_ORDERS: Final = 10033
TRADE_RETCODE_LIMIT_VOLUME: Final = 10034
TRADE_RETCODE_INVALID_ORDER: Final = 10035
TRADE_RETCODE_POSITION_CLOSED: Final = 10036
TRADE_RETCODE_INVALID_CLOSE_VOLUME: Final = 10038
TRADE_RETCODE_CLOSE_ORDER_EXIST: Final = 10039
TRADE_RETCODE_LIMIT_POSITIONS: Final = 10040
TRADE_RETCODE_REJECT_CANCEL: Final = 10041
TRADE_RETCODE_LONG_ONLY: Final = 10042
TRADE_RETCODE_SHORT_ONLY: Final = 10043
TRADE_RETCODE_CLOSE_ONLY: Final = 10044
TRADE_RETCODE_FIFO_CLOSE: Final = 10045

# --- last_error() codes -----------------------------------------------------------------------
RES_S_OK: Final = 1
RES_E_FAIL: Final = -1
RES_E_INVALID_PARAMS: Final = -2
RES_E_NO_MEMORY: Final = -3
RES_E_NOT_FOUND: Final = -4
RES_E_INVALID_VERSION: Final = -5
RES_E_AUTH_FAILED: Final = -6
RES_E_UNSUPPORTED: Final = -7
RES_E_AUTO_TRADING_DISABLED: Final = -8
RES_E_INTERNAL_FAIL: Final = -10000
RES_E_INTERNAL_FAIL_SEND: Final = -10001
RES_E_INTERNAL_FAIL_RECEIVE: Final = -10002
RES_E_INTERNAL_FAIL_INIT: Final = -10003
RES_E_INTERNAL_FAIL_CONNECT: Final = -10004
RES_E_INTERNAL_FAIL_TIMEOUT: Final = -10005

_EXPORTED_PREFIXES = (
    "TIMEFRAME_", "COPY_TICKS_", "TICK_FLAG_", "POSITION_", "ORDER_", "DEAL_", "TRADE_ACTION_",
    "SYMBOL_", "DAY_OF_WEEK_", "ACCOUNT_", "BOOK_TYPE_", "TRADE_RETCODE_", "RES_",
)

MODULE_CONSTANTS: Final[Mapping[str, int]] = {
    name: value
    for name, value in dict(globals()).items()
    if name.startswith(_EXPORTED_PREFIXES) and isinstance(value, int)
}
"""Every constant the real ``MetaTrader5`` module exports, by name (nothing more)."""

# --- NOT exported by the MetaTrader5 package (MQL5 values) ---------------------------------------
# Defined after MODULE_CONSTANTS on purpose: a broker object must not carry them.
SYMBOL_FILLING_FOK: Final = 1
SYMBOL_FILLING_IOC: Final = 2
SYMBOL_FILLING_BOC: Final = 4
SYMBOL_ORDER_MARKET: Final = 1
SYMBOL_ORDER_LIMIT: Final = 2
SYMBOL_ORDER_STOP: Final = 4
SYMBOL_ORDER_STOP_LIMIT: Final = 8
SYMBOL_ORDER_SL: Final = 16
SYMBOL_ORDER_TP: Final = 32
SYMBOL_ORDER_CLOSEBY: Final = 64
SYMBOL_EXPIRATION_GTC: Final = 1
SYMBOL_EXPIRATION_DAY: Final = 2
SYMBOL_EXPIRATION_SPECIFIED: Final = 4
SYMBOL_EXPIRATION_SPECIFIED_DAY: Final = 8
TRADE_RETCODE_HEDGE_PROHIBITED: Final = 10046
"""Documented by MQL5 but absent from the Python module: never rely on ``mt5.<this>``."""

ERROR_MESSAGES: Final[Mapping[int, str]] = {
    RES_S_OK: "Success",
    RES_E_FAIL: "Terminal: Call failed",
    RES_E_INVALID_PARAMS: "Terminal: Invalid params",
    RES_E_NO_MEMORY: "Terminal: Out of memory",
    RES_E_NOT_FOUND: "Terminal: Not found",
    RES_E_INVALID_VERSION: (
        "Terminal: Incompatible versions, please install the latest version of Terminal and "
        "Python module"
    ),
    RES_E_AUTH_FAILED: "Terminal: Authorization failed",
    RES_E_UNSUPPORTED: "Terminal: Unsupported function",
    RES_E_AUTO_TRADING_DISABLED: "Auto-Trading using Python API disabled in Terminal",
    RES_E_INTERNAL_FAIL: "IPC call failed",
    RES_E_INTERNAL_FAIL_SEND: "IPC send failed",
    RES_E_INTERNAL_FAIL_RECEIVE: "IPC recv failed",
    RES_E_INTERNAL_FAIL_INIT: "IPC initialize failed",
    RES_E_INTERNAL_FAIL_CONNECT: "No IPC connection",
    RES_E_INTERNAL_FAIL_TIMEOUT: "IPC timeout",
}
"""``last_error()`` description per code, as the real package words it."""

MSG_UNNAMED_ARGUMENTS: Final = "Unnamed arguments not allowed"
MSG_INVALID_ARGUMENTS: Final = "Invalid arguments"
MSG_INVALID_ARGUMENT_COUNT: Final = "Invalid number of arguments"


def invalid_argument(field: str) -> str:
    """The ``last_error()`` text for a request field of the wrong type or size."""
    return f'Invalid "{field}" argument'


RETCODE_COMMENTS: Final[Mapping[int, str]] = {
    0: "Done",  # order_check success
    TRADE_RETCODE_REQUOTE: "Requote",
    TRADE_RETCODE_REJECT: "Request rejected",
    TRADE_RETCODE_CANCEL: "Request canceled by trader",
    TRADE_RETCODE_PLACED: "Order placed",
    TRADE_RETCODE_DONE: "Request executed",
    TRADE_RETCODE_DONE_PARTIAL: "Request executed partially",
    TRADE_RETCODE_ERROR: "Request processing error",
    TRADE_RETCODE_TIMEOUT: "Request canceled by timeout",
    TRADE_RETCODE_INVALID: "Invalid request",
    TRADE_RETCODE_INVALID_VOLUME: "Invalid volume",
    TRADE_RETCODE_INVALID_PRICE: "Invalid price",
    TRADE_RETCODE_INVALID_STOPS: "Invalid stops",
    TRADE_RETCODE_TRADE_DISABLED: "Trade disabled",
    TRADE_RETCODE_MARKET_CLOSED: "Market closed",
    TRADE_RETCODE_NO_MONEY: "No money",
    TRADE_RETCODE_PRICE_CHANGED: "Prices changed",
    TRADE_RETCODE_PRICE_OFF: "No prices",
    TRADE_RETCODE_INVALID_EXPIRATION: "Invalid expiration",
    TRADE_RETCODE_ORDER_CHANGED: "Order state changed",
    TRADE_RETCODE_TOO_MANY_REQUESTS: "Too many requests",
    TRADE_RETCODE_NO_CHANGES: "No changes",
    TRADE_RETCODE_SERVER_DISABLES_AT: "AutoTrading disabled by server",
    TRADE_RETCODE_CLIENT_DISABLES_AT: "AutoTrading disabled by client",
    TRADE_RETCODE_LOCKED: "Request locked",
    TRADE_RETCODE_FROZEN: "Order or position frozen",
    TRADE_RETCODE_INVALID_FILL: "Unsupported filling mode",
    TRADE_RETCODE_CONNECTION: "No connection",
    TRADE_RETCODE_ONLY_REAL: "Only real accounts allowed",
    TRADE_RETCODE_LIMIT_ORDERS: "Orders limit reached",
    TRADE_RETCODE_LIMIT_VOLUME: "Volume limit reached",
    TRADE_RETCODE_INVALID_ORDER: "Invalid or prohibited order type",
    TRADE_RETCODE_POSITION_CLOSED: "Position already closed",
    TRADE_RETCODE_INVALID_CLOSE_VOLUME: "Invalid close volume",
    TRADE_RETCODE_CLOSE_ORDER_EXIST: "Close order already exists",
    TRADE_RETCODE_LIMIT_POSITIONS: "Positions limit reached",
    TRADE_RETCODE_REJECT_CANCEL: "Order activation rejected, order canceled",
    TRADE_RETCODE_LONG_ONLY: "Only long positions allowed",
    TRADE_RETCODE_SHORT_ONLY: "Only short positions allowed",
    TRADE_RETCODE_CLOSE_ONLY: "Only position closing allowed",
    TRADE_RETCODE_FIFO_CLOSE: "FIFO close required",
    TRADE_RETCODE_HEDGE_PROHIBITED: "Hedging prohibited",
}
"""The comment a terminal writes into a trade result, per retcode (0 is order_check's 'Done')."""


def retcode_comment(retcode: int) -> str:
    """The result comment for ``retcode`` (a generic one for codes outside the table)."""
    return RETCODE_COMMENTS.get(retcode, f"Retcode {retcode}")


TIMEFRAME_SECONDS: Final[Mapping[int, int]] = {
    TIMEFRAME_M1: 60, TIMEFRAME_M2: 120, TIMEFRAME_M3: 180, TIMEFRAME_M4: 240,
    TIMEFRAME_M5: 300, TIMEFRAME_M6: 360, TIMEFRAME_M10: 600, TIMEFRAME_M12: 720,
    TIMEFRAME_M15: 900, TIMEFRAME_M20: 1200, TIMEFRAME_M30: 1800, TIMEFRAME_H1: 3600,
    TIMEFRAME_H2: 7200, TIMEFRAME_H3: 10800, TIMEFRAME_H4: 14400, TIMEFRAME_H6: 21600,
    TIMEFRAME_H8: 28800, TIMEFRAME_H12: 43200, TIMEFRAME_D1: 86400, TIMEFRAME_W1: 604800,
    TIMEFRAME_MN1: 2592000,
}
"""Nominal length of each timeframe in seconds (MN1 counts 30 days; real months vary)."""
