"""Constants and structs match the real MetaTrader5 package 5.0.6231."""

from __future__ import annotations

from typing import Any

import numpy as np

from dtms.broker import constants as c
from dtms.broker.protocol import Mt5Api
from dtms.broker.sim import SimBroker
from dtms.broker.structs import (
    STRUCT_TYPES,
    AccountInfo,
    OrderCheckResult,
    OrderSendResult,
    SymbolInfo,
    TerminalInfo,
    Tick,
    TradeDeal,
    TradeOrder,
    TradePosition,
    TradeRequest,
)


def test_odd_constant_names_and_values_are_the_real_ones() -> None:
    assert (c.DEAL_DIVIDEND, c.DEAL_DIVIDEND_FRANKED, c.DEAL_TAX) == (15, 16, 17)
    assert c.ORDER_FILLING_BOC == 3
    assert (c.TIMEFRAME_H1, c.TIMEFRAME_D1, c.TIMEFRAME_W1, c.TIMEFRAME_MN1) == (
        16385, 16408, 32769, 49153,
    )
    assert c.RES_E_INTERNAL_FAIL_CONNECT == -10004
    assert c.TRADE_ACTION_CLOSE_BY == 10
    assert c.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING == 2
    assert c.COPY_TICKS_ALL == -1


def test_module_constants_leave_out_what_the_package_does_not_export() -> None:
    exported = c.MODULE_CONSTANTS
    for name in ("SYMBOL_FILLING_FOK", "SYMBOL_ORDER_CLOSEBY", "SYMBOL_EXPIRATION_GTC",
                 "TRADE_RETCODE_HEDGE_PROHIBITED"):
        assert name not in exported
        assert not hasattr(SimBroker, name)
    assert "DEAL_TAX" in exported and "TRADE_RETCODE_FIFO_CLOSE" in exported
    assert 10005 not in exported.values() and 10037 not in exported.values()


def test_broker_carries_every_module_constant_as_an_attribute(sim: SimBroker) -> None:
    for name, value in c.MODULE_CONSTANTS.items():
        assert getattr(sim, name) == value
        assert getattr(SimBroker, name) == value


def test_struct_field_counts_and_order() -> None:
    counts: dict[Any, int] = {
        TradeRequest: 17, OrderSendResult: 11, OrderCheckResult: 9, TradePosition: 19,
        TradeOrder: 24, TradeDeal: 18, Tick: 8, AccountInfo: 28, TerminalInfo: 22,
        SymbolInfo: 96,
    }
    for struct, n in counts.items():
        assert len(struct._fields) == n, struct.__name__
    assert SymbolInfo._fields[72] == "margin_hedged"
    assert SymbolInfo._fields[95] == "path"
    assert TradePosition._fields[7] == "identifier"
    assert TradeDeal._fields[:3] == ("ticket", "order", "time")
    assert OrderSendResult._fields[-1] == "request"


def test_result_asdict_keeps_request_a_struct_and_from_dict_rebuilds_it() -> None:
    req = TradeRequest(action=1, symbol="EURUSD", volume=0.1, comment="x")
    result = OrderSendResult(retcode=10009, deal=5, order=6, request=req)
    as_dict = result._asdict()
    assert isinstance(as_dict["request"], TradeRequest)
    assert as_dict["request"]._asdict()["symbol"] == "EURUSD"
    wire = {**as_dict, "request": req._asdict()}
    assert OrderSendResult.from_dict(wire) == result
    check = OrderCheckResult(retcode=0, comment="Done", request=req)
    assert OrderCheckResult.from_dict({**check._asdict(), "request": req._asdict()}) == check


def test_structs_index_unpack_and_repr_like_the_real_ones() -> None:
    tick = Tick(time=1, bid=1.1, ask=1.2, time_msc=1000, flags=6)
    time_, bid, ask, *_ = tick
    assert (time_, bid, ask, tick[4], len(tick)) == (1, 1.1, 1.2, 0, 8)
    assert repr(tick).startswith("Tick(time=1, bid=1.1, ask=1.2")
    for struct in STRUCT_TYPES:
        blank = struct()
        assert struct.from_dict(blank._asdict()) == blank
        assert struct.from_dict({}) == blank


def test_from_dict_ignores_unknown_keys() -> None:
    assert Tick.from_dict({"bid": 1.0, "surprise": 3}) == Tick(bid=1.0)


def test_retcode_comments() -> None:
    assert c.retcode_comment(10009) == "Request executed"
    assert c.retcode_comment(0) == "Done"
    assert c.retcode_comment(10030) == "Unsupported filling mode"
    assert c.retcode_comment(10027) == "AutoTrading disabled by client"
    assert c.retcode_comment(99999) == "Retcode 99999"
    assert c.ERROR_MESSAGES[-10004] == "No IPC connection"
    assert c.invalid_argument("sl") == 'Invalid "sl" argument'


def test_rates_arrays_are_packed(sim: SimBroker) -> None:
    rates = sim.copy_rates_from_pos("EURUSD", sim.TIMEFRAME_M5, 0, 5)
    assert rates is not None
    assert rates.dtype.itemsize == 60
    assert rates.dtype.fields is not None and rates.dtype.fields["real_volume"][1] == 52
    assert np.all(np.diff(rates["time"]) > 0)


def test_simbroker_satisfies_the_mt5_protocol(sim: SimBroker) -> None:
    api: Mt5Api = sim  # checked by mypy as well
    assert isinstance(api, Mt5Api)
