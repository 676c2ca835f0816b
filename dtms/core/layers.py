"""The six score layers: raw points of one trade from its symbol's indicators (spec §3).

Theory of operation: every rule here reads a side-agnostic ``SymbolIndicators`` from the
point of view of one trade, so positive always means "in the trade's favour". Directional
quantities are multiplied by the side's sign (+1 BUY, -1 SELL) and the RSI is read as
``100 - RSI`` for a SELL; the rule is then written once, for a BUY. That is what makes the
score mirror-symmetric: the original system wrote the SELL side separately and its SELL
confluence hedged winning trades.

Each rule returns raw points; ``max_*`` says the largest magnitude the rule can return with
the configured points, which is the divisor that brings the layer into [-1, +1]. Deriving the
divisor from the points (instead of configuring it) keeps that bound true for any config.

A NaN input makes every comparison False, so a missing value scores 0 rather than raising.

Rules for this module: pure (stdlib only); every number is a knob of ``ScoreParams``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dtms.core.indicators import SymbolIndicators
from dtms.core.params import knob
from dtms.core.structure import SwingBreaks
from dtms.core.weights import BaseWeights

__all__ = ["ScoreParams"]


@dataclass(frozen=True, slots=True)
class ScoreParams:
    """Points and thresholds of the health score, the VWAP-flip rule and the analysis line."""

    base_weights: BaseWeights = field(default_factory=BaseWeights)
    """Base weight of each layer, before the regime's multipliers."""
    bos_points: float = knob(3.0, "structure: BOS in favour +, BOS against -", ge=0, le=100)
    choch_points: float = knob(3.0, "structure: CHOCH against -", ge=0, le=100)
    flip_against_points: float = knob(2.0, "vwap_volume: VWAP flip against -", ge=0, le=100)
    flip_favour_points: float = knob(1.0, "vwap_volume: VWAP flip in favour +", ge=0, le=100)
    heavy_share: float = knob(0.65, "vwap_volume: opposite share >= this is heavy", ge=0, le=1)
    heavy_points: float = knob(1.0, "vwap_volume: points off for heavy opposite volume", ge=0)
    tilt_share: float = knob(0.55, "vwap_volume: opposite share >= this leans against", ge=0, le=1)
    tilt_points: float = knob(0.5, "vwap_volume: points off for leaning opposite volume", ge=0)
    light_share: float = knob(0.35, "vwap_volume: opposite share <= this is light", ge=0, le=1)
    light_points: float = knob(1.0, "vwap_volume: points for light opposite volume", ge=0)
    rsi_weak_points: float = knob(2.0, "momentum: RSI below threshold and falling -", ge=0)
    rsi_overbought: float = knob(
        70.0, "momentum: RSI above this and rising is stretched", ge=0, le=100
    )
    rsi_overbought_points: float = knob(1.0, "momentum: stretched RSI -", ge=0)
    rsi_midline: float = knob(50.0, "momentum: RSI above this and rising is strength", ge=0, le=100)
    rsi_strength_points: float = knob(1.0, "momentum: RSI strength +", ge=0)
    macd_points: float = knob(1.0, "momentum: MACD histogram trending with/against +/-", ge=0)
    ema_split_points: float = knob(1.5, "ema_alignment: EMA slopes of opposite sign -", ge=0)
    ema_against_points: float = knob(1.0, "ema_alignment: fast EMA sloping against -", ge=0)
    ema_aligned_points: float = knob(1.0, "ema_alignment: both EMAs sloping in favour +", ge=0)
    delta_z: float = knob(0.5, "delta_pressure: |z| beyond this counts", ge=0, le=100)
    delta_points: float = knob(1.0, "delta_pressure: points either way", ge=0)
    candle_body_ratio: float = knob(0.65, "candle: body / range at least this", ge=0, le=1)
    candle_range_atr: float = knob(0.8, "candle: range at least this x ATR(M5)", ge=0, le=100)
    candle_through_points: float = knob(2.0, "candle: against and closing through VWAP -", ge=0)
    candle_against_points: float = knob(1.0, "candle: conviction candle against -", ge=0)
    candle_favour_points: float = knob(1.0, "candle: conviction candle in favour +", ge=0)
    flip_min_crosses: int = knob(2, "VWAP flip needs this many on the cross counter", ge=0, le=1000)
    flip_off_ratio: float = knob(0.7, "VWAP flip turns off below this x threshold", ge=0, le=1)
    analysis_strong: float = knob(6.0, "analysis: |score| from here is 'Strong'", ge=0)
    analysis_moderate: float = knob(2.0, "analysis: |score| from here is 'Moderate'", ge=0)
    analysis_weak: float = knob(0.5, "analysis: |score| from here is 'Weak'", ge=0)
    confluence_high: int = knob(4, "analysis: layers agreeing for 'High confluence'", ge=1, le=6)
    confluence_medium: int = knob(3, "analysis: layers agreeing for 'Medium'", ge=1, le=6)

    def __post_init__(self) -> None:
        if not self.light_share < self.tilt_share <= self.heavy_share:
            raise ValueError("shares must satisfy light_share < tilt_share <= heavy_share")
        if not self.analysis_weak <= self.analysis_moderate <= self.analysis_strong:
            raise ValueError("analysis thresholds must satisfy weak <= moderate <= strong")
        if self.confluence_medium > self.confluence_high:
            raise ValueError("confluence_medium must not exceed confluence_high")


