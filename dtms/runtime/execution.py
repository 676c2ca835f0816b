"""Carrying out one core command at the broker, through the gateway.

Theory of operation. A command becomes MT5 requests built from the symbol's own rules (filling
mode from ``filling_mode``, never a hard-coded FOK), sent with the gateway's priorities, and
comes back as one outcome event for the core: done, failed, unknown, or *blocked* (a wait that
never counts toward giving up: market closed, AutoTrading off, a frozen position, a stale quote,
a request whose deadline passed in the queue).

What each command costs, in broker round trips, and why:

* a stop change: 1 (an SLTP carries no price).
* a hedge or re-add: 1, the order itself. The quote is the one the symbol's feed read this
  cycle (fresh, or the order waits); ``order_send`` checks the margin itself and answers 10019
  without side effects, so no ``order_check`` is needed. The broker is asked for an existing
  hedge first (+1) only when an earlier attempt of this trade may have executed unseen.
* a close or partial close: 2, the position re-read by ticket, then the order — so an order can
  never add exposure: a position reversed by hand (netting) or already smaller than planned is
  not touched, and a close takes exactly what is left. Above ``volume_max`` it is split into
  several deals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dtms.broker import constants as C
from dtms.core.messages import (
    ActionBlocked,
    ActionDone,
    ActionFailed,
    ActionOutcome,
    ActionUnknown,
    CloseBy,
    ClosePartial,
    ClosePosition,
    Command,
    ModifyStops,
    OpenHedge,
    ReAdd,
    Wait,
)
from dtms.core.planning import frozen
from dtms.core.policy import ActionParams
from dtms.core.types import Outcome, PositionView, Quote, Side, SymbolSpec
from dtms.errors import GatewayClosed
from dtms.runtime.gateway import CallResult, Gateway, Priority
from dtms.runtime.market_data import SymbolFeed
from dtms.runtime.positions import position_view

RETCODE_INVALID_FILL = 10030
RETCODE_NO_CHANGES = 10025
RETCODE_DONE_PARTIAL = 10010
RETCODE_MARKET_CLOSED = 10018
RETCODE_AUTOTRADING = 10027
RETCODE_FROZEN = 10029
FIXABLE_RETRIES = 2
_EPS = 1e-9


def _nothing() -> None:
    return None


def _not_halted() -> str:
    return ""


@dataclass(frozen=True, slots=True)
class ExecContext:
    """What executing a command needs besides the command."""

    gateway: Gateway
    spec: SymbolSpec
    params: ActionParams
    broker_now: Callable[[], float]
    stale_tick_seconds: float
    feed: SymbolFeed | None = None
    """The symbol's feed: its polled quote, and where a 10018 marks the market closed."""
    halted: Callable[[], str] = _not_halted
    """Why dtms must not act at all now ("" when it may): another manager on the account."""
    trading_disabled: Callable[[], None] = _nothing
    """Told when the terminal answers 10027 (AutoTrading off), so the account is re-read."""
    sent_orders: set[int] | None = None
    """Order tickets the broker returned to this process (to tell its deals from others')."""
    existing_check_since: float | None = None
    """Before opening: look for a position an earlier attempt (at this broker time) may have
    opened unseen; None when no attempt of this trade can be pending at the broker."""
    owner_of: Callable[[int], int | None] = lambda ticket: None
    """The trade a position of dtms's is linked to: one linked to another trade is never taken
    for this trade's earlier attempt (in a burst many hedges share symbol, side and volume)."""


def order_type(side: Side) -> int:
    """ORDER_TYPE_BUY or ORDER_TYPE_SELL."""
    return C.ORDER_TYPE_BUY if side is Side.BUY else C.ORDER_TYPE_SELL


def fillings(spec: SymbolSpec) -> list[int]:
    """Filling modes the symbol accepts for a market order, preferred first (reference §6.5)."""
    out = []
    if spec.filling_mode & 1:
        out.append(C.ORDER_FILLING_FOK)
    if spec.filling_mode & 2:
        out.append(C.ORDER_FILLING_IOC)
    if spec.exemode == 3 or not out:  # exchange execution always takes RETURN
        out.append(C.ORDER_FILLING_RETURN)
    return out


