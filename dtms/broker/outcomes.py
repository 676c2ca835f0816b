"""Classify a broker answer into an :class:`~dtms.core.types.Outcome` and a short reason.

Theory of operation: the trade actors never read retcodes. Whatever the broker answered — a
result struct, ``None`` plus ``last_error()``, an exception from the link, or nothing at all
because the request never left the queue — is turned here into one of five outcomes
(specification §4). The rules are tables, so tests and readers see the same thing:

* order_send / order_check results by ``retcode`` (order_check answers 0 on success);
* ``None`` by ``last_error()``: the IPC codes (−10000 … −10005) mean nobody knows whether the
  terminal executed the request, anything else means it never reached the trade server;
* 10019 "no money" on a *close* is UNKNOWN, not DEFINITIVE: the usual cause is a close that
  already filled and a retry that tries to open the opposite side (SPEC §9) — reconcile first.

Pure functions, no I/O.
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dtms.core.types import Outcome

# MT5 constants used by the rules (values of the MetaTrader5 package, reference §5).
TRADE_ACTION_DEAL = 1
TRADE_ACTION_CLOSE_BY = 10
RETCODE_NO_MONEY = 10019
RETCODE_DONE_PARTIAL = 10010
LAST_ERROR_SUCCESS = 1

IPC_ERROR_CODES = frozenset({-10000, -10001, -10002, -10003, -10004, -10005})
"""last_error codes of the terminal link: the request may or may not have executed."""

MUTATING_FUNCTIONS = frozenset({"order_send"})
"""Broker functions whose effect is unknown when they fail without an answer."""

RETCODE_OUTCOMES: Mapping[int, tuple[Outcome, str]] = {
    0: (Outcome.DONE, "checked"),
    10008: (Outcome.DONE, "placed"),
    10009: (Outcome.DONE, "done"),
    10010: (Outcome.DONE, "done partially: handle the remainder"),
    10004: (Outcome.FIXABLE, "requote: refresh the price"),
    10020: (Outcome.FIXABLE, "prices changed: refresh the price"),
    10021: (Outcome.FIXABLE, "no prices: retry with a fresh quote"),
    10024: (Outcome.FIXABLE, "too many requests: retry later"),
    10028: (Outcome.FIXABLE, "request locked for processing: retry later"),
    10030: (Outcome.FIXABLE, "unsupported filling mode: use one the symbol allows"),
    10011: (Outcome.UNKNOWN, "request processing error: reconcile"),
    10012: (Outcome.UNKNOWN, "timed out at the broker: reconcile, never re-send blindly"),
    10031: (Outcome.UNKNOWN, "no connection to the trade server: reconcile"),
    10018: (Outcome.BLOCKED, "market closed: waits until the symbol trades again"),
    10027: (Outcome.BLOCKED, "AutoTrading is off in the terminal: waits until it is on"),
    10029: (Outcome.BLOCKED, "the position is inside the freeze level: waits"),
}
"""retcode → outcome for every code that is not DEFINITIVE (10019 on a close is special)."""


@dataclass(frozen=True, slots=True)
class Classified:
    """An outcome and the one-line reason behind it."""

    outcome: Outcome
    reason: str


NOT_SENT_CLOSING = Classified(Outcome.BLOCKED, "not sent: gateway closing")
NOT_SENT_DEADLINE = Classified(Outcome.BLOCKED, "not sent: deadline passed while queued")
NOT_SENT_BROKER_DOWN = Classified(Outcome.BLOCKED, "not sent: broker not connected")
NOT_SENT_SUPERSEDED = Classified(
    Outcome.BLOCKED, "not sent: a close or hedge of the same position went first"
)
IN_FLIGHT_DEADLINE = Classified(
    Outcome.UNKNOWN, "deadline passed while in flight: reconcile, never re-send blindly"
)


def is_close_request(request: Mapping[str, Any] | None) -> bool:
    """Whether a trade request closes something: a DEAL naming a position, or a CLOSE_BY."""
    if not request:
        return False
    action = request.get("action")
    if action == TRADE_ACTION_CLOSE_BY:
        return True
    return action == TRADE_ACTION_DEAL and bool(request.get("position"))


def classify_retcode(retcode: int, request: Mapping[str, Any] | None = None) -> Classified:
    """Classify an order_send/order_check ``retcode``; ``request`` is what was sent."""
    if retcode == RETCODE_NO_MONEY:
        if is_close_request(request):
            return Classified(
                Outcome.UNKNOWN, "no money on a close: maybe already closed, reconcile first"
            )
        return Classified(Outcome.DEFINITIVE, "retcode 10019: no money")
    known = RETCODE_OUTCOMES.get(retcode)
    if known is not None:
        outcome, text = known
        return Classified(outcome, f"retcode {retcode}: {text}")
    return Classified(Outcome.DEFINITIVE, f"retcode {retcode}: rejected")


def classify_last_error(last_error: tuple[int, str] | None) -> Classified:
    """Classify a ``None`` answer by the ``last_error()`` read right after it."""
    if last_error is None:
        return Classified(Outcome.UNKNOWN, "no answer and no last_error")
    code, text = last_error
    if code in IPC_ERROR_CODES:
        return Classified(Outcome.UNKNOWN, f"IPC error {code} ({text}): reconcile")
    if code == LAST_ERROR_SUCCESS:
        return Classified(Outcome.DONE, "empty answer")
    return Classified(Outcome.DEFINITIVE, f"error {code}: {text}")


def classify_answer(
    fn_name: str, value: Any, last_error: tuple[int, str] | None, request: Any = None
) -> Classified:
    """Classify any broker function's answer.

    Args:
        fn_name: the MT5 function called (``order_send``, ``positions_get``, ...).
        value: what it returned.
        last_error: ``last_error()`` read right after a ``None``/``False`` answer, else None.
        request: for order_send/order_check, the request dict that was sent.
    """
    if value is None or value is False:
        if value is False and last_error is None:
            return Classified(Outcome.DEFINITIVE, f"{fn_name} answered False")
        return classify_last_error(last_error)
    retcode = retcode_of(value)
    if retcode is not None and fn_name in ("order_send", "order_check"):
        return classify_retcode(retcode, request if isinstance(request, Mapping) else None)
    return Classified(Outcome.DONE, "ok")


def classify_exception(fn_name: str, exc: BaseException) -> Classified:
    """Classify an exception raised by the broker call (or by the link to it)."""
    name = type(exc).__name__
    if fn_name in MUTATING_FUNCTIONS or is_link_error(exc):
        return Classified(Outcome.UNKNOWN, f"{fn_name} raised {name}: {exc}; reconcile")
    return Classified(Outcome.DEFINITIVE, f"{fn_name} raised {name}: {exc}")


def is_link_error(exc: BaseException) -> bool:
    """Whether an exception means the link to the terminal broke (socket, pipe, rpyc)."""
    if isinstance(exc, EOFError | ConnectionError | TimeoutError):
        return True
    # rpyc's own errors (PingError, ...) are link errors; a remote exception re-raised by rpyc
    # (module "rpyc.core.vinegar/<remote module>") is the far side's answer, not a broken link
    module = type(exc).__module__
    return module.startswith("rpyc") and not module.startswith("rpyc.core.vinegar")


def is_ipc_loss(last_error: tuple[int, str] | None) -> bool:
    """Whether a ``last_error()`` says the terminal link is gone (reconnect needed)."""
    return last_error is not None and last_error[0] in IPC_ERROR_CODES


def retcode_of(value: Any) -> int | None:
    """The ``retcode`` of a result struct (or dict), or None when it has none."""
    code = value.get("retcode") if isinstance(value, Mapping) else getattr(value, "retcode", None)
    return int(code) if isinstance(code, numbers.Integral) else None
