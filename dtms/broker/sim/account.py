"""Money on the simulated account: margin, profit, currency conversion, account arithmetic.

Theory of operation: formulas follow MT5's per ``trade_calc_mode`` (reference §6.6). A margin is
computed in the symbol's margin currency and a profit in its profit currency; both are then
converted into the account currency (USD) through the majors:

* the symbol itself when it quotes the needed pair (EURUSD margin: EUR at the order price;
  USDJPY profit: JPY at the *closing* price, which is why a USDJPY buy and sell over the same
  distance earn different dollars, as in the MetaQuotes docs);
* otherwise ``CCYUSD`` at its mid, or ``1 / USDCCY``.

Positions are charged at their open price, so an open position's margin only moves with a
conversion rate. On hedging accounts the locked (hedged) volume of a symbol is charged with
``margin_hedged`` instead of the contract size, per leg, or only the larger leg counts when
``margin_hedged_use_leg`` is set. Money is rounded to cents where MT5 shows it rounded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dtms.broker import constants as c
from dtms.broker.sim.settings import ACCOUNT_CURRENCY
from dtms.broker.sim.symbols import SimSymbol

QuoteLookup = Callable[[str], "tuple[int, float, float] | None"]
"""symbol -> (time_msc, bid, ask) of its current quote, or None before the first tick."""

FloatArray = npt.NDArray[np.float64]


def money(x: float) -> float:
    """Round an amount to cents, as MT5 shows account money."""
    return round(x, 2) + 0.0  # + 0.0 turns -0.0 into 0.0


def side_sign(order_type: int) -> int:
    """+1 for a BUY position or order type, -1 for a SELL one."""
    return 1 if order_type % 2 == 0 else -1


class Money:
    """Margin and profit of one account over a symbol table and its live quotes."""

    __slots__ = ("_leverage", "_quote", "_symbols")

    def __init__(
        self, symbols: Mapping[str, SimSymbol], quote: QuoteLookup, leverage: int
    ) -> None:
        """Use ``symbols`` for contract specs and ``quote`` for conversion prices."""
        self._symbols = symbols
        self._quote = quote
        self._leverage = leverage

    @property
    def leverage(self) -> int:
        """The account leverage (1:N)."""
        return self._leverage

    # --- conversion ------------------------------------------------------------------------
    def rate(self, currency: str) -> float:
        """Account-currency value of one unit of ``currency`` at current mid prices."""
        if currency == ACCOUNT_CURRENCY:
            return 1.0
        direct = self._mid(currency + ACCOUNT_CURRENCY)
        if direct is not None:
            return direct
        inverse = self._mid(ACCOUNT_CURRENCY + currency)
        if inverse is not None and inverse > 0:
            return 1.0 / inverse
        raise LookupError(f"no quote converts {currency} into {ACCOUNT_CURRENCY}")

    def _mid(self, symbol: str) -> float | None:
        if symbol not in self._symbols:
            return None
        q = self._quote(symbol)
        return None if q is None else (q[1] + q[2]) / 2.0

    # --- margin ----------------------------------------------------------------------------
    def margin(self, sym: SimSymbol, order_type: int, volume: float, price: float) -> float:
        """Margin of ``volume`` lots at market ``price`` in account currency, unrounded."""
        return self._leg_margin(sym)(volume, price)

    def _leg_margin(self, sym: SimSymbol) -> Callable[[float, float], float]:
        """:meth:`margin` of ``sym`` as a function of ``(volume, price)``: the reference §6.6
        formula in the symbol's margin currency, times its rate into the account currency.
        What does not depend on the leg is worked out once (a margin check sums thousands)."""
        mode, cs, lev = sym.trade_calc_mode, sym.contract_size, self._leverage
        raw: Callable[[float, float], float]
        if mode == c.SYMBOL_CALC_MODE_FOREX:
            raw = lambda v, p: v * cs / lev  # noqa: E731
        elif mode == c.SYMBOL_CALC_MODE_FOREX_NO_LEVERAGE:
            raw = lambda v, p: v * cs  # noqa: E731
        elif mode in (c.SYMBOL_CALC_MODE_CFD, c.SYMBOL_CALC_MODE_CFDINDEX):
            raw = lambda v, p: v * cs * p  # noqa: E731
        elif mode == c.SYMBOL_CALC_MODE_CFDLEVERAGE:
            raw = lambda v, p: v * cs * p / lev  # noqa: E731
        else:
            raise ValueError(f"{sym.name}: calculation mode {mode} is not simulated")
        rate = self._fixed_margin_rate(sym)
        if rate is None:  # the margin currency is the base, quoted in USD: the leg's own price
            return lambda v, p: raw(v, p) * p
        return lambda v, p: raw(v, p) * rate

    def _fixed_margin_rate(self, sym: SimSymbol) -> float | None:
        """The rate of ``sym``'s margin currency into the account currency: 1 for USD, the
        current mid of a major otherwise, or None when it is the position's own open price
        (the base currency of a symbol quoted in USD)."""
        ccy = sym.currency_margin
        if ccy == ACCOUNT_CURRENCY:
            return 1.0
        if sym.currency_base == ccy and sym.currency_profit == ACCOUNT_CURRENCY:
            return None
        return self.rate(ccy)

    def positions_margin(self, legs: Iterable[tuple[str, int, float, float]]) -> float:
        """Margin of open positions ``(symbol, type, volume, price_open)``, hedging-aware.

        Per symbol, the locked volume ``min(buys, sells)`` is charged at ``margin_hedged``
        per leg instead of the contract size, and the uncovered rest at full margin; with
        ``margin_hedged_use_leg`` only the larger leg is charged. A netting account has one
        leg per symbol, so this is the plain sum there.
        """
        return self.margin_of(self.side_sums(legs))

    def side_sums(self, legs: Iterable[tuple[str, int, float, float]],
                  sums: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
        """Per symbol ``[buy volume, sell volume, buy margin, sell margin]`` of ``legs``, added
        in their order to ``sums`` (changed in place) when given."""
        sides: dict[str, list[float]] = {} if sums is None else sums
        leg_margin: dict[str, Callable[[float, float], float]] = {}
        for symbol, order_type, volume, price in legs:
            acc = sides.get(symbol)
            if acc is None:
                acc = sides[symbol] = [0.0, 0.0, 0.0, 0.0]
            formula = leg_margin.get(symbol)
            if formula is None:  # per symbol once: its margin formula
                formula = leg_margin[symbol] = self._leg_margin(self._symbols[symbol])
            i = 0 if order_type % 2 == 0 else 1
            acc[i] += volume
            acc[2 + i] += formula(volume, price)
        return sides

    def margin_of(self, sums: Mapping[str, list[float]]) -> float:
        """The account margin of per-symbol :meth:`side_sums`."""
        total = 0.0
        for symbol, (vb, vs, mb, ms) in sums.items():
            sym = self._symbols[symbol]
            if sym.margin_hedged_use_leg:
                total += max(mb, ms)
                continue
            locked = min(vb, vs)
            per_b = mb / vb if vb else 0.0
            per_s = ms / vs if vs else 0.0
            share = sym.hedged_contract / sym.contract_size
            total += locked * (per_b + per_s) * share
            total += (vb - locked) * per_b + (vs - locked) * per_s
        return total

    def rates_key(self, symbols: Iterable[str]) -> tuple[float | None, ...]:
        """The conversion rates the margins of ``symbols``' positions depend on now (a
        position is charged at its open price, so most depend on none)."""
        return tuple(self._fixed_margin_rate(self._symbols[name]) for name in symbols)

    # --- profit ----------------------------------------------------------------------------
    def profit(
        self, sym: SimSymbol, order_type: int, volume: float, price_open: float, price_close: float
    ) -> float:
        """Profit of a BUY/SELL ``volume`` from ``price_open`` to ``price_close``, unrounded."""
        raw = side_sign(order_type) * (price_close - price_open) * sym.contract_size * volume
        return raw * self._profit_rate(sym, price_close)

    def profit_series(
        self, sym: SimSymbol, order_type: int, volume: float, price_open: float,
        closes: FloatArray,
    ) -> FloatArray:
        """Vectorised :meth:`profit` over an array of closing prices."""
        raw = side_sign(order_type) * (closes - price_open) * sym.contract_size * volume
        if self._converts_at_close(sym):
            return np.asarray(raw / closes, dtype=np.float64)
        return np.asarray(raw * self._profit_rate(sym, float(closes[-1])), dtype=np.float64)

    def profit_rates(self, sym: SimSymbol, bid: float, ask: float) -> tuple[float, float]:
        """The conversion rates of a BUY's and a SELL's profit at the quote ``bid``/``ask``
        (each side closes at its own price)."""
        return self._profit_rate(sym, bid), self._profit_rate(sym, ask)

    def _converts_at_close(self, sym: SimSymbol) -> bool:
        return (
            sym.currency_profit != ACCOUNT_CURRENCY
            and sym.currency_base == ACCOUNT_CURRENCY
        )

    def _profit_rate(self, sym: SimSymbol, price_close: float) -> float:
        ccy = sym.currency_profit
        if ccy == ACCOUNT_CURRENCY:
            return 1.0
        if self._converts_at_close(sym):
            return 1.0 / price_close
        return self.rate(ccy)

    def tick_value(self, sym: SimSymbol, price: float) -> float:
        """Account-currency value of one point for one lot (``trade_tick_value``)."""
        return sym.point * sym.contract_size * self._profit_rate(sym, price)

    def swap(self, sym: SimSymbol, order_type: int, volume: float, price: float) -> float:
        """One night's swap of a position (SYMBOL_SWAP_MODE_POINTS), unrounded."""
        points = sym.swap_long if side_sign(order_type) > 0 else sym.swap_short
        return points * sym.point * sym.contract_size * volume * self._profit_rate(sym, price)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The account's money at one instant (what ``account_info`` reports)."""

    balance: float
    credit: float
    profit: float
    """Floating profit plus swaps of the open positions."""
    margin: float

    @property
    def equity(self) -> float:
        """Balance + credit + floating profit."""
        return money(self.balance + self.credit + self.profit)

    @property
    def margin_free(self) -> float:
        """Equity not tied up as margin."""
        return money(self.equity - self.margin)

    @property
    def margin_level(self) -> float:
        """Equity / margin in percent; 0 when nothing is open."""
        return round(self.equity / self.margin * 100.0, 2) if self.margin > 0 else 0.0