def split_volume(volume: float, spec: SymbolSpec) -> list[float]:
    """``volume`` as deals of at most ``volume_max`` each, every one on the volume step."""
    cap = spec.volume_down(spec.volume_max) if spec.volume_max > 0 else volume
    if cap <= 0 or volume <= cap + _EPS:
        return [round(volume, 8)]
    parts = []
    left = round(volume, 8)
    while left > cap + _EPS:
        parts.append(cap)
        left = round(left - cap, 8)
    if left > _EPS:
        parts.append(left)
    return parts


def _reason(r: CallResult) -> str:
    comment = str(getattr(r.value, "comment", "") or "") if r.value is not None else ""
    if comment:
        return f"{r.retcode} {comment}"
    if r.last_error:
        return f"{r.reason} {r.last_error}"
    return r.reason


class Executor:
    """Executes commands for one trade actor."""

    def __init__(self, ctx: ExecContext) -> None:
        self.ctx = ctx

    async def execute(self, c: Command) -> ActionOutcome:
        """Send ``c``; return the outcome event for ``dtms.core.machine.step``."""
        why = self.ctx.halted()
        if why:
            return ActionBlocked(c.id, self.ctx.broker_now(), Wait.HALTED, why)
        try:
            match c:
                case ModifyStops():
                    return await self._modify(c)
                case ClosePartial():
                    return await self._reduce(c, c.ticket, c.side, c.volume, partial=True)
                case ClosePosition():
                    return await self._reduce(c, c.ticket, c.side, c.volume, partial=False)
                case OpenHedge() | ReAdd():
                    return await self._open(c)
                case CloseBy():
                    request = {"action": C.TRADE_ACTION_CLOSE_BY, "position": int(c.ticket),
                               "position_by": int(c.by_ticket), "magic": self.ctx.params.magic}
                    r = await self.ctx.gateway.send(request, supersedes=(c.ticket, c.by_ticket))
                    return self._event(c, r, opens=False)
        except GatewayClosed:
            return ActionBlocked(c.id, self.ctx.broker_now(), Wait.NOT_SENT,
                                 "not sent: dtms is stopping")

    # ------------------------------------------------------------------ facts before sending

    def _quote(self, c: Command, *, defensive: bool) -> tuple[Quote | None, ActionOutcome | None]:
        """The symbol's quote of this cycle, or why a new defensive order must wait."""
        quote = self.ctx.feed.tick if self.ctx.feed is not None else None
        now = self.ctx.broker_now()
        if not defensive:
            return quote, None
        if quote is None:
            return None, ActionBlocked(c.id, now, Wait.STALE_DATA,
                                       f"no quote for {self.ctx.spec.name} yet")
        age = now - quote.time
        if age > self.ctx.stale_tick_seconds:
            return None, ActionBlocked(c.id, now, Wait.STALE_DATA,
                                       f"quote for {self.ctx.spec.name} is {age:.0f} s old")
        return quote, None

    async def _position(self, c: Command, ticket: int
                        ) -> tuple[PositionView | None, ActionOutcome | None]:
        """The position as the broker holds it right now, or the outcome that ends the command."""
        r = await self.ctx.gateway.call("positions_get", ticket=int(ticket),
                                        priority=Priority.CLOSE)
        now = self.ctx.broker_now()
        if not r.ok or r.value is None:
            return None, ActionBlocked(c.id, now, Wait.NOT_SENT,
                                       f"#{ticket} could not be re-read ({_reason(r)})")
        found = [p for p in r.value if int(p.ticket) == int(ticket)]
        if not found:
            return None, ActionFailed(c.id, now, 10036, "position already closed")
        return position_view(found[0]), None

    # ------------------------------------------------------------------ commands

    async def _modify(self, c: ModifyStops) -> ActionOutcome:
        # One call: an SLTP carries no price, and a stop planned on a stale quote is at worst
        # refused (10016) and planned again on the next deep check.
        request = {"action": C.TRADE_ACTION_SLTP, "position": int(c.ticket), "symbol": c.symbol,
                   "sl": float(c.sl), "tp": float(c.tp), "magic": self.ctx.params.magic}
        r = await self.ctx.gateway.send(request)
        if r.retcode == RETCODE_NO_CHANGES:  # the broker already holds exactly this SL
            return ActionDone(c.id, self.ctx.broker_now(), RETCODE_NO_CHANGES, c.ticket)
        return self._event(c, r, opens=False)

    async def _open(self, c: OpenHedge | ReAdd) -> ActionOutcome:
        since = self.ctx.existing_check_since
        if since is not None:
            found = await self._opened_since(c, since)
            if isinstance(found, ActionDone | ActionBlocked):
                return found
        quote, wait = self._quote(c, defensive=True)
        if wait is not None:
            return wait
        request = self._deal_request(c.side, c.volume, quote, comment=c.comment, magic=c.magic,
                                     sl=c.sl)
        protected = (c.main_ticket,) if isinstance(c, OpenHedge) else ()
        return await self._send_retrying(c, request, Priority.HEDGE, opens=True,
                                         supersedes=protected)

    async def _opened_since(self, c: OpenHedge | ReAdd, since: float) -> ActionOutcome | None:
        """A position an earlier attempt opened unseen (same symbol, side, volume, dtms's magic,
        opened at or after that attempt): found by what the broker holds, never by comment."""
        r = await self.ctx.gateway.call("positions_get", symbol=c.symbol, priority=Priority.HEDGE)
        now = self.ctx.broker_now()
        if not r.ok or r.value is None:
            return ActionBlocked(c.id, now, Wait.NOT_SENT,
                                 f"cannot check for an earlier attempt's position: {_reason(r)}")
        for p in r.value:
            pos = position_view(p)
            if self.ctx.owner_of(pos.ticket) not in (None, c.main_ticket):
                continue
            if (pos.magic == c.magic and pos.side is c.side
                    and abs(pos.volume - c.volume) < _EPS and pos.time >= int(since) - 1):
                return ActionDone(c.id, now, 0, pos.ticket, pos.volume, pos.price_open)
        return None

    async def _reduce(self, c: ClosePartial | ClosePosition, ticket: int, side: Side,
                      volume: float, *, partial: bool) -> ActionOutcome:
        """Close ``volume`` of a position (all that is left for a full close), never adding."""
        pos, ended = await self._position(c, ticket)
        if ended is not None or pos is None:
            return ended or ActionFailed(c.id, self.ctx.broker_now(), 10036, "already closed")
        now = self.ctx.broker_now()
        if pos.side is not side:
            return ActionBlocked(c.id, now, Wait.CHANGED,
                                 f"#{ticket} is now a {pos.side.value}: reversed at the broker, "
                                 "so the order would add exposure; not sent")
        if partial and volume > pos.volume - self.ctx.spec.volume_min + _EPS:
            return ActionBlocked(c.id, now, Wait.CHANGED,
                                 f"#{ticket} holds {pos.volume} lots, too few to close {volume} "
                                 "and keep the rest; re-planned from the new volume")
        amount = volume if partial else pos.volume
        quote, wait = self._quote(c, defensive=partial)
        if wait is not None:
            return wait
        if quote is not None and frozen(pos, quote, self.ctx.spec):
            return ActionBlocked(c.id, now, Wait.FROZEN,
                                 f"#{ticket} is inside the freeze level; waits until it leaves")
        comment = "DTMS_PARTIAL" if partial else "DTMS_CLOSE"
        filled, last = 0.0, None
        for part in split_volume(amount, self.ctx.spec):
            request = self._deal_request(side.opposite, part, quote, comment=comment,
                                         magic=self.ctx.params.magic, position=ticket)
            last = await self._send_retrying(c, request, Priority.CLOSE, opens=False,
                                             supersedes=(ticket,))
            if not isinstance(last, ActionDone):
                break
            filled = round(filled + (last.volume or part), 8)
        assert last is not None
        if isinstance(last, ActionDone):
            return ActionDone(c.id, last.at, last.retcode, 0, filled, last.price) if partial \
                else last
        if partial and filled > 0:  # some of its deals went through: that much is closed
            return ActionDone(c.id, self.ctx.broker_now(), RETCODE_DONE_PARTIAL, 0, filled, 0.0)
        return last

    # ------------------------------------------------------------------ sending

    def _deal_request(self, side: Side, volume: float, quote: Quote | None, *, comment: str,
                      magic: int, position: int = 0, sl: float = 0.0,
                      filling: int | None = None) -> dict[str, Any]:
        price = 0.0
        if quote is not None:
            price = float(quote.ask) if side is Side.BUY else float(quote.bid)
        request: dict[str, Any] = {
            "action": C.TRADE_ACTION_DEAL, "symbol": self.ctx.spec.name, "volume": float(volume),
            "type": order_type(side), "price": price, "deviation": self.ctx.params.deviation_points,
            "magic": int(magic), "comment": comment, "type_time": C.ORDER_TIME_GTC,
            "type_filling": fillings(self.ctx.spec)[0] if filling is None else filling,
        }
        if position:
            request["position"] = int(position)
        if sl:
            request["sl"] = float(sl)
        return request

    async def _send_retrying(self, c: Command, request: dict[str, Any], priority: Priority,
                             *, opens: bool, supersedes: tuple[int, ...] = ()) -> ActionOutcome:
        allowed = fillings(self.ctx.spec)
        r = await self.ctx.gateway.send(request, priority=priority, supersedes=supersedes)
        for _ in range(FIXABLE_RETRIES):
            if r.outcome is not Outcome.FIXABLE:
                break
            if r.retcode == RETCODE_INVALID_FILL:
                others = [f for f in allowed if f != request["type_filling"]]
                if not others:
                    break
                request = {**request, "type_filling": others[0]}
            fresh = await self.ctx.gateway.call("symbol_info_tick", self.ctx.spec.name,
                                                priority=priority)
            if fresh.ok and fresh.value is not None:
                buy = request["type"] == C.ORDER_TYPE_BUY
                request = {**request, "price": float(fresh.value.ask if buy
                                                     else fresh.value.bid)}
            r = await self.ctx.gateway.send(request, priority=priority)
        if r.ok and r.retcode == RETCODE_DONE_PARTIAL and not opens and r.value is not None:
            self._record(r)
            left = round(float(request["volume"]) - float(r.value.volume), 8)
            if left > 0:  # a close filled in part: send the remainder once more
                r2 = await self.ctx.gateway.send({**request, "volume": left}, priority=priority)
                if not r2.ok:
                    return self._event(c, r2, opens=opens)
        return self._event(c, r, opens=opens)

    def _record(self, r: CallResult) -> None:
        order = int(getattr(r.value, "order", 0) or 0) if r.value is not None else 0
        if order and self.ctx.sent_orders is not None:
            self.ctx.sent_orders.add(order)

    def _event(self, c: Command, r: CallResult, *, opens: bool) -> ActionOutcome:
        now = self.ctx.broker_now()
        match r.outcome:
            case Outcome.DONE:
                self._record(r)
                v = r.value
                ticket = int(v.order) if opens and v is not None else 0
                volume = float(v.volume) if v is not None else 0.0
                price = float(v.price) if v is not None else 0.0
                return ActionDone(c.id, now, r.retcode or 10009, ticket, volume, price)
            case Outcome.UNKNOWN:
                return ActionUnknown(c.id, now, _reason(r))
            case Outcome.BLOCKED:
                return ActionBlocked(c.id, now, self._wait_of(r, now), _reason(r))
            case Outcome.DEFINITIVE | Outcome.FIXABLE:
                return ActionFailed(c.id, now, r.retcode, _reason(r))

    def _wait_of(self, r: CallResult, now: float) -> Wait:
        match r.retcode:
            case 10018:
                if self.ctx.feed is not None:
                    self.ctx.feed.mark_closed(now)
                return Wait.MARKET_CLOSED
            case 10027:
                self.ctx.trading_disabled()
                return Wait.TRADING_DISABLED
            case 10029:
                return Wait.FROZEN
            case _:
                return Wait.NOT_SENT
