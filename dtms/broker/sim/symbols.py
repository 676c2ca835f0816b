"""Symbols the simulated broker lists, with the trading rules of a typical retail MT5 broker.

Each ``SimSymbol`` carries both what ``symbol_info`` reports (digits, contract size, volume
limits, stops/freeze levels, filling and order modes, calculation mode) and what the price
process needs to look realistic (a start price, a daily volatility and a tick rate). Levels and
spreads are in points, as MT5 states them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# SYMBOL_FILLING_* and SYMBOL_ORDER_* are not exported by the MetaTrader5 package.
FILLING_FOK = 1
FILLING_IOC = 2
ORDER_MODE_ALL = 127  # market, limit, stop, stop-limit, SL, TP, close-by
ORDER_MODE_NO_CLOSE_BY = 63

CALC_FOREX = 0
CALC_CFDLEVERAGE = 4


@dataclass(frozen=True, slots=True)
class SimSymbol:
    """A tradable symbol of the simulated broker."""

    name: str
    description: str
    currency_base: str
    currency_profit: str
    currency_margin: str
    digits: int
    start_price: float
    """Mid price the generator starts from (bid + half the spread)."""
    daily_vol: float
    """Typical daily standard deviation of returns (0.005 = 0.5 %)."""
    spread: int
    """Typical spread in points."""
    contract_size: float = 100_000.0
    volume_min: float = 0.01
    volume_max: float = 100.0
    volume_step: float = 0.01
    volume_limit: float = 0.0
    stops_level: int = 0
    freeze_level: int = 0
    spread_float: bool = True
    trade_calc_mode: int = CALC_FOREX
    trade_mode: int = 4  # SYMBOL_TRADE_MODE_FULL
    trade_exemode: int = 2  # SYMBOL_TRADE_EXECUTION_MARKET
    filling_mode: int = FILLING_FOK | FILLING_IOC
    order_mode: int = ORDER_MODE_ALL
    expiration_mode: int = 15
    margin_hedged: float | None = None
    """Contract size charged on hedged (locked) volume; None means half the contract size."""
    margin_hedged_use_leg: bool = False
    swap_long: float = -6.5
    swap_short: float = 1.2
    ticks_per_minute: float = 30.0
    """Mean tick arrival rate while the market is open."""
    trades_weekends: bool = False
    path: str = field(default="")

    @property
    def point(self) -> float:
        """The price quantum, 10 ** -digits."""
        return round(10.0**-self.digits, self.digits)

    @property
    def hedged_contract(self) -> float:
        """Contract size used for the locked part of opposite positions."""
        return self.contract_size / 2 if self.margin_hedged is None else self.margin_hedged


def _fx(name: str, price: float, vol: float, spread: int, **kw: object) -> SimSymbol:
    base, quote = name[:3], name[3:6]
    digits = 3 if quote == "JPY" else 5
    return SimSymbol(
        name=name,
        description=f"{base} vs {quote}",
        currency_base=base,
        currency_profit=quote,
        currency_margin=base,
        digits=digits,
        start_price=price,
        daily_vol=vol,
        spread=spread,
        path=f"Forex\\{name}",
        **kw,  # type: ignore[arg-type]
    )


def _cfd(
    name: str, base: str, digits: int, price: float, vol: float, spread: int, contract: float,
    group: str, **kw: object,
) -> SimSymbol:
    return SimSymbol(
        name=name,
        description=f"{name} CFD",
        currency_base=base,
        currency_profit="USD",
        currency_margin="USD",
        digits=digits,
        start_price=price,
        daily_vol=vol,
        spread=spread,
        contract_size=contract,
        trade_calc_mode=CALC_CFDLEVERAGE,
        path=f"{group}\\{name}",
        **kw,  # type: ignore[arg-type]
    )


DEFAULT_SYMBOLS: tuple[SimSymbol, ...] = (
    _fx("EURUSD", 1.08500, 0.0050, 12, ticks_per_minute=60.0),
    _fx("GBPUSD", 1.27000, 0.0060, 15, ticks_per_minute=50.0),
    _fx("USDJPY", 150.000, 0.0060, 15, stops_level=10, ticks_per_minute=50.0),
    _cfd(
        "XAUUSD", "XAU", 2, 2350.00, 0.0100, 25, 100.0, "Metals",
        volume_max=50.0, stops_level=20, freeze_level=5, ticks_per_minute=80.0,
    ),
    _fx("AUDUSD", 0.66000, 0.0065, 14),
    _fx("USDCHF", 0.90000, 0.0050, 16),
    _fx("USDCAD", 1.36000, 0.0045, 18),
    _fx("NZDUSD", 0.61000, 0.0065, 20, filling_mode=FILLING_IOC),
    _fx("EURJPY", 162.500, 0.0060, 20),
    _fx("GBPJPY", 190.000, 0.0075, 28),
    _fx("EURGBP", 0.85500, 0.0035, 15),
    _fx("EURCHF", 0.97000, 0.0035, 20, order_mode=ORDER_MODE_NO_CLOSE_BY),
    _fx("AUDJPY", 99.000, 0.0080, 22),
    _fx("CHFJPY", 166.500, 0.0060, 30),
    _fx("EURAUD", 1.64000, 0.0055, 25),
    _fx("GBPCHF", 1.14000, 0.0055, 28),
    _fx("USDSGD", 1.34000, 0.0030, 30, filling_mode=FILLING_FOK),
    _cfd(
        "XAGUSD", "XAG", 3, 29.500, 0.0150, 30, 5000.0, "Metals",
        volume_max=50.0, stops_level=30,
    ),
    _cfd(
        "BTCUSD", "BTC", 2, 65000.00, 0.0300, 1500, 1.0, "Crypto",
        volume_max=20.0, stops_level=100, trades_weekends=True, ticks_per_minute=90.0,
    ),
    _cfd(
        "US30", "USD", 1, 39000.0, 0.0090, 20, 1.0, "Indices",
        volume_min=0.1, volume_step=0.1, volume_max=200.0, stops_level=50,
    ),
)


def default_symbols() -> dict[str, SimSymbol]:
    """The simulated broker's symbol table, by name."""
    return {s.name: s for s in DEFAULT_SYMBOLS}
