"""The trade server's books: open positions, history orders, deals, balance, ticket counters.

Theory of operation: every execution, whoever asked for it (an API request, a stop loss, a
stop-out, a hand close), goes through one of the fill primitives of :class:`Book`, which write
what MT5 writes (reference §6.7): one FILLED history order, one deal per position touched
(IN/OUT/INOUT/OUT_BY), balance changes of profit + commission + swap on exits, and the position
created, shrunk, reversed or removed. Orders and deals are numbered from separate increasing
counters; a position's ticket and identifier are its opening order's ticket and never change.

History orders and deals are immutable once written, so they are stored as the result structs
themselves. :meth:`Book.fork` copies the open state (not the history) so ``order_check`` can
project an execution without touching the account.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from dtms.broker import constants as c
from dtms.broker.sim.account import Money, money, side_sign
from dtms.broker.sim.symbols import SimSymbol
from dtms.broker.structs import TradeDeal, TradeOrder

FIRST_ORDER_TICKET = 557_416_500
FIRST_DEAL_TICKET = 535_084_500


def stop_tag(sym: SimSymbol, level: float, kind: str) -> str:
    """The broker's comment for a stop: ``[sl 1.08500]`` or ``[tp 1.09000]``."""
    return f"[{kind} {level:.{sym.digits}f}]"


def opposite(order_type: int) -> int:
    """The order/deal type that offsets a BUY (0) or SELL (1) position."""
    return c.ORDER_TYPE_SELL if side_sign(order_type) > 0 else c.ORDER_TYPE_BUY


@dataclass(slots=True)
class Position:
    """An open position on the server."""

    ticket: int
    symbol: str
    type: int
    volume: float
    price_open: float
    sl: float
    tp: float
    time_msc: int
    time_update_msc: int
    magic: int
    reason: int
    comment: str
    swap: float = 0.0


@dataclass(frozen=True, slots=True)
class Fill:
    """What one execution produced, for the trade result."""

    order: int
    deal: int
    volume: float
    price: float
    position: int


@dataclass(frozen=True, slots=True)
class Origin:
    """Who asked for an execution and how it is labelled in the history."""

    reason: int
    magic: int = 0
    comment: str = ""
    filling: int = c.ORDER_FILLING_FOK


