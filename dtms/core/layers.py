"""The six score layers: raw points of one trade from its symbol's indicators (spec §3).

Theory of operation: every rule here reads a side-agnostic ``SymbolIndicators`` from the
point of view of one trade, so positive always means "in the trade's favour". Directional
quantities are multiplied by the side's sign (+1 BUY, -1 SELL) and the RSI is read as
``100 - RSI`` for a SELL; the rule is then written once, for a BUY. That is what makes the
score mirror-symmetric: the original system wrote the SELL side separately and its SELL
confluence hedged winning trades.

Every rule is also *antisymmetric*: on the same bars a SELL scores exactly the negation of a
BUY. Each knob therefore gives the points of a pair of mirrored conditions (a flip against
-p, a flip in favour +p), so no configuration can make a score lean against both sides at
once. The written table had four pairs without their mirror: opposite VWAP flips scored -2 and
+1, the EMA "slopes of opposite sign" penalised both sides, the volume tilt (-0.5) and a
conviction candle closing through VWAP (-2) had no favourable twin, and a CHOCH counted only
against; on real EURUSD a BUY and a SELL opened together scored -0.9 between them. The RSI
"stretch" rule (above 70 and rising: -1 for a BUY) is the mirror of nothing it can coexist
with: its mirror would score an oversold, still-falling RSI in a BUY's favour, against the
layer's own "weak and falling" rule; it is gone, and the weak rule has its mirror instead.

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
    choch_points: float = knob(3.0, "structure: CHOCH in favour +, CHOCH against -", ge=0, le=100)
    flip_points: float = knob(2.0, "vwap_volume: VWAP flip in favour +, against -", ge=0, le=100)
    heavy_share: float = knob(
        0.65, "vwap_volume: a side with this share of the volume is heavy", gt=0.5, le=1
    )
    heavy_points: float = knob(1.0, "vwap_volume: heavy opposite volume -, heavy own +", ge=0)
    tilt_share: float = knob(
        0.55, "vwap_volume: a side with this share of the volume leans", gt=0.5, le=1
    )
    tilt_points: float = knob(0.5, "vwap_volume: leaning opposite volume -, leaning own +", ge=0)
    rsi_weak_points: float = knob(
        2.0, "momentum: RSI beyond the threshold and moving on, against - / in favour +", ge=0
    )
    rsi_midline: float = knob(50.0, "momentum: RSI midline (strength above, weakness below)",
                              ge=0, le=100)
    rsi_midline_points: float = knob(
        1.0, "momentum: RSI past the midline and moving on, in favour + / against -", ge=0
    )
    macd_points: float = knob(1.0, "momentum: MACD histogram trending with/against +/-", ge=0)
    ema_aligned_points: float = knob(
        1.0, "ema_alignment: both EMAs sloping in favour +, both against -", ge=0
    )
    ema_turn_points: float = knob(
        1.5, "ema_alignment: fast EMA turned in favour of the slow +, against it -", ge=0
    )
    delta_z: float = knob(0.5, "delta_pressure: |z| beyond this counts", ge=0, le=100)
    delta_points: float = knob(1.0, "delta_pressure: points either way", ge=0)
    candle_body_ratio: float = knob(0.65, "candle: body / range at least this", ge=0, le=1)
    candle_range_atr: float = knob(0.8, "candle: range at least this x ATR(M5)", ge=0, le=100)
    candle_through_points: float = knob(
        2.0, "candle: conviction candle closing through VWAP, in favour + / against -", ge=0
    )
    candle_points: float = knob(1.0, "candle: other conviction candle, in favour + / against -",
                                ge=0)
    flip_min_crosses: int = knob(2, "VWAP flip needs this many on the cross counter", ge=0, le=1000)
    flip_off_ratio: float = knob(0.7, "VWAP flip turns off below this x threshold", ge=0, le=1)
    analysis_strong: float = knob(6.0, "analysis: |score| from here is 'Strong'", ge=0)
    analysis_moderate: float = knob(2.0, "analysis: |score| from here is 'Moderate'", ge=0)
    analysis_weak: float = knob(0.5, "analysis: |score| from here is 'Weak'", ge=0)
    confluence_high: int = knob(4, "analysis: layers agreeing for 'High confluence'", ge=1, le=6)
    confluence_medium: int = knob(3, "analysis: layers agreeing for 'Medium'", ge=1, le=6)

    def __post_init__(self) -> None:
        if not 0.5 < self.tilt_share <= self.heavy_share:
            raise ValueError("shares must satisfy 0.5 < tilt_share <= heavy_share")
        if not self.analysis_weak <= self.analysis_moderate <= self.analysis_strong:
            raise ValueError("analysis thresholds must satisfy weak <= moderate <= strong")
        if self.confluence_medium > self.confluence_high:
            raise ValueError("confluence_medium must not exceed confluence_high")


def structure(br: SwingBreaks, p: ScoreParams) -> float:
    """BOS in favour +, BOS against -; CHOCH in favour +, CHOCH against - (on top of the BOS)."""
    raw = 0.0
    if br.bos_in_favour:
        raw += p.bos_points
    if br.bos_against:
        raw -= p.bos_points
    if br.choch_in_favour:
        raw += p.choch_points
    if br.choch_against:
        raw -= p.choch_points
    return raw


def max_structure(p: ScoreParams) -> float:
    """Largest magnitude of :func:`structure`."""
    return p.bos_points + p.choch_points


def _volume_tier(share: float, p: ScoreParams) -> float:
    """Points of one side's share of the volume: heavy, leaning, or nothing."""
    if share >= p.heavy_share:
        return p.heavy_points
    if share >= p.tilt_share:
        return p.tilt_points
    return 0.0


