"""Small builders of core values for state-machine tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dtms.core.machine import Decision, step
from dtms.core.messages import (
    ActionDone,
    CloseBy,
    ClosePartial,
    ClosePosition,
    Evaluated,
    MarketFacts,
    ModifyStops,
    Observed,
    OpenHedge,
    ReAdd,
)
from dtms.core.news import NewsEvent
from dtms.core.policy import Policy
from dtms.core.regime import Regime
from dtms.core.score import FlipState, ScoreResult
from dtms.core.trade import TradeState, new_trade
from dtms.core.types import (
    AccountView,
    PositionView,
    Quote,
    Session,
    Side,
    State,
    Structure,
    SymbolSpec,
    Volatility,
)

T0 = 1_772_438_400.0  # 2026-03-02 08:00:00 UTC, a Monday
M15 = 900
POLICY = Policy()
EURUSD = SymbolSpec(
    "EURUSD", digits=5, point=0.00001, volume_min=0.01, volume_max=100.0, volume_step=0.01,
    stops_level=0, spread=10,
)
HEDGING = AccountView(hedging=True, trade_allowed=True, margin_free=100_000.0)
NETTING = AccountView(hedging=False, trade_allowed=True, margin_free=100_000.0)


def position(
    ticket: int = 1001, side: Side = Side.BUY, volume: float = 1.0, price_open: float = 1.10000,
    sl: float = 1.09500, tp: float = 0.0, price_current: float | None = None, **kw: Any,
) -> PositionView:
    """A main position (BUY 1 lot at 1.10000, SL 50 pips) unless told otherwise."""
    return PositionView(
        ticket, kw.pop("symbol", "EURUSD"), side, volume, price_open, sl, tp,
        price_open if price_current is None else price_current, time=int(T0), **kw,
    )


def hedge_of(main: PositionView, ticket: int = 2001, volume: float | None = None,
             sl: float = 0.0, time: float = T0) -> PositionView:
    """The hedge position dtms opens for ``main``."""
    return PositionView(
        ticket, main.symbol, main.side.opposite, volume or round(main.volume / 2, 2),
        main.price_current, sl, 0.0, main.price_current, magic=POLICY.actions.magic,
        comment=f"DTMS_HEDGE_{main.ticket}", time=int(time),
    )


def market(bid: float = 1.10000, spread_points: int = 10, atr: float | None = 0.00200,
           stale: bool = False, spec: SymbolSpec = EURUSD, at: float = T0,
           closed: bool = False, wide_spread: bool = False,
           news: tuple[NewsEvent, ...] = ()) -> MarketFacts:
    """Market facts with a quote at ``bid`` ticked at ``at``."""
    spec = replace(spec, spread=spread_points)
    ask = round(bid + spread_points * spec.point, spec.digits)
    return MarketFacts(spec, Quote(at, bid, ask), atr, stale, closed, wide_spread, news)


def score(total: float, *, confluence: bool = False, choch: bool = False,
          bos_in_favour: bool = False, bar_time: int = int(T0)) -> ScoreResult:
    """A score result with only the fields the machine reads set meaningfully."""
    return ScoreResult(
        total=total, layers=(),
        regime=Regime(Session.LONDON, Volatility.NORMAL, Structure.TREND),
        vwap_threshold=0.0005, rsi_threshold=45.0, volume_flip_share=0.65, opposite_share=0.5,
        vwap_flip_against=confluence, volume_flip_against=confluence, hedge_confluence=confluence,
        bos_in_favour=bos_in_favour, bos_against=False, choch_against=choch, bar_time=bar_time,
        analysis="",
    )


def trade_in(state: State, main: PositionView | None = None, **kw: Any) -> TradeState:
    """A trade in ``state`` (HEDGED trades get a hedge and a flat deadline)."""
    t = new_trade(main or position(), T0)
    return replace(t, state=state, **kw)


class Driver:
    """Feeds events to one trade like the actor does and executes commands on a toy book.

    The book is a dict of positions; commands change it as a broker would, so the next
    snapshot shows their effect. Nothing here decides anything: ``step`` does.
    """

    def __init__(self, trade: TradeState, main: PositionView, policy: Policy = POLICY,
                 account: AccountView = HEDGING) -> None:
        self.trade, self.policy, self.account = trade, policy, account
        self.main: PositionView | None = main
        self.hedge: PositionView | None = None
        self.readd: PositionView | None = None
        self.now = T0
        self.bid = main.price_current
        self.decisions: list[Decision] = []
        self.sent: list[Any] = []
        self.next_ticket = 5000
        self.lock = ""
        """The account guard's lock, as the runtime would pass it."""
        self.wide_spread = False
        self.news: tuple[NewsEvent, ...] = ()

    def market(self) -> MarketFacts:
        """The symbol now, as the driver's fields describe it."""
        return market(self.bid, at=self.now, wide_spread=self.wide_spread, news=self.news)

    def _apply(self, d: Decision) -> Decision:
        self.decisions.append(d)
        self.trade = d.trade
        return d

    def evaluate(self, total: float, *, at: float | None = None, auto: bool = True,
                 **kw: Any) -> Decision:
        """A deep check on the next M15 bar with score ``total``; executes its commands."""
        self.now = at if at is not None else self.now + M15
        kw.setdefault("bar_time", int(self.now) - M15)  # the bar that just closed
        ev = Evaluated(self.now, int(self.now), score(total, **kw), FlipState(),
                       self.market(), self.account, self.main, self.hedge, self.readd,
                       lock=self.lock)
        d = self._apply(step(self.trade, ev, self.policy))
        if auto:
            self.execute(d)
        return d

    def observe(self, *, at: float | None = None) -> Decision:
        """A positions snapshot."""
        self.now = at if at is not None else self.now + 1
        ev = Observed(self.now, self.main, self.hedge, self.readd, self.market(), lock=self.lock)
        d = self._apply(step(self.trade, ev, self.policy))
        self.execute(d)
        return d

    def execute(self, d: Decision) -> None:
        """Carry out commands at the toy book and report them done; confirm closes."""
        closes = False
        for c in d.commands:
            self.sent.append(c)
            self.next_ticket += 1
            match c:
                case ModifyStops():
                    assert self.main is not None
                    self.main = replace(self.main, sl=c.sl)
                case ClosePartial():
                    assert self.main is not None
                    self.main = replace(self.main, volume=round(self.main.volume - c.volume, 2))
                case OpenHedge():
                    assert self.main is not None
                    self.hedge = replace(hedge_of(self.main, self.next_ticket, c.volume, c.sl,
                                                  self.now))
                case ClosePosition() | CloseBy():
                    closes = True
                    self._close(c)
                case ReAdd():
                    assert self.main is not None
                    self.readd = replace(self.main, ticket=self.next_ticket, volume=c.volume,
                                         comment=c.comment)
            self._apply(step(self.trade, ActionDone(c.id, self.now, ticket=self.next_ticket,
                                                    volume=getattr(c, "volume", 0.0)),
                             self.policy))
        if closes:
            self.observe()

    def _close(self, c: ClosePosition | CloseBy) -> None:
        if isinstance(c, CloseBy):
            assert self.main is not None and self.hedge is not None
            left = round(self.main.volume - self.hedge.volume, 2)
            self.hedge = None
            self.main = replace(self.main, volume=left) if left > 0 else None
            return
        for attr in ("main", "hedge", "readd"):
            pos = getattr(self, attr)
            if pos is not None and pos.ticket == c.ticket:
                setattr(self, attr, None)
