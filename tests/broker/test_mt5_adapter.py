"""The real-package adapter: the missing-package message and the bound initialize()."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
import trio
import trio.testing

from dtms.broker.mt5 import (
    NOT_INSTALLED,
    Mt5Settings,
    Mt5Terminal,
    connect_mt5,
    initialize_arguments,
    load_mt5,
)
from dtms.broker.sim import SimBroker, SimSettings
from dtms.errors import BrokerUnavailable
from dtms.runtime.clock import broker_clock_from, broker_sleep_from
from dtms.runtime.executor import InlineExecutor
from dtms.runtime.gateway import open_gateway

HAS_MT5 = importlib.util.find_spec("MetaTrader5") is not None


@pytest.mark.skipif(HAS_MT5, reason="the MetaTrader5 package is installed here")
def test_missing_package_says_what_to_do_in_one_line() -> None:
    with pytest.raises(BrokerUnavailable) as caught:
        load_mt5()
    message = str(caught.value)
    assert message == NOT_INSTALLED
    assert "\n" not in message
    for needle in (
        "Windows only",
        "pip install 'dtms[mt5]'",
        "Wine",
        "mt5linux server",
        "--broker mt5linux",
        "[broker.mt5linux] host/port",
    ):
        assert needle in message
    assert isinstance(caught.value.__cause__, ImportError)
    with pytest.raises(BrokerUnavailable):
        connect_mt5(Mt5Settings())


@pytest.mark.parametrize(
    ("settings", "args", "kwargs"),
    [
        (Mt5Settings(), (), {"timeout": 60000}),
        (
            Mt5Settings(path=r"C:\MT5\terminal64.exe", timeout_ms=5000),
            (r"C:\MT5\terminal64.exe",),
            {"timeout": 5000},
        ),
        (
            Mt5Settings(login=123, password="pw", server="Demo-1"),
            (),
            {"timeout": 60000, "login": 123, "password": "pw", "server": "Demo-1"},
        ),
        (Mt5Settings(login=0, password="ignored", server="ignored"), (), {"timeout": 60000}),
        (Mt5Settings(login=5, portable=True), (), {"timeout": 60000, "login": 5, "portable": True}),
    ],
)
def test_initialize_arguments(
    settings: Mt5Settings, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> None:
    got = initialize_arguments(
        settings.path,
        settings.login,
        settings.password,
        settings.server,
        settings.timeout_ms,
        settings.portable,
    )
    assert got == (args, kwargs)


class RecordingModule:
    """A stand-in for the MetaTrader5 module that records initialize() arguments."""

    TRADE_ACTION_DEAL = 1
    __version__ = "5.0.6231"

    def __init__(self) -> None:
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def initialize(self, *args: Any, **kwargs: Any) -> bool:
        self.calls.append((args, kwargs))
        return True

    def positions_total(self) -> int:
        return 3


def test_terminal_binds_initialize_and_forwards_the_rest() -> None:
    module = RecordingModule()
    terminal = Mt5Terminal(module, Mt5Settings(login=7, password="x", server="S"))
    assert terminal.initialize() is True
    assert terminal.initialize("other.exe") is True
    assert module.calls == [
        ((), {"timeout": 60000, "login": 7, "password": "x", "server": "S"}),
        (("other.exe",), {}),
    ]
    assert terminal.TRADE_ACTION_DEAL == 1
    assert terminal.positions_total() == 3
    assert "5.0.6231" in repr(terminal)


async def test_gateway_drives_a_bound_terminal(autojump_clock: trio.testing.MockClock) -> None:
    settings = SimSettings()
    sim = SimBroker(
        settings,
        clock=broker_clock_from(autojump_clock, settings.start_time),
        sleep=broker_sleep_from(autojump_clock),
    )
    terminal = Mt5Terminal(sim, Mt5Settings(login=settings.login, server=settings.server))
    async with open_gateway(lambda: terminal, executor=InlineExecutor()) as gateway:
        account = (await gateway.call("account_info")).value
    assert account.login == settings.login


async def test_gateway_reports_a_wrong_login(autojump_clock: trio.testing.MockClock) -> None:
    settings = SimSettings()
    sim = SimBroker(
        settings,
        clock=broker_clock_from(autojump_clock, settings.start_time),
        sleep=broker_sleep_from(autojump_clock),
    )
    terminal = Mt5Terminal(sim, Mt5Settings(login=settings.login + 1, server=settings.server))
    with pytest.raises(BrokerUnavailable, match="MT5 login failed: \\(-6, "):
        async with open_gateway(lambda: terminal, executor=InlineExecutor()):
            pass
