"""The core's view of an MT5 position, built once per position per snapshot."""

from __future__ import annotations

from dataclasses import fields
from operator import attrgetter
from typing import Any

from dtms.broker import constants as C
from dtms.core.types import PositionView, Side

_VALUES = attrgetter(*(f.name for f in fields(PositionView)))


def position_view(p: Any, prev: PositionView | None = None) -> PositionView:
    """The core's view of an MT5 ``TradePosition`` (positional: this runs per position).

    ``prev``: the same position's view from the previous snapshot. Its values are reused where
    they did not change, so the views of one position that several holders keep (the book, an
    actor's last cycle, what it was last told) share one set of values, and the values of a
    snapshot that are kept do not pin its memory; the view itself is reused when nothing moved.
    """
    view = PositionView(
        int(p.ticket), str(p.symbol), Side.BUY if p.type == C.POSITION_TYPE_BUY else Side.SELL,
        float(p.volume), float(p.price_open), float(p.sl), float(p.tp), float(p.price_current),
        int(p.magic), str(p.comment), int(p.time), float(p.profit),
    )
    if prev is None or prev.ticket != view.ticket:
        return view
    if view == prev:
        return prev
    return PositionView(*(old if new == old else new
                          for new, old in zip(_VALUES(view), _VALUES(prev), strict=True)))
