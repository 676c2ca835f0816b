"""The other people on the account: a trader's hands, another EA, the AutoTrading button.

Theory of operation: a real account is not the program under test's alone. :class:`Hands`
executes trades for anyone else, at the current quote and without the trade server's checks
(it is the world, not a request to judge): opens, closes, and on netting accounts the reversal
and the scale-in a trader does by hand. :class:`Others` makes those people act at random on
the engine's timeline, as Poisson processes of the quirks' rates:

* the trader switches AutoTrading off for ``autotrading_off_seconds`` (10027 meanwhile);
* on a netting account the trader reverses a position (one opposite deal of twice its volume:
  the ticket stays, the side flips) or adds to it (same side: the volume grows, the open price
  becomes the volume-weighted average);
* another program sends orders with ``foreign_magic`` (reason EXPERT): a partial close of a
  random position, or a small position against one.

A random event picks among the positions whose symbol is quoting; it does nothing when there
is none. Each process draws from its own seeded stream.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable

from dtms.broker import constants as c
from dtms.broker.sim.account import side_sign
from dtms.broker.sim.engine import Engine
from dtms.broker.sim.ledger import Fill, Origin, Position, opposite
from dtms.broker.sim.quirks import QuirkSettings, quirk_rng
from dtms.broker.sim.settings import MarginMode
from dtms.broker.sim.trading import Trading


class Hands:
    """Executions by anyone but the program under test, at the current quote."""

    def __init__(self, engine: Engine, trading: Trading) -> None:
        """Trade on ``engine``'s books; ``trading`` knows the margin mode and comment rules."""
        self._engine = engine
        self._trading = trading

    @property
    def netting(self) -> bool:
        """Whether the account nets positions per symbol."""
        return self._trading.margin_mode is MarginMode.NETTING

    def _price(self, symbol: str, kind: int) -> float:
        q = self._engine.quote(symbol)
        if q is None:
            raise ValueError(f"{symbol} has no quote yet at broker time {self._engine.now}")
        return q[2] if side_sign(kind) > 0 else q[1]

    def _client(self, origin: Origin) -> Origin:
        comment = self._trading.comments.client(origin.comment)
        return origin if comment == origin.comment else dataclasses.replace(origin, comment=comment)

    def open(
        self, symbol: str, kind: int, volume: float, *, sl: float, tp: float, origin: Origin
    ) -> Fill:
        """Open (hedging) or trade against the symbol's position (netting) at market."""
        engine = self._engine
        price = self._price(symbol, kind)
        execute = engine.book.net if self.netting else engine.book.open
        return execute(symbol, kind, float(volume), price, sl=float(sl), tp=float(tp),
                       origin=self._client(origin), time_msc=engine.time_msc)

    def close(self, pos: Position, volume: float, origin: Origin) -> Fill | None:
        """Close ``volume`` of ``pos`` at market (None without a quote)."""
        return self._engine.close_at_market(pos, volume, self._client(origin))

    def reverse(self, pos: Position, origin: Origin) -> Fill:
        """Netting: one opposite deal of twice the volume (DEAL_ENTRY_INOUT)."""
        self._need_netting("reverse_position")
        return self.open(pos.symbol, opposite(pos.type), round(2 * pos.volume, 8), sl=0.0,
                         tp=0.0, origin=origin)

    def scale_in(self, pos: Position, volume: float, origin: Origin) -> Fill:
        """Netting: add ``volume`` on the same side (DEAL_ENTRY_IN, averaged open price)."""
        self._need_netting("scale_in")
        return self.open(pos.symbol, pos.type, volume, sl=0.0, tp=0.0, origin=origin)

    def _need_netting(self, what: str) -> None:
        if not self.netting:
            raise ValueError(
                f"{what} needs a netting account: on a hedging account an opposite or added "
                "deal opens a position of its own"
            )


