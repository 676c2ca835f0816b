"""Tunable numbers of ``dtms replay`` (table ``[replay]`` of config.toml)."""

from __future__ import annotations

from dataclasses import dataclass

from dtms.core.params import knob


@dataclass(frozen=True, slots=True)
class ReplaySettings:
    """How ``dtms replay`` runs recorded trades through dtms and reports on them."""

    cycle_seconds: float = knob(
        60.0, "seconds between the supervisor's snapshots during a replay (live: [supervisor] "
        "cycle_seconds; 2, 30 and 60 gave the same states, see docs/replay.md)", gt=0, le=60,
    )
    unmanaged_magic: int = knob(
        990_001, "magic of the unmanaged copies (dtms is told to ignore it)", ge=1
    )
    balance: float = knob(
        1_000_000.0, "deposit of the simulated account (both copies of every trade share it)",
        gt=0,
    )
    history_bars: int = knob(
        20_000, "M1 bars of history the simulator keeps (the score's windows need 4,500)",
        ge=5_000, le=1_000_000,
    )
    workers: int = knob(0, "processes a replay runs in; 0: one per CPU core", ge=0, le=64)
    seed: int = knob(1, "seed of the random entry rules and of the bootstrap", ge=0)
    bootstrap_resamples: int = knob(
        2_000, "resamples of the bootstrap confidence intervals", ge=100, le=1_000_000
    )
    confidence: float = knob(0.95, "level of the confidence intervals", gt=0.5, lt=1)
    tail_share: float = knob(
        0.05, "share of the worst trades whose mean is the tail figure (worst 5 %)", gt=0,
        le=0.5,
    )
    chart_trades: int = knob(
        60, "per-trade price charts in the HTML report (largest differences first)", ge=0,
        le=5_000,
    )
    stop_tolerance_points: int = knob(
        3, "a recorded close this close to the SL or TP was the broker's, not a hand close",
        ge=0, le=10_000,
    )
