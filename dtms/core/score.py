"""The health score of one trade: six weighted layers, the VWAP-flip memory, confluence.

Theory of operation: per symbol and bar the runtime has a ``SymbolIndicators`` and an
``Adaptation``; per trade it keeps a small ``FlipState``. On every new closed M5 bar
``update_flip`` moves the trade's cross counters (+1 when the close is on the adverse side of
VWAP, else -1, floor 0, and the mirror counter for the favourable side) and switches the VWAP
flips with hysteresis: a flip against turns on when the VWAP slope points against the trade by
at least the adaptive threshold *and* the counter has reached ``flip_min_crosses``, and stays
on until the slope against falls below ``flip_off_ratio`` x threshold. The slope exists only
within one session (``dtms.core.indicators``); in a session's first bars, where it does not,
the flips keep their state. ``score_trade`` is then
scalar work: each layer's raw points (``dtms.core.layers``) are divided by the layer's largest
magnitude into [-1, +1] and multiplied by base weight x regime multiplier.

Hedge confluence is a VWAP flip against the trade together with a volume flip against it
(opposite share at or above the adaptive volume-flip share). Both halves are read relative to
the trade, so it is the same rule for BUY and SELL; it cannot fire for a trade the VWAP is
moving with.

Rules for this module: pure (stdlib only), no I/O, no clock, no logging.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dtms.core import layers as L
from dtms.core.indicators import SymbolIndicators
from dtms.core.layers import ScoreParams
from dtms.core.regime import Adaptation, Regime
from dtms.core.types import Side
from dtms.core.weights import LAYERS

__all__ = ["FlipState", "Layer", "ScoreParams", "ScoreResult", "score_trade", "update_flip"]


@dataclass(frozen=True, slots=True)
class FlipState:
    """A trade's VWAP-flip memory, persisted with the trade (plain ints and bools)."""

    adverse_crosses: int = 0
    """Cross counter: closes on the adverse side of VWAP (+1 each, -1 otherwise, floor 0)."""
    favour_crosses: int = 0
    """Mirror counter for the favourable side."""
    against: bool = False
    """VWAP flip against the trade is on."""
    in_favour: bool = False
    """VWAP flip in the trade's favour is on."""
    last_bar_time: int = 0
    """Open time of the last M5 bar counted (broker epoch seconds)."""


def _flip(was_on: bool, slope: float, crosses: int, threshold: float, p: ScoreParams) -> bool:
    """Hysteresis: on at slope >= threshold with enough crosses, off below the off level.

    Without a slope (the session has fewer than k + 1 bars) a flip is not judged: it neither
    starts nor ends until the new session's VWAP has a slope of its own.
    """
    if not math.isfinite(slope):
        return was_on
    if was_on:
        return slope >= threshold * p.flip_off_ratio
    return slope >= threshold and crosses >= p.flip_min_crosses


def update_flip(
    flip: FlipState,
    ind: SymbolIndicators,
    side: Side,
    adaptation: Adaptation,
    params: ScoreParams,
) -> FlipState:
    """Count the newest closed M5 bar into a trade's VWAP-flip memory.

    Idempotent: a bar already counted (``ind.m5_time <= flip.last_bar_time``) returns ``flip``
    unchanged, so calling it on every fast check is safe.

    Args:
        flip: the trade's memory so far.
        ind: its symbol's indicators at the newest closed bar.
        side: the trade's side.
        adaptation: the symbol's adaptation (gives the VWAP threshold).
        params: flip rule parameters.

    Returns:
        The updated memory.
    """
    if ind.m5_time <= flip.last_bar_time:
        return flip
    s = side.sign
    adverse, favour = flip.adverse_crosses, flip.favour_crosses
    gap = (ind.m5_close - ind.vwap) * s
    if math.isfinite(gap):
        adverse = adverse + 1 if gap < 0 else max(adverse - 1, 0)
        favour = favour + 1 if gap > 0 else max(favour - 1, 0)
    slope = ind.vwap_slope * s
    threshold = adaptation.vwap_threshold
    return FlipState(
        adverse_crosses=adverse,
        favour_crosses=favour,
        against=_flip(flip.against, -slope, adverse, threshold, params),
        in_favour=_flip(flip.in_favour, slope, favour, threshold, params),
        last_bar_time=ind.m5_time,
    )


