"""Score layers: every rule on and beside its boundary, normalisation, weights, analysis line."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtms.core.indicators import Availability, SymbolIndicators
from dtms.core.regime import Adaptation, Regime
from dtms.core.score import FlipState, ScoreParams, score_trade
from dtms.core.structure import Swing
from dtms.core.types import Session, Side, Structure, Volatility
from dtms.core.weights import LAYERS, Weights
from tests.core.conftest import neutral_indicators

P = ScoreParams()
UNIT_WEIGHTS = Weights()
NEUTRAL_REGIME = Regime(Session.LONDON, Volatility.NORMAL, Structure.TREND)


def adaptation(
    threshold: float = 0.001,
    rsi: float = 45.0,
    share: float = 0.65,
    weights: Weights = UNIT_WEIGHTS,
) -> Adaptation:
    return Adaptation(NEUTRAL_REGIME, threshold, rsi, share, weights)


A = adaptation()
NO_FLIP = FlipState()


def raw(
    ind: SymbolIndicators,
    side: Side,
    layer: str,
    flip: FlipState = NO_FLIP,
    params: ScoreParams = P,
    adapt_: Adaptation = A,
) -> float:
    return score_trade(ind, adapt_, side, flip, params).layer(layer).raw


def swing(**flags: bool) -> Swing:
    base = dict(bos_up=False, bos_down=False, choch_up=False, choch_down=False)
    base.update(flags)
    return Swing(1.1, 1.2, 1.0, 1.2, 1.0, complete=True, **base)


# --- each layer's rule ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("flags", "buy", "sell"),
    [
        ({}, 0.0, 0.0),
        ({"bos_up": True}, 3.0, -3.0),
        ({"bos_down": True}, -3.0, 3.0),
        ({"bos_down": True, "choch_down": True}, -6.0, 6.0),
        ({"bos_up": True, "choch_up": True}, 6.0, -6.0),
    ],
)
def test_structure_points(make_ind, flags, buy, sell):
    ind = make_ind(swing=swing(**flags))
    assert (raw(ind, Side.BUY, "structure"), raw(ind, Side.SELL, "structure")) == (buy, sell)
    result = score_trade(ind, A, Side.BUY, NO_FLIP, P)
    assert result.bos_in_favour is flags.get("bos_up", False)
    assert result.bos_against is flags.get("bos_down", False)
    assert result.choch_against is flags.get("choch_down", False)
    assert result.layer("structure").normalised == buy / 6
    sell = score_trade(ind, A, Side.SELL, NO_FLIP, P)
    assert sell.choch_against is flags.get("choch_up", False)


@pytest.mark.parametrize(
    ("opposite", "points"),
    [
        (0.70, -1.0),
        (0.65, -1.0),
        (0.6499, -0.5),
        (0.55, -0.5),
        (0.5499, 0.0),
        (0.5, 0.0),
        (0.4501, 0.0),
        (0.45, 0.5),  # own side leans: the mirror of the 0.55 tilt
        (0.3501, 0.5),
        (0.35, 1.0),
        (0.0, 1.0),
    ],
)
def test_volume_points_by_opposite_share(make_ind, opposite, points):
    buy_ind = make_ind(buy_volume=(1 - opposite) * 1000, sell_volume=opposite * 1000)
    sell_ind = make_ind(buy_volume=opposite * 1000, sell_volume=(1 - opposite) * 1000)
    assert raw(buy_ind, Side.BUY, "vwap_volume") == pytest.approx(points)
    assert raw(sell_ind, Side.SELL, "vwap_volume") == pytest.approx(points)


@pytest.mark.parametrize(
    ("flip", "points"),
    [(FlipState(against=True), -2.0), (FlipState(in_favour=True), 2.0), (NO_FLIP, 0.0)],
)
def test_vwap_flip_points(make_ind, flip, points):
    assert raw(make_ind(), Side.BUY, "vwap_volume", flip) == points
    assert raw(make_ind(), Side.SELL, "vwap_volume", flip) == points


def test_no_volume_scores_no_volume_points(make_ind):
    ind = make_ind(buy_volume=0.0, sell_volume=0.0)
    result = score_trade(ind, A, Side.BUY, FlipState(against=True), P)
    assert result.layer("vwap_volume").raw == -2.0
    assert (result.opposite_share, result.volume_flip_against) == (0.0, False)


@pytest.mark.parametrize(
    ("rsi", "points"),
    [
        ((50.0, 47.0, 44.9), -2.0),  # below 45 and falling
        ((50.0, 47.0, 45.0), -1.0),  # at the threshold is not below it: only below 50
        ((50.0, 44.0, 44.0), 0.0),  # flat last step is not falling
        ((40.0, 44.0, 42.0), 0.0),  # not falling over both bars
        ((40.0, 30.0, 20.0), -2.0),  # far below and falling: still weak (no "stretch" rule)
        ((52.0, 50.0, 49.9), -1.0),  # below the midline and falling
        ((52.0, 50.0, 50.0), 0.0),
        ((60.0, 65.0, 70.1), 2.0),  # above 100 - 45 and rising: the mirror of weak
        ((50.0, 52.0, 55.1), 2.0),
        ((50.0, 52.0, 55.0), 1.0),  # at 55 it is only past the midline
        ((40.0, 45.0, 50.1), 1.0),  # above 50 and rising
        ((40.0, 45.0, 50.0), 0.0),
        ((55.0, 52.0, 60.0), 0.0),  # not rising over both bars
        ((math.nan, 45.0, 50.1), 0.0),
    ],
)
def test_rsi_points(make_ind, rsi, points):
    assert raw(make_ind(rsi=rsi), Side.BUY, "momentum") == points
    mirrored = tuple(100.0 - v for v in rsi)
    assert raw(make_ind(rsi=mirrored), Side.SELL, "momentum") == points


def test_rsi_threshold_comes_from_the_adaptation(make_ind):
    ind = make_ind(rsi=(50.0, 45.0, 42.0))
    assert raw(ind, Side.BUY, "momentum") == -2.0
    assert raw(ind, Side.BUY, "momentum", adapt_=adaptation(rsi=40.0)) == -1.0  # midline only
    # A SELL reads the threshold at 100 - 40 = 60.
    assert (
        raw(make_ind(rsi=(50.0, 55.0, 58.0)), Side.SELL, "momentum", adapt_=adaptation(rsi=40.0))
        == -1.0
    )
    assert (
        raw(make_ind(rsi=(50.0, 55.0, 60.5)), Side.SELL, "momentum", adapt_=adaptation(rsi=40.0))
        == -2.0
    )
    # ... and the BUY's strength starts at 100 - 40 = 60 too
    assert raw(make_ind(rsi=(50.0, 55.0, 60.5)), Side.BUY, "momentum",
               adapt_=adaptation(rsi=40.0)) == 2.0


@pytest.mark.parametrize(
    ("hist", "buy", "sell"),
    [
        ((4.0, 3.0, 2.0, 1.0), -1.0, 1.0),
        ((1.0, 2.0, 3.0, 4.0), 1.0, -1.0),
        ((-1.0, -2.0, -3.0, -4.0), -1.0, 1.0),
        ((4.0, 3.0, 3.0, 1.0), 0.0, 0.0),  # one flat step: not strictly falling
        ((3.0, 4.0, 2.0, 1.0), 0.0, 0.0),
        ((0.0, 0.0, 0.0, 0.0), 0.0, 0.0),
    ],
)
def test_macd_histogram_points(make_ind, hist, buy, sell):
    scaled = tuple(v * 1e-5 for v in hist)
    ind = make_ind(macd_hist=scaled)
    assert (raw(ind, Side.BUY, "momentum"), raw(ind, Side.SELL, "momentum")) == (buy, sell)


@pytest.mark.parametrize(
    ("fast", "slow", "buy", "sell"),
    [
        (1e-4, -1e-4, 1.5, -1.5),  # fast turned up against a falling slow: a BUY's turn
        (-1e-4, 1e-4, -1.5, 1.5),  # fast turned down against a rising slow
        (-1e-4, -1e-4, -1.0, 1.0),
        (-1e-4, 0.0, 0.0, 0.0),  # a zero slope is neither: 0
        (1e-4, 1e-4, 1.0, -1.0),
        (1e-4, 0.0, 0.0, 0.0),
        (0.0, 1e-4, 0.0, 0.0),
        (0.0, 0.0, 0.0, 0.0),
    ],
)
def test_ema_alignment_points(make_ind, fast, slow, buy, sell):
    ind = make_ind(ema_fast_slope=fast, ema_slow_slope=slow)
    assert raw(ind, Side.BUY, "ema_alignment") == buy
    assert raw(ind, Side.SELL, "ema_alignment") == sell


@pytest.mark.parametrize(
    ("z", "buy"), [(0.5, 0.0), (0.5001, 1.0), (-0.5, 0.0), (-0.5001, -1.0), (3.0, 1.0)]
)
def test_delta_pressure_points(make_ind, z, buy):
    ind = make_ind(delta_z=z)
    assert raw(ind, Side.BUY, "delta_pressure") == buy
    assert raw(ind, Side.SELL, "delta_pressure") == -buy


# Prices with exact binary fractions, and knobs 0.75 / 0.5, put the candle on its boundaries.
EXACT = dataclasses.replace(P, candle_body_ratio=0.75, candle_range_atr=0.5)


@pytest.mark.parametrize(
    ("o", "h", "lo", "c", "atr", "vwap", "buy"),
    [
        (8.0, 8.0, 4.0, 5.0, 8.0, 9.0, -1.0),  # body 3/4 of range, range 0.5 x ATR: counts
        (8.0, 8.0, 4.0, 5.0, 8.0, 6.5, -2.0),  # opened above VWAP, closed below it
        (8.0, 8.0, 4.0, 5.0, 8.0, 8.0, -1.0),  # opened at VWAP: not through it
        (8.0, 8.0, 4.0, 5.0, 8.0, 5.0, -1.0),  # closed at VWAP: not through it
        (8.0, 8.0, 4.0, 5.25, 8.0, 6.5, 0.0),  # body below 3/4 of the range
        (8.0, 8.0, 4.0, 5.0, 8.5, 6.5, 0.0),  # range below 0.5 x ATR
        (5.0, 8.0, 4.0, 8.0, 8.0, 4.5, 1.0),  # bullish conviction candle
        (5.0, 8.0, 4.0, 8.0, 8.0, 6.5, 2.0),  # bullish, opened below VWAP, closed above it
        (6.0, 8.0, 4.0, 6.0, 8.0, 6.0, 0.0),  # doji
        (6.0, 6.0, 6.0, 6.0, 8.0, 6.0, 0.0),  # no range at all
    ],
)
def test_candle_conviction_points(make_ind, o, h, lo, c, atr, vwap, buy):
    ind = make_ind(m5_open=o, m5_high=h, m5_low=lo, m5_close=c, atr_m5=atr, vwap=vwap)
    assert raw(ind, Side.BUY, "candle_conviction", params=EXACT) == buy
    mirrored = make_ind(m5_open=-o, m5_high=-lo, m5_low=-h, m5_close=-c, atr_m5=atr, vwap=-vwap)
    assert raw(mirrored, Side.SELL, "candle_conviction", params=EXACT) == buy


def test_candle_defaults_are_065_body_and_08_atr(make_ind):
    def candle(body: float, rng: float) -> float:
        ind = make_ind(
            m5_open=1.0 + body, m5_high=1.0 + rng, m5_low=1.0, m5_close=1.0, atr_m5=0.001, vwap=2.0
        )
        return raw(ind, Side.BUY, "candle_conviction")

    assert candle(0.00066, 0.001) == -1.0
    assert candle(0.00064, 0.001) == 0.0
    assert candle(0.00079, 0.00081) == -1.0
    assert candle(0.00078, 0.00079) == 0.0


# --- normalisation, weights, availability ---------------------------------------------------


def test_layers_are_normalised_and_weighted(make_ind):
    ind = make_ind(
        swing=swing(bos_down=True), delta_z=-1.0, ema_fast_slope=1e-4, ema_slow_slope=1e-4
    )
    w = Weights(2.0, 1.0, 1.0, 0.5, 1.5, 1.0)
    result = score_trade(ind, adaptation(weights=w), Side.BUY, NO_FLIP, P)
    s, e, d = (result.layer(n) for n in ("structure", "ema_alignment", "delta_pressure"))
    assert (s.normalised, s.weight, s.weighted) == (-0.5, 6.0, -3.0)
    assert (e.normalised, e.weight, e.weighted) == (pytest.approx(2 / 3), 0.75, pytest.approx(0.5))
    assert (d.normalised, d.weight, d.weighted) == (-1.0, 1.5, -1.5)
    assert result.total == pytest.approx(-4.0)
    assert tuple(x.name for x in result.layers) == LAYERS


def test_unavailable_layers_contribute_zero_and_are_listed(make_ind):
    ind = make_ind(
        swing=swing(bos_down=True, choch_down=True),
        delta_z=-3.0,
        available=Availability(
            structure=False,
            vwap_volume=True,
            momentum=True,
            ema_alignment=True,
            delta_pressure=False,
            candle_conviction=True,
        ),
    )
    result = score_trade(ind, A, Side.BUY, NO_FLIP, P)
    for name in ("structure", "delta_pressure"):
        layer = result.layer(name)
        assert (layer.available, layer.raw, layer.weighted) == (False, 0.0, 0.0)
    assert result.total == 0.0
    assert result.analysis.endswith("Unavailable: structure, delta_pressure")


def test_bar_time_is_the_m15_bar(make_ind):
    assert score_trade(make_ind(m15_time=123_300), A, Side.SELL, NO_FLIP, P).bar_time == 123_300


@pytest.mark.parametrize(
    "kw",
    [{"tilt_share": 0.5}, {"tilt_share": 0.7}, {"analysis_weak": 3.0}, {"confluence_medium": 5}],
)
def test_params_reject_inconsistent_thresholds(kw):
    with pytest.raises(ValueError):
        ScoreParams(**kw)


# --- analysis line --------------------------------------------------------------------------


def troubled(make_ind):
    """A BUY under a breakdown: structure, EMA, delta and candle against it."""
    return make_ind(
        swing=swing(bos_down=True, choch_down=True),
        ema_fast_slope=-1e-4,
        ema_slow_slope=-1e-4,
        delta_z=-2.0,
        m5_open=1.1010,
        m5_high=1.1011,
        m5_low=1.0999,
        m5_close=1.1000,
        vwap=1.0990,
    )


def test_analysis_line_names_strength_direction_confluence_and_key(make_ind):
    buy = score_trade(troubled(make_ind), A, Side.BUY, NO_FLIP, P)
    assert buy.total == pytest.approx(-5.5)
    assert buy.analysis == "Moderate bearish signals | High confluence (ADVERSE) | Key: structure"


def test_analysis_names_the_market_direction_for_a_sell(make_ind):
    sell = score_trade(troubled(make_ind), A, Side.SELL, NO_FLIP, P)
    assert sell.total > 0
    assert sell.analysis.startswith("Moderate bearish signals | ")
    assert "(FAVOURABLE)" in sell.analysis


def test_analysis_of_a_quiet_market(make_ind):
    assert score_trade(make_ind(), A, Side.BUY, NO_FLIP, P).analysis == (
        "Neutral signals | Low confluence (MIXED) | Key: none"
    )


def test_analysis_mentions_hedge_confluence(make_ind):
    ind = make_ind(buy_volume=200.0, sell_volume=800.0)
    result = score_trade(ind, A, Side.BUY, FlipState(against=True), P)
    assert result.hedge_confluence
    assert "Hedge confluence" in result.analysis


# --- antisymmetry: a SELL scores the negation of a BUY on the same bars ---------------------

_levels = st.sampled_from([0.0, 1e-5, -1e-5, 3e-4, -3e-4])
_rsi = st.floats(0.0, 100.0, allow_nan=False)
_share = st.floats(0.0, 1.0)
_price = st.sampled_from([1.0990, 1.0995, 1.1000, 1.1005, 1.1010])


@settings(max_examples=400, deadline=None)
@given(
    flags=st.tuples(st.booleans(), st.booleans(), st.booleans(), st.booleans()),
    rsi=st.tuples(_rsi, _rsi, _rsi),
    hist=st.tuples(_levels, _levels, _levels, _levels),
    slopes=st.tuples(_levels, _levels),
    delta_z=st.floats(-3.0, 3.0),
    sell_share=_share,
    candle=st.tuples(_price, _price, _price),
    flip=st.sampled_from([(False, False), (True, False), (False, True)]),
    rsi_threshold=st.sampled_from([40.0, 45.0]),
)
def test_every_layer_is_antisymmetric(
    flags, rsi, hist, slopes, delta_z, sell_share, candle, flip, rsi_threshold
):
    """Specification §3, symmetry: on the same indicators, with the flip memory a BUY and a
    SELL opened together would have (one's flip against is the other's flip in favour), each
    layer of the SELL is exactly the negation of the BUY's."""
    o, c, vwap = candle
    ind = neutral_indicators(
        swing=swing(bos_up=flags[0], bos_down=flags[1], choch_up=flags[2], choch_down=flags[3]),
        rsi=rsi, macd_hist=hist, ema_fast_slope=slopes[0], ema_slow_slope=slopes[1],
        delta_z=delta_z, buy_volume=(1 - sell_share) * 1000, sell_volume=sell_share * 1000,
        m5_open=o, m5_close=c, m5_high=max(o, c) + 1e-5, m5_low=min(o, c) - 1e-5, atr_m5=1e-5,
        vwap=vwap,
    )
    a = adaptation(rsi=rsi_threshold)
    against, in_favour = flip
    buy = score_trade(ind, a, Side.BUY, FlipState(against=against, in_favour=in_favour), P)
    sell = score_trade(ind, a, Side.SELL, FlipState(against=in_favour, in_favour=against), P)
    for b, s in zip(buy.layers, sell.layers, strict=True):
        assert b.raw == -s.raw, b.name
    assert buy.total == pytest.approx(-sell.total, abs=1e-12)
