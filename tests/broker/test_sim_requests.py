"""Python-level request checks: the traps that pass in a lax simulator and fail live."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy as np
import pytest

from dtms.broker import constants as c
from dtms.broker.sim import SimBroker

UNNAMED = (-2, "Unnamed arguments not allowed")


def buy(**changes: Any) -> dict[str, Any]:
    req: dict[str, Any] = {
        "action": c.TRADE_ACTION_DEAL, "symbol": "EURUSD", "volume": 0.1,
        "type": c.ORDER_TYPE_BUY, "type_filling": c.ORDER_FILLING_FOK,
    }
    req.update(changes)
    return req


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sl", 0),
        ("sl", None),
        ("tp", Decimal("1.2")),
        ("volume", None),
        ("volume", 1),
        ("price", "1.1"),
        ("type", 0.0),
        ("magic", np.int64(5)),
        ("magic", -1),
        ("position", 1.0),
        ("symbol", b"EURUSD"),
        ("comment", 7),
    ],
)
def test_wrong_field_types_are_rejected_before_the_server(
    sim: SimBroker, field: str, value: object
) -> None:
    for fn in (sim.order_send, sim.order_check):
        assert fn(buy(**{field: value})) is None
        assert sim.last_error() == (-2, f'Invalid "{field}" argument')
    assert sim.positions_get() == ()


def test_numpy_float64_passes_as_a_float(sim: SimBroker) -> None:
    result = sim.order_send(buy(volume=np.float64(0.1), sl=np.float64(0.0)))
    assert result is not None and result.retcode == c.TRADE_RETCODE_DONE
    assert type(result.request.volume) is float


def test_bool_passes_as_an_int(sim: SimBroker) -> None:
    result = sim.order_send(buy(type=False))
    assert result is not None and result.retcode == c.TRADE_RETCODE_DONE


@pytest.mark.parametrize(
    ("args", "kwargs", "error"),
    [
        ((buy(),), {"extra": 1}, UNNAMED),
        ((buy(), buy()), {}, UNNAMED),
        ((), {"request": buy()}, UNNAMED),
        ((), {}, (-2, "Invalid number of arguments")),
        (([("action", 1)],), {}, (-2, "Invalid arguments")),
    ],
)
def test_exactly_one_positional_dict(
    sim: SimBroker, args: tuple[Any, ...], kwargs: dict[str, Any], error: tuple[int, str]
) -> None:
    assert sim.order_send(*args, **kwargs) is None
    assert sim.last_error() == error
    assert sim.order_check(*args, **kwargs) is None
    assert sim.last_error() == error


def test_a_kwargs_splat_is_rejected(sim: SimBroker) -> None:
    # The real extension also rejects an *empty* ``**{}``; a Python method cannot see one.
    assert sim.order_send(buy(), **{"magic": 1}) is None
    assert sim.last_error() == UNNAMED


def test_comment_length_limit(sim: SimBroker, make: Any) -> None:
    ok = sim.order_send(buy(comment="c" * 31))
    assert ok is not None and ok.retcode == c.TRADE_RETCODE_DONE
    assert sim.order_send(buy(comment="c" * 32)) is None
    assert sim.last_error() == (-2, 'Invalid "comment" argument')
    strict = make(comment_max_length=27)
    assert strict.order_send(buy(comment="c" * 28)) is None
    assert strict.order_send(buy(comment="c" * 27)) is not None


def test_type_checks_come_before_the_link_check(sim: SimBroker) -> None:
    sim.shutdown()
    assert sim.order_send(buy(sl=0)) is None
    assert sim.last_error() == (-2, 'Invalid "sl" argument')
    assert sim.order_send(buy()) is None
    assert sim.last_error() == (-10004, "No IPC connection")


def test_missing_keys_default_to_zero_and_unknown_keys_are_ignored(sim: SimBroker) -> None:
    result = sim.order_send({"action": 1, "symbol": "EURUSD", "volume": 0.1, "whatever": 3})
    assert result is not None and result.retcode == c.TRADE_RETCODE_DONE
    assert result.request.type == c.ORDER_TYPE_BUY and result.request.sl == 0.0


def test_positions_get_filters_are_keyword_only(sim: SimBroker) -> None:
    assert sim.positions_get("EURUSD") is None
    assert sim.last_error() == UNNAMED
    assert sim.orders_get("EURUSD") is None
    assert sim.last_error() == UNNAMED
    assert sim.positions_get(symbol="EURUSD") == ()
    assert sim.positions_get(ticket="1") is None  # type: ignore[arg-type]
    assert sim.last_error() == (-2, 'Invalid "ticket" argument')