class Others:
    """Random actions of the trader and of another program, on the engine's timeline."""

    def __init__(
        self, engine: Engine, trading: Trading, hands: Hands, quirks: QuirkSettings, seed: int
    ) -> None:
        """Schedule the first event of every process whose rate is above zero."""
        self._engine = engine
        self._trading = trading
        self._hands = hands
        self._q = quirks
        self._seed = seed
        self._switched_off = False
        self._streams: dict[str, random.Random] = {}
        start = engine.now
        self._next("autotrading", start, quirks.autotrading_toggles_per_hour,
                   self._autotrading_off)
        self._next("reversal", start, quirks.hand_reversals_per_hour, self._reversal)
        self._next("scale_in", start, quirks.hand_scale_ins_per_hour, self._scale_in)
        if quirks.foreign_magic:
            self._next("foreign", start, quirks.foreign_orders_per_hour, self._foreign)

    def _rng(self, name: str) -> random.Random:
        if name not in self._streams:
            self._streams[name] = quirk_rng(self._seed, name)
        return self._streams[name]

    def _next(self, name: str, after: float, per_hour: float, action: Callable[[], object]) -> None:
        if per_hour <= 0:
            return
        t = after + self._rng(name).expovariate(per_hour / 3600.0)
        self._engine.timeline.schedule(t, action)

    def _quoting_positions(self) -> list[Position]:
        engine = self._engine
        return [
            p for p in engine.book.positions.values()
            if engine.market.is_open(p.symbol, engine.now) and engine.quote(p.symbol) is not None
        ]

    def _pick(self, name: str) -> Position | None:
        candidates = self._quoting_positions()
        if not candidates:
            return None
        return candidates[self._rng(name).randrange(len(candidates))]

    # --- the AutoTrading button ------------------------------------------------------------
    def _autotrading_off(self) -> None:
        trading = self._trading
        if trading.autotrading:
            trading.autotrading = False
            self._switched_off = True
            back = self._engine.now + self._q.autotrading_off_seconds
            self._engine.timeline.schedule(back, self._autotrading_on)
            return
        self._next("autotrading", self._engine.now, self._q.autotrading_toggles_per_hour,
                   self._autotrading_off)

    def scripted_switch(self) -> None:
        """The button was pressed by a script: a pending random switch-on leaves it alone."""
        self._switched_off = False

    def _autotrading_on(self) -> None:
        if self._switched_off:  # a scripted press in between wins over the random one
            self._trading.autotrading = True
            self._switched_off = False
        self._next("autotrading", self._engine.now, self._q.autotrading_toggles_per_hour,
                   self._autotrading_off)

    # --- the trader's hands on a netting account -------------------------------------------
    def _reversal(self) -> None:
        pos = self._pick("reversal") if self._hands.netting else None
        if pos is not None:
            self._hands.reverse(pos, Origin(c.DEAL_REASON_CLIENT))
        self._next("reversal", self._engine.now, self._q.hand_reversals_per_hour,
                   self._reversal)

    def _scale_in(self) -> None:
        pos = self._pick("scale_in") if self._hands.netting else None
        if pos is not None:
            sym = self._engine.symbols[pos.symbol]
            share = self._rng("scale_in").uniform(0.25, 1.0)
            volume = max(sym.volume_min, _floor_step(pos.volume * share, sym.volume_step))
            self._hands.scale_in(pos, volume, Origin(c.DEAL_REASON_CLIENT))
        self._next("scale_in", self._engine.now, self._q.hand_scale_ins_per_hour,
                   self._scale_in)

    # --- another program with the same magic -----------------------------------------------
    def _foreign(self) -> None:
        q = self._q
        pos = self._pick("foreign")
        if pos is not None:
            origin = Origin(c.DEAL_REASON_EXPERT, magic=q.foreign_magic, comment=q.foreign_comment)
            sym = self._engine.symbols[pos.symbol]
            half = _floor_step(pos.volume / 2, sym.volume_step)
            partial = half >= sym.volume_min and pos.volume - half >= sym.volume_min - 1e-9
            if partial and self._rng("foreign").random() < 0.5:
                self._hands.close(pos, half, origin)
            else:
                self._hands.open(pos.symbol, opposite(pos.type), sym.volume_min, sl=0.0,
                                 tp=0.0, origin=origin)
        self._next("foreign", self._engine.now, q.foreign_orders_per_hour, self._foreign)


def _floor_step(volume: float, step: float) -> float:
    """``volume`` rounded down to the ``step`` grid."""
    return round(math.floor(volume / step + 1e-9) * step, 8)
