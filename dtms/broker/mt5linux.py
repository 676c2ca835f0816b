"""The MT5 surface over an rpyc *classic* server (mt5linux under Wine, or ``dtms sim-server``).

Theory of operation. The server is a plain rpyc classic (SlaveService) server in a Python where
``import MetaTrader5`` works. On connect the adapter defines a small helper there; every call
then is **one** round trip: the call travels as pickled plain values (so the remote function
gets a real ``dict`` — the real extension refuses a proxied one — and no numpy scalar reprs),
the helper calls ``MetaTrader5``, reads ``last_error()`` right after a ``None``/``False``, turns
structs into dicts (``_asdict()``, nested ``request`` too) and answers pickled bytes. Nothing
crosses the wire as a netref; the local side rebuilds :mod:`dtms.broker.structs` types.

A broken link (EOF, socket error, rpyc timeout) is answered the MT5 way — ``None`` with
``(-10004, 'No IPC connection')`` or ``(-10005, 'IPC timeout')`` — so the gateway's reconnect
path applies; ``initialize()`` opens a new connection when the old one is gone. All clients
of one server share one ``MetaTrader5`` module: ``shutdown()`` from one affects the others.

Connecting is bounded by ``connect_timeout`` as a whole: the TCP connect, the rpyc handshake and
the helper's first remote calls. A port that accepts and never answers, and a server of another
rpyc generation (rpyc 5 frames its messages differently: rpyc 6 reads the first byte of an rpyc
5 message, a brine tuple tag, as "invalid message type: 18"), each fail ``initialize()`` with one
line saying so. Closing is bounded too: a failed connection's socket is shut at once, and a
polite close waits at most ``CLOSE_TIMEOUT`` for the server, so nothing hangs at exit.
"""

from __future__ import annotations

import contextlib
import numbers
import pickle
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from dtms.broker import constants, structs
from dtms.broker.mt5 import initialize_arguments
from dtms.core.params import knob

NO_IPC = (constants.RES_E_INTERNAL_FAIL_CONNECT, "No IPC connection")
IPC_TIMEOUT = (constants.RES_E_INTERNAL_FAIL_TIMEOUT, "IPC timeout")
SUCCESS = (constants.RES_S_OK, "Success")
_PROTOCOL = 4  # the Windows-side Python may be older than ours
_STRUCT_KEY = "__mt5_struct__"
_TABLE_KEY = "__mt5_table__"
"""A tuple of structs of one type with plain fields crosses as one table: the field names
once, then a row of values per struct (a snapshot of 3,000 positions: one header, not 3,000
dicts built there and taken apart here)."""
CLOSE_TIMEOUT = 2.0
"""Seconds a polite close waits for the server's acknowledgement."""
RPYC_PIN = "rpyc==6.0.2"
_OLD_RPYC = "invalid message type"
"""rpyc 6's complaint when it reads an rpyc 5 frame (whose first byte is a brine tag)."""

_REMOTE_HELPER = f"""
import pickle as _dtms_pickle
import MetaTrader5 as mt5

_DTMS_SCALARS = (int, float, str, bool, bytes, type(None))
def _dtms_table(items):
    first = items[0]
    kind = type(first)
    names = tuple(first._asdict())
    head = tuple(first)
    if len(head) != len(names) or any(type(x) not in _DTMS_SCALARS for x in head):
        return None
    rows = [tuple(v) for v in items if type(v) is kind]
    if len(rows) != len(items):
        return None
    return {{"{_TABLE_KEY}": kind.__name__, "fields": names, "rows": rows}}
def _dtms_plain(value):
    if hasattr(value, "_asdict"):
        fields = {{k: _dtms_plain(v) for k, v in value._asdict().items()}}
        fields["{_STRUCT_KEY}"] = type(value).__name__
        return fields
    if type(value) is tuple:
        if value and hasattr(value[0], "_asdict"):
            table = _dtms_table(value)
            if table is not None:
                return table
        return tuple(_dtms_plain(v) for v in value)
    return value

def _dtms_call(payload):
    name, args, kwargs = _dtms_pickle.loads(payload)
    value = getattr(mt5, name)(*args, **kwargs)
    error = tuple(mt5.last_error()) if value is None or value is False else None
    return _dtms_pickle.dumps((_dtms_plain(value), error), {_PROTOCOL})

def _dtms_constants():
    found = {{n: v for n, v in vars(mt5).items() if n.isupper() and type(v) is int}}
    return _dtms_pickle.dumps(found, {_PROTOCOL})
"""

