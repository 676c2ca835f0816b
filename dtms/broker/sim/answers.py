"""The trade server's answers to ``order_send`` and ``order_check``.

Theory of operation: a scripted answer (``scenario.next_order_send``) wins over everything; it
either replaces the execution or, with ``execute=True``, lets the order execute and only
replaces the answer (the classic 10012 TIMEOUT whose order went through). Otherwise the request
is validated; a valid one may still meet a random fault (requote, no prices, no money) before it
executes, or execute and have its answer lost on the way back (the caller then returns ``None``
with ``(-10005, 'IPC timeout')``). Results echo the request as a ``TradeRequest``.
"""

from __future__ import annotations

from dtms.broker import constants as c
from dtms.broker.sim.faults import Faults, TradeFault
from dtms.broker.sim.trading import Modify, Rejected, Trading, short_of_money
from dtms.broker.structs import OrderCheckResult, OrderSendResult, TradeRequest


class Answers:
    """Builds the results of trade requests, faults included."""

    def __init__(self, trading: Trading, faults: Faults) -> None:
        """Answer with ``trading``'s validation and execution, and ``faults``' surprises."""
        self._trading = trading
        self._faults = faults
        self._request_id = 0

    def send(self, req: TradeRequest) -> tuple[OrderSendResult, bool]:
        """Answer one ``order_send``; the flag says the answer is lost (IPC timeout)."""
        self._request_id += 1
        forced = self._faults.take_forced_send()
        if forced is not None and not forced.execute:
            return self._refused(req, forced.retcode), False
        plan = self._trading.validate(req)
        if isinstance(plan, Rejected):
            return self._refused(req, plan.retcode, plan.bid, plan.ask), False
        bid, ask = self._prices(req)
        fault = None if forced is not None else self._faults.trade_fault()
        if fault in (TradeFault.REQUOTE, TradeFault.PRICE_OFF, TradeFault.NO_MONEY) and not (
            isinstance(plan, Modify)
        ):
            assert fault is not None
            if fault is TradeFault.REQUOTE:
                return self._refused(req, fault.value, bid, ask), False
            return self._refused(req, fault.value), False
        fill = self._trading.apply(plan, self._trading.origin_of(req))
        if forced is not None:
            return self._refused(req, forced.retcode), False
        result = OrderSendResult(
            retcode=c.TRADE_RETCODE_DONE,
            deal=fill.deal if fill else 0,
            order=fill.order if fill else 0,
            volume=fill.volume if fill else 0.0,
            price=fill.price if fill else 0.0,
            bid=bid,
            ask=ask,
            comment=c.retcode_comment(c.TRADE_RETCODE_DONE),
            request_id=self._request_id,
            retcode_external=0,
            request=req,
        )
        return result, fault is TradeFault.ANSWER_LOST

    def check(self, req: TradeRequest) -> OrderCheckResult:
        """Answer one ``order_check``: retcode 0 'Done' and the projected account, or why not."""
        trading = self._trading
        before = trading.snapshot()
        plan = trading.validate(req, margin=False)
        retcode, after = 0, before
        if isinstance(plan, Rejected):
            retcode = plan.retcode
        else:
            after = trading.project(plan, trading.origin_of(req), before)
            if short_of_money(before, after):
                retcode = c.TRADE_RETCODE_NO_MONEY
        return OrderCheckResult(
            retcode=retcode, balance=after.balance, equity=after.equity, profit=after.profit,
            margin=after.margin, margin_free=after.margin_free, margin_level=after.margin_level,
            comment=c.retcode_comment(retcode), request=req,
        )

    def _prices(self, req: TradeRequest) -> tuple[float, float]:
        symbol = req.symbol
        if not symbol:
            pos = self._trading.book.positions.get(req.position)
            symbol = pos.symbol if pos else ""
        q = self._trading.engine.quote(symbol) if symbol else None
        return (q[1], q[2]) if q else (0.0, 0.0)

    def _refused(
        self, req: TradeRequest, retcode: int, bid: float = 0.0, ask: float = 0.0
    ) -> OrderSendResult:
        return OrderSendResult(
            retcode=retcode, bid=bid, ask=ask, comment=c.retcode_comment(retcode),
            request_id=self._request_id if retcode != c.TRADE_RETCODE_CLIENT_DISABLES_AT else 0,
            request=req,
        )
