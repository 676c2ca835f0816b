"""Shared helpers of the simulated-market tests."""

from __future__ import annotations

import calendar

import numpy as np

from dtms.broker.sim.market import Market, MarketSettings, TickBlock
from dtms.broker.sim.symbols import SimSymbol, default_symbols

MONDAY = float(calendar.timegm((2024, 6, 3, 0, 0, 0)))
FRIDAY = MONDAY + 4 * 86_400
HOUR = 3600.0
DAY = 86_400.0
SYMS = default_symbols()
EURUSD = SYMS["EURUSD"]


def some(rates: np.ndarray | None) -> np.ndarray:
    assert rates is not None
    return rates


def pick(*names: str) -> dict[str, SimSymbol]:
    return {n: SYMS[n] for n in names}


def small(**kw: object) -> MarketSettings:
    return MarketSettings(**{"history_days": 1, **kw})  # type: ignore[arg-type]


def collect(market: Market, targets: list[float]) -> dict[str, tuple[np.ndarray, ...]]:
    parts: dict[str, list[TickBlock]] = {}
    for t in targets:
        for block in market.advance_to(t):
            parts.setdefault(block.symbol, []).append(block)
    return {
        name: tuple(
            np.concatenate([getattr(b, f) for b in blocks]) for f in ("time_msc", "bid", "ask")
        )
        for name, blocks in parts.items()
    }


def mid_of(market: Market, symbol: str) -> float:
    tick = market.last_tick(symbol)
    assert tick is not None
    return (tick[1] + tick[2]) / 2


