"""The broker conformance suite against the simulator, and proof that it catches deviations."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from dtms.broker.sim import MarginMode, SimBroker, SimSettings
from dtms.broker.sim.clock import ManualClock
from dtms.testing import check_broker
from tests.broker.conftest import START, make_sim


def test_simulator_hedging_account_conforms() -> None:
    check_broker(lambda: make_sim(ManualClock(START + 3600), initialize=False))


def test_simulator_netting_account_conforms() -> None:
    clock = ManualClock(START + 3600)
    check_broker(lambda: make_sim(clock, initialize=False, margin_mode=MarginMode.NETTING))


def test_simulator_conforms_on_other_symbols() -> None:
    clock = ManualClock(START + 3600)
    for symbol in ("USDJPY", "XAUUSD", "NZDUSD", "EURCHF", "US30"):
        check_broker(lambda: make_sim(clock, initialize=False), symbol=symbol)


def test_read_only_run_opens_nothing() -> None:
    brokers: list[SimBroker] = []

    def make() -> SimBroker:
        brokers.append(make_sim(ManualClock(START), initialize=False))
        return brokers[-1]

    check_broker(make, allow_trading=False)
    brokers[0].initialize()
    assert brokers[0].history_deals_get(0, START + 10) is not None
    assert len(brokers[0].history_deals_get(0, START + 10) or ()) == 1  # the deposit only


def test_simulator_in_real_time_conforms() -> None:
    check_broker(lambda: SimBroker(SimSettings(start_time=START + 3600)))


class Wire:
    """A broker seen through a wire: every struct result is rebuilt from plain dicts."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            return _rebuild(attr(*args, **kwargs))

        return call


def _rebuild(value: Any) -> Any:
    if isinstance(value, tuple) and hasattr(value, "_asdict"):
        data = {k: (v._asdict() if hasattr(v, "_asdict") else v)
                for k, v in value._asdict().items()}
        struct: Any = type(value)
        return struct.from_dict(data)
    if isinstance(value, tuple):
        return tuple(_rebuild(v) for v in value)
    return value


def test_results_rebuilt_from_dicts_conform() -> None:
    check_broker(lambda: Wire(make_sim(ManualClock(START + 3600), initialize=False)))


class Lax(Wire):
    """A broker with one deviation from the real package."""

    def __init__(self, inner: Any, name: str, replacement: Callable[..., Any]) -> None:
        super().__init__(inner)
        self._name = name
        self._replacement = replacement

    def __getattr__(self, name: str) -> Any:
        if name == self._name:
            return lambda *a, **k: self._replacement(self._inner, *a, **k)
        return super().__getattr__(name)


def _lax_positions(inner: Any, *args: Any, **kwargs: Any) -> Any:
    return inner.positions_get(**kwargs)  # ignores a positional filter


def _lax_order_check(inner: Any, req: dict[str, Any]) -> Any:
    return inner.order_check({k: float(v) if k in ("sl", "tp") else v for k, v in req.items()})


def _descending_rates(inner: Any, *args: Any) -> Any:
    rates = inner.copy_rates_from_pos(*args)
    return None if rates is None else rates[::-1]


@pytest.mark.parametrize(
    ("name", "replacement", "step"),
    [
        ("positions_get", _lax_positions, "positions_get"),
        ("last_error", lambda inner: (0, "ok"), "before initialize"),
        ("order_check", _lax_order_check, "order_check type strictness"),
        ("copy_rates_from_pos", _descending_rates, "copy_rates_from_pos"),
    ],
)
def test_the_suite_catches_deviations(
    name: str, replacement: Callable[..., Any], step: str
) -> None:
    clock = ManualClock(START + 3600)
    with pytest.raises(AssertionError, match=rf"check_broker\[{step}\]"):
        check_broker(lambda: Lax(make_sim(clock, initialize=False), name, replacement))


def test_the_suite_cleans_up_after_a_failure() -> None:
    clock = ManualClock(START + 3600)
    holder: list[SimBroker] = []

    def make() -> Any:
        holder.append(make_sim(clock, initialize=False))
        real_send = holder[0].order_send

        def send(req: dict[str, Any]) -> Any:
            result = real_send(req)
            if req.get("action") == 6:  # break the SL/TP modification
                return result._replace(retcode=10006) if result is not None else None
            return result

        return Lax(holder[0], "order_send", lambda inner, req: send(req))

    with pytest.raises(AssertionError, match=r"check_broker\[modify SL/TP\]"):
        check_broker(make)
    holder[0].initialize()
    assert holder[0].positions_get() == (), "the suite must close what it opened"


@pytest.mark.demo_account
def test_real_demo_account_conforms() -> None:
    if not os.environ.get("DTMS_DEMO_ACCOUNT"):
        pytest.skip("set DTMS_DEMO_ACCOUNT to run against a real MT5 demo terminal")
    mt5 = pytest.importorskip("MetaTrader5")
    check_broker(lambda: mt5, symbol=os.environ.get("DTMS_DEMO_SYMBOL", "EURUSD"))
