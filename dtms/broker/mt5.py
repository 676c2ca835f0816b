"""The real ``MetaTrader5`` package, imported lazily, with its login bound to the settings.

The package exists for Windows only (it talks to ``terminal64.exe`` over a named pipe). On any
other platform :func:`load_mt5` raises :class:`~dtms.errors.BrokerUnavailable` with the two ways
forward: install it on Windows, or run the terminal under Wine behind an rpyc server and use the
mt5linux adapter (``dtms.broker.mt5linux``).
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from dtms.core.params import knob
from dtms.errors import BrokerUnavailable

NOT_INSTALLED = (
    "the MetaTrader5 package is not available: it exists for Windows only. On Windows install "
    "it with pip install 'dtms[mt5]'; on Linux run the terminal under Wine with the mt5linux "
    "server and use --broker mt5linux (config [broker.mt5linux] host/port)"
)


@dataclass(frozen=True, slots=True)
class Mt5Settings:
    """How to attach to a local terminal (config table ``[broker.mt5]``)."""

    path: str = knob("", "path of terminal64.exe; empty lets the package find the terminal")
    login: int = knob(0, "account number; 0 uses the account the terminal is logged into", ge=0)
    password: str = knob("", "account password (only with a login)")
    server: str = knob("", "trade server name, e.g. 'MetaQuotes-Demo' (only with a login)")
    timeout_ms: int = knob(
        60_000, "milliseconds initialize() may take to attach and log in", ge=1000, le=600_000
    )
    portable: bool = knob(False, "start the terminal in portable mode")


def initialize_arguments(
    path: str, login: int, password: str, server: str, timeout_ms: int, portable: bool
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The positional and keyword arguments of ``MetaTrader5.initialize`` for these settings.

    ``path`` is the only positional argument; credentials go only when a login is given, so
    login 0 keeps the terminal's current account.
    """
    args: tuple[Any, ...] = (path,) if path else ()
    kwargs: dict[str, Any] = {"timeout": int(timeout_ms)}
    if login:
        kwargs["login"] = int(login)
        if password:
            kwargs["password"] = password
        if server:
            kwargs["server"] = server
    if portable:
        kwargs["portable"] = True
    return args, kwargs


def load_mt5() -> ModuleType:
    """Import the ``MetaTrader5`` package.

    Raises:
        BrokerUnavailable: it cannot be imported (any platform but Windows, or not installed).
    """
    try:
        return importlib.import_module("MetaTrader5")
    except ImportError as exc:
        raise BrokerUnavailable(NOT_INSTALLED) from exc


class Mt5Terminal:
    """The ``MetaTrader5`` module with ``initialize()`` bound to :class:`Mt5Settings`.

    Every other attribute (functions and constants) is the module's own, so calls go straight
    to the package; only ``initialize()`` without arguments fills in the configured terminal
    path and account.
    """

    def __init__(self, module: Any, settings: Mt5Settings) -> None:
        self._mt5 = module
        self._args, self._kwargs = initialize_arguments(
            settings.path,
            settings.login,
            settings.password,
            settings.server,
            settings.timeout_ms,
            settings.portable,
        )

    def __repr__(self) -> str:
        return f"<Mt5Terminal {getattr(self._mt5, '__version__', '?')}>"

    def initialize(self, *args: Any, **kwargs: Any) -> bool:
        """Attach to the terminal with the configured path and account (or the given ones)."""
        if args or kwargs:
            return bool(self._mt5.initialize(*args, **kwargs))
        return bool(self._mt5.initialize(*self._args, **self._kwargs))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._mt5, name)


def connect_mt5(settings: Mt5Settings | None = None) -> Mt5Terminal:
    """Load the package and return the broker object the gateway drives.

    Raises:
        BrokerUnavailable: the package is not available on this platform.
    """
    return Mt5Terminal(load_mt5(), settings or Mt5Settings())
