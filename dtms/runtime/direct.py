"""Closing a position no trade actor owns: an orphan hedge, or one the account guard's lock must
close.

Theory of operation. Such a close goes through the same executor as an actor's (a fresh quote,
the position re-read, the gateway's priorities and outcomes) and through the foreign-deal watch's
sending/answered tokens, so dtms never takes its own deal for another manager's. Each position is
tried at most once per ``retry_seconds``: the next snapshot shows whether it went, and one that
did not is tried again, never in a tight loop.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING

from dtms.core.messages import Action, ActionOutcome, ActionUnknown, ClosePosition, Role
from dtms.core.types import PositionView
from dtms.runtime.execution import ExecContext, Executor

if TYPE_CHECKING:
    from dtms.runtime.actor import ActorContext
    from dtms.runtime.market_data import SymbolFeed

RETRY_SECONDS = 30.0
"""A direct close that did not take is tried again after this long."""


class DirectCloser:
    """Closes positions outside any actor, each at most once per ``retry_seconds``."""

    def __init__(self, ctx: ActorContext, retry_seconds: float = RETRY_SECONDS) -> None:
        self._ctx = ctx
        self._retry = retry_seconds
        self._closing: dict[int, float] = {}

    def due(self, pos: PositionView, now: float) -> SymbolFeed | None:
        """The feed to close ``pos`` with now, or None (tried too recently, no symbol info yet,
        or dtms stopping). A position it returns a feed for counts as being closed from now."""
        if now - self._closing.get(pos.ticket, -math.inf) < self._retry:
            return None
        feed = self._ctx.feeds.get(pos.symbol)
        if feed is None or feed.spec is None or self._ctx.stopping:
            return None
        self._closing[pos.ticket] = now
        return feed

    async def close(self, pos: PositionView, feed: SymbolFeed, command_id: str, role: Role
                    ) -> ActionOutcome:
        """Close ``pos`` in full; the executor's outcome."""
        ctx = self._ctx
        assert feed.spec is not None
        exec_ctx = ExecContext(ctx.gateway, feed.spec, ctx.policy.actions, ctx.broker_now,
                               ctx.stale_tick_seconds, feed, ctx.halted, ctx.trading_disabled,
                               ctx.sent_orders)
        cmd = ClosePosition(command_id, Action.CLOSE_ALL, pos.ticket, pos.symbol, pos.side,
                            pos.volume, role)
        token = ctx.sending(ctx.broker_now(), cmd)
        outcome = await Executor(exec_ctx).execute(cmd)
        ctx.answered(token, isinstance(outcome, ActionUnknown))
        return outcome

    def forget(self, tickets: Iterable[int]) -> None:
        """Positions that are gone."""
        for ticket in tickets:
            self._closing.pop(ticket, None)


def outcome_text(outcome: ActionOutcome) -> str:
    """``ActionDone``, or ``ActionFailed (its reason)``, for a log line."""
    why = getattr(outcome, "reason", "")
    return f"{type(outcome).__name__}{f' ({why})' if why else ''}"
