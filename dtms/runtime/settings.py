"""Tunable numbers of the runtime: supervision, market data, journal, logs, demo run."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dtms.core.params import knob


@dataclass(frozen=True, slots=True)
class SupervisorSettings:
    """How the supervisor cycles, restarts actors and shuts down."""

    cycle_seconds: float = knob(2.0, "seconds between positions snapshots", gt=0, le=60)
    restart_budget: int = knob(3, "actor restarts allowed within restart_window_seconds", ge=0)
    restart_window_seconds: float = knob(60.0, "window of the restart budget", gt=0)
    restart_delays: tuple[float, ...] = knob(
        (0.5, 2.0, 8.0), "wait before the 1st, 2nd, 3rd restart of a crashed actor", ge=0
    )
    shutdown_grace_seconds: float = knob(
        10.0, "on SIGINT/SIGTERM, how long in-flight broker calls may take to finish", gt=0
    )
    heartbeat_seconds: float = knob(5.0, "how often the process writes its status", gt=0)
    ignore_magics: tuple[int, ...] = knob((), "positions with these magic numbers are left alone")
    max_deep_checks_per_cycle: int = knob(
        4000, "a new bar's deep checks beyond this many wait for the next cycle", ge=1
    )
    gc_interval_seconds: float = knob(
        60.0, "real seconds between the full garbage collections run between cycles", gt=0
    )
    account_refresh_seconds: float = knob(
        10.0, "how often account and terminal state (AutoTrading) are re-read", gt=0
    )
    vanish_confirm_snapshots: int = knob(
        3, "a position missing this many snapshots (and from a ticket query) is gone even "
        "without a closing deal in history", ge=2, le=100,
    )
    vanish_confirms_per_cycle: int = knob(
        50, "most missing positions confirmed with the broker per cycle", ge=1
    )
    identify_seconds: float = knob(
        30.0, "a position with dtms's magic no trade explains is looked up in the journal "
        "after this long", gt=0,
    )
    foreign_check_seconds: float = knob(
        30.0, "how often the account's deals are checked for another manager using dtms's "
        "magic", gt=0,
    )
    account_lock_dir: str = knob(
        "", "folder of the per-account locks that refuse a second dtms on one account (empty: "
        "the system's temp folder)",
    )
    relisted_after_seconds: float = knob(
        10.0, "a closed trade's ticket still listed this long after is managed again", gt=0
    )

    def __post_init__(self) -> None:
        if len(self.restart_delays) < self.restart_budget:
            raise ValueError("restart_delays needs one delay per restart of restart_budget")


@dataclass(frozen=True, slots=True)
class MarketDataSettings:
    """Staleness, gaps and refresh sizes of the per-symbol feeds."""

    stale_bar_periods: float = knob(
        2.0, "a bar window is stale when its newest closed bar is this many periods old", gt=0
    )
    stale_tick_seconds: float = knob(
        60.0, "a quote older than this (while the market is open) is stale", gt=0
    )
    market_closed_after_seconds: float = knob(
        300.0, "a symbol whose last tick is older than this is closed: nothing is sent", gt=0
    )
    gap_bar_periods: float = knob(2.0, "bars further apart than this many periods are a gap", gt=1)
    refresh_bars: int = knob(4, "bars fetched on each bar close (newest, incl. forming)", ge=2)
    retry_seconds: float = knob(
        30.0, "when a due bar has not appeared yet, ask again after this long", gt=0
    )


@dataclass(frozen=True, slots=True)
class JournalSettings:
    """Where the journal lives and how much score history it keeps."""

    path: str = knob("dtms.sqlite3", "SQLite journal file (relative to the working directory)")
    scores_per_trade: int = knob(200, "score rows kept per trade (older ones are dropped)", ge=1)
    retention_days: float = knob(
        30.0, "actions, notes, transitions, scores and the log of a trade closed this many days "
        "ago are deleted", gt=0,
    )
    trade_retention_days: float = knob(
        365.0, "the row of a trade closed this many days ago is deleted too (its summary)", gt=0
    )
    prune_every_hours: float = knob(
        1.0, "how often (broker hours) the retention is applied", gt=0
    )

    def __post_init__(self) -> None:
        if self.trade_retention_days < self.retention_days:
            raise ValueError("trade_retention_days must be >= retention_days")


class LogLevel(enum.Enum):
    """Log levels of loguru."""

    DEBUG = "DEBUG"
    INFO = "INFO"
    WARNING = "WARNING"


@dataclass(frozen=True, slots=True)
class LogSettings:
    """Where the main log and the per-trade logs go."""

    dir: str = knob("logs", "directory of dtms.log and trades/<ticket>.log")
    level: LogLevel = knob(LogLevel.INFO, "level of the log files")
    console_level: LogLevel = knob(LogLevel.INFO, "level of the console output")
    open_trade_files: int = knob(256, "per-trade log files kept open at once", ge=1)
    rotation_mb: float = knob(50.0, "main log is rotated at this size", gt=0)
    keep_rotated: int = knob(5, "rotated main logs kept", ge=0, le=1000)
    trade_log_mb: float = knob(
        5.0, "a trade's log is rotated at this size (one older part is kept)", gt=0
    )


class Scenario(enum.Enum):
    """What the embedded simulator does on its own while dtms runs."""

    DEMO = "demo"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class SimRunSettings:
    """How ``dtms run`` drives the embedded simulator."""

    speed: float = knob(
        240.0, "simulated seconds per real second (240: a 75-min flat timer in 19 s)", gt=0,
        le=100_000,
    )
    scenario: Scenario = knob(Scenario.DEMO, "demo: trades opened over time, some in trouble")
    demo_trades: int = knob(12, "trades the demo opens", ge=1, le=10_000)
