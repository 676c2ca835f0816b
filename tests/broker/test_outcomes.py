"""The outcome table: every broker answer maps to DONE / DEFINITIVE / FIXABLE / UNKNOWN."""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import pytest

from dtms.broker import outcomes
from dtms.broker.outcomes import (
    classify_answer,
    classify_exception,
    classify_last_error,
    classify_retcode,
    is_close_request,
    is_ipc_loss,
)
from dtms.core.types import Outcome

DONE, DEF, FIX, UNK, BLK = (Outcome.DONE, Outcome.DEFINITIVE, Outcome.FIXABLE, Outcome.UNKNOWN,
                           Outcome.BLOCKED)

OPEN = {"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 0}
CLOSE = {"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 1, "position": 42}
CLOSE_BY = {"action": 10, "position": 42, "position_by": 43}
SLTP = {"action": 6, "position": 42, "sl": 1.0, "tp": 0.0}

Result = namedtuple("Result", "retcode deal order comment")


@pytest.mark.parametrize(
    ("retcode", "request_", "expected"),
    [
        (10009, OPEN, DONE),
        (10008, OPEN, DONE),
        (10010, CLOSE, DONE),
        (0, OPEN, DONE),
        (10004, OPEN, FIX),
        (10020, OPEN, FIX),
        (10021, CLOSE, FIX),
        (10024, SLTP, FIX),
        (10028, OPEN, FIX),
        (10030, OPEN, FIX),
        (10012, OPEN, UNK),
        (10031, CLOSE, UNK),
        (10011, OPEN, UNK),
        (10019, OPEN, DEF),
        (10019, CLOSE, UNK),
        (10019, CLOSE_BY, UNK),
        (10019, SLTP, DEF),
        (10019, None, DEF),
        (10016, SLTP, DEF),
        (10036, CLOSE, DEF),
        (10027, OPEN, BLK),
        (10027, CLOSE, BLK),
        (10014, OPEN, DEF),
        (10018, OPEN, BLK),
        (10018, CLOSE, BLK),
        (10029, SLTP, BLK),
        (10029, CLOSE, BLK),
        (10013, OPEN, DEF),
        (10025, SLTP, DEF),
        (10046, OPEN, DEF),
    ],
)
def test_retcode_table(retcode: int, request_: dict[str, Any] | None, expected: Outcome) -> None:
    got = classify_retcode(retcode, request_)
    assert got.outcome is expected
    assert got.reason


def test_no_money_on_close_says_reconcile_first() -> None:
    assert "reconcile first" in classify_retcode(10019, CLOSE).reason
    assert "10019" in classify_retcode(10019, OPEN).reason


@pytest.mark.parametrize(
    ("last_error", "expected"),
    [
        ((-10000, "IPC call failed"), UNK),
        ((-10001, "IPC send failed"), UNK),
        ((-10002, "IPC recv failed"), UNK),
        ((-10003, "IPC initialize failed, x"), UNK),
        ((-10004, "No IPC connection"), UNK),
        ((-10005, "IPC timeout"), UNK),
        ((-2, 'Invalid "comment" argument'), DEF),
        ((-1, "Terminal: Call failed"), DEF),
        ((-4, "Terminal: Not found"), DEF),
        ((-8, "Auto-Trading using Python API disabled in Terminal"), DEF),
        ((1, "Success"), DONE),
        (None, UNK),
    ],
)
def test_last_error_table(last_error: tuple[int, str] | None, expected: Outcome) -> None:
    assert classify_last_error(last_error).outcome is expected


def test_ipc_loss_codes() -> None:
    assert is_ipc_loss((-10004, "No IPC connection"))
    assert is_ipc_loss((-10005, "IPC timeout"))
    assert not is_ipc_loss((-2, "Invalid params"))
    assert not is_ipc_loss(None)


@pytest.mark.parametrize(
    ("fn", "value", "last_error", "request_", "expected"),
    [
        ("order_send", Result(10009, 1, 2, "Request executed"), None, OPEN, DONE),
        ("order_send", Result(10019, 0, 0, "No money"), None, CLOSE, UNK),
        ("order_send", {"retcode": 10016}, None, SLTP, DEF),
        ("order_check", Result(0, 0, 0, "Done"), None, OPEN, DONE),
        ("order_check", Result(10019, 0, 0, "No money"), None, OPEN, DEF),
        ("order_send", None, (-2, 'Invalid "sl" argument'), OPEN, DEF),
        ("order_send", None, (-10004, "No IPC connection"), OPEN, UNK),
        ("positions_get", (), None, None, DONE),
        ("positions_get", None, (1, "Success"), None, DONE),
        ("symbol_info", None, (-4, "Terminal: Not found"), None, DEF),
        ("symbol_select", False, (-4, "Terminal: Not found"), None, DEF),
        ("symbol_select", False, None, None, DEF),
        ("symbol_select", True, None, None, DONE),
        ("account_info", Result(0, 0, 0, ""), None, None, DONE),
    ],
)
def test_answer_table(
    fn: str, value: Any, last_error: Any, request_: Any, expected: Outcome
) -> None:
    assert classify_answer(fn, value, last_error, request_).outcome is expected


@pytest.mark.parametrize(
    ("fn", "exc", "expected"),
    [
        ("order_send", EOFError("stream closed"), UNK),
        ("order_send", ValueError("bad"), UNK),
        ("positions_get", ConnectionResetError(104, "reset"), UNK),
        ("positions_get", TimeoutError("result expired"), UNK),
        ("positions_get", TypeError("bad argument"), DEF),
    ],
)
def test_exception_table(fn: str, exc: BaseException, expected: Outcome) -> None:
    assert classify_exception(fn, exc).outcome is expected


def test_rpyc_errors_are_link_errors_but_remote_exceptions_are_not() -> None:
    ping_error = type("PingError", (Exception,), {"__module__": "rpyc.core.protocol"})
    remote = type("remote.Oops", (Exception,), {"__module__": "rpyc.core.vinegar/remote"})
    assert classify_exception("positions_get", ping_error("no pong")).outcome is UNK
    assert classify_exception("positions_get", remote("bug over there")).outcome is DEF
    assert classify_exception("order_send", remote("bug over there")).outcome is UNK


def test_never_sent_is_a_wait_and_in_flight_deadline_unknown() -> None:
    # a request that never left the queue is not a failure: it never counts toward giving up
    assert outcomes.NOT_SENT_CLOSING.outcome is BLK
    assert outcomes.NOT_SENT_DEADLINE.outcome is BLK
    assert outcomes.NOT_SENT_BROKER_DOWN.outcome is BLK
    assert outcomes.IN_FLIGHT_DEADLINE.outcome is UNK
    assert "not sent" in outcomes.NOT_SENT_DEADLINE.reason


@pytest.mark.parametrize(
    ("request_", "expected"),
    [(OPEN, False), (CLOSE, True), (CLOSE_BY, True), (SLTP, False), (None, False), ({}, False)],
)
def test_is_close_request(request_: dict[str, Any] | None, expected: bool) -> None:
    assert is_close_request(request_) is expected
