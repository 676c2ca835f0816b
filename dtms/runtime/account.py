"""The account and the terminal, read regularly: may dtms trade now, and is it alone?

Theory of operation. ``AccountWatch`` re-reads ``account_info`` and ``terminal_info`` every
``account_refresh_seconds`` (and at once after a 10027 answer or a reconnect): read only at
start, AutoTrading switched on later left hedging blocked for the whole run, and switched off
mid-run was never noticed. When trading becomes impossible it says so once, loudly (an ERROR
line, the status, an operator event); every action then waits, and resumes when it is back.

``ForeignWatch`` reads the account's recent deals and looks for orders sent with dtms's magic
that this process did not send: another dtms (or an EA reusing the magic) acting on the same
positions. Two managers both did their once-only partial close and closed a 1-lot trade in
full, so on such a deal dtms stops acting, with a clear alert, until it is restarted. Each read
asks for the deals since the last good one (and ``LATE_DEAL_SECONDS`` before): it once asked
for the whole last hour every 30 s, and in a burst that was 4,500 deals (4 MB) decoded each
time. After a reconnect, or once trading is possible again (a terminal that was cut off from
the server receives the deals made meanwhile, with their own times), the next read goes back
``LOOK_BACK_SECONDS``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from loguru import logger

from dtms.broker import constants as C
from dtms.core.messages import CloseBy, ClosePartial, ClosePosition, OpenHedge, ReAdd
from dtms.core.trade import CommandStatus, TradeState
from dtms.core.types import AccountView
from dtms.runtime.events import EventBus, EventKind, OperatorEvent, Severity
from dtms.runtime.gateway import Gateway

_EPS = 1e-9


class AccountWatch:
    """The account's permissions and margin mode, refreshed regularly."""

    def __init__(self, gateway: Gateway, events: EventBus, refresh_seconds: float,
                 now: Callable[[], float]) -> None:
        self._gw = gateway
        self._events = events
        self._every = refresh_seconds
        self._now = now
        self.view = AccountView(hedging=True, trade_allowed=True)
        self.login = 0
        self.known = False
        self.disabled = ""
        """Why trading is not possible now ("" while it is)."""
        self._next = -float("inf")
        self._log = logger.bind(component="account")

    def due(self, now: float) -> bool:
        """Whether the account should be read this cycle."""
        return now >= self._next

    def refresh_soon(self) -> None:
        """Read it at the next cycle (a 10027 answer, a reconnect)."""
        self._next = -float("inf")

    async def refresh(self) -> None:
        """Read account and terminal; say once when trading stops or resumes."""
        now = self._now()
        self._next = now + self._every
        acc = (await self._gw.call("account_info")).value
        term = (await self._gw.call("terminal_info")).value
        if acc is None:
            self._log.warning("account_info unavailable; keeping the previous account view")
            return
        hedging = int(acc.margin_mode) == C.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
        reason = _disabled_reason(acc, term)
        first = not self.known
        before = self.view
        self.view = AccountView(hedging, not reason, float(acc.margin_free), str(acc.currency))
        self.login, self.known = int(acc.login), True
        if not hedging and (before.hedging or first):
            self._log.warning(f"account {acc.login} is a netting account: an opposite order "
                              "would net the position, so dtms never hedges; the hedge step "
                              "is replaced by [actions] instead_of_hedge")
        if reason and reason != self.disabled:
            self._log.error(f"TRADING DISABLED: {reason}; every action waits until it is "
                            "back (positions keep their stops)")
            self._events.publish(OperatorEvent(EventKind.TRADING_DISABLED, now,
                                               f"trading disabled: {reason}", Severity.CRITICAL))
        elif not reason and self.disabled:
            self._log.info("trading allowed again: actions resume")
            self._events.publish(OperatorEvent(EventKind.TRADING_ENABLED, now,
                                               "trading allowed again: actions resume"))
        self.disabled = reason


def _disabled_reason(acc: Any, term: Any) -> str:
    if term is not None and not bool(getattr(term, "trade_allowed", True)):
        return "AutoTrading is off in the terminal"
    if term is not None and not bool(getattr(term, "connected", True)):
        return "the terminal is not connected to the trade server"
    if not bool(acc.trade_allowed):
        return "the account may not trade (an investor login?)"
    if not bool(getattr(acc, "trade_expert", True)):
        return "the broker does not allow expert trading on this account"
    return ""