@dataclass(frozen=True, slots=True)
class Layer:
    """One layer of a score: raw points, normalised to [-1, +1], weight and product."""

    name: str
    raw: float
    normalised: float
    weight: float
    weighted: float
    available: bool


@dataclass(frozen=True, slots=True)
class ScoreResult:
    """A trade's health score at one bar, with everything that explains it."""

    total: float
    layers: tuple[Layer, ...]
    regime: Regime
    vwap_threshold: float
    rsi_threshold: float
    volume_flip_share: float
    opposite_share: float
    """Opposite-side share of the last volume window (0 when there was no volume)."""
    vwap_flip_against: bool
    volume_flip_against: bool
    hedge_confluence: bool
    bos_in_favour: bool
    bos_against: bool
    choch_against: bool
    bar_time: int
    """Open time of the last closed M15 bar the score is based on."""
    analysis: str

    def layer(self, name: str) -> Layer:
        """The layer called ``name`` (KeyError if there is none)."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)


def _layer(name: str, available: bool, raw: float, largest: float, weight: float) -> Layer:
    """Normalise raw points by the layer's largest magnitude and weigh them."""
    if not available:
        return Layer(name, 0.0, 0.0, weight, 0.0, False)
    unit = raw / largest if largest > 0 else 0.0
    if unit > 1.0:
        unit = 1.0
    elif unit < -1.0:
        unit = -1.0
    return Layer(name, raw, unit, weight, unit * weight, True)


_Scale = tuple[tuple[float, ...], tuple[float, ...]]
_SCALES: dict[tuple[int, int], tuple[ScoreParams, Adaptation, _Scale]] = {}


def _scale(p: ScoreParams, adaptation: Adaptation) -> _Scale:
    """Each layer's final weight and largest magnitude: once per (params, symbol bar).

    Every trade on a symbol shares them until the next bar; the cache is keyed by identity and
    checked by identity, so a reused object id can never return another object's numbers.
    """
    key = (id(p), id(adaptation))
    hit = _SCALES.get(key)
    if hit is not None and hit[0] is p and hit[1] is adaptation:
        return hit[2]
    base, adapt = p.base_weights, adaptation.weights
    weights = (
        base.structure * adapt.structure, base.vwap_volume * adapt.vwap_volume,
        base.momentum * adapt.momentum, base.ema_alignment * adapt.ema_alignment,
        base.delta_pressure * adapt.delta_pressure,
        base.candle_conviction * adapt.candle_conviction,
    )
    largest = (
        L.max_structure(p), L.max_vwap_volume(p), L.max_momentum(p), L.max_ema_alignment(p),
        L.max_delta_pressure(p), L.max_candle_conviction(p),
    )
    if len(_SCALES) > 4096:  # adaptations live one bar: forget the old ones
        _SCALES.clear()
    _SCALES[key] = (p, adaptation, (weights, largest))
    return weights, largest


