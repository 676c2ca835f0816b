"""The core's view of an MT5 position, built once per position per snapshot."""

from __future__ import annotations

from typing import Any

from dtms.broker import constants as C
from dtms.core.types import PositionView, Side


def position_view(p: Any) -> PositionView:
    """The core's view of an MT5 ``TradePosition`` (positional: this runs per position)."""
    return PositionView(
        int(p.ticket), str(p.symbol), Side.BUY if p.type == C.POSITION_TYPE_BUY else Side.SELL,
        float(p.volume), float(p.price_open), float(p.sl), float(p.tp), float(p.price_current),
        int(p.magic), str(p.comment), int(p.time), float(p.profit),
    )