class ForeignWatch:
    """Notices deals with dtms's magic that this process did not send."""

    def __init__(self, gateway: Gateway, magic: int, sent_orders: set[int], interval: float,
                 start: float) -> None:
        self._gw = gateway
        self._magic = magic
        self._sent = sent_orders
        self._every = interval
        self._since = start
        """Broker time of the last good read (the next one asks from a little before it)."""
        self._start = start
        self._next = start
        self._seen: dict[int, float] = {}
        """Deals already judged, with their times (those the reads no longer reach are
        forgotten)."""
        self._unanswered: dict[object, tuple[float, Signature]] = {}
        self.halted = ""
        """The foreign order that was found ("" while none was)."""

    def due(self, now: float) -> bool:
        """Whether the deals should be read this cycle."""
        return not self.halted and now >= self._next

    def look_back(self, now: float) -> None:
        """The next read goes back ``LOOK_BACK_SECONDS`` (not before the process started):
        deals made while dtms or its terminal was cut off may only be listed now."""
        self._since = max(self._start, min(self._since, now - LOOK_BACK_SECONDS))

    def sending(self, at: float, command: object) -> object:
        """This process is about to send ``command``; returns a token for ``answered``.

        Until its answer is known, a deal that matches it is this process's own: a lost answer
        (a timeout, an IPC loss) leaves one such deal without a known order ticket.
        """
        sig = signature(command)
        token = object()
        if sig is not None:
            self._unanswered[token] = (at, sig)
        return token

    def answered(self, token: object, lost: bool) -> None:
        """The send's answer came: its order ticket is known (or nothing executed), unless
        ``lost`` (then one matching deal stays this process's own for a while)."""
        if not lost:
            self._unanswered.pop(token, None)

    def _own_lost(self, deal: Any) -> bool:
        """Whether ``deal`` is the execution of one of this process's lost answers (each
        accounts for one deal)."""
        for token, (at, sig) in list(self._unanswered.items()):
            if _matches(sig, deal) and abs(float(deal.time) - at) <= OWN_DEAL_SECONDS:
                del self._unanswered[token]
                return True
            if float(deal.time) - at > OWN_DEAL_SECONDS:
                del self._unanswered[token]
        return False

    async def check(self, now: float, trades: Iterable[TradeState]) -> None:
        """Read the deals since the last check; halt on one this process did not send."""
        self._next = now + self._every
        since = self._since - LATE_DEAL_SECONDS
        r = await self._gw.call("history_deals_get", int(since), int(now) + 86_400)
        if not r.ok or r.value is None:
            return  # the next read starts where this one should have
        in_flight = [(now, sig) for t in trades if t.pending is not None
                     for item in t.pending.commands if item.status is CommandStatus.SENT
                     and (sig := signature(item.command)) is not None]
        if self._judge(r.value, in_flight, now):
            return
        self._since = now
        self._seen = {t: at for t, at in self._seen.items() if at >= since}

    def _judge(self, deals: Iterable[Any], in_flight: list[tuple[float, Signature]],
               now: float) -> bool:
        """Judge the deals not seen yet; halt (and return True) on another manager's."""
        for deal in deals:
            ticket = int(deal.ticket)
            if ticket in self._seen or int(deal.magic) != self._magic:
                continue
            self._seen[ticket] = float(deal.time)
            if int(deal.reason) != C.DEAL_REASON_EXPERT or int(deal.order) in self._sent:
                continue
            if float(deal.time) < self._start:
                continue  # before this process started: its journal's earlier process, most
                # likely (a restart within a minute of its last order); only later deals tell
            if self._own_lost(deal) or any(_matches(sig, deal) for _, sig in in_flight):
                # one of this process's own orders whose answer was lost: its order is known
                # now, so a later read that reaches it again judges it the same way
                self._sent.add(int(deal.order))
                continue
            self._halt(now, deal)
            return True
        return False

    def _halt(self, now: float, deal: Any) -> None:
        self.halted = (
            f"another program sent order #{int(deal.order)} ({deal.symbol}, {float(deal.volume)} "
            f"lots, position #{int(deal.position_id)}) with dtms's magic {self._magic}"
        )


Signature = tuple[str, int, float, int]
LATE_DEAL_SECONDS = 120.0
"""A deal listed this long after its time (broker time) is still read."""
LOOK_BACK_SECONDS = 3600.0
"""How far the read after a reconnect, or after trading was impossible, goes back."""
OWN_DEAL_SECONDS = 300.0
"""A deal within this long of one of this process's sends that matches it is that send's."""


def signature(c: object) -> Signature | None:
    """What a deal of this command would show: symbol, deal type, volume, position."""
    match c:
        case OpenHedge() | ReAdd():
            kind = C.DEAL_TYPE_BUY if c.side.value == "BUY" else C.DEAL_TYPE_SELL
            return c.symbol, kind, c.volume, 0
        case ClosePartial() | ClosePosition():
            kind = C.DEAL_TYPE_SELL if c.side.value == "BUY" else C.DEAL_TYPE_BUY
            return c.symbol, kind, c.volume, c.ticket
        case CloseBy():  # two OUT_BY deals, either side, either position
            return c.symbol, -1, float("inf"), -1
    return None


def _matches(sig: Signature, deal: Any) -> bool:
    symbol, kind, volume, position = sig
    return (str(deal.symbol) == symbol and kind in (-1, int(deal.type))
            and float(deal.volume) <= volume + _EPS
            and (position <= 0 or int(deal.position_id) == position))
