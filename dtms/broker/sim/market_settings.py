"""Tunable numbers of the simulated market (one ``[sim.market]``-style table of config.toml).

Volatilities are multiples of a symbol's ``daily_vol`` and drifts are in daily_vols per day, so
one table fits EURUSD and BTCUSD alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from dtms.core.params import knob


@dataclass(frozen=True, slots=True)
class MarketSettings:
    """How the simulated market generates prices, keeps bars and keeps trading hours."""

    history_days: int = knob(
        10, "days of M1 history generated before the start time", ge=0, le=365
    )
    max_bars: int = knob(
        100_000, "M1 bars kept per symbol; the oldest are dropped beyond this", ge=2_000,
        le=10_000_000,
    )
    tick_buffer: int = knob(
        50_000, "recent ticks kept per symbol for copy_ticks_range", ge=1_000, le=10_000_000
    )
    broker_utc_offset_hours: float = knob(
        0.0, "broker-server time minus UTC, in hours", ge=-12.0, le=14.0
    )
    weekend_close_hour: float = knob(
        21.0, "hour of Friday (UTC) when symbols without weekend trading stop quoting",
        ge=0.0, lt=24.0,
    )
    weekend_open_hour: float = knob(
        21.0, "hour of Sunday (UTC) when those symbols quote again", ge=0.0, lt=24.0
    )
    slice_minutes: int = knob(
        60, "length of the fixed generation slice (divides 1440); random draws are keyed by "
        "slice", ge=1, le=1440,
    )
    trend_minutes: float = knob(
        180.0, "mean length of a trend under AUTO regime switching", gt=0.0, le=100_000.0
    )
    range_minutes: float = knob(
        180.0, "mean length of a range under AUTO regime switching", gt=0.0, le=100_000.0
    )
    spike_minutes: float = knob(
        30.0, "mean length of a volatility spike under AUTO regime switching", gt=0.0,
        le=100_000.0,
    )
    spike_share: float = knob(
        0.15, "probability that a trend or range is followed by a volatility spike", ge=0.0,
        le=1.0,
    )
    trend_drift: float = knob(
        3.0, "drift of a trend, in daily_vols per day", ge=0.0, le=100.0
    )
    trend_vol: float = knob(0.9, "volatility in a trend, times daily_vol", gt=0.0, le=20.0)
    range_vol: float = knob(0.6, "volatility in a range, times daily_vol", gt=0.0, le=20.0)
    range_half_life_minutes: float = knob(
        30.0, "half-life of the pull back to the level where a range began", gt=0.0,
        le=100_000.0,
    )
    spike_vol: float = knob(2.5, "volatility in a spike, times daily_vol", gt=0.0, le=50.0)
    spike_spread: float = knob(
        2.0, "spread multiplier during a volatility spike (floating spreads only)", ge=1.0,
        le=20.0,
    )
    spread_jitter: float = knob(
        0.25, "log-standard deviation of a floating spread around its typical value", ge=0.0,
        le=2.0,
    )
    gap_cap_minutes: float = knob(
        60.0, "a market closure moves the price as much as this many minutes of trading",
        ge=1.0, le=10_080.0,
    )
    replay_max_ticks_per_bar: int = knob(
        2_000, "most ticks synthesised inside one bar of a replayed file", ge=4, le=1_000_000
    )

    def __post_init__(self) -> None:
        if 1440 % self.slice_minutes:
            raise ValueError(
                f"slice_minutes must divide a day (1440 minutes), got {self.slice_minutes}"
            )