def structure(br: SwingBreaks, p: ScoreParams) -> float:
    """BOS in favour +, BOS against -, CHOCH against - (on top of the BOS)."""
    raw = 0.0
    if br.bos_in_favour:
        raw += p.bos_points
    if br.bos_against:
        raw -= p.bos_points
    if br.choch_against:
        raw -= p.choch_points
    return raw


def max_structure(p: ScoreParams) -> float:
    """Largest magnitude of :func:`structure`."""
    return p.bos_points + p.choch_points


def vwap_volume(against: bool, in_favour: bool, share: float | None, p: ScoreParams) -> float:
    """VWAP flip points plus volume points from the opposite share (None: no volume)."""
    raw = -p.flip_against_points if against else p.flip_favour_points if in_favour else 0.0
    if share is not None:
        if share >= p.heavy_share:
            raw -= p.heavy_points
        elif share >= p.tilt_share:
            raw -= p.tilt_points
        elif share <= p.light_share:
            raw += p.light_points
    return raw


def max_vwap_volume(p: ScoreParams) -> float:
    """Largest magnitude of :func:`vwap_volume`."""
    worst = p.flip_against_points + max(p.heavy_points, p.tilt_points)
    return max(worst, p.flip_favour_points + p.light_points)


def _monotone(values: tuple[float, ...], sign: float) -> tuple[bool, bool]:
    """(strictly falling, strictly rising) across the whole tail of ``values x sign``."""
    falling = rising = len(values) > 1
    prev = values[0] * sign
    for v in values[1:]:
        cur = v * sign
        falling = falling and cur < prev
        rising = rising and cur > prev
        prev = cur
    return falling, rising


def momentum(ind: SymbolIndicators, sign: float, rsi_threshold: float, p: ScoreParams) -> float:
    """RSI weakness/stretch/strength plus MACD histogram trend (``sign``: +1 BUY, -1 SELL).

    For a SELL the RSI is read as ``100 - RSI``; its direction is taken from ``-RSI``, which
    is exact, where ``100 - RSI`` could round two close values together.
    """
    falling, rising = _monotone(ind.rsi, sign)
    last = ind.rsi[-1] if sign > 0 else 100.0 - ind.rsi[-1]
    raw = 0.0
    if last < rsi_threshold and falling:
        raw -= p.rsi_weak_points
    elif last > p.rsi_overbought and rising:
        raw -= p.rsi_overbought_points
    elif last > p.rsi_midline and rising:
        raw += p.rsi_strength_points
    falling, rising = _monotone(ind.macd_hist, sign)
    if falling:
        raw -= p.macd_points
    elif rising:
        raw += p.macd_points
    return raw


def max_momentum(p: ScoreParams) -> float:
    """Largest magnitude of :func:`momentum`."""
    worst = max(p.rsi_weak_points, p.rsi_overbought_points) + p.macd_points
    return max(worst, p.rsi_strength_points + p.macd_points)


def ema_alignment(ind: SymbolIndicators, sign: float, p: ScoreParams) -> float:
    """EMA slopes of opposite sign -, fast EMA against -, both in favour +."""
    fast = ind.ema_fast_slope * sign
    slow = ind.ema_slow_slope * sign
    if (fast > 0 and slow < 0) or (fast < 0 and slow > 0):
        return -p.ema_split_points
    if fast < 0:
        return -p.ema_against_points
    if fast > 0 and slow > 0:
        return p.ema_aligned_points
    return 0.0


def max_ema_alignment(p: ScoreParams) -> float:
    """Largest magnitude of :func:`ema_alignment`."""
    return max(p.ema_split_points, p.ema_against_points, p.ema_aligned_points)


def delta_pressure(ind: SymbolIndicators, sign: float, p: ScoreParams) -> float:
    """Signed-volume z-score beyond the threshold, in favour + or against -."""
    z = ind.delta_z * sign
    if z > p.delta_z:
        return p.delta_points
    if z < -p.delta_z:
        return -p.delta_points
    return 0.0


def max_delta_pressure(p: ScoreParams) -> float:
    """Largest magnitude of :func:`delta_pressure`."""
    return p.delta_points


def candle_conviction(ind: SymbolIndicators, sign: float, p: ScoreParams) -> float:
    """A full-bodied, wide last M5 bar: against and through VWAP --, against -, in favour +.

    "Through VWAP" means the bar opened on the trade's side of VWAP and closed beyond it.
    """
    o, c, vwap = ind.m5_open * sign, ind.m5_close * sign, ind.vwap * sign
    rng = ind.m5_high - ind.m5_low
    body = abs(c - o)
    if not (
        rng > 0 and body >= p.candle_body_ratio * rng and rng >= p.candle_range_atr * ind.atr_m5
    ):
        return 0.0
    if c < o:
        return -p.candle_through_points if o > vwap > c else -p.candle_against_points
    if c > o:
        return p.candle_favour_points
    return 0.0


def max_candle_conviction(p: ScoreParams) -> float:
    """Largest magnitude of :func:`candle_conviction`."""
    return max(p.candle_through_points, p.candle_against_points, p.candle_favour_points)
