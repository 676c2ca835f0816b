"""Market regime (session, volatility, structure) and what it adapts in the score.

Theory of operation: once per symbol per new closed bar, ``adapt`` classifies the regime from
the symbol's indicators and derives the numbers the per-trade score uses: the VWAP-slope
threshold (a per-symbol base times a multiplier per session, volatility and structure label,
clamped to a band around the base), the RSI threshold, the volume-flip share and the per-layer
weight multipliers.

The session is read from the bar clock, never from a wall clock: the regime "now" is the
close of the newest closed bar in the indicators, converted from broker-server time to UTC
with the configured offset. Labels are enums, one spelling everywhere; the original system
lost its regime adaptation to 'Range' versus 'RANGE'. Per-label tables are nested dataclasses
whose field names are the enum values, so ``config.toml`` writes ``ASIAN = 1.5``.

Rules for this module: pure (stdlib only), no I/O, no clock; every number is a knob.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from dtms.core.indicators import SymbolIndicators
from dtms.core.params import knob
from dtms.core.symbols import VwapBase, normalise_symbol
from dtms.core.types import Session, Structure, Volatility
from dtms.core.weights import HighVolatilityWeights, RangeWeights, Weights

__all__ = [
    "Adaptation",
    "Regime",
    "RegimeParams",
    "SessionMultipliers",
    "StructureMultipliers",
    "VolatilityMultipliers",
    "VwapBase",
    "adapt",
    "classify",
    "normalise_symbol",
    "session_at",
]

_DAY = 86_400
_HOUR = 3_600
_M5 = 300
_M15 = 900
_SATURDAY = 5  # weekday numbers with Monday = 0; the epoch began on a Thursday (3)


@dataclass(frozen=True, slots=True)
class SessionMultipliers:
    """VWAP-threshold multiplier per session."""

    ASIAN: float = knob(1.5, "VWAP threshold multiplier, Asian session", gt=0, le=10)
    LONDON: float = knob(1.0, "VWAP threshold multiplier, London session", gt=0, le=10)
    NEW_YORK: float = knob(0.8, "VWAP threshold multiplier, New York session", gt=0, le=10)
    OVERLAP: float = knob(0.7, "VWAP threshold multiplier, London/New York overlap", gt=0, le=10)

    def of(self, session: Session) -> float:
        """The multiplier for ``session``."""
        return float(getattr(self, session.value))


@dataclass(frozen=True, slots=True)
class VolatilityMultipliers:
    """VWAP-threshold multiplier per volatility label."""

    LOW: float = knob(1.4, "VWAP threshold multiplier, low volatility", gt=0, le=10)
    NORMAL: float = knob(1.0, "VWAP threshold multiplier, normal volatility", gt=0, le=10)
    HIGH: float = knob(0.8, "VWAP threshold multiplier, high volatility", gt=0, le=10)

    def of(self, volatility: Volatility) -> float:
        """The multiplier for ``volatility``."""
        return float(getattr(self, volatility.value))


@dataclass(frozen=True, slots=True)
class StructureMultipliers:
    """VWAP-threshold multiplier per structure label."""

    RANGE: float = knob(1.3, "VWAP threshold multiplier, ranging market", gt=0, le=10)
    TREND: float = knob(1.0, "VWAP threshold multiplier, trending market", gt=0, le=10)

    def of(self, structure: Structure) -> float:
        """The multiplier for ``structure``."""
        return float(getattr(self, structure.value))


def _hours(default: float, doc: str) -> Any:
    return knob(default, doc, ge=0, le=24)


@dataclass(frozen=True, slots=True)
class RegimeParams:
    """Regime classification and adaptation (specification §2)."""

    overlap_start_utc: float = _hours(13.0, "London/New York overlap starts (UTC hour, inclusive)")
    overlap_end_utc: float = _hours(16.0, "London/New York overlap ends (UTC hour, exclusive)")
    london_start_utc: float = _hours(8.0, "London session starts (UTC hour, inclusive)")
    london_end_utc: float = _hours(13.0, "London session ends (UTC hour, exclusive)")
    new_york_start_utc: float = _hours(16.0, "New York session starts (UTC hour, inclusive)")
    new_york_end_utc: float = _hours(21.0, "New York session ends (UTC hour, exclusive)")
    vol_low_ratio: float = knob(0.7, "ATR / mean ATR below this is LOW volatility", gt=0, le=10)
    vol_high_ratio: float = knob(1.3, "ATR / mean ATR above this is HIGH volatility", gt=0, le=10)
    range_bb_width: float = knob(0.004, "Bollinger width below this is a RANGE", gt=0, lt=1)
    vwap_base: VwapBase = field(default_factory=VwapBase)
    """Base VWAP-slope threshold per symbol."""
    session: SessionMultipliers = field(default_factory=SessionMultipliers)
    """Threshold multiplier per session."""
    volatility: VolatilityMultipliers = field(default_factory=VolatilityMultipliers)
    """Threshold multiplier per volatility label."""
    structure: StructureMultipliers = field(default_factory=StructureMultipliers)
    """Threshold multiplier per structure label."""
    threshold_min_factor: float = knob(0.5, "adaptive threshold >= this x base", gt=0, le=10)
    threshold_max_factor: float = knob(1.8, "adaptive threshold <= this x base", gt=0, le=10)
    rsi_threshold: float = knob(45.0, "RSI weakness threshold for a BUY", ge=0, le=100)
    rsi_threshold_low_vol: float = knob(40.0, "RSI threshold in low volatility", ge=0, le=100)
    volume_flip_share: float = knob(0.65, "opposite volume share that is a volume flip", ge=0, le=1)
    volume_flip_share_low_vol: float = knob(0.72, "volume-flip share in low volatility", ge=0, le=1)
    range_weights: RangeWeights = field(default_factory=RangeWeights)
    """Weight multipliers in a RANGE."""
    high_vol_weights: HighVolatilityWeights = field(default_factory=HighVolatilityWeights)
    """Weight multipliers in HIGH volatility."""
    asian_weight_factor: float = knob(0.8, "every weight x this in the Asian session", ge=0, le=10)

    def __post_init__(self) -> None:
        if self.vol_low_ratio > self.vol_high_ratio:
            raise ValueError("vol_low_ratio must not exceed vol_high_ratio")
        if self.threshold_min_factor > self.threshold_max_factor:
            raise ValueError("threshold_min_factor must not exceed threshold_max_factor")


@dataclass(frozen=True, slots=True)
class Regime:
    """The three regime labels of a symbol at one bar."""

    session: Session
    volatility: Volatility
    structure: Structure


@dataclass(frozen=True, slots=True)
class Adaptation:
    """What the regime changes in the score of every trade on one symbol at one bar.

    ``weights`` are per-layer multipliers of the score's base weights.
    """

    regime: Regime
    vwap_threshold: float
    rsi_threshold: float
    volume_flip_share: float
    weights: Weights


def _within(hour: float, start: float, end: float) -> bool:
    """Start inclusive, end exclusive; a window may wrap past midnight."""
    if start <= end:
        return start <= hour < end
    return hour >= start or hour < end


def session_at(utc_epoch_seconds: float, params: RegimeParams) -> Session:
    """The trading session at a UTC instant (Overlap is checked first; weekends are Asian).

    Args:
        utc_epoch_seconds: the instant, in UTC epoch seconds.
        params: session hours.

    Returns:
        The session.
    """
    day, seconds = divmod(utc_epoch_seconds, _DAY)
    if (int(day) + 3) % 7 >= _SATURDAY:
        return Session.ASIAN
    hour = seconds / _HOUR
    p = params
    if _within(hour, p.overlap_start_utc, p.overlap_end_utc):
        return Session.OVERLAP
    if _within(hour, p.london_start_utc, p.london_end_utc):
        return Session.LONDON
    if _within(hour, p.new_york_start_utc, p.new_york_end_utc):
        return Session.NEW_YORK
    return Session.ASIAN


def bar_clock(ind: SymbolIndicators) -> int:
    """Broker-server time at which the newest bar in ``ind`` closed (0 when there is none)."""
    m5 = ind.m5_time + _M5 if ind.m5_time else 0
    m15 = ind.m15_time + _M15 if ind.m15_time else 0
    return max(m5, m15)


def _volatility(ind: SymbolIndicators, params: RegimeParams) -> Volatility:
    mean = ind.atr_m15_mean
    if not (math.isfinite(mean) and mean > 0 and math.isfinite(ind.atr_m15)):
        return Volatility.NORMAL  # fewer than vol_mean_bars bars: no yardstick yet
    ratio = ind.atr_m15 / mean
    if ratio < params.vol_low_ratio:
        return Volatility.LOW
    if ratio > params.vol_high_ratio:
        return Volatility.HIGH
    return Volatility.NORMAL


def classify(ind: SymbolIndicators, params: RegimeParams, broker_utc_offset_hours: float) -> Regime:
    """Classify session, volatility and structure at the newest bar of ``ind``.

    Args:
        ind: the symbol's indicators.
        params: regime thresholds and session hours.
        broker_utc_offset_hours: broker-server time minus UTC, in hours.

    Returns:
        The regime. Without enough bars volatility is NORMAL and structure TREND (the labels
        whose multipliers are 1).
    """
    utc = bar_clock(ind) - broker_utc_offset_hours * _HOUR
    width = ind.bb_width
    ranging = math.isfinite(width) and width < params.range_bb_width
    return Regime(
        session=session_at(utc, params),
        volatility=_volatility(ind, params),
        structure=Structure.RANGE if ranging else Structure.TREND,
    )


def adapt(
    symbol: str, ind: SymbolIndicators, params: RegimeParams, broker_utc_offset_hours: float
) -> Adaptation:
    """Classify the regime and derive the adaptive thresholds and weight multipliers.

    Args:
        symbol: the symbol as the broker spells it (normalised here).
        ind: the symbol's indicators at its newest closed bar.
        params: regime parameters.
        broker_utc_offset_hours: broker-server time minus UTC, in hours.

    Returns:
        The adaptation shared by every trade on the symbol until the next bar.
    """
    p = params
    regime = classify(ind, p, broker_utc_offset_hours)
    base = p.vwap_base.for_symbol(normalise_symbol(symbol))
    factor = (
        p.session.of(regime.session)
        * p.volatility.of(regime.volatility)
        * p.structure.of(regime.structure)
    )
    factor = min(max(factor, p.threshold_min_factor), p.threshold_max_factor)
    low_vol = regime.volatility is Volatility.LOW
    weights = Weights()
    if regime.structure is Structure.RANGE:
        weights = weights.times(p.range_weights)
    if regime.volatility is Volatility.HIGH:
        weights = weights.times(p.high_vol_weights)
    if regime.session is Session.ASIAN:
        weights = weights.scaled(p.asian_weight_factor)
    return Adaptation(
        regime=regime,
        vwap_threshold=base * factor,
        rsi_threshold=p.rsi_threshold_low_vol if low_vol else p.rsi_threshold,
        volume_flip_share=p.volume_flip_share_low_vol if low_vol else p.volume_flip_share,
        weights=weights,
    )
