"""The numbers that drive the state machine and size its actions (specification §4).

Every field is a knob, so ``config.toml`` can set it and the loader can validate it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dtms.core.news import NewsPolicy
from dtms.core.params import knob


class WeekendPolicy(enum.Enum):
    """What to do with hedged trades before the market closes for the weekend."""

    HOLD = "hold"
    FLATTEN_HEDGED = "flatten_hedged"


class Hedging(enum.Enum):
    """Whether dtms may hedge inside the account."""

    ALLOWED = "allowed"
    FORBIDDEN = "forbidden"
    """A prop-firm rule: no opposite positions in one account."""


class InsteadOfHedge(enum.Enum):
    """What replaces the hedge when hedging is forbidden or impossible (a netting account)."""

    CLOSE = "close"
    """Close the remaining volume: WARNING_L2 -> CLOSED."""
    HARD_STOP = "hard_stop"
    """Move the stop to where the trade loses what its hedge would have risked at its stop."""
    NONE = "none"
    """Refuse the hedge and do nothing else (said once)."""


class OrphanPolicy(enum.Enum):
    """What to do with a hedge whose main position vanished."""

    CLOSE = "close"
    KEEP = "keep"


TICKET_DIGITS = 10
"""Digits of the longest ticket a comment must carry (live accounts' tickets reach 10)."""


@dataclass(frozen=True, slots=True)
class MachinePolicy:
    """Thresholds, timers and limits of the state machine."""

    warning_l1_score: float = knob(-2.0, "HEALTHY -> WARNING_L1 when score <= this", le=0)
    warning_l2_score: float = knob(-4.0, "WARNING_L1 -> WARNING_L2 when score <= this", le=0)
    hedge_score: float = knob(-6.0, "WARNING_L2 -> HEDGED when score <= this", le=0)
    l1_recover_score: float = knob(0.0, "WARNING_L1 -> HEALTHY when score >= this")
    l2_recover_score: float = knob(-2.0, "WARNING_L2 -> WARNING_L1 when score >= this")
    recovered_score: float = knob(1.0, "RECOVERING -> HEALTHY needs score >= this at expiry")
    flat_timer_minutes: float = knob(75.0, "HEDGED without recovery this long -> close all", gt=0)
    recovery_timer_minutes: float = knob(30.0, "RECOVERING lasts this long before judging", gt=0)
    close_on_choch: bool = knob(True, "close the trade on a CHOCH against it")
    max_hedges_per_trade: int = knob(2, "hedges one trade may open over its life", ge=0, le=10)
    max_action_failures: int = knob(3, "failures of one action per episode before giving up", ge=1)
    unknown_settle_seconds: float = knob(
        2.0, "an unknown outcome is judged on snapshots at least this much later", ge=0
    )
    close_confirm_seconds: float = knob(
        10.0, "a DONE close still listed after this long is treated as not executed", gt=0
    )
    fast_check_seconds: float = knob(30.0, "interval of the fast check (tick + M5)", gt=0)
    early_check_adverse_move: float = knob(
        0.002, "adverse move from entry (fraction) that triggers an early deep check", gt=0
    )
    early_check_min_interval_seconds: float = knob(
        600.0, "at most one early deep check per trade per this many seconds", ge=0
    )
    m15_seconds: int = knob(900, "length of the deep-check bar (M15) in seconds", gt=0)
    clock_jump_seconds: float = knob(
        600.0, "a snapshot this much older than the last one means the broker clock went back",
        gt=0,
    )
    recheck_seconds: float = knob(
        10.0, "a transition that waited is re-planned at most this often once its cause is gone",
        gt=0,
    )
    market_tick_grace_seconds: float = knob(
        60.0, "timers keep counting this long after the symbol's last tick, then pause", ge=0
    )
    weekend_policy: WeekendPolicy = knob(
        WeekendPolicy.HOLD, "hold: keep hedged trades over the weekend; flatten_hedged: close them"
    )
    weekend_flatten_minutes: float = knob(
        15.0, "flatten_hedged: close hedged trades this many minutes before the weekly close", gt=0
    )
    weekly_close_day: int = knob(4, "weekday of the weekly close, broker time (0 Monday)", ge=0,
                                 le=6)
    weekly_close_hour: float = knob(
        21.0, "broker-server hour of the weekly close (21 at UTC+0; often 23.9 at UTC+2)", ge=0,
        lt=24,
    )

    def __post_init__(self) -> None:
        if not self.hedge_score <= self.warning_l2_score <= self.warning_l1_score:
            raise ValueError(
                "scores must satisfy hedge_score <= warning_l2_score <= warning_l1_score"
            )
        if self.l1_recover_score <= self.warning_l1_score:
            raise ValueError("l1_recover_score must be above warning_l1_score (hysteresis)")
        if self.l2_recover_score <= self.warning_l2_score:
            raise ValueError("l2_recover_score must be above warning_l2_score (hysteresis)")


@dataclass(frozen=True, slots=True)
class ActionParams:
    """Exact parameters of the defensive actions."""

    sl_tighten_r: float = knob(0.3, "tighten_sl: new SL this many R behind price", gt=0, le=5)
    breakeven_buffer_points: int = knob(
        10, "move_sl_breakeven: SL at entry plus this many points", ge=0
    )
    partial_close_ratio: float = knob(0.5, "partial_close: fraction of the volume", gt=0, lt=1)
    partial_close_max: int = knob(1, "partial closes allowed per trade", ge=0)
    hedge_ratio: float = knob(0.5, "open_hedge: hedge volume / main volume", gt=0, le=1)
    hedge_sl_atr: float = knob(0.5, "open_hedge: SL this many ATR14(M15) from entry", gt=0)
    re_add_enabled: bool = knob(False, "RECOVERING -> HEALTHY re-adds part of the closed volume")
    re_add_ratio: float = knob(0.5, "re_add: fraction of the volume closed earlier", gt=0, le=1)
    orphan_hedge_policy: OrphanPolicy = knob(
        OrphanPolicy.CLOSE, "what to do with a hedge whose main trade vanished"
    )
    use_close_by: bool = knob(True, "close main and hedge with CLOSE_BY when allowed")
    hedging: Hedging = knob(
        Hedging.ALLOWED, "allowed, or forbidden (a prop-firm rule): then instead_of_hedge acts")
    instead_of_hedge: InsteadOfHedge = knob(
        InsteadOfHedge.CLOSE, "when hedging is forbidden or impossible (netting): close, "
        "hard_stop or none")
    hedge_comment_prefix: str = knob("DTMS_HEDGE_", "comment of a hedge, before the main ticket")
    readd_comment_prefix: str = knob("DTMS_READD_", "comment of a re-add, before the ticket")
    comment_max_length: int = knob(31, "longest order comment the broker accepts", ge=8, le=31)
    magic: int = knob(20_240_601, "magic number of every order dtms sends", ge=0)
    deviation_points: int = knob(20, "max slippage for instant/request execution", ge=0)

    def __post_init__(self) -> None:
        # Tickets of live accounts run to 10 digits and more; a comment that cannot carry one
        # would block every hedge at run time, so it is refused at load. (The comment is only a
        # hint: dtms links its positions by the tickets the broker returns.)
        for name in ("hedge_comment_prefix", "readd_comment_prefix"):
            prefix = getattr(self, name)
            room = self.comment_max_length - len(prefix)
            if not prefix or room < TICKET_DIGITS:
                raise ValueError(
                    f"{name} {prefix!r} leaves {room} of comment_max_length "
                    f"{self.comment_max_length} characters for the ticket; a {TICKET_DIGITS}-digit "
                    f"ticket needs {TICKET_DIGITS}"
                )


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything ``step`` needs besides the trade and the event."""

    machine: MachinePolicy = field(default_factory=MachinePolicy)
    actions: ActionParams = field(default_factory=ActionParams)
    news: NewsPolicy = field(default_factory=NewsPolicy)
