"""The trade server's answer to one request: validation in MT5's order, then execution.

Theory of operation: :meth:`Trading.validate` turns a (type-checked) request into a *plan* or a
rejection, checking in the order of reference §6.3: terminal state (AutoTrading, 10027), the
position named by the request (10036), symbol (10013) and its trade mode and session
(10017/10042-10044/10018), order type against ``order_mode`` (10035), filling against
``filling_mode`` and the execution mode (10030), volume (10014/10038/10034), prices (10021, and
10015/10004 under instant execution), stops and freeze levels (10016/10029, 10025 for an SLTP
that changes nothing), margin (10019) and limits (10040). ``order_check`` applies the plan to a
fork of the books to project the account; ``order_send`` applies it for real.

Market orders fill at the ask for a BUY and the bid for a SELL; the request's price only
matters under instant/request execution (deviation and requotes). Pending orders are not
offered: symbols report no pending bits in ``order_mode`` and TRADE_ACTION_PENDING gets 10035.
"""

from __future__ import annotations

from dataclasses import dataclass

from dtms.broker import constants as c
from dtms.broker.sim.account import Snapshot, money, side_sign
from dtms.broker.sim.engine import Engine
from dtms.broker.sim.ledger import Book, Fill, Origin, Position
from dtms.broker.sim.quirks import Comments
from dtms.broker.sim.settings import MarginMode
from dtms.broker.sim.symbols import SimSymbol
from dtms.broker.structs import TradeRequest

VOLUME_EPS = 1e-8


@dataclass(frozen=True, slots=True)
class Rejected:
    """A refusal with its retcode (and the fresh prices for a requote)."""

    retcode: int
    bid: float = 0.0
    ask: float = 0.0


@dataclass(frozen=True, slots=True)
class Open:
    """Open a position (hedging) or trade against the symbol's position (netting)."""

    symbol: str
    type: int
    volume: float
    price: float
    sl: float
    tp: float
    netting: bool


@dataclass(frozen=True, slots=True)
class Close:
    """Close all or part of a position at market."""

    ticket: int
    volume: float
    price: float


@dataclass(frozen=True, slots=True)
class CloseBy:
    """Offset two opposite positions of one symbol."""

    ticket: int
    by: int


@dataclass(frozen=True, slots=True)
class Modify:
    """Replace a position's SL and TP."""

    ticket: int
    sl: float
    tp: float


Plan = Open | Close | CloseBy | Modify


