"""A conformance suite every MT5 broker adapter must pass: ``check_broker(make_broker)``.

In the spirit of ``trio.testing.check_one_way_stream``: a plain function, not tied to pytest,
that raises ``AssertionError`` with a message naming the check that failed. It only uses the
MT5 API itself, never simulator controls, so the same checks run against the simulator, the
mt5linux adapter talking to ``dtms sim-server`` (every call a remote round trip, results rebuilt
from dicts) and a real demo account. Everything it checks is something a real MT5 demo account
shows too; where the reference leaves a detail unverified, both observed answers are accepted.

With ``allow_trading`` it opens and closes small positions tagged with ``magic``, and closes
whatever carries that magic in a ``finally`` block, so an account is left as it was found
(apart from spread and commission).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from dtms.broker.structs import (
    AccountInfo,
    OrderCheckResult,
    OrderSendResult,
    SymbolInfo,
    Tick,
    TradeDeal,
    TradePosition,
    TradeRequest,
)

CHECK_MAGIC = 770_077_001
CHECK_COMMENT = "dtms-check"
RATES_FIELDS = ("time", "open", "high", "low", "close", "tick_volume", "spread", "real_volume")
RETRIES = 20
RETRY_PAUSE = 0.25
"""A real terminal lists a new position or deal a moment after order_send answers (SPEC §9):
lookups that miss are retried this many times, this many seconds apart. The simulator is
always up to date, so against it the suite never waits."""


class _Run:
    """One run of the suite: the broker under test and what must be cleaned up."""

    def __init__(self, mt5: Any, symbol: str, magic: int) -> None:
        self.mt5 = mt5
        self.symbol = symbol
        self.magic = magic
        self.step = "start"

    @contextmanager
    def check(self, step: str) -> Iterator[None]:
        self.step = step
        try:
            yield
        except AssertionError as exc:
            raise AssertionError(f"check_broker[{step}]: {exc}") from None

    def call(self, fn_name: str, *args: Any, **kwargs: Any) -> Any:
        return getattr(self.mt5, fn_name)(*args, **kwargs)

    def expect(self, value: Any, fn_name: str) -> Any:
        assert value is not None, f"{fn_name} returned None, last_error={self.mt5.last_error()}"
        return value


def check_broker(
    make_broker: Callable[[], Any],
    *,
    symbol: str = "EURUSD",
    allow_trading: bool = True,
    magic: int = CHECK_MAGIC,
) -> None:
    """Check that the broker from ``make_broker()`` behaves like the ``MetaTrader5`` module.

    Args:
        make_broker: returns a fresh broker object that is **not yet initialized**.
        symbol: a liquid symbol whose market is open now.
        allow_trading: also open, modify and close positions of ``symbol`` (minimum volumes).
        magic: the magic number of every position the suite opens.

    Raises:
        AssertionError: naming the failed check and what was seen.
    """
    mt5 = make_broker()
    run = _Run(mt5, symbol, magic)
    with run.check("before initialize"):
        assert mt5.account_info() is None, "account_info() answered before initialize()"
        assert mt5.last_error()[0] == mt5.RES_E_INTERNAL_FAIL_CONNECT, (
            f"last_error() before initialize() is {mt5.last_error()}, expected -10004"
        )
    with run.check("initialize"):
        assert mt5.initialize() is True, f"initialize() failed: {mt5.last_error()}"
        assert tuple(mt5.last_error()) == (1, "Success"), (
            f"last_error() after a success is {mt5.last_error()}, expected (1, 'Success')"
        )
    try:
        _check_reads(run)
        if allow_trading:
            _check_trading(run)
    finally:
        try:
            _close_leftovers(run)
        finally:
            mt5.shutdown()
    with run.check("after shutdown"):
        assert mt5.account_info() is None, "account_info() answered after shutdown()"
        assert mt5.last_error()[0] == mt5.RES_E_INTERNAL_FAIL_CONNECT, (
            f"last_error() after shutdown() is {mt5.last_error()}, expected -10004"
        )


# --- reads ---------------------------------------------------------------------------------
def _check_reads(run: _Run) -> None:
    mt5, symbol = run.mt5, run.symbol
    with run.check("account_info"):
        acc = run.expect(mt5.account_info(), "account_info")
        _same_fields(acc, AccountInfo, "AccountInfo")
        _check_account_arithmetic(acc)
        assert acc.margin_mode in (0, 1, 2), f"margin_mode {acc.margin_mode}"
        assert acc.leverage >= 1 and acc.currency, f"leverage {acc.leverage} / {acc.currency!r}"
    with run.check("terminal_info"):
        term = run.expect(mt5.terminal_info(), "terminal_info")
        assert term.connected, "terminal_info().connected is false"
        assert term.build > 0 and term.maxbars > 0, f"build {term.build}, maxbars {term.maxbars}"
    with run.check("symbol_info"):
        assert mt5.symbol_select(symbol, True) is True, f"symbol_select: {mt5.last_error()}"
        info = run.expect(mt5.symbol_info(symbol), "symbol_info")
        _same_fields(info, SymbolInfo, "SymbolInfo")
        assert len(info) == 96, f"SymbolInfo has {len(info)} fields, expected 96"
        assert info.name == symbol, f"name {info.name!r}"
        assert abs(info.point - 10.0 ** -info.digits) < 1e-12, (
            f"point {info.point} does not match digits {info.digits}"
        )
        assert 0 < info.volume_min <= info.volume_max, f"volume_min/max {info.volume_min}"
        assert info.volume_step > 0, f"volume_step {info.volume_step}"
        assert info.trade_contract_size > 0, f"contract size {info.trade_contract_size}"
        assert mt5.symbol_info("NO_SUCH_SYMBOL_DTMS") is None, "unknown symbol has an info"
        assert mt5.last_error()[0] < 0, f"unknown symbol: last_error {mt5.last_error()}"
    with run.check("symbol_info_tick"):
        tick = run.expect(mt5.symbol_info_tick(symbol), "symbol_info_tick")
        _same_fields(tick, Tick, "Tick")
        assert 0 < tick.bid <= tick.ask, f"bid {tick.bid} ask {tick.ask}"
        assert tick.time_msc // 1000 == tick.time, f"time {tick.time} vs {tick.time_msc}"
    with run.check("copy_rates_from_pos"):
        _check_rates(run, tick)
    with run.check("positions_get"):
        assert isinstance(run.expect(mt5.positions_get(), "positions_get"), tuple)
        assert isinstance(run.expect(mt5.positions_get(symbol=symbol), "positions_get"), tuple)
        assert mt5.positions_get(symbol) is None, "positions_get accepted a positional argument"
        assert mt5.last_error()[0] == mt5.RES_E_INVALID_PARAMS, (
            f"positional positions_get: last_error {mt5.last_error()}, expected -2"
        )
    with run.check("order_check type strictness"):
        req = _request(run, info, tick, sl=0)
        assert mt5.order_check(req) is None, "order_check accepted sl=0 (an int)"
        assert mt5.last_error()[0] == mt5.RES_E_INVALID_PARAMS, f"{mt5.last_error()}"
        assert mt5.order_check(_request(run, info, tick, comment="x" * 40)) is None, (
            "order_check accepted a 40-character comment"
        )
        assert mt5.last_error()[0] == mt5.RES_E_INVALID_PARAMS, f"{mt5.last_error()}"


def _check_rates(run: _Run, tick: Any) -> None:
    mt5, symbol = run.mt5, run.symbol
    rates = run.expect(mt5.copy_rates_from_pos(symbol, mt5.TIMEFRAME_M5, 0, 10), "copy_rates")
    assert rates.dtype.names == RATES_FIELDS, f"rates fields {rates.dtype.names}"
    assert rates.dtype.itemsize == 60, f"rates itemsize {rates.dtype.itemsize}, expected 60"
    assert rates.dtype.fields["real_volume"][1] == 52, "rates dtype is not packed"
    assert 1 <= len(rates) <= 10, f"{len(rates)} bars for count=10"
    times = rates["time"]
    assert all(int(a) < int(b) for a, b in itertools.pairwise(times)), (
        "bars are not in ascending time order"
    )
    last = int(times[-1])
    assert last <= tick.time < last + 300, (
        f"position 0 is the bar at {last}, but the last tick at {tick.time} is not in it"
    )
    older = run.expect(mt5.copy_rates_from_pos(symbol, mt5.TIMEFRAME_M5, 1, 3), "copy_rates")
    assert int(older["time"][-1]) == int(times[-2]), "position 1 is not the last closed bar"


# --- trading -------------------------------------------------------------------------------
def _check_trading(run: _Run) -> None:
    mt5, symbol = run.mt5, run.symbol
    info = run.expect(mt5.symbol_info(symbol), "symbol_info")
    tick = run.expect(mt5.symbol_info_tick(symbol), "symbol_info_tick")
    vmin = info.volume_min
    hedging = mt5.account_info().margin_mode == mt5.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
    if not hedging:
        with run.check("netting precondition"):
            held = run.expect(mt5.positions_get(symbol=symbol), "positions_get")
            assert not held, (
                f"this netting account already holds a {symbol} position; an order would net "
                "against it: run the suite on a symbol without positions"
            )

    with run.check("order_check success"):
        chk = run.expect(mt5.order_check(_request(run, info, tick)), "order_check")
        _same_fields(chk, OrderCheckResult, "OrderCheckResult")
        assert chk.retcode == 0 and chk.comment == "Done", f"{chk.retcode} {chk.comment!r}"
        assert chk.margin > 0, f"projected margin {chk.margin}"
        _request_stays_struct(chk)
    with run.check("invalid volume"):
        bad = round(vmin + info.volume_step / 2, 10)
        r = _send(run, _request(run, info, tick, volume=bad))
        assert r.retcode == mt5.TRADE_RETCODE_INVALID_VOLUME, f"retcode {r.retcode}"
    with run.check("stops on the wrong side"):
        dist = _distance(info)
        r = _send(run, _request(run, info, tick, sl=round(tick.ask + dist, info.digits)))
        assert r.retcode == mt5.TRADE_RETCODE_INVALID_STOPS, f"retcode {r.retcode}"
    with run.check("comment too long"):
        r = mt5.order_send(_request(run, info, tick, comment="x" * 40))
        assert r is None, f"order_send accepted a 40-character comment: {r}"
        assert mt5.last_error()[0] == mt5.RES_E_INVALID_PARAMS, f"{mt5.last_error()}"

    with run.check("open a BUY"):
        volume = round(2 * vmin, 8) if 2 * vmin <= info.volume_max else vmin
        r = _send(run, _request(run, info, tick, volume=volume))
        _done(run, r)
        _same_fields(r, OrderSendResult, "OrderSendResult")
        _request_stays_struct(r)
        ticket = r.order
        pos = _one_position(run, ticket)
        assert pos.ticket == ticket == pos.identifier, f"ticket {pos.ticket} vs order {ticket}"
        assert pos.magic == run.magic, f"magic {pos.magic}"
        assert pos.comment == CHECK_COMMENT, f"comment {pos.comment!r}"
        assert pos.type == mt5.POSITION_TYPE_BUY and abs(pos.volume - volume) < 1e-8
        _same_fields(pos, TradePosition, "TradePosition")
        acc = run.expect(mt5.account_info(), "account_info")
        assert acc.margin > 0, f"margin {acc.margin} with a position open"
        _check_account_arithmetic(acc)
    with run.check("modify SL/TP"):
        tick = run.expect(mt5.symbol_info_tick(symbol), "symbol_info_tick")
        sl = round(tick.bid - _distance(info), info.digits)
        tp = round(tick.bid + _distance(info), info.digits)
        r = _send(run, {"action": mt5.TRADE_ACTION_SLTP, "symbol": symbol, "position": ticket,
                        "sl": sl, "tp": tp, "magic": run.magic})
        _done(run, r)
        pos = _one_position(run, ticket)
        assert abs(pos.sl - sl) < info.point / 2 and abs(pos.tp - tp) < info.point / 2, (
            f"sl/tp {pos.sl}/{pos.tp}, expected {sl}/{tp}"
        )
    if volume > vmin:
        with run.check("partial close"):
            _done(run, _send(run, _close_request(run, info, ticket, vmin)))
            pos = _one_position(run, ticket, round(volume - vmin, 8))
            assert abs(pos.volume - round(volume - vmin, 8)) < 1e-8, f"volume {pos.volume}"
    if hedging:
        with run.check("opposite DEAL on hedging opens a second position"):
            tick = run.expect(mt5.symbol_info_tick(symbol), "symbol_info_tick")
            r = _send(run, _request(run, info, tick, type=mt5.ORDER_TYPE_SELL))
            _done(run, r)
            second = _one_position(run, r.order)
            assert second.type == mt5.POSITION_TYPE_SELL, f"type {second.type}"
            _one_position(run, ticket)
        if info.order_mode & 64:
            with run.check("close by"):
                r = _send(run, {"action": mt5.TRADE_ACTION_CLOSE_BY, "position": ticket,
                                "position_by": second.ticket, "magic": run.magic})
                _done(run, r)
                left = _eventually(lambda: _ours(run), lambda ps: not ps)
                assert not left, f"positions left after close-by: {left}"
        else:
            for p in _ours(run):
                _done(run, _send(run, _close_request(run, info, p.ticket, p.volume, p.type)))
    else:
        with run.check("close"):
            pos = _one_position(run, ticket)
            _done(run, _send(run, _close_request(run, info, ticket, pos.volume)))
    with run.check("close a closed ticket"):
        r = _send(run, _close_request(run, info, ticket, vmin))
        assert r.retcode in (mt5.TRADE_RETCODE_POSITION_CLOSED, mt5.TRADE_RETCODE_INVALID), (
            f"closing a closed ticket answered {r.retcode}, expected 10036 (or 10013)"
        )
    with run.check("history of the position"):
        deals = _history(run, ticket)
        entries = {d.entry for d in deals}
        assert mt5.DEAL_ENTRY_IN in entries, f"no IN deal in {deals}"
        assert entries & {mt5.DEAL_ENTRY_OUT, mt5.DEAL_ENTRY_OUT_BY}, f"no exit deal in {deals}"
        _same_fields(deals[0], TradeDeal, "TradeDeal")
        opening = next(d for d in deals if d.entry == mt5.DEAL_ENTRY_IN)
        assert opening.order == ticket and opening.magic == run.magic, f"{opening}"


def _request(run: _Run, info: Any, tick: Any, **changes: Any) -> dict[str, Any]:
    mt5 = run.mt5
    buy = changes.get("type", mt5.ORDER_TYPE_BUY) == mt5.ORDER_TYPE_BUY
    req: dict[str, Any] = {
        "action": mt5.TRADE_ACTION_DEAL, "symbol": run.symbol, "volume": float(info.volume_min),
        "type": mt5.ORDER_TYPE_BUY, "price": float(tick.ask if buy else tick.bid),
        "deviation": 20, "type_filling": _filling(mt5, info.filling_mode),
        "type_time": mt5.ORDER_TIME_GTC, "magic": run.magic, "comment": CHECK_COMMENT,
    }
    req.update(changes)
    return req


def _close_request(
    run: _Run, info: Any, ticket: int, volume: float, pos_type: int = 0
) -> dict[str, Any]:
    mt5 = run.mt5
    tick = run.expect(mt5.symbol_info_tick(run.symbol), "symbol_info_tick")
    sell = pos_type == mt5.POSITION_TYPE_BUY
    return _request(
        run, info, tick, volume=float(volume), position=ticket,
        type=mt5.ORDER_TYPE_SELL if sell else mt5.ORDER_TYPE_BUY,
        price=float(tick.bid if sell else tick.ask),
    )


def _filling(mt5: Any, filling_mode: int) -> int:
    if filling_mode & 1:
        return int(mt5.ORDER_FILLING_FOK)
    if filling_mode & 2:
        return int(mt5.ORDER_FILLING_IOC)
    return int(mt5.ORDER_FILLING_RETURN)


def _distance(info: Any) -> float:
    points = max(info.trade_stops_level, info.trade_freeze_level) + info.spread + 100
    return float(points * info.point)


def _send(run: _Run, req: dict[str, Any]) -> Any:
    return run.expect(run.mt5.order_send(req), "order_send")


def _done(run: _Run, r: Any) -> None:
    ok = (run.mt5.TRADE_RETCODE_DONE, run.mt5.TRADE_RETCODE_PLACED)
    assert r.retcode in ok, f"retcode {r.retcode} {r.comment!r}"


def _ours(run: _Run) -> list[Any]:
    positions = run.expect(run.mt5.positions_get(symbol=run.symbol), "positions_get")
    return [p for p in positions if p.magic == run.magic]


def _eventually(read: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    value = read()
    for _ in range(RETRIES - 1):
        if done(value):
            break
        time.sleep(RETRY_PAUSE)
        value = read()
    return value


def _one_position(run: _Run, ticket: int, volume: float | None = None) -> Any:
    found = _eventually(
        lambda: run.expect(run.mt5.positions_get(ticket=ticket), "positions_get"),
        lambda ps: len(ps) == 1 and (volume is None or abs(ps[0].volume - volume) < 1e-8),
    )
    assert len(found) == 1, f"positions_get(ticket={ticket}) found {len(found)} positions"
    return found[0]


def _history(run: _Run, position: int) -> tuple[Any, ...]:
    deals: tuple[Any, ...] = _eventually(
        lambda: run.mt5.history_deals_get(position=position) or (),
        lambda ds: len({d.entry for d in ds}) >= 2,
    )
    return deals


def _close_leftovers(run: _Run) -> None:
    mt5 = run.mt5
    positions = mt5.positions_get() or ()
    info = mt5.symbol_info(run.symbol)
    for pos in positions:
        if pos.magic != run.magic:
            continue
        sym = mt5.symbol_info(pos.symbol) if pos.symbol != run.symbol else info
        tick = mt5.symbol_info_tick(pos.symbol)
        if sym is None or tick is None:
            continue
        sell = pos.type == mt5.POSITION_TYPE_BUY
        mt5.order_send({
            "action": mt5.TRADE_ACTION_DEAL, "symbol": pos.symbol, "volume": float(pos.volume),
            "type": mt5.ORDER_TYPE_SELL if sell else mt5.ORDER_TYPE_BUY,
            "price": float(tick.bid if sell else tick.ask), "position": int(pos.ticket),
            "deviation": 50, "type_filling": _filling(mt5, sym.filling_mode),
            "magic": run.magic, "comment": CHECK_COMMENT,
        })


# --- shapes and arithmetic -----------------------------------------------------------------
def _same_fields(obj: Any, struct: type[Any], name: str) -> None:
    assert hasattr(obj, "_asdict"), f"{name} has no _asdict()"
    keys = tuple(obj._asdict().keys())
    assert keys == struct._fields, f"{name} fields {keys} differ from {struct._fields}"
    assert len(obj) == len(struct._fields), f"len({name}) is {len(obj)}"
    assert tuple(obj) == tuple(obj._asdict().values()), f"{name} does not index like a tuple"


def _request_stays_struct(result: Any) -> None:
    request = result._asdict()["request"]
    assert not isinstance(request, dict) and hasattr(request, "_asdict"), (
        f"_asdict()['request'] is {type(request).__name__}, expected a TradeRequest struct"
    )
    assert tuple(request._asdict().keys()) == TradeRequest._fields, "TradeRequest fields"


def _check_account_arithmetic(acc: Any) -> None:
    tol = 0.02 + 1e-9 * abs(acc.equity)
    assert abs(acc.equity - (acc.balance + acc.credit + acc.profit)) <= tol, (
        f"equity {acc.equity} != balance {acc.balance} + credit {acc.credit} + "
        f"profit {acc.profit}"
    )
    assert abs(acc.margin_free - (acc.equity - acc.margin)) <= tol, (
        f"margin_free {acc.margin_free} != equity {acc.equity} - margin {acc.margin}"
    )
    if acc.margin > 0:
        expected = acc.equity / acc.margin * 100.0
        assert abs(acc.margin_level - expected) <= 0.01 + 1e-4 * expected, (
            f"margin_level {acc.margin_level}, expected {expected:.2f}"
        )
    else:
        assert acc.margin_level == 0, f"margin_level {acc.margin_level} without margin"
