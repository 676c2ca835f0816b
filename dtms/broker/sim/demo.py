"""The demo scenario of ``dtms run``: trades opened over time, some driven into trouble.

Each demo trade is opened by hand (reason CLIENT, as a trader would) with a wide stop, and its
symbol then follows one of a few price stories, scaled to the symbol's price:

* ``grind`` — a steady move against the trade, then a slow drift: warnings, a partial close,
  a hedge, and a flat-timer close 75 minutes later;
* ``bounce`` — the same move against, then a sharp reversal: the tight hedge stop is hit, and
  the trade recovers step by step (WARNING_L2 -> WARNING_L1 -> HEALTHY);
* ``choch`` — a sudden break of structure against the trade: closed at once;
* ``favour`` — a trend in the trade's favour: stays healthy.

Nothing here talks to dtms: it only moves prices and opens positions, like the outside world.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from dtms.broker.sim.broker import SimBroker

# (minutes after the trade opens, move as a fraction of the entry price, against = negative)
STORIES: dict[str, Sequence[tuple[float, float]]] = {
    "grind": ((30, -0.0010), (90, -0.0030), (135, -0.0042), (330, -0.0050)),
    "bounce": ((30, -0.0010), (90, -0.0030), (115, -0.0036), (135, -0.0016),
               (200, 0.0003), (420, 0.0012)),
    "choch": ((20, -0.0004), (40, -0.0045), (300, -0.0046)),
    "favour": ((120, 0.0020), (360, 0.0045)),
}
ORDER = ("grind", "bounce", "favour", "choch")
SYMBOLS = ("EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "AUDUSD", "USDCAD", "EURJPY", "NZDUSD",
           "USDCHF", "EURGBP", "GBPJPY", "XAGUSD")
STOP_DISTANCE = 0.015
"""Initial SL distance as a fraction of price: wide, so tightening leaves room to act."""
VOLUME = 0.2
"""Lots per demo trade (12 of them fit a 10,000 USD account with room for hedges)."""
SPACING_MINUTES = 40.0
"""Minutes between two demo trades."""


def install(sim: SimBroker, *, trades: int = 12, seed: int = 7) -> None:
    """Schedule the demo on ``sim``: ``trades`` trades, the first four at once."""
    rng = random.Random(seed)
    start = sim.market.now
    for i in range(trades):
        story = ORDER[i % len(ORDER)]
        symbol = SYMBOLS[i % len(SYMBOLS)]
        side = "BUY" if rng.random() < 0.5 else "SELL"
        at = start + 1.0 + (0 if i < 4 else (i - 3) * SPACING_MINUTES * 60.0)
        sim.scenario.at(at, _open, sim, symbol, side, story)


def _open(sim: SimBroker, symbol: str, side: str, story: str) -> None:
    """Open one demo trade now and start its price story."""
    market = sim.market
    tick = market.last_tick(symbol)
    if tick is None or not market.is_open(symbol, market.now):
        return
    _, bid, ask = tick
    mid = (bid + ask) / 2
    sign = 1.0 if side == "BUY" else -1.0
    sl = (bid if side == "BUY" else ask) * (1 - sign * STOP_DISTANCE)
    digits = market.symbols[symbol].digits
    sim.scenario.open_position(symbol, side, VOLUME, sl=round(sl, digits), comment="demo")
    now = market.now
    points = [(now + minutes * 60.0, mid * (1 + sign * move)) for minutes, move in STORIES[story]]
    market.script_path(symbol, points, noise=0.00002)
