"""The core's view of an MT5 position, built once per position per snapshot."""

from __future__ import annotations

from typing import Any

from dtms.broker import constants as C
from dtms.core.types import PositionView, Side


def position_view(p: Any, prev: PositionView | None = None) -> PositionView:
    """The core's view of an MT5 ``TradePosition`` (positional: this runs per position).

    ``prev``: the same position's view from the previous snapshot. Its values are reused where
    they did not change, so the views of one position that several holders keep (the book, an
    actor's last cycle, what it was last told) share one set of values, and the values of a
    snapshot that are kept do not pin its memory; the view itself is reused when nothing moved.
    """
    ticket = int(p.ticket)
    side = Side.BUY if p.type == C.POSITION_TYPE_BUY else Side.SELL
    if prev is None or prev.ticket != ticket or prev.side is not side:
        return PositionView(
            ticket, str(p.symbol), side, float(p.volume), float(p.price_open), float(p.sl),
            float(p.tp), float(p.price_current), int(p.magic), str(p.comment), int(p.time),
            float(p.profit),
        )
    volume, price_open, sl, tp = (float(p.volume), float(p.price_open), float(p.sl),
                                  float(p.tp))
    price, magic, comment, time, profit = (float(p.price_current), int(p.magic), str(p.comment),
                                           int(p.time), float(p.profit))
    same = (volume == prev.volume, price_open == prev.price_open, sl == prev.sl,
            tp == prev.tp, price == prev.price_current, magic == prev.magic,
            comment == prev.comment, time == prev.time, profit == prev.profit)
    if all(same) and str(p.symbol) == prev.symbol:
        return prev
    return PositionView(
        prev.ticket, prev.symbol if str(p.symbol) == prev.symbol else str(p.symbol), side,
        prev.volume if same[0] else volume, prev.price_open if same[1] else price_open,
        prev.sl if same[2] else sl, prev.tp if same[3] else tp,
        prev.price_current if same[4] else price, prev.magic if same[5] else magic,
        prev.comment if same[6] else comment, prev.time if same[7] else time,
        prev.profit if same[8] else profit,
    )