class Trading:
    """Validates and executes requests against the engine's books and quotes."""

    def __init__(
        self, engine: Engine, margin_mode: MarginMode, limit_positions: int,
        comments: Comments = Comments(),  # noqa: B008 (frozen, immutable)
    ) -> None:
        """Trade on ``engine``'s books with the account's margin mode and position limit;
        ``comments`` says how the server keeps request comments."""
        self.engine = engine
        self.margin_mode = margin_mode
        self.limit_positions = limit_positions
        self.comments = comments
        self.autotrading = True

    def origin_of(self, req: TradeRequest) -> Origin:
        """How an execution asked for through the API is labelled (reason EXPERT)."""
        return Origin(
            reason=c.DEAL_REASON_EXPERT, magic=req.magic,
            comment=self.comments.client(req.comment), filling=req.type_filling,
        )

    @property
    def book(self) -> Book:
        """The account's books."""
        return self.engine.book

    # --- account ---------------------------------------------------------------------------
    def snapshot(self, book: Book | None = None) -> Snapshot:
        """Balance, floating profit and margin of ``book`` (default: the real one) now."""
        book = self.book if book is None else book
        profit = book.open_profit(self.engine.quote)
        margin = money(book.margin())
        return Snapshot(book.balance, book.credit, money(profit), margin)

    def project(self, plan: Plan, origin: Origin, before: Snapshot | None = None) -> Snapshot:
        """The account as it would be after executing ``plan`` (``before``: the account now,
        when the caller has it).

        A new position on a hedging account changes the account by what it adds: its entry
        commission, its floating profit at the quote, its leg of the margin. That is computed
        without copying the book (a margin check per order must not cost a copy of thousands of
        positions); anything else is executed on a copy.
        """
        if isinstance(plan, Open) and not plan.netting:
            return self._project_open(plan, self.snapshot() if before is None else before)
        fork = self.book.fork()
        self.apply(plan, origin, fork)
        return self.snapshot(fork)

    def _project_open(self, plan: Open, before: Snapshot) -> Snapshot:
        book = self.book
        q = self.engine.quote(plan.symbol)
        floating = 0.0 if q is None else book.floating_of(plan.symbol, plan.type, plan.volume,
                                                          plan.price, q[1], q[2])
        leg = (plan.symbol, plan.type, plan.volume, plan.price)
        return Snapshot(money(before.balance + book.entry_commission(plan.volume)),
                        before.credit, money(before.profit + floating),
                        money(book.margin(extra=leg)))

    # --- execution -------------------------------------------------------------------------
    def apply(self, plan: Plan, origin: Origin, book: Book | None = None) -> Fill | None:
        """Execute ``plan`` on ``book`` (default: the real one); Modify returns None."""
        book = self.book if book is None else book
        t = self.engine.time_msc
        match plan:
            case Open(symbol, kind, volume, price, sl, tp, netting):
                execute = book.net if netting else book.open
                return execute(symbol, kind, volume, price, sl=sl, tp=tp, origin=origin,
                               time_msc=t)
            case Close(ticket, volume, price):
                return book.close(book.positions[ticket], volume, price, origin=origin,
                                  time_msc=t)
            case CloseBy(ticket, by):
                return book.close_by(book.positions[ticket], book.positions[by], origin=origin,
                                     time_msc=t)
            case Modify(ticket, sl, tp):
                book.modify(book.positions[ticket], sl, tp, t)
                return None

    # --- validation ------------------------------------------------------------------------
    def validate(self, req: TradeRequest, *, margin: bool = True) -> Plan | Rejected:
        """Check ``req`` as the terminal and the trade server would.

        With ``margin=False`` the free-margin check is left to the caller (``order_check``
        reports the projected account even when it is short of money).
        """
        if not self.autotrading:
            return Rejected(c.TRADE_RETCODE_CLIENT_DISABLES_AT)
        if req.action == c.TRADE_ACTION_DEAL:
            return self._deal(req, margin)
        if req.action == c.TRADE_ACTION_SLTP:
            return self._sltp(req)
        if req.action == c.TRADE_ACTION_CLOSE_BY:
            return self._close_by(req)
        if req.action == c.TRADE_ACTION_PENDING:
            sym = self.engine.symbols.get(req.symbol)
            if sym is None:
                return Rejected(c.TRADE_RETCODE_INVALID)
            return self._symbol_state(sym, None) or Rejected(c.TRADE_RETCODE_INVALID_ORDER)
        return Rejected(c.TRADE_RETCODE_INVALID)

    def _deal(self, req: TradeRequest, check_margin: bool) -> Plan | Rejected:
        netting = self.margin_mode is MarginMode.NETTING
        pos = None
        if req.position:
            pos = self.book.positions.get(req.position)
            if pos is None:
                return Rejected(c.TRADE_RETCODE_POSITION_CLOSED)
        symbol = req.symbol or (pos.symbol if pos else "")
        sym = self.engine.symbols.get(symbol)
        if sym is None or (pos is not None and pos.symbol != symbol):
            return Rejected(c.TRADE_RETCODE_INVALID)
        if req.type not in (c.ORDER_TYPE_BUY, c.ORDER_TYPE_SELL):
            return Rejected(c.TRADE_RETCODE_INVALID_ORDER)
        if netting and pos is None:
            existing = self.book.on_symbol(symbol)
            pos = existing[0] if existing else None
        closing = pos is not None and side_sign(pos.type) != side_sign(req.type)
        if pos is not None and not closing and not netting:
            return Rejected(c.TRADE_RETCODE_INVALID)
        reversing = netting and closing and pos is not None and req.volume > pos.volume
        opening = not closing or reversing
        refusal = (
            self._symbol_state(sym, req.type if opening else None)
            or self._order_mode(sym, c.SYMBOL_ORDER_MARKET, req if opening else None)
            or self._filling(sym, req.type_filling)
            or self._volume(sym, req.volume)
        )
        if refusal:
            return refusal
        if pos is not None and closing and not netting and req.volume > pos.volume + VOLUME_EPS:
            return Rejected(c.TRADE_RETCODE_INVALID_CLOSE_VOLUME)
        if opening and sym.volume_limit > 0:
            same = sum(p.volume for p in self.book.on_symbol(symbol)
                       if side_sign(p.type) == side_sign(req.type))
            if same + req.volume > sym.volume_limit + VOLUME_EPS:
                return Rejected(c.TRADE_RETCODE_LIMIT_VOLUME)
        q = self.engine.quote(symbol)
        if q is None:
            return Rejected(c.TRADE_RETCODE_PRICE_OFF)
        _, bid, ask = q
        price = ask if side_sign(req.type) > 0 else bid
        refusal = self._instant_price(sym, req, price, bid, ask)
        if refusal:
            return refusal
        if closing and pos is not None and self._frozen(sym, pos, bid, ask):
            return Rejected(c.TRADE_RETCODE_FROZEN)
        if opening and not _stops_ok(sym, side_sign(req.type) > 0, req.sl, req.tp, bid, ask):
            return Rejected(c.TRADE_RETCODE_INVALID_STOPS)
        plan: Plan
        if closing and pos is not None and not netting:
            plan = Close(pos.ticket, req.volume, price)
        else:
            sl, tp = (req.sl, req.tp) if opening else (0.0, 0.0)
            plan = Open(symbol, req.type, req.volume, price, sl, tp, netting)
        if opening:
            refusal = self._limits(pos is None)
            if check_margin and not refusal:
                before = self.snapshot()
                after = self.project(plan, self.origin_of(req), before)
                if short_of_money(before, after):
                    refusal = Rejected(c.TRADE_RETCODE_NO_MONEY)
        return refusal or plan

    def _sltp(self, req: TradeRequest) -> Plan | Rejected:
        pos: Position | None = None
        if req.position:
            pos = self.book.positions.get(req.position)
            if pos is None:
                return Rejected(c.TRADE_RETCODE_POSITION_CLOSED)
        elif self.margin_mode is MarginMode.HEDGING:
            return Rejected(c.TRADE_RETCODE_INVALID)
        else:
            if req.symbol not in self.engine.symbols:
                return Rejected(c.TRADE_RETCODE_INVALID)
            existing = self.book.on_symbol(req.symbol)
            if not existing:
                return Rejected(c.TRADE_RETCODE_POSITION_CLOSED)
            pos = existing[0]
        if req.symbol and req.symbol != pos.symbol:
            return Rejected(c.TRADE_RETCODE_INVALID)
        sym = self.engine.symbols[pos.symbol]
        refusal = self._symbol_state(sym, None) or self._order_mode(sym, 0, req)
        if refusal:
            return refusal
        q = self.engine.quote(pos.symbol)
        if q is None:
            return Rejected(c.TRADE_RETCODE_PRICE_OFF)
        eps = sym.point * 1e-3
        if abs(req.sl - pos.sl) < eps and abs(req.tp - pos.tp) < eps:
            return Rejected(c.TRADE_RETCODE_NO_CHANGES)
        if not _stops_ok(sym, side_sign(pos.type) > 0, req.sl, req.tp, q[1], q[2]):
            return Rejected(c.TRADE_RETCODE_INVALID_STOPS)
        if self._frozen(sym, pos, q[1], q[2]):
            return Rejected(c.TRADE_RETCODE_FROZEN)
        return Modify(pos.ticket, req.sl, req.tp)

    def _close_by(self, req: TradeRequest) -> Plan | Rejected:
        if self.margin_mode is MarginMode.NETTING or not (req.position and req.position_by):
            return Rejected(c.TRADE_RETCODE_INVALID)
        pos = self.book.positions.get(req.position)
        by = self.book.positions.get(req.position_by)
        if pos is None or by is None:
            return Rejected(c.TRADE_RETCODE_POSITION_CLOSED)
        if (
            pos.ticket == by.ticket
            or pos.symbol != by.symbol
            or side_sign(pos.type) == side_sign(by.type)
            or (req.symbol and req.symbol != pos.symbol)
        ):
            return Rejected(c.TRADE_RETCODE_INVALID)
        sym = self.engine.symbols[pos.symbol]
        refusal = self._symbol_state(sym, None) or self._order_mode(sym, c.SYMBOL_ORDER_CLOSEBY)
        if refusal:
            return refusal
        q = self.engine.quote(pos.symbol)
        if q is None:
            return Rejected(c.TRADE_RETCODE_PRICE_OFF)
        if self._frozen(sym, pos, q[1], q[2]) or self._frozen(sym, by, q[1], q[2]):
            return Rejected(c.TRADE_RETCODE_FROZEN)
        return CloseBy(pos.ticket, by.ticket)

    # --- individual checks -----------------------------------------------------------------
    def _symbol_state(self, sym: SimSymbol, opening_type: int | None) -> Rejected | None:
        mode = sym.trade_mode
        if mode == c.SYMBOL_TRADE_MODE_DISABLED:
            return Rejected(c.TRADE_RETCODE_TRADE_DISABLED)
        if opening_type is not None:
            buy = side_sign(opening_type) > 0
            if mode == c.SYMBOL_TRADE_MODE_LONGONLY and not buy:
                return Rejected(c.TRADE_RETCODE_LONG_ONLY)
            if mode == c.SYMBOL_TRADE_MODE_SHORTONLY and buy:
                return Rejected(c.TRADE_RETCODE_SHORT_ONLY)
            if mode == c.SYMBOL_TRADE_MODE_CLOSEONLY:
                return Rejected(c.TRADE_RETCODE_CLOSE_ONLY)
        if not self.engine.market.is_open(sym.name, self.engine.now):
            return Rejected(c.TRADE_RETCODE_MARKET_CLOSED)
        return None

    @staticmethod
    def _order_mode(
        sym: SimSymbol, needed: int, req: TradeRequest | None = None
    ) -> Rejected | None:
        if req is not None:
            needed |= (c.SYMBOL_ORDER_SL if req.sl else 0) | (c.SYMBOL_ORDER_TP if req.tp else 0)
        if offered_order_mode(sym) & needed != needed:
            return Rejected(c.TRADE_RETCODE_INVALID_ORDER)
        return None

    @staticmethod
    def _filling(sym: SimSymbol, filling: int) -> Rejected | None:
        mode = sym.trade_exemode
        if mode in (c.SYMBOL_TRADE_EXECUTION_REQUEST, c.SYMBOL_TRADE_EXECUTION_INSTANT):
            return None
        allowed = (
            (filling == c.ORDER_FILLING_FOK and sym.filling_mode & c.SYMBOL_FILLING_FOK)
            or (filling == c.ORDER_FILLING_IOC and sym.filling_mode & c.SYMBOL_FILLING_IOC)
            or (mode == c.SYMBOL_TRADE_EXECUTION_EXCHANGE and filling == c.ORDER_FILLING_RETURN)
            or (mode == c.SYMBOL_TRADE_EXECUTION_EXCHANGE and filling == c.ORDER_FILLING_BOC
                and sym.filling_mode & c.SYMBOL_FILLING_BOC)
        )
        return None if allowed else Rejected(c.TRADE_RETCODE_INVALID_FILL)

    @staticmethod
    def _volume(sym: SimSymbol, volume: float) -> Rejected | None:
        steps = round(volume / sym.volume_step)
        if (
            volume < sym.volume_min - VOLUME_EPS
            or volume > sym.volume_max + VOLUME_EPS
            or abs(volume - steps * sym.volume_step) > VOLUME_EPS
        ):
            return Rejected(c.TRADE_RETCODE_INVALID_VOLUME)
        return None

    @staticmethod
    def _instant_price(
        sym: SimSymbol, req: TradeRequest, market: float, bid: float, ask: float
    ) -> Rejected | None:
        if sym.trade_exemode not in (
            c.SYMBOL_TRADE_EXECUTION_REQUEST, c.SYMBOL_TRADE_EXECUTION_INSTANT
        ):
            return None
        if req.price <= 0:
            return Rejected(c.TRADE_RETCODE_INVALID_PRICE)
        if abs(req.price - market) > req.deviation * sym.point + sym.point * 1e-3:
            return Rejected(c.TRADE_RETCODE_REQUOTE, bid, ask)
        return None

    @staticmethod
    def _frozen(sym: SimSymbol, pos: Position, bid: float, ask: float) -> bool:
        if sym.freeze_level <= 0:
            return False
        limit = sym.freeze_level * sym.point + sym.point * 1e-3
        buy = side_sign(pos.type) > 0
        ref = bid if buy else ask
        sl_dist = (ref - pos.sl) if buy else (pos.sl - ref)
        tp_dist = (pos.tp - ref) if buy else (ref - pos.tp)
        return bool((pos.sl and sl_dist < limit) or (pos.tp and tp_dist < limit))

    def _limits(self, new_position: bool) -> Rejected | None:
        if (
            new_position
            and self.limit_positions > 0
            and len(self.book.positions) >= self.limit_positions
        ):
            return Rejected(c.TRADE_RETCODE_LIMIT_POSITIONS)
        return None


def short_of_money(before: Snapshot, after: Snapshot) -> bool:
    """Whether an execution that takes the account from ``before`` to ``after`` lacks margin.

    Only executions that raise the margin can be refused: a hedge that lowers it never is.
    """
    return after.margin > before.margin + 1e-9 and after.margin_free < 0


def offered_order_mode(sym: SimSymbol) -> int:
    """The symbol's ``order_mode`` without the pending-order bits the simulator lacks."""
    pending = c.SYMBOL_ORDER_LIMIT | c.SYMBOL_ORDER_STOP | c.SYMBOL_ORDER_STOP_LIMIT
    return sym.order_mode & ~pending


def _stops_ok(
    sym: SimSymbol, buy: bool, sl: float, tp: float, bid: float, ask: float
) -> bool:
    """SL/TP on the right side of the market and at least ``stops_level`` points away."""
    level = sym.stops_level * sym.point - sym.point * 1e-3
    tiny = sym.point * 1e-3
    ref = bid if buy else ask
    if sl:
        dist = (ref - sl) if buy else (sl - ref)
        if dist <= tiny or dist < level:
            return False
    if tp:
        dist = (tp - ref) if buy else (ref - tp)
        if dist <= tiny or dist < level:
            return False
    return True