def score_trade(
    ind: SymbolIndicators,
    adaptation: Adaptation,
    side: Side,
    flip: FlipState,
    params: ScoreParams,
) -> ScoreResult:
    """Score one trade from its symbol's indicators, adaptation and its own flip memory.

    Args:
        ind: the symbol's indicators at the newest closed bar.
        adaptation: the symbol's regime adaptation at that bar.
        side: the trade's side.
        flip: the trade's VWAP-flip memory, already updated for the newest M5 bar.
        params: points, thresholds and base weights.

    Returns:
        The score; the total lies within plus or minus the sum of the adaptive weights.
    """
    p = params
    av = ind.available
    weights, largest = _scale(p, adaptation)
    buy = side is Side.BUY
    sign = 1.0 if buy else -1.0
    breaks = ind.swing.for_side(side)
    volume = ind.buy_volume + ind.sell_volume
    shares = None
    if volume > 0:
        shares = (ind.sell_volume / volume, ind.buy_volume / volume)
        if not buy:
            shares = (shares[1], shares[0])
    share = shares[0] if shares is not None else None
    volume_flip = share is not None and share >= adaptation.volume_flip_share
    layers = (
        _layer(LAYERS[0], av.structure, L.structure(breaks, p), largest[0], weights[0]),
        _layer(LAYERS[1], av.vwap_volume, L.vwap_volume(flip.against, flip.in_favour, shares, p),
               largest[1], weights[1]),
        _layer(LAYERS[2], av.momentum, L.momentum(ind, sign, adaptation.rsi_threshold, p),
               largest[2], weights[2]),
        _layer(LAYERS[3], av.ema_alignment, L.ema_alignment(ind, sign, p), largest[3], weights[3]),
        _layer(LAYERS[4], av.delta_pressure, L.delta_pressure(ind, sign, p), largest[4],
               weights[4]),
        _layer(LAYERS[5], av.candle_conviction, L.candle_conviction(ind, sign, p), largest[5],
               weights[5]),
    )
    total = 0.0
    for layer in layers:
        total += layer.weighted
    confluence = flip.against and volume_flip
    return ScoreResult(
        total=total,
        layers=layers,
        regime=adaptation.regime,
        vwap_threshold=adaptation.vwap_threshold,
        rsi_threshold=adaptation.rsi_threshold,
        volume_flip_share=adaptation.volume_flip_share,
        opposite_share=share if share is not None else 0.0,
        vwap_flip_against=flip.against,
        volume_flip_against=volume_flip,
        hedge_confluence=confluence,
        bos_in_favour=breaks.bos_in_favour,
        bos_against=breaks.bos_against,
        choch_against=breaks.choch_against,
        bar_time=ind.m15_time,
        analysis=analysis(total * sign, layers, confluence, p),
    )


def analysis(market: float, layers: tuple[Layer, ...], confluence: bool, p: ScoreParams) -> str:
    """One line for operators: strength and market direction, confluence, key layer.

    ``market`` is the total as seen by a BUY (the total times the side's sign), so "bearish"
    and "bullish" name the market's direction: a SELL in trouble reads "bullish signals".

    Args:
        market: the score total times the side's sign.
        layers: the score's layers.
        confluence: whether hedge confluence fired.
        p: analysis thresholds.

    Returns:
        e.g. "Moderate bearish signals | High confluence (ADVERSE) | Key: structure".
    """
    size = abs(market)
    direction = "bullish" if market > 0 else "bearish"
    if size >= p.analysis_strong:
        head = f"Strong {direction} signals"
    elif size >= p.analysis_moderate:
        head = f"Moderate {direction} signals"
    elif size >= p.analysis_weak:
        head = f"Weak {direction} signals"
    else:
        head = "Neutral signals"
    adverse = favour = 0
    key = None
    missing = []
    for layer in layers:
        w = layer.weighted
        if w < 0:
            adverse += 1
        elif w > 0:
            favour += 1
        if w and (key is None or abs(w) > abs(key.weighted)):
            key = layer
        if not layer.available:
            missing.append(layer.name)
    lead = adverse if adverse > favour else favour
    level = (
        "High" if lead >= p.confluence_high else "Medium" if lead >= p.confluence_medium else "Low"
    )
    kind = "ADVERSE" if adverse > favour else "FAVOURABLE" if favour > adverse else "MIXED"
    line = f"{head} | {level} confluence ({kind}) | Key: {key.name if key else 'none'}"
    if confluence:
        line += " | Hedge confluence: VWAP and volume flipped against"
    if missing:
        line += " | Unavailable: " + ", ".join(missing)
    return line