_STRUCTS: Mapping[str, Any] = {
    cls.__name__: cls
    for cls in (
        structs.TradeRequest,
        structs.OrderSendResult,
        structs.OrderCheckResult,
        structs.TradePosition,
        structs.TradeOrder,
        structs.TradeDeal,
        structs.Tick,
        structs.AccountInfo,
        structs.TerminalInfo,
        structs.SymbolInfo,
        structs.BookInfo,
    )
}


@dataclass(frozen=True, slots=True)
class Mt5LinuxSettings:
    """Where the rpyc classic server is and which account to attach (``[broker.mt5linux]``)."""

    host: str = knob("127.0.0.1", "host of the rpyc classic server (mt5linux or dtms sim-server)")
    port: int = knob(18812, "TCP port of the rpyc classic server", ge=1, le=65535)
    timeout: float = knob(
        300.0, "seconds one remote call may take (keep above MT5's 60 s login)", gt=0, le=3600
    )
    path: str = knob("", "terminal64.exe path on the server side; empty: the default terminal")
    login: int = knob(0, "account number; 0 uses the account the terminal is logged into", ge=0)
    password: str = knob("", "account password (only with a login)")
    server: str = knob("", "trade server name (only with a login)")
    timeout_ms: int = knob(
        60_000, "milliseconds the remote initialize() may take", ge=1000, le=600_000
    )
    connect_timeout: float = knob(
        10.0, "seconds to connect: TCP, the rpyc handshake and the first remote calls",
        gt=0, le=600,
    )


def _plain(value: Any) -> Any:
    """A request value as plain Python: numpy scalars cast, datetimes as epoch seconds."""
    if value is None or isinstance(value, str | bool):
        return value
    if isinstance(value, np.generic):  # numpy >= 2 reprs and pickles them as numpy objects
        return _plain(value.item())
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    if isinstance(value, datetime):
        return int(value.timestamp())
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return type(value)(_plain(v) for v in value)
    return value


def _decode(value: Any) -> Any:
    """Rebuild local struct types from the helper's plain answer."""
    if isinstance(value, dict) and _TABLE_KEY in value:
        return _decode_table(value[_TABLE_KEY], tuple(value["fields"]), value["rows"])
    if isinstance(value, dict) and _STRUCT_KEY in value:
        name = value.pop(_STRUCT_KEY)
        fields = {k: _decode(v) for k, v in value.items()}
        cls = _STRUCTS.get(name)
        return cls.from_dict(fields) if cls is not None else fields
    if type(value) is tuple:
        return tuple(_decode(v) for v in value)
    return value


def _decode_table(name: str, fields: tuple[str, ...], rows: list[tuple[Any, ...]]) -> Any:
    """A table's rows as local structs: straight into the type when the fields are ours, in
    our order; by name otherwise (another build's fields: missing ones take their zero)."""
    cls = _STRUCTS.get(name)
    if cls is None:
        return tuple(dict(zip(fields, row, strict=True)) for row in rows)
    if fields == cls._fields:
        return tuple(map(cls._make, rows))
    return tuple(cls.from_dict(dict(zip(fields, row, strict=True))) for row in rows)


def _remote(name: str, doc: str) -> Callable[..., Any]:
    def call(self: Mt5LinuxBroker, *args: Any, **kwargs: Any) -> Any:
        return self._call(name, args, kwargs)

    call.__name__ = call.__qualname__ = name
    call.__doc__ = doc
    return call


