"""The score on real prices (tests/data/real: seven weeks of EURUSD M5, see its README).

Specification §1-§3 on what synthetic prices cannot show: a BUY and a SELL opened at the same
instant score opposite numbers (every layer antisymmetric), and the VWAP slope, hence every
flip and every confluence hedge, does not cluster at the session reset.
"""

from __future__ import annotations

import numpy as np

from dtms.core.score import FlipState, ScoreParams, score_trade, update_flip
from dtms.core.types import Side
from dtms.core.weights import LAYERS
from tests.core.conftest import REAL_UTC_OFFSET, RealStep

P = ScoreParams()
K = 3  # vwap_slope_bars


def _session_minute(at: np.ndarray) -> np.ndarray:
    """Minutes since the 00:00 UTC session anchor at which a bar closed."""
    return np.asarray(((at - REAL_UTC_OFFSET * 3600) % 86_400) // 60)


def test_a_buy_and_a_sell_opened_together_score_opposite_numbers(real_walk: list[RealStep]):
    """Tolerance: every layer is antisymmetric by construction, so a pair can only differ
    where the SELL's ``100 - RSI`` rounds onto a threshold the BUY's RSI does not touch; a
    mean of |sum| below 0.01 allows a few such bars in ten thousand, while one lopsided rule
    fails it by far (the old EMA rule alone averaged -0.6, the old score -0.93)."""
    sums, layer_sums, warned = [], {name: [] for name in LAYERS}, []
    for step in real_walk:
        scores = []
        for side in (Side.BUY, Side.SELL):
            flip = update_flip(FlipState(), step.ind, side, step.adaptation, P)
            scores.append(score_trade(step.ind, step.adaptation, side, flip, P))
        buy, sell = scores
        sums.append(buy.total + sell.total)
        warned.append(buy.total <= -2)
        for b, s in zip(buy.layers, sell.layers, strict=True):
            layer_sums[b.name].append(b.weighted + s.weighted)
    sums_a = np.array(sums)
    assert abs(sums_a.mean()) < 0.01 and np.abs(sums_a).mean() < 0.01
    assert np.mean(np.abs(sums_a) > 1e-9) < 0.005
    for name, values in layer_sums.items():
        assert abs(np.mean(values)) < 0.01, name
    assert 0.05 < np.mean(warned) < 0.3  # the layers do speak on real prices


def test_a_buy_and_a_sell_held_together_stay_opposite(real_walk: list[RealStep]):
    flips = {Side.BUY: FlipState(), Side.SELL: FlipState()}
    sums, flipped = [], 0
    for step in real_walk:
        totals = []
        for side in flips:
            flips[side] = update_flip(flips[side], step.ind, side, step.adaptation, P)
            totals.append(score_trade(step.ind, step.adaptation, side, flips[side], P).total)
        flipped += flips[Side.BUY].against or flips[Side.BUY].in_favour
        sums.append(totals[0] + totals[1])
        assert flips[Side.BUY].against == flips[Side.SELL].in_favour
    assert flipped > 0  # the flip memory took part
    assert np.abs(np.array(sums)).mean() < 0.01


def test_the_vwap_slope_does_not_fire_at_the_session_reset(real_walk: list[RealStep]):
    """A slope taken across the reset compared two different averages: 16 % of the bars of
    the first 45 minutes reached the flip threshold (every flip fell there). Within the
    session, the reset is no busier than the London/New York overlap."""
    at = np.array([s.at for s in real_walk])
    ratio = np.array([abs(s.ind.vwap_slope) / s.adaptation.vwap_threshold for s in real_walk])
    minute = _session_minute(at)
    fires = ratio >= 1.0  # NaN (no slope yet) never fires
    assert fires.sum() >= 20
    reset = (minute > 0) & (minute <= 45)
    overlap = (minute > 13 * 60) & (minute <= 16 * 60)
    assert fires[reset].mean() <= max(fires[overlap].mean(), 0.02)
    assert not fires[(minute > 0) & (minute <= 5 * K)].any()  # no slope before k + 1 bars


def test_no_flip_or_confluence_starts_before_the_session_has_a_slope(real_walk):
    flips = {Side.BUY: FlipState(), Side.SELL: FlipState()}
    starts = []
    for step in real_walk:
        for side in flips:
            new = update_flip(flips[side], step.ind, side, step.adaptation, P)
            score = score_trade(step.ind, step.adaptation, side, new, P)
            if new.against and not flips[side].against:
                starts.append(step.at)
                assert score.hedge_confluence == score.volume_flip_against
            flips[side] = new
    assert starts
    minute = _session_minute(np.array(starts))
    assert not ((minute > 0) & (minute <= 5 * K)).any()
    assert np.mean(minute <= 45) <= 0.5
