"""Carrying out one core command at the broker, through the gateway.

Theory of operation. A command becomes MT5 requests built from the symbol's own rules (filling
mode from ``filling_mode``, never a hard-coded FOK), sent with the gateway's priorities. Before a
new defensive order the quote must be fresh. Before a hedge the broker is asked whether this
trade's hedge already exists (by comment and magic) — the check lives at the broker, not only in
memory — and whether the margin allows it (``order_check``). A fixable answer (requote, price
changed, too many requests, an unsupported filling with another allowed) is retried at most twice
with a fresh quote; everything else comes back as one outcome event for the core.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from dtms.broker import constants as C
from dtms.core.messages import (
    ActionDone,
    ActionFailed,
    ActionUnknown,
    CloseBy,
    ClosePartial,
    ClosePosition,
    Command,
    ModifyStops,
    OpenHedge,
    ReAdd,
)
from dtms.core.policy import ActionParams
from dtms.core.types import Outcome, Side, SymbolSpec
from dtms.errors import GatewayClosed
from dtms.runtime.gateway import CallResult, Gateway, Priority

Event = ActionDone | ActionFailed | ActionUnknown

RETCODE_INVALID_FILL = 10030
RETCODE_NO_CHANGES = 10025
RETCODE_DONE_PARTIAL = 10010
FIXABLE_RETRIES = 2


@dataclass(frozen=True, slots=True)
class ExecContext:
    """What executing a command needs besides the command."""

    gateway: Gateway
    spec: SymbolSpec
    params: ActionParams
    broker_now: Callable[[], float]
    stale_tick_seconds: float
    observe_time: Callable[..., None] | None = None


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

    async def execute(self, c: Command) -> Event:
        """Send ``c``; return the outcome event for ``dtms.core.machine.step``."""
        try:
            match c:
                case ModifyStops():
                    return await self._modify(c)
                case ClosePartial():
                    return await self._deal(c, c.ticket, c.side.opposite, c.volume, Priority.CLOSE,
                                            comment="DTMS_PARTIAL", defensive=True)
                case OpenHedge():
                    return await self._open(c, c.side, c.volume, c.sl, c.comment, c.magic,
                                            Priority.HEDGE)
                case ReAdd():
                    return await self._open(c, c.side, c.volume, c.sl, c.comment, c.magic,
                                            Priority.HEDGE)
                case ClosePosition():
                    return await self._close(c)
                case CloseBy():
                    request = {"action": C.TRADE_ACTION_CLOSE_BY, "position": int(c.ticket),
                               "position_by": int(c.by_ticket), "magic": self.ctx.params.magic}
                    return self._event(c, await self.ctx.gateway.send(request), opens=False)
        except GatewayClosed:
            return ActionFailed(c.id, self.ctx.broker_now(), None, "not sent: dtms is stopping")

    # ------------------------------------------------------------------ reads

    async def _read(self, fn: str, *args: Any, **kwargs: Any) -> CallResult:
        return await self.ctx.gateway.call(fn, *args, priority=Priority.READ, **kwargs)

    async def _fresh_tick(self, c: Command) -> tuple[Any, Event | None]:
        """The current quote, or the failure that stops a new defensive action."""
        r = await self._read("symbol_info_tick", self.ctx.spec.name)
        if r.ok and r.value is not None and self.ctx.observe_time is not None:
            self.ctx.observe_time(float(r.value.time))
        now = self.ctx.broker_now()
        if not r.ok or r.value is None:
            return None, ActionFailed(c.id, now, None, f"no quote for {self.ctx.spec.name}: "
                                      f"{_reason(r)}")
        age = now - float(r.value.time)
        if age > self.ctx.stale_tick_seconds:
            return None, ActionFailed(c.id, now, None, f"quote for {self.ctx.spec.name} is "
                                      f"{age:.0f} s old: stale data blocks new actions")
        return r.value, None

    # ------------------------------------------------------------------ commands

    async def _modify(self, c: ModifyStops) -> Event:
        # One call: an SLTP carries no price, and a stop planned on a stale quote is at worst
        # refused (10016) and planned again on the next deep check.
        request = {"action": C.TRADE_ACTION_SLTP, "position": int(c.ticket), "symbol": c.symbol,
                   "sl": float(c.sl), "tp": float(c.tp), "magic": self.ctx.params.magic}
        r = await self.ctx.gateway.send(request)
        if r.retcode == RETCODE_NO_CHANGES:  # the broker already holds exactly this SL
            return ActionDone(c.id, self.ctx.broker_now(), RETCODE_NO_CHANGES, c.ticket)
        return self._event(c, r, opens=False)

    async def _open(self, c: OpenHedge | ReAdd, side: Side, volume: float, sl: float,
                    comment: str, magic: int, priority: Priority) -> Event:
        existing = await self._read("positions_get", symbol=c.symbol)
        now = self.ctx.broker_now()
        if not existing.ok or existing.value is None:
            return ActionFailed(c.id, now, None, f"cannot check for an existing position "
                                f"before opening: {_reason(existing)}")
        for p in existing.value:
            if p.comment == comment and int(p.magic) == magic:
                return ActionDone(c.id, now, 0, int(p.ticket), float(p.volume),
                                  float(p.price_open))
        tick, stale = await self._fresh_tick(c)
        if stale is not None:
            return stale
        request = self._deal_request(side, volume, tick, comment=comment, magic=magic, sl=sl)
        check = await self._read("order_check", request)
        if not check.ok or check.value is None or int(check.value.retcode) != 0:
            retcode = int(check.value.retcode) if check.value is not None else None
            return ActionFailed(c.id, self.ctx.broker_now(), retcode,
                                f"margin/validity check failed: {_reason(check)}")
        return await self._send_retrying(c, request, priority, opens=True)

    async def _deal(self, c: Command, position: int, side: Side, volume: float,
                    priority: Priority, *, comment: str, defensive: bool) -> Event:
        if defensive:
            tick, stale = await self._fresh_tick(c)
            if stale is not None:
                return stale
        else:
            r = await self._read("symbol_info_tick", self.ctx.spec.name)
            tick = r.value if r.ok else None
        request = self._deal_request(side, volume, tick, comment=comment,
                                     magic=self.ctx.params.magic, position=position)
        return await self._send_retrying(c, request, priority, opens=False)

    async def _close(self, c: ClosePosition) -> Event:
        """Close what is left of a position; a position already gone answers 10036."""
        r = await self._read("positions_get", ticket=int(c.ticket))
        if r.ok and r.value is not None and len(r.value) == 0:
            return ActionFailed(c.id, self.ctx.broker_now(), 10036, "position already closed")
        volume = float(r.value[0].volume) if r.ok and r.value else c.volume
        return await self._deal(c, c.ticket, c.side.opposite, volume, Priority.CLOSE,
                                comment="DTMS_CLOSE", defensive=False)

    # ------------------------------------------------------------------ sending

    def _deal_request(self, side: Side, volume: float, tick: Any, *, comment: str, magic: int,
                      position: int = 0, sl: float = 0.0, filling: int | None = None
                      ) -> dict[str, Any]:
        price = 0.0
        if tick is not None:
            price = float(tick.ask) if side is Side.BUY else float(tick.bid)
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
                             *, opens: bool) -> Event:
        allowed = fillings(self.ctx.spec)
        r = await self.ctx.gateway.send(request, priority=priority)
        for _ in range(FIXABLE_RETRIES):
            if r.outcome is not Outcome.FIXABLE:
                break
            if r.retcode == RETCODE_INVALID_FILL:
                others = [f for f in allowed if f != request["type_filling"]]
                if not others:
                    break
                request = {**request, "type_filling": others[0]}
            tick = (await self._read("symbol_info_tick", self.ctx.spec.name)).value
            if tick is not None:
                buy = request["type"] == C.ORDER_TYPE_BUY
                request = {**request, "price": float(tick.ask if buy else tick.bid)}
            r = await self.ctx.gateway.send(request, priority=priority)
        if r.ok and r.retcode == RETCODE_DONE_PARTIAL and not opens and r.value is not None:
            left = round(float(request["volume"]) - float(r.value.volume), 8)
            if left > 0:  # a close filled in part: send the remainder once more
                r2 = await self.ctx.gateway.send({**request, "volume": left}, priority=priority)
                if not r2.ok:
                    return self._event(c, r2, opens=opens)
        return self._event(c, r, opens=opens)

    def _event(self, c: Command, r: CallResult, *, opens: bool) -> Event:
        now = self.ctx.broker_now()
        match r.outcome:
            case Outcome.DONE:
                v = r.value
                ticket = int(v.order) if opens and v is not None else 0
                volume = float(v.volume) if v is not None else 0.0
                price = float(v.price) if v is not None else 0.0
                return ActionDone(c.id, now, r.retcode or 10009, ticket, volume, price)
            case Outcome.UNKNOWN:
                return ActionUnknown(c.id, now, _reason(r))
            case Outcome.DEFINITIVE | Outcome.FIXABLE:
                return ActionFailed(c.id, now, r.retcode, _reason(r))