class Mt5LinuxBroker:
    """The MT5 API of a remote ``MetaTrader5`` module, over rpyc classic.

    Args:
        host, port: the rpyc classic server.
        timeout: seconds one remote call may take before it counts as an IPC timeout.
        initialize_args: positional and keyword arguments ``initialize()`` uses when called
            without any (terminal path and account, see :func:`connect_mt5linux`).
        connect_timeout: seconds connecting may take in all (TCP, the rpyc handshake, the
            helper's first remote calls).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 18812,
        timeout: float = 300.0,
        *,
        initialize_args: tuple[tuple[Any, ...], dict[str, Any]] = ((), {}),
        connect_timeout: float = 10.0,
    ) -> None:
        self.host = host
        self.port = port
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._init_args = initialize_args
        self._conn: Any = None
        self._remote_call: Any = None
        self._error: tuple[int, str] = NO_IPC
        for name, value in constants.MODULE_CONSTANTS.items():
            setattr(self, name, value)

    def __repr__(self) -> str:
        state = "connected" if self.connected else "not connected"
        return f"<Mt5LinuxBroker {self.host}:{self.port} {state}>"

    def __getattr__(self, name: str) -> Any:  # constants the remote module adds
        raise AttributeError(f"MetaTrader5 (at {self.host}:{self.port}) has no attribute {name!r}")

    @property
    def connected(self) -> bool:
        """Whether the rpyc connection is open (the terminal may still be uninitialized)."""
        return self._conn is not None and not self._conn.closed

    # --- session -------------------------------------------------------------------------
    def initialize(self, *args: Any, **kwargs: Any) -> bool:
        """Connect to the server if needed, then ``MetaTrader5.initialize()`` remotely."""
        if not args and not kwargs:
            args, kwargs = self._init_args
        if not self._connect():
            return False
        return bool(self._call("initialize", args, kwargs))

    def shutdown(self) -> None:
        """``MetaTrader5.shutdown()`` remotely (for every client of that server), then close."""
        if self.connected:
            self._call("shutdown", (), {})
        self._close()
        self._error = SUCCESS

    def last_error(self) -> tuple[int, str]:
        """The error of the previous call, read on the server right after it."""
        return self._error

    login = _remote("login", "Switch the remote terminal to another account.")
    version = _remote("version", "The remote terminal's version.")
    account_info = _remote("account_info", "The logged-in account.")
    terminal_info = _remote("terminal_info", "The remote terminal's state and settings.")
    symbols_total = _remote("symbols_total", "How many symbols the server offers.")
    symbols_get = _remote("symbols_get", "Every symbol, or those matching a group mask.")
    symbol_info = _remote("symbol_info", "One symbol's properties and live quote.")
    symbol_info_tick = _remote("symbol_info_tick", "One symbol's last tick.")
    symbol_select = _remote("symbol_select", "Show or hide a symbol in Market Watch.")
    positions_total = _remote("positions_total", "How many positions are open.")
    positions_get = _remote("positions_get", "Open positions, all or filtered.")
    orders_total = _remote("orders_total", "How many pending orders are active.")
    orders_get = _remote("orders_get", "Active pending orders.")
    history_orders_total = _remote("history_orders_total", "History orders in a range.")
    history_orders_get = _remote("history_orders_get", "History orders.")
    history_deals_total = _remote("history_deals_total", "Deals in a range.")
    history_deals_get = _remote("history_deals_get", "Deals.")
    order_calc_margin = _remote("order_calc_margin", "Margin of an order.")
    order_calc_profit = _remote("order_calc_profit", "Profit of a BUY/SELL between two prices.")
    order_check = _remote("order_check", "Validate a request (sent as a real remote dict).")
    order_send = _remote("order_send", "Send a trade request (sent as a real remote dict).")
    copy_rates_from = _remote("copy_rates_from", "Bars up to a date.")
    copy_rates_from_pos = _remote("copy_rates_from_pos", "Bars back from a position.")
    copy_rates_range = _remote("copy_rates_range", "Bars between two dates.")
    copy_ticks_from = _remote("copy_ticks_from", "Ticks from a date.")
    copy_ticks_range = _remote("copy_ticks_range", "Ticks between two dates.")
    market_book_add = _remote("market_book_add", "Subscribe to a symbol's book.")
    market_book_get = _remote("market_book_get", "A symbol's book.")
    market_book_release = _remote("market_book_release", "Unsubscribe from a symbol's book.")

    # --- the wire ------------------------------------------------------------------------
    def _call(self, name: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
        if not self.connected:
            self._error = NO_IPC
            return None
        payload = pickle.dumps(
            (name, _plain(tuple(args)), {k: _plain(v) for k, v in kwargs.items()}), _PROTOCOL
        )
        try:
            raw = self._remote_call(payload)
        except TimeoutError:
            self._close()
            self._error = IPC_TIMEOUT
            return None
        except (EOFError, OSError):
            self._close()
            self._error = NO_IPC
            return None
        value, error = pickle.loads(raw)
        self._error = tuple(error) if error is not None else SUCCESS
        return _decode(value)

    def _connect(self) -> bool:
        if self.connected:
            return True
        from rpyc.core.service import ClassicService
        from rpyc.core.stream import SocketStream
        from rpyc.utils.factory import connect_stream

        where = f"{self.host}:{self.port}"
        deadline = time.monotonic() + self.connect_timeout
        try:
            stream = SocketStream.connect(
                self.host, self.port, timeout=self.connect_timeout, attempts=1, keepalive=True
            )
        except TimeoutError:
            return self._init_failed(self._no_answer(where))
        except OSError as exc:
            reason = exc.strerror or str(exc) or type(exc).__name__
            return self._init_failed(
                f"no rpyc classic server at {where} ({reason}): start one with "
                f"`dtms sim-server --port {self.port}`, or run mt5linux under Wine"
            )
        conn: Any = None
        try:
            conn = connect_stream(
                stream, ClassicService, {"sync_request_timeout": _left(deadline)}
            )
            conn._config["sync_request_timeout"] = _left(deadline)
            conn.execute(_REMOTE_HELPER)
            conn._config["sync_request_timeout"] = _left(deadline)
            found = pickle.loads(conn.namespace["_dtms_constants"]())
        except BaseException as exc:
            stream.close()  # first, so no close handshake can wait on a deaf or alien server
            self._drop(conn)
            if isinstance(exc, TimeoutError):
                return self._init_failed(self._no_answer(where))
            if isinstance(exc, ValueError) and _OLD_RPYC in str(exc):
                return self._init_failed(
                    f"the server at {where} speaks rpyc 5.x; dtms needs an rpyc 6 classic "
                    f"server (pip install '{RPYC_PIN}' next to the terminal)"
                )
            if isinstance(exc, ImportError):
                return self._init_failed(f"the server at {where} cannot import MetaTrader5: {exc}")
            if isinstance(exc, EOFError | OSError):
                self._error = NO_IPC
                return False
            raise
        conn._config["sync_request_timeout"] = self.timeout
        for name, value in found.items():
            setattr(self, name, value)
        self._conn = conn
        self._remote_call = conn.namespace["_dtms_call"]
        return True

    def _no_answer(self, where: str) -> str:
        return f"no answer from an rpyc classic server at {where} within {self.connect_timeout:g} s"

    def _init_failed(self, reason: str) -> bool:
        self._error = (constants.RES_E_INTERNAL_FAIL_INIT, f"IPC initialize failed, {reason}")
        return False

    def _close(self) -> None:
        conn, self._conn, self._remote_call = self._conn, None, None
        self._drop(conn)

    @staticmethod
    def _drop(conn: Any) -> None:
        """Close ``conn`` politely, waiting at most ``CLOSE_TIMEOUT`` for the server."""
        if conn is None:
            return
        with contextlib.suppress(Exception):  # already broken: nothing left to close
            conn._config["sync_request_timeout"] = min(
                CLOSE_TIMEOUT, conn._config.get("sync_request_timeout", CLOSE_TIMEOUT)
            )
            conn.close()


def _left(deadline: float) -> float:
    """Seconds left until ``deadline`` (a sliver at least, so rpyc does not wait forever)."""
    return max(deadline - time.monotonic(), 0.01)


def connect_mt5linux(settings: Mt5LinuxSettings | None = None) -> Mt5LinuxBroker:
    """The broker object for ``--broker mt5linux``; the gateway calls its ``initialize()``."""
    s = settings or Mt5LinuxSettings()
    init = initialize_arguments(s.path, s.login, s.password, s.server, s.timeout_ms, False)
    return Mt5LinuxBroker(s.host, s.port, s.timeout, initialize_args=init,
                          connect_timeout=s.connect_timeout)