class Book:
    """Positions, history and balance of one account."""

    def __init__(
        self,
        symbols: Mapping[str, SimSymbol],
        money_: Money,
        *,
        commission_per_lot: float = 0.0,
        stop_tags: bool = False,
    ) -> None:
        """Start an empty book; deposit the initial balance with :meth:`deposit`.

        With ``stop_tags`` a change of a position's stops replaces its comment with the
        broker's tag (``[sl 1.08500]``), as some brokers do.
        """
        self._symbols = symbols
        self.money = money_
        self.commission_per_lot = commission_per_lot
        self.stop_tags = stop_tags
        self.positions: dict[int, Position] = {}
        self.orders: list[TradeOrder] = []
        self.deals: list[TradeDeal] = []
        self.balance = 0.0
        self.credit = 0.0
        self._next_order = FIRST_ORDER_TICKET
        self._next_deal = FIRST_DEAL_TICKET
        # margin sums of the positions in book order, kept as positions open (None: sum the
        # book again); the legs opened since they were last brought up to date
        self._sums: dict[str, list[float]] | None = None
        self._sums_key: tuple[float | None, ...] = ()
        self._opened: list[tuple[str, int, float, float]] = []

    def start_tickets_after(self, ticket: int) -> None:
        """Number new orders (hence positions) above ``ticket``, as a long-lived account would."""
        self._next_order = max(self._next_order, int(ticket))
        self._next_deal = max(self._next_deal, int(ticket))

    def fork(self) -> Book:
        """A copy of the open state with an empty history, to project an execution on."""
        other = Book(self._symbols, self.money, commission_per_lot=self.commission_per_lot,
                     stop_tags=self.stop_tags)
        other.positions = {t: dataclasses.replace(p) for t, p in self.positions.items()}
        other.balance, other.credit = self.balance, self.credit
        other._next_order, other._next_deal = self._next_order, self._next_deal
        return other

    # --- queries ---------------------------------------------------------------------------
    def on_symbol(self, symbol: str) -> list[Position]:
        """Open positions of ``symbol``, oldest first."""
        return [p for p in self.positions.values() if p.symbol == symbol]

    def legs(self) -> list[tuple[str, int, float, float]]:
        """``(symbol, type, volume, price_open)`` of every open position, for margin."""
        return [(p.symbol, p.type, p.volume, p.price_open) for p in self.positions.values()]

    def margin(self, extra: tuple[str, int, float, float] | None = None) -> float:
        """Margin of the open positions, plus the leg ``extra`` (not in the book) if given:
        ``money.positions_margin(legs())``, without summing the whole book for every order.

        The per-symbol sums are kept up to date as positions open (a new position adds its leg
        after the others, as a sum over the book would); anything else that changes a
        position, or a move of a conversion rate they depend on, sums the book again.
        """
        sums = self._sums
        if sums is not None and self.money.rates_key(sums) != self._sums_key:
            sums = None
        if sums is None:
            sums = self._sums = self.money.side_sums(self.legs())
        elif self._opened:
            self.money.side_sums(self._opened, sums)
        self._opened.clear()
        self._sums_key = self.money.rates_key(sums)
        if extra is not None:
            sums = {k: v[:] for k, v in sums.items()}
            self.money.side_sums([extra], sums)
        return self.money.margin_of(sums)

    def _changed(self) -> None:
        """A position changed other than by opening: the margin sums start again."""
        self._sums = None
        self._opened.clear()

    def floating(self, pos: Position, bid: float, ask: float) -> float:
        """Rounded floating profit of ``pos`` at a quote (swap not included)."""
        return self.floating_of(pos.symbol, pos.type, pos.volume, pos.price_open, bid, ask)

    def floating_of(self, symbol: str, order_type: int, volume: float, price_open: float,
                    bid: float, ask: float) -> float:
        """Rounded floating profit of a position that is not (yet) in the book."""
        close = bid if side_sign(order_type) > 0 else ask
        sym = self._symbols[symbol]
        return money(self.money.profit(sym, order_type, volume, price_open, close))

    def open_profit(self, quote: Callable[[str], tuple[int, float, float] | None]) -> float:
        """Swaps plus rounded floating profits of every open position at ``quote``, summed in
        the book's order (unrounded sum): :meth:`floating` per position, with each symbol's
        quote and conversion rates looked up once."""
        terms: dict[str, tuple[float, float, float, float, float] | None] = {}
        total = 0.0
        for pos in self.positions.values():
            symbol = pos.symbol
            if symbol in terms:
                t = terms[symbol]
            else:
                q = quote(symbol)
                sym = self._symbols[symbol]
                t = terms[symbol] = None if q is None else (
                    q[1], q[2], sym.contract_size, *self.money.profit_rates(sym, q[1], q[2]))
            if t is None:
                total += pos.swap + 0.0
                continue
            bid, ask, cs, rate_buy, rate_sell = t
            if pos.type % 2 == 0:
                floating = round((bid - pos.price_open) * cs * pos.volume * rate_buy, 2) + 0.0
            else:
                floating = round(-1 * (ask - pos.price_open) * cs * pos.volume * rate_sell,
                                 2) + 0.0
            total += pos.swap + floating
        return total

    def entry_commission(self, volume: float) -> float:
        """What opening ``volume`` lots costs (negative), as the entry deal books it."""
        return money(-self.commission_per_lot * volume)

    # --- balance operations ----------------------------------------------------------------
    def deposit(self, amount: float, time_msc: int, comment: str = "Deposit") -> int:
        """Credit (or, negative, withdraw) ``amount`` to the balance; returns the deal ticket."""
        self.balance = money(self.balance + amount)
        deal = self._deal_ticket()
        self.deals.append(TradeDeal(
            ticket=deal, order=0, time=time_msc // 1000, time_msc=time_msc,
            type=c.DEAL_TYPE_BALANCE, entry=c.DEAL_ENTRY_IN, reason=c.DEAL_REASON_CLIENT,
            profit=money(amount), comment=comment,
        ))
        return deal

    def charge_swap(self, pos: Position, amount: float) -> None:
        """Accrue one rollover's swap on an open position."""
        pos.swap = money(pos.swap + amount)

    # --- executions ------------------------------------------------------------------------
    def open(
        self, symbol: str, order_type: int, volume: float, price: float, *, sl: float, tp: float,
        origin: Origin, time_msc: int,
    ) -> Fill:
        """Open a new position (hedging, or the first one of a symbol on netting)."""
        order = self._order(symbol, order_type, volume, price, sl, tp, origin, time_msc, None)
        pos = Position(
            ticket=order, symbol=symbol, type=order_type, volume=volume, price_open=price,
            sl=sl, tp=tp, time_msc=time_msc, time_update_msc=time_msc, magic=origin.magic,
            reason=origin.reason, comment=origin.comment,
        )
        self.positions[order] = pos
        if self._sums is not None:
            self._opened.append((symbol, order_type, volume, price))
        deal = self._deal(pos, order_type, c.DEAL_ENTRY_IN, volume, price, origin, time_msc)
        return Fill(order, deal, volume, price, order)

    def close(
        self, pos: Position, volume: float, price: float, *, origin: Origin, time_msc: int
    ) -> Fill:
        """Close ``volume`` of ``pos`` at ``price`` (all of it removes the position)."""
        kind = opposite(pos.type)
        order = self._order(pos.symbol, kind, volume, price, 0.0, 0.0, origin, time_msc,
                            pos.ticket)
        deal = self._exit(pos, kind, c.DEAL_ENTRY_OUT, volume, price, origin, time_msc, order)
        self._shrink(pos, volume, time_msc)
        return Fill(order, deal, volume, price, pos.ticket)

    def close_by(self, pos: Position, by: Position, *, origin: Origin, time_msc: int) -> Fill:
        """Offset ``pos`` against the opposite ``by`` at ``by``'s open price (no spread)."""
        volume = min(pos.volume, by.volume)
        price = by.price_open
        order = self._order(pos.symbol, c.ORDER_TYPE_CLOSE_BY, volume, price, 0.0, 0.0, origin,
                            time_msc, pos.ticket, by.ticket)
        deal = self._exit(pos, opposite(pos.type), c.DEAL_ENTRY_OUT_BY, volume, price, origin,
                          time_msc, order)
        self._exit(by, opposite(by.type), c.DEAL_ENTRY_OUT_BY, volume, price, origin, time_msc,
                   order)
        self._shrink(pos, volume, time_msc)
        self._shrink(by, volume, time_msc)
        return Fill(order, deal, volume, price, pos.ticket)

    def net(
        self, symbol: str, order_type: int, volume: float, price: float, *, sl: float, tp: float,
        origin: Origin, time_msc: int,
    ) -> Fill:
        """Execute on a netting account: open, add to, reduce, close or reverse the position."""
        existing = self.on_symbol(symbol)
        if not existing:
            return self.open(symbol, order_type, volume, price, sl=sl, tp=tp, origin=origin,
                             time_msc=time_msc)
        pos = existing[0]
        self._changed()
        order = self._order(symbol, order_type, volume, price, sl, tp, origin, time_msc,
                            pos.ticket)
        if side_sign(order_type) == side_sign(pos.type):
            deal = self._deal(pos, order_type, c.DEAL_ENTRY_IN, volume, price, origin, time_msc,
                              order)
            total = pos.volume + volume
            pos.price_open = round((pos.price_open * pos.volume + price * volume) / total, 10)
            pos.volume = round(total, 8)
        elif volume <= pos.volume + 1e-9:
            deal = self._exit(pos, order_type, c.DEAL_ENTRY_OUT, volume, price, origin,
                              time_msc, order)
            self._shrink(pos, volume, time_msc)
            return Fill(order, deal, volume, price, pos.ticket)
        else:
            closed = pos.volume
            deal = self._exit(pos, order_type, c.DEAL_ENTRY_INOUT, volume, price, origin,
                              time_msc, order, profit_volume=closed)
            pos.type, pos.volume, pos.price_open = order_type, round(volume - closed, 8), price
            # the old stops sit on the wrong side of the reversed position: only the order's
            # own stops carry over (an inference: the reference does not say)
            pos.sl = pos.tp = 0.0
        if sl or tp:
            self.modify(pos, sl, tp, time_msc)
        pos.time_update_msc = time_msc
        return Fill(order, deal, volume, price, pos.ticket)

    def modify(self, pos: Position, sl: float, tp: float, time_msc: int) -> None:
        """Replace both stop levels of ``pos`` (and, with ``stop_tags``, its comment)."""
        if self.stop_tags and (sl != pos.sl or tp != pos.tp):
            pos.comment = stop_tag(self._symbols[pos.symbol], sl if sl != pos.sl else tp,
                                   "sl" if sl != pos.sl else "tp")
        pos.sl, pos.tp, pos.time_update_msc = sl, tp, time_msc

    # --- internals -------------------------------------------------------------------------
    def _order_ticket(self) -> int:
        self._next_order += 1
        return self._next_order

    def _deal_ticket(self) -> int:
        self._next_deal += 1
        return self._next_deal

    def _order(
        self, symbol: str, order_type: int, volume: float, price: float, sl: float, tp: float,
        origin: Origin, time_msc: int, position: int | None, position_by: int = 0,
    ) -> int:
        """Write a FILLED history order; ``position`` None means it opens its own position."""
        ticket = self._order_ticket()
        t = time_msc // 1000
        self.orders.append(TradeOrder(
            ticket=ticket, time_setup=t, time_setup_msc=time_msc, time_done=t,
            time_done_msc=time_msc, type=order_type, type_filling=origin.filling,
            state=c.ORDER_STATE_FILLED, magic=origin.magic,
            position_id=ticket if position is None else position,
            position_by_id=position_by, reason=origin.reason, volume_initial=volume,
            price_open=price, sl=sl, tp=tp, price_current=price, symbol=symbol,
            comment=origin.comment,
        ))
        return ticket

    def _deal(
        self, pos: Position, deal_type: int, entry: int, volume: float, price: float,
        origin: Origin, time_msc: int, order: int | None = None, *, profit: float = 0.0,
        swap: float = 0.0,
    ) -> int:
        commission = money(-self.commission_per_lot * volume)
        self.balance = money(self.balance + profit + commission + swap)
        ticket = self._deal_ticket()
        self.deals.append(TradeDeal(
            ticket=ticket, order=pos.ticket if order is None else order, time=time_msc // 1000,
            time_msc=time_msc, type=deal_type, entry=entry, magic=origin.magic,
            position_id=pos.ticket, reason=origin.reason, volume=volume, price=price,
            commission=commission, swap=swap, profit=profit, symbol=pos.symbol,
            comment=origin.comment,
        ))
        return ticket

    def _exit(
        self, pos: Position, deal_type: int, entry: int, volume: float, price: float,
        origin: Origin, time_msc: int, order: int, *, profit_volume: float | None = None,
    ) -> int:
        closed = volume if profit_volume is None else profit_volume
        sym = self._symbols[pos.symbol]
        profit = money(self.money.profit(sym, pos.type, closed, pos.price_open, price))
        swap = money(pos.swap * min(closed / pos.volume, 1.0)) if pos.volume else 0.0
        pos.swap = money(pos.swap - swap)
        return self._deal(pos, deal_type, entry, volume, price, origin, time_msc, order,
                          profit=profit, swap=swap)

    def _shrink(self, pos: Position, volume: float, time_msc: int) -> None:
        self._changed()
        left = round(pos.volume - volume, 8)
        if left <= 1e-9:
            del self.positions[pos.ticket]
        else:
            pos.volume = left
            pos.time_update_msc = time_msc