def vwap_volume(
    against: bool, in_favour: bool, shares: tuple[float, float] | None, p: ScoreParams
) -> float:
    """VWAP flip points plus volume points.

    ``shares`` is (opposite side's share, own side's share) of the volume window, None when
    there was no volume. Heavy or leaning opposite volume scores against the trade, the same
    of its own side in its favour; both shares are computed from the volumes, not one as the
    complement of the other, so a SELL reads exactly the BUY's numbers swapped.
    """
    raw = -p.flip_points if against else p.flip_points if in_favour else 0.0
    if shares is not None:
        raw += _volume_tier(shares[1], p) - _volume_tier(shares[0], p)
    return raw


def max_vwap_volume(p: ScoreParams) -> float:
    """Largest magnitude of :func:`vwap_volume`."""
    return p.flip_points + max(p.heavy_points, p.tilt_points)


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
    """RSI weakness/strength plus MACD histogram trend (``sign``: +1 BUY, -1 SELL).

    Read for a BUY: falling below the threshold -weak, falling below the midline -midline;
    the mirror images (rising above ``100 - threshold`` +weak, rising above the midline
    +midline) score in favour. For a SELL the RSI is read as ``100 - RSI``; its direction is
    taken from ``-RSI``, which is exact, where ``100 - RSI`` could round two close values
    together.
    """
    falling, rising = _monotone(ind.rsi, sign)
    last = ind.rsi[-1] if sign > 0 else 100.0 - ind.rsi[-1]
    mid = p.rsi_midline
    raw = 0.0
    if falling:
        if last < rsi_threshold:
            raw -= p.rsi_weak_points
        elif last < mid:
            raw -= p.rsi_midline_points
    elif rising:
        if last > 100.0 - rsi_threshold:
            raw += p.rsi_weak_points
        elif last > 100.0 - mid:
            raw += p.rsi_midline_points
    falling, rising = _monotone(ind.macd_hist, sign)
    if falling:
        raw -= p.macd_points
    elif rising:
        raw += p.macd_points
    return raw


def max_momentum(p: ScoreParams) -> float:
    """Largest magnitude of :func:`momentum`."""
    return max(p.rsi_weak_points, p.rsi_midline_points) + p.macd_points


def _direction(x: float) -> int:
    """+1, -1, or 0 for a zero or missing value."""
    return 1 if x > 0 else -1 if x < 0 else 0


def ema_alignment(ind: SymbolIndicators, sign: float, p: ScoreParams) -> float:
    """Fast and slow EMA slopes relative to the trade (specification §3 table).

    Both in favour +aligned, both against -aligned; the fast EMA against while the slow one
    is in favour (a turn against) -turn, the mirror (a turn in favour) +turn; a zero slope
    is neither and scores 0.
    """
    fast = _direction(ind.ema_fast_slope * sign)
    slow = _direction(ind.ema_slow_slope * sign)
    if fast == 0 or slow == 0:
        return 0.0
    if fast == slow:
        return fast * p.ema_aligned_points
    return fast * p.ema_turn_points


def max_ema_alignment(p: ScoreParams) -> float:
    """Largest magnitude of :func:`ema_alignment`."""
    return max(p.ema_aligned_points, p.ema_turn_points)


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
    """A full-bodied, wide last M5 bar, through VWAP or not, against - or in favour +.

    "Through VWAP" means the bar opened on one side of VWAP and closed beyond it on the
    other: against the trade when it closes on the adverse side, in favour when it closes on
    the favourable side.
    """
    o, c, vwap = ind.m5_open * sign, ind.m5_close * sign, ind.vwap * sign
    rng = ind.m5_high - ind.m5_low
    body = abs(c - o)
    if not (
        rng > 0 and body >= p.candle_body_ratio * rng and rng >= p.candle_range_atr * ind.atr_m5
    ):
        return 0.0
    if c < o:
        return -p.candle_through_points if o > vwap > c else -p.candle_points
    if c > o:
        return p.candle_through_points if o < vwap < c else p.candle_points
    return 0.0


def max_candle_conviction(p: ScoreParams) -> float:
    """Largest magnitude of :func:`candle_conviction`."""
    return max(p.candle_through_points, p.candle_points)
