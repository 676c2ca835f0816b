"""Settings of the simulated MT5 account: the knobs a broker and a terminal would decide.

Everything here is a ``knob`` so ``config.toml`` can set it (table ``[broker.sim]``, faults in
``[broker.sim.faults]``, broker quirks in ``[broker.sim.quirks]``). Defaults describe a USD
hedging demo account at 1:100 with a 50 % margin call and a 30 % stop-out, opened on a Monday
morning.
"""

from __future__ import annotations

import dataclasses
import enum

from dtms.broker import constants as c
from dtms.broker.sim.faults import FaultSettings
from dtms.broker.sim.quirks import QuirkSettings
from dtms.core.params import knob

ACCOUNT_CURRENCY = "USD"


class MarginMode(enum.Enum):
    """How the account holds positions (ACCOUNT_MARGIN_MODE)."""

    HEDGING = "hedging"
    """RETAIL_HEDGING: any number of positions per symbol, in both directions."""
    NETTING = "netting"
    """RETAIL_NETTING: one position per symbol; an opposite order reduces or reverses it."""

    @property
    def mt5_value(self) -> int:
        """The ACCOUNT_MARGIN_MODE_* value reported by ``account_info().margin_mode``."""
        if self is MarginMode.HEDGING:
            return c.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
        return c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING


@dataclasses.dataclass(frozen=True, slots=True)
class SimSettings:
    """The simulated account, terminal and clock."""

    start_time: float = knob(
        1772434800.0,
        "broker-server epoch seconds the simulation starts at (2026-03-02 07:00, a Monday)",
        ge=0.0,
    )
    speed: float = knob(
        1.0, "broker seconds per wall second of the default clock", gt=0.0, le=100000.0
    )
    seed: int = knob(1, "seed of the price generator and of the fault RNG", ge=0)
    balance: float = knob(10_000.0, "initial deposit in account currency (USD)", gt=0.0)
    credit: float = knob(0.0, "broker credit added to equity", ge=0.0)
    leverage: int = knob(100, "account leverage (1:N)", ge=1, le=5000)
    margin_mode: MarginMode = knob(
        MarginMode.HEDGING, "hedging or netting"
    )
    margin_call: float = knob(50.0, "margin call level, percent of margin", ge=0.0, le=10000.0)
    stop_out: float = knob(
        30.0, "stop-out level: at margin level <= this the worst position is closed", ge=0.0,
        le=10000.0,
    )
    comment_max_length: int = knob(
        31, "longest accepted request comment; longer gives None, -2 (real builds: 27..31)",
        ge=0, le=31,
    )
    commission_per_lot: float = knob(
        0.0, "commission charged per lot on every deal (in and out), account currency", ge=0.0
    )
    swaps: bool = knob(True, "charge swaps at the daily rollover (00:00 broker time)")
    limit_positions: int = knob(0, "most open positions allowed (0: no limit)", ge=0)
    empty_history_as_none: bool = knob(
        False, "answer empty history queries with None and (1, 'Success') instead of ()"
    )
    autotrading: bool = knob(True, "terminal AutoTrading button (off: order_send gives 10027)")
    maxbars: int = knob(100_000, "terminal 'Max bars in chart': cap of copy_rates_*", ge=100)
    first_ticket: int = knob(
        0, "lowest order/position ticket of this account (0: the documentation's numbers)", ge=0
    )
    login: int = knob(5_012_345, "account number", ge=1)
    server: str = knob("dtms-Sim", "trade server name")
    name: str = knob("dtms demo", "account holder name")
    company: str = knob("dtms Simulated Broker Ltd.", "broker company name")
    faults: FaultSettings = dataclasses.field(default=FaultSettings())
    quirks: QuirkSettings = dataclasses.field(default=QuirkSettings())
