"""Fixtures for the simulated broker's tests: a manual clock, a ready account, order helpers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from dtms.broker import constants as c
from dtms.broker.sim import SimBroker, SimSettings
from dtms.broker.sim.clock import ManualClock
from dtms.broker.sim.market import Market, MarketSettings
from dtms.broker.sim.symbols import default_symbols
from dtms.broker.structs import OrderSendResult, TradePosition

START = 1772434800.0
"""Monday 2026-03-02 07:00 broker time: every default symbol is quoting."""
SATURDAY = START + 5 * 86_400


def make_sim(clock: ManualClock, *, initialize: bool = True, **settings: Any) -> SimBroker:
    """A simulated account on ``clock`` with a light market (two days of history)."""
    cfg = SimSettings(**settings)
    market = Market(default_symbols(), clock(), MarketSettings(history_days=2), seed=cfg.seed)
    sim = SimBroker(cfg, clock=clock, market=market)
    if initialize:
        assert sim.initialize() is True
    return sim


class Orders:
    """Request helpers: the dicts a careful client sends, with strict types."""

    def __init__(self, sim: SimBroker) -> None:
        self.sim = sim

    def send(self, **fields: Any) -> OrderSendResult | None:
        return self.sim.order_send(fields)

    def deal(self, symbol: str, kind: int, volume: float, **extra: Any) -> OrderSendResult:
        req: dict[str, Any] = {
            "action": c.TRADE_ACTION_DEAL, "symbol": symbol, "volume": float(volume),
            "type": kind, "type_filling": c.ORDER_FILLING_FOK, "deviation": 10,
        }
        req.update(extra)
        result = self.sim.order_send(req)
        assert result is not None, self.sim.last_error()
        return result

    def buy(self, symbol: str = "EURUSD", volume: float = 0.1, **extra: Any) -> OrderSendResult:
        return self.deal(symbol, c.ORDER_TYPE_BUY, volume, **extra)

    def sell(self, symbol: str = "EURUSD", volume: float = 0.1, **extra: Any) -> OrderSendResult:
        return self.deal(symbol, c.ORDER_TYPE_SELL, volume, **extra)

    def opened(self, symbol: str = "EURUSD", volume: float = 0.1, *, side: str = "buy",
               **extra: Any) -> TradePosition:
        kind = c.ORDER_TYPE_BUY if side == "buy" else c.ORDER_TYPE_SELL
        result = self.deal(symbol, kind, volume, **extra)
        assert result.retcode == c.TRADE_RETCODE_DONE, result
        return self.position(result.order)

    def close(self, ticket: int, volume: float | None = None, **extra: Any) -> OrderSendResult:
        pos = self.position(ticket)
        kind = c.ORDER_TYPE_SELL if pos.type == c.POSITION_TYPE_BUY else c.ORDER_TYPE_BUY
        return self.deal(pos.symbol, kind, pos.volume if volume is None else volume,
                         position=ticket, **extra)

    def sltp(self, ticket: int, sl: float, tp: float, **extra: Any) -> OrderSendResult:
        result = self.send(action=c.TRADE_ACTION_SLTP, position=ticket, sl=float(sl),
                           tp=float(tp), **extra)
        assert result is not None, self.sim.last_error()
        return result

    def close_by(self, ticket: int, by: int) -> OrderSendResult:
        result = self.send(action=c.TRADE_ACTION_CLOSE_BY, position=ticket, position_by=by)
        assert result is not None, self.sim.last_error()
        return result

    def position(self, ticket: int) -> TradePosition:
        found = self.sim.positions_get(ticket=ticket)
        assert found is not None and len(found) == 1, (ticket, found)
        return found[0]

    def tick(self, symbol: str = "EURUSD") -> tuple[float, float]:
        t = self.sim.symbol_info_tick(symbol)
        assert t is not None
        return t.bid, t.ask


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def sim(clock: ManualClock) -> SimBroker:
    return make_sim(clock)


@pytest.fixture
def make(clock: ManualClock) -> Callable[..., SimBroker]:
    def build(**settings: Any) -> SimBroker:
        return make_sim(clock, **settings)

    return build


@pytest.fixture
def orders(sim: SimBroker) -> Orders:
    return Orders(sim)
