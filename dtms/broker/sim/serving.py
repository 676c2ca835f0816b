"""The simulated broker served under the name ``MetaTrader5`` over rpyc classic.

Theory of operation: the server is what mt5linux runs under Wine — an rpyc *classic*
(SlaveService) server — except that ``import MetaTrader5`` on it gives a module whose functions
are one ``SimBroker``'s methods and whose attributes are its constants. dtms's mt5linux adapter,
the mt5linux client packages or any rpyc classic client can drive it. The account, its positions
and its clock (a ``WallClock``) live as long as the server, across client connections.

Results must reach a client that has no dtms installed. The mt5linux clients copy them with
``rpyc.classic.obtain``, i.e. pickled on the server and unpickled on the client; dtms's own
struct types would unpickle as ``dtms.broker.structs.X`` and fail there with ``No module named
'dtms'``. So every served result is re-typed (:func:`portable`) into a subclass of the dtms
struct that pickles as ``collections.namedtuple(name, fields)(*values)``: a plain Python with
rpyc (and numpy, for the rate arrays) rebuilds a named tuple with the real field names, index
order and ``_asdict()``. On the server the values stay dtms structs (``isinstance`` holds), so
dtms's adapter, which turns them into dicts there, keeps rebuilding its own types.

rpyc classic is remote code execution by design: whoever reaches the port runs code as this
user. The server therefore listens on loopback addresses only.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import inspect
import ipaddress
import logging
import signal
import sys
import threading
import types
from collections.abc import Callable
from typing import Any, NoReturn

from dtms.broker import structs
from dtms.broker.sim.broker import SimBroker
from dtms.broker.sim.clock import WallClock
from dtms.broker.sim.market_settings import MarketSettings
from dtms.broker.sim.settings import MarginMode, SimSettings

DEFAULT_PORT = 18812
MODULE_VERSION = "5.0.6231+dtms.sim"

STRUCT_TYPES: tuple[type[Any], ...] = (
    structs.TradeRequest, structs.OrderSendResult, structs.OrderCheckResult,
    structs.TradePosition, structs.TradeOrder, structs.TradeDeal, structs.Tick,
    structs.AccountInfo, structs.TerminalInfo, structs.SymbolInfo, structs.BookInfo,
)


class Stopped(Exception):
    """``serve()`` ended: SIGINT or SIGTERM arrived."""


class _NamedTupleType:
    """Pickles as the call that builds a struct's type in any Python: ``namedtuple(name, fields)``.

    One instance per struct type, so pickle's memo builds the type once per answer.
    """

    __slots__ = ("fields", "name")

    def __init__(self, name: str, fields: tuple[str, ...]) -> None:
        self.name = name
        self.fields = fields

    def __call__(self, *values: Any) -> tuple[Any, ...]:
        """Build the named tuple here too (pickle wants a callable; it is never called)."""
        built: tuple[Any, ...] = collections.namedtuple(self.name, self.fields)(*values)
        return built

    def __reduce__(self) -> tuple[Any, tuple[str, tuple[str, ...]]]:
        return (collections.namedtuple, (self.name, self.fields))


def _portable_type(cls: type[Any]) -> type[Any]:
    rebuild = _NamedTupleType(cls.__name__, tuple(cls._fields))

    def __reduce__(self: tuple[Any, ...]) -> tuple[Any, tuple[Any, ...]]:
        return (rebuild, tuple(self))

    return type(cls.__name__, (cls,), {
        "__slots__": (), "__reduce__": __reduce__, "__doc__": cls.__doc__,
        "__module__": cls.__module__,
    })


_PORTABLE: dict[type[Any], type[Any]] = {cls: _portable_type(cls) for cls in STRUCT_TYPES}


_NESTED = frozenset({structs.OrderSendResult, structs.OrderCheckResult})
"""The structs that hold another one (their ``request``)."""


def portable(value: Any) -> Any:
    """``value`` with every struct in it re-typed to pickle without dtms (see the module doc)."""
    kind = type(value)
    cls = _PORTABLE.get(kind)
    if cls is not None:
        items = (portable(v) for v in value) if kind in _NESTED else value
        return tuple.__new__(cls, items)
    if kind is tuple:
        return tuple(portable(v) for v in value)
    return value


def _served(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        return portable(fn(*args, **kwargs))

    return call


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_module(sim: SimBroker) -> types.ModuleType:
    """A module object named ``MetaTrader5`` whose attributes are ``sim``'s public ones.

    Methods answer :func:`portable` results; the rest (constants, ``scenario``, ``market``)
    is ``sim``'s own.
    """
    module = types.ModuleType("MetaTrader5", "The dtms simulated broker, served as MetaTrader5.")
    for name in dir(sim):
        if name.startswith("_"):
            continue
        value = getattr(sim, name)
        setattr(module, name, _served(value) if inspect.ismethod(value) else value)
    module.__version__ = MODULE_VERSION  # type: ignore[attr-defined]
    module.__author__ = "dtms simulated broker"  # type: ignore[attr-defined]
    return module


def ready_line(host: str, port: int, speed: float, margin_mode: MarginMode) -> str:
    """The one line printed once the server accepts connections."""
    return (
        f"dtms sim-server listening on {host}:{port} "
        f"(speed ×{speed:g}, {margin_mode.value} account)"
    )


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    sim_settings: SimSettings | None = None,
    market_settings: MarketSettings | None = None,
    speed: float | None = None,
    scenario: Callable[[SimBroker], None] | None = None,
    ready: Callable[[str, int], object] | None = None,
) -> NoReturn:
    """Serve a simulated account over rpyc classic until SIGINT/SIGTERM.

    Args:
        host: a loopback address to listen on.
        port: TCP port (0 picks a free one; ``ready`` receives it).
        sim_settings: the account, its faults and quirks; its ``start_time`` is where the
            server's clock starts.
        market_settings: the simulated market (``[broker.market]``).
        speed: broker seconds per wall second of the server's clock (default: the settings').
        scenario: called once with the simulator before the first client (e.g. the demo).
        ready: called with the bound (host, port) once connections are accepted; default
            prints the ready line.

    Raises:
        ValueError: ``host`` is not a loopback address, or the settings contradict the
            simulated symbols (a quirk naming a symbol it does not list).
        OSError: the port cannot be bound.
        Stopped: a signal stopped the server (the normal end).
    """
    from rpyc.core.service import ClassicService
    from rpyc.utils.server import ThreadedServer

    if not is_loopback(host):
        raise ValueError(
            f"refusing to listen on {host}: rpyc classic runs any code a client sends, so "
            "dtms sim-server listens on loopback only (127.0.0.1, ::1, localhost)"
        )
    settings = sim_settings or SimSettings()
    if speed is not None:
        settings = dataclasses.replace(settings, speed=speed)
    sim = SimBroker(settings, clock=WallClock(settings.start_time, settings.speed),
                    market_settings=market_settings)
    if scenario is not None:
        scenario(sim)
    sys.modules["MetaTrader5"] = build_module(sim)
    server = ThreadedServer(
        ClassicService, hostname=host, port=port, reuse_addr=True, auto_register=False,
        logger=server_logger(),
    )
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _stop)
        threading.excepthook = _client_thread_failed
    server._listen()  # accept before saying ready, so a client may connect at once
    bound_port = int(server.port)
    if ready is None:
        print(ready_line(host, bound_port, settings.speed, settings.margin_mode), flush=True)
    else:
        ready(host, bound_port)
    try:
        server.start()
    finally:
        server.close()
    raise Stopped("server closed")


ABRUPT = "client connection terminated abruptly"
"""rpyc's log line when a client goes away without closing (a killed client: routine here)."""


