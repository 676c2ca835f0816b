"""Sizing and pricing the defensive actions (specification §4, "Actions and their parameters").

Theory of operation: each ``plan_*`` function turns one action of a transition into a command,
or into a reason not to send one (``Skip``), or into a reason to wait (``Hold``: the position is
inside the freeze level, so MT5 would refuse to touch it; the transition waits until it leaves).
Prices are rounded *away* from the market so rounding can never pull a stop inside the stops
level; volumes are rounded *down* onto the volume step except the hedge (nearest step, as
specified). A stop is only ever sent when it tightens the current one by at least a point: the
original system, and peers, re-sent stops every loop.

Stop distances: a stop is measured from the price that triggers it — bid for a BUY position's
SL, ask for a SELL's — and must lie beyond both the stops level and the freeze level, plus one
point. That price already contains the spread; adding the spread again put hedge stops two
spreads further out than specified.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dtms.core.messages import (
    Action,
    CloseBy,
    ClosePartial,
    ClosePosition,
    Command,
    MarketFacts,
    ModifyStops,
    OpenHedge,
    ReAdd,
    Role,
    Wait,
)
from dtms.core.policy import ActionParams, Hedging
from dtms.core.trade import TradeState
from dtms.core.types import AccountView, PositionView, Quote, Side, SymbolSpec

_EPS = 1e-9


@dataclass(frozen=True, slots=True)
class Skip:
    """An action that will not be sent, and why."""

    action: Action
    reason: str


@dataclass(frozen=True, slots=True)
class Hold:
    """An action that cannot be sent now for a passing reason; its transition waits."""

    action: Action
    wait: Wait
    reason: str


Planned = Command | Skip


def _away(price: float, side: Side, spec: SymbolSpec) -> float:
    """Round a stop of a ``side`` position onto the point grid, away from the market."""
    steps = price / spec.point
    steps = math.floor(steps + _EPS) if side is Side.BUY else math.ceil(steps - _EPS)
    return round(steps * spec.point, spec.digits)


def _tightens(side: Side, new_sl: float, current_sl: float, point: float) -> bool:
    """Whether ``new_sl`` is tighter than ``current_sl`` by at least one point."""
    if current_sl <= 0:
        return True
    if side is Side.BUY:
        return new_sl >= current_sl + point - _EPS
    return new_sl <= current_sl - point + _EPS


def _min_distance(spec: SymbolSpec) -> float:
    """Closest a stop may be to the price that triggers it: beyond both levels, plus a point.

    A stop on the price itself is on the wrong side for MT5 (10016) even with zero levels.
    """
    return (max(spec.stops_level, spec.freeze_level) + 1) * spec.point


def frozen(pos: PositionView, quote: Quote, spec: SymbolSpec) -> bool:
    """Whether MT5 refuses to modify or close ``pos`` now (10029, reference §6.4).

    A position whose SL or TP is within the freeze level of the price that would trigger it
    (bid for a BUY, ask for a SELL) cannot be touched; MT5 allows it from strictly beyond.
    """
    if spec.freeze_level <= 0:
        return False
    price = quote.exit_price(pos.side)
    limit = spec.freeze_level * spec.point + _EPS
    sl_near = pos.sl > 0 and pos.side.sign * (price - pos.sl) <= limit
    tp_near = pos.tp > 0 and pos.side.sign * (pos.tp - price) <= limit
    return sl_near or tp_near


def hold_if_frozen(action: Action, pos: PositionView | None, quote: Quote | None,
                   spec: SymbolSpec | None) -> Hold | None:
    """A ``Hold`` when ``pos`` is inside the freeze level (nothing to check without a quote)."""
    if pos is None or quote is None or spec is None or not frozen(pos, quote, spec):
        return None
    return Hold(action, Wait.FROZEN, f"#{pos.ticket} is inside the freeze level "
                f"({spec.freeze_level} points): waits until the price leaves it")


def plan_tighten_sl(
    cid: str, trade: TradeState, main: PositionView, market: MarketFacts, p: ActionParams
) -> Planned:
    """SL = price - 0.3 R (BUY; + for SELL) from the price that triggers it, outside the stops
    and freeze levels, never looser."""
    spec, side = market.spec, trade.side
    r = abs(trade.entry - trade.initial_sl) if trade.initial_sl > 0 else 0.0
    if r <= 0:  # no SL at first sight (or one at entry): one ATR stands in for the risk
        r = market.atr_m15 or 0.0
    if r <= 0:
        return Skip(Action.TIGHTEN_SL, "no R: the trade had no SL and ATR14(M15) is unavailable")
    price = market.quote.exit_price(side)
    wanted = price - side.sign * p.sl_tighten_r * r
    limit = price - side.sign * _min_distance(spec)
    sl = _away(min(wanted, limit) if side is Side.BUY else max(wanted, limit), side, spec)
    if sl <= 0:
        return Skip(Action.TIGHTEN_SL, f"computed SL {sl} is not a valid price")
    if not _tightens(side, sl, main.sl, spec.point):
        return Skip(
            Action.TIGHTEN_SL,
            f"SL {sl:.{spec.digits}f} would not tighten the current SL "
            f"{main.sl:.{spec.digits}f} by a point",
        )
    return ModifyStops(cid, Action.TIGHTEN_SL, main.ticket, trade.symbol, sl, main.tp)


def plan_partial_close(
    cid: str, trade: TradeState, main: PositionView, spec: SymbolSpec, p: ActionParams
) -> Planned:
    """Close 50 % rounded down to the step; never below volume_min, never a full close."""
    if trade.partial_closes >= p.partial_close_max:
        return Skip(
            Action.PARTIAL_CLOSE,
            f"already closed part {trade.partial_closes} time(s) (max {p.partial_close_max})",
        )
    volume = spec.volume_down(main.volume * p.partial_close_ratio)
    if volume < spec.volume_min - _EPS:
        return Skip(
            Action.PARTIAL_CLOSE,
            f"{p.partial_close_ratio:.0%} of {main.volume} lots is {volume}, below volume_min "
            f"{spec.volume_min}",
        )
    if main.volume - volume < spec.volume_min - _EPS:
        return Skip(
            Action.PARTIAL_CLOSE,
            f"closing {volume} of {main.volume} lots would leave less than volume_min "
            f"{spec.volume_min}",
        )
    return ClosePartial(cid, Action.PARTIAL_CLOSE, main.ticket, trade.symbol, trade.side, volume)


def plan_breakeven(
    cid: str, trade: TradeState, main: PositionView, market: MarketFacts, p: ActionParams
) -> Planned:
    """SL = entry ± buffer, only when price is beyond entry by more than the stops level."""
    spec, side = market.spec, trade.side
    price = market.quote.exit_price(side)
    stops = max(spec.stops_level, spec.freeze_level) * spec.point
    if side.sign * (price - trade.entry) <= stops + _EPS:
        return Skip(
            Action.MOVE_SL_BREAKEVEN,
            "price is not beyond entry by more than the stops level (a losing trade cannot "
            "take a breakeven stop)",
        )
    sl = round(trade.entry + side.sign * p.breakeven_buffer_points * spec.point, spec.digits)
    if side.sign * (price - sl) < _min_distance(spec) - _EPS:
        return Skip(Action.MOVE_SL_BREAKEVEN,
                    "breakeven SL would sit inside the stops or freeze level")
    if not _tightens(side, sl, main.sl, spec.point):
        return Skip(Action.MOVE_SL_BREAKEVEN, "current SL is already at or beyond breakeven")
    return ModifyStops(cid, Action.MOVE_SL_BREAKEVEN, main.ticket, trade.symbol, sl, main.tp)


def hedge_comment(ticket: int, p: ActionParams) -> str:
    """The hedge comment that links a hedge to its main trade at the broker."""
    return f"{p.hedge_comment_prefix}{ticket}"


def readd_comment(ticket: int, p: ActionParams) -> str:
    """The re-add comment that links a re-add to its main trade at the broker."""
    return f"{p.readd_comment_prefix}{ticket}"


def plan_open_hedge(
    cid: str,
    trade: TradeState,
    main: PositionView,
    market: MarketFacts,
    account: AccountView,
    max_hedges: int,
    p: ActionParams,
) -> Planned:
    """0.5 x volume on the step, opposite side, SL 0.5 ATR from entry outside the stops level.

    Every precondition that fails is a reason; none of them sends an order. The margin check
    needs the broker (``order_check``) and is made by the executor right before sending.
    """
    spec = market.spec
    if p.hedging is Hedging.FORBIDDEN:
        return Skip(Action.OPEN_HEDGE, "hedging is forbidden on this account (actions.hedging)")
    if not account.hedging:
        return Skip(
            Action.OPEN_HEDGE,
            "netting account: an opposite order would net the position, so hedging is refused",
        )
    if not account.trade_allowed:
        return Skip(Action.OPEN_HEDGE, "trading is not allowed on this account")
    if market.stale:
        return Skip(Action.OPEN_HEDGE, "market data is stale")
    if trade.hedges_opened >= max_hedges:
        return Skip(Action.OPEN_HEDGE, f"{trade.hedges_opened} hedge(s) opened, max {max_hedges}")
    if market.atr_m15 is None or market.atr_m15 <= 0:
        return Skip(Action.OPEN_HEDGE, "ATR14(M15) unavailable: cannot place the hedge's SL")
    volume = min(spec.volume_nearest(main.volume * p.hedge_ratio), spec.volume_down(
        spec.volume_max))
    if volume < spec.volume_min - _EPS:
        return Skip(
            Action.OPEN_HEDGE,
            f"hedge volume {volume} ({p.hedge_ratio} x {main.volume}) is below volume_min "
            f"{spec.volume_min}",
        )
    comment = hedge_comment(trade.ticket, p)
    if len(comment) > p.comment_max_length:
        return Skip(
            Action.OPEN_HEDGE,
            f"hedge comment {comment!r} is longer than {p.comment_max_length} characters",
        )
    side = trade.side.opposite
    entry = market.quote.entry_price(side)
    # A hedge's SL sits on the far side: above entry for a SELL hedge, below for a BUY hedge,
    # and at least the stops level + spread from the price the position closes at.
    exit_price = market.quote.exit_price(side)
    wanted = entry - side.sign * p.hedge_sl_atr * market.atr_m15
    limit = exit_price - side.sign * _min_distance(spec)
    sl = _away(min(wanted, limit) if side is Side.BUY else max(wanted, limit), side, spec)
    return OpenHedge(
        cid, Action.OPEN_HEDGE, trade.ticket, trade.symbol, side, volume, sl, comment, p.magic
    )


def plan_hard_stop(
    cid: str, trade: TradeState, main: PositionView, market: MarketFacts, max_hedges: int,
    p: ActionParams,
) -> Planned:
    """The stop that replaces a hedge: the trade may lose, from here, what its hedge would have
    risked at its own stop.

    The hedge would be ``hedge_ratio`` of the volume with a stop ``hedge_sl_atr`` ATR away, so
    the main's stop goes ``hedge_ratio * hedge_sl_atr`` ATR behind the price that triggers it
    (outside the stops and freeze levels), and only if that tightens the current stop. It
    counts as one of the trade's hedges (``max_hedges_per_trade``).
    """
    spec, side = market.spec, trade.side
    if trade.hedges_opened >= max_hedges:
        return Skip(Action.HARD_STOP, f"{trade.hedges_opened} hedge(s) or hard stop(s) placed, "
                    f"max {max_hedges}")
    if market.atr_m15 is None or market.atr_m15 <= 0:
        return Skip(Action.HARD_STOP, "ATR14(M15) unavailable: cannot place the hard stop")
    price = market.quote.exit_price(side)
    wanted = price - side.sign * p.hedge_ratio * p.hedge_sl_atr * market.atr_m15
    limit = price - side.sign * _min_distance(spec)
    sl = _away(min(wanted, limit) if side is Side.BUY else max(wanted, limit), side, spec)
    if sl <= 0 or not _tightens(side, sl, main.sl, spec.point):
        return Skip(Action.HARD_STOP, f"the current SL {main.sl:.{spec.digits}f} is already at "
                    f"least as tight as the hard stop {sl:.{spec.digits}f}")
    return ModifyStops(cid, Action.HARD_STOP, main.ticket, trade.symbol, sl, main.tp)


def hedge_worst_case(main: PositionView, market: MarketFacts, p: ActionParams) -> float | None:
    """What the hedge ``plan_open_hedge`` would open loses at its stop, in account money.

    Money per price unit and lot is read from the main position's own profit (the broker's
    valuation, conversion included); when the price has barely moved from the entry, from the
    contract size (a symbol quoted in the account currency). None without an ATR.
    """
    spec, atr = market.spec, market.atr_m15
    if atr is None or atr <= 0:
        return None
    volume = min(spec.volume_nearest(main.volume * p.hedge_ratio),
                 spec.volume_down(spec.volume_max))
    moved = abs(main.price_current - main.price_open)
    per_unit = spec.contract_size
    if moved >= 10 * spec.point and main.volume > 0 and main.profit != 0:
        per_unit = abs(main.profit) / (moved * main.volume)
    spread = market.quote.ask - market.quote.bid
    return volume * (p.hedge_sl_atr * atr + spread) * per_unit


def plan_close_hedge(cid: str, trade: TradeState, hedge: PositionView | None) -> Planned:
    """Close the hedge in full."""
    if hedge is None:
        return Skip(Action.CLOSE_HEDGE, "no hedge position at the broker")
    return ClosePosition(
        cid, Action.CLOSE_HEDGE, hedge.ticket, trade.symbol, hedge.side, hedge.volume, Role.HEDGE
    )


def plan_close_all(
    ids: list[str],
    trade: TradeState,
    main: PositionView | None,
    hedge: PositionView | None,
    readd: PositionView | None,
    spec: SymbolSpec | None,
    account: AccountView | None,
    p: ActionParams,
    *,
    close_orphans: bool = True,
) -> list[Command]:
    """Close main, hedge and re-add; offset main and hedge with CLOSE_BY when allowed.

    ``ids`` supplies command ids in order. After a close-by the larger position keeps the
    remainder, so the main (and hedge) closes follow it and close whatever is left.
    """
    out: list[Command] = []
    hedge_left = hedge if (main is not None or close_orphans) else None
    readd_left = readd if (main is not None or close_orphans) else None
    by_allowed = (
        p.use_close_by
        and spec is not None
        and spec.close_by_allowed
        and (account is None or account.hedging)
    )
    if main is not None and hedge_left is not None and by_allowed:
        out.append(
            CloseBy(ids.pop(0), Action.CLOSE_ALL, main.ticket, hedge_left.ticket, main.symbol)
        )
        if main.volume > hedge_left.volume + _EPS:
            out.append(_close(ids.pop(0), main, Role.MAIN, main.volume - hedge_left.volume))
        elif hedge_left.volume > main.volume + _EPS:
            out.append(_close(ids.pop(0), hedge_left, Role.HEDGE, hedge_left.volume - main.volume))
    else:
        if main is not None:
            out.append(_close(ids.pop(0), main, Role.MAIN, main.volume))
        if hedge_left is not None:
            out.append(_close(ids.pop(0), hedge_left, Role.HEDGE, hedge_left.volume))
    if readd_left is not None:
        out.append(_close(ids.pop(0), readd_left, Role.READD, readd_left.volume))
    return out


def _close(cid: str, pos: PositionView, role: Role, volume: float) -> ClosePosition:
    return ClosePosition(
        cid, Action.CLOSE_ALL, pos.ticket, pos.symbol, pos.side, round(volume, 8), role
    )


def plan_re_add(
    cid: str, trade: TradeState, main: PositionView, spec: SymbolSpec, p: ActionParams
) -> Planned:
    """0.5 x the volume closed earlier, same side, SL at the main trade's current SL."""
    if not p.re_add_enabled:
        return Skip(Action.RE_ADD, "re-add is disabled (re_add_enabled = false)")
    volume = spec.volume_down(trade.closed_volume * p.re_add_ratio)
    if volume < spec.volume_min - _EPS:
        return Skip(Action.RE_ADD, f"re-add volume {volume} is below volume_min {spec.volume_min}")
    comment = readd_comment(trade.ticket, p)
    if len(comment) > p.comment_max_length:
        return Skip(Action.RE_ADD, f"re-add comment {comment!r} is too long")
    return ReAdd(
        cid,
        Action.RE_ADD,
        trade.ticket,
        trade.symbol,
        trade.side,
        volume,
        main.sl,
        comment,
        p.magic,
    )