class _OneLine(logging.Formatter):
    """The server's log records as one line each, the exception named but never traced."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"dtms sim-server: {record.getMessage()}"
        if record.exc_info and record.exc_info[1] is not None:
            line += f" ({type(record.exc_info[1]).__name__}: {record.exc_info[1]})"
        return line


def server_logger() -> logging.Logger:
    """The rpyc server's logger: warnings and errors as one line on stderr, no tracebacks, and
    nothing for a client that vanished (dtms killed, a port probe)."""
    logger = logging.getLogger("dtms.sim-server")
    logger.propagate = False
    logger.setLevel(logging.WARNING)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_OneLine())
        handler.addFilter(lambda record: record.getMessage() != ABRUPT)
        logger.addHandler(handler)
    return logger


def _client_thread_failed(args: threading.ExceptHookArgs) -> None:
    """A client's thread died (its client vanished, or the server is stopping): one line at
    most, never a traceback on the server's stderr."""
    if args.exc_type in (SystemExit, EOFError, ConnectionError, OSError) or _STOPPING.is_set():
        return
    name = args.thread.name if args.thread is not None else "a client thread"
    print(f"dtms sim-server: {name}: {args.exc_type.__name__}: {args.exc_value}",
          file=sys.stderr, flush=True)


_STOPPING = threading.Event()


def _stop(signum: int, _frame: Any) -> None:
    _STOPPING.set()
    raise Stopped(signal.Signals(signum).name)
