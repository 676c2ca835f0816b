"""Score dynamics: VWAP-flip hysteresis, hedge confluence, mirror symmetry and bounds."""

from __future__ import annotations

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dtms.core.indicators import Availability, SymbolIndicators
from dtms.core.regime import Adaptation, Regime, RegimeParams, adapt
from dtms.core.score import FlipState, ScoreParams, score_trade, update_flip
from dtms.core.structure import Swing
from dtms.core.types import Session, Side, Structure, Volatility
from dtms.core.weights import HighVolatilityWeights, RangeWeights, Weights

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


# --- VWAP flip and its hysteresis -----------------------------------------------------------

T0 = 1_709_553_600


def walk(
    make_ind,
    side: Side,
    bars: list[tuple[float, float]],
    a: Adaptation = A,
    params: ScoreParams = P,
) -> list[FlipState]:
    """Feed (close - vwap, vwap slope) per M5 bar, as seen by a BUY; return each state."""
    flip = FlipState()
    out = []
    for i, (gap, slope) in enumerate(bars):
        ind = make_ind(
            m5_time=T0 + 300 * i,
            m5_close=1.1 + gap * side.sign,
            vwap=1.1,
            vwap_slope=slope * side.sign,
        )
        flip = update_flip(flip, ind, side, a, params)
        out.append(flip)
    return out


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_flip_needs_the_threshold_and_two_adverse_closes(make_ind, side):
    states = walk(make_ind, side, [(-1e-4, -0.001), (-1e-4, -0.001), (-1e-4, -0.001)])
    assert [s.adverse_crosses for s in states] == [1, 2, 3]
    assert [s.against for s in states] == [False, True, True]
    weak = walk(make_ind, side, [(-1e-4, -0.00099), (-1e-4, -0.00099)])
    assert not weak[-1].against


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_flip_hysteresis(make_ind, side):
    a = adaptation(threshold=0.25)
    params = dataclasses.replace(P, flip_off_ratio=0.75)  # off level 0.1875, exact
    bars = [
        (-1.0, -0.25),
        (-1.0, -0.25),
        (1.0, -0.1875),
        (1.0, -0.1874),
        (-1.0, -0.24),
        (-1.0, -0.25),
    ]
    states = walk(make_ind, side, bars, a, params)
    assert [s.against for s in states] == [False, True, True, False, False, True]


def test_flip_turns_off_when_the_slope_turns_in_favour(make_ind):
    states = walk(make_ind, Side.BUY, [(-1e-4, -0.002)] * 2 + [(-1e-4, 0.002)])
    assert [s.against for s in states] == [False, True, False]


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_flip_in_favour_mirrors_the_flip_against(make_ind, side):
    states = walk(make_ind, side, [(1e-4, 0.001)] * 3 + [(1e-4, 0.00069)])
    assert [s.in_favour for s in states] == [False, True, True, False]
    assert not any(s.against for s in states)


def test_cross_counter_floors_at_zero_and_counts_at_vwap_as_not_adverse(make_ind):
    states = walk(make_ind, Side.BUY, [(1e-4, 0.0), (0.0, 0.0), (-1e-4, 0.0), (0.0, 0.0)])
    assert [s.adverse_crosses for s in states] == [0, 0, 1, 0]
    assert [s.favour_crosses for s in states] == [1, 0, 0, 0]


def test_update_flip_is_idempotent_per_bar(make_ind):
    ind = make_ind(m5_time=T0, m5_close=1.0, vwap=1.1, vwap_slope=-0.01)
    once = update_flip(FlipState(), ind, Side.BUY, A, P)
    assert update_flip(once, ind, Side.BUY, A, P) is once
    older = dataclasses.replace(ind, m5_time=T0 - 300)
    assert update_flip(once, older, Side.BUY, A, P) is once


@pytest.mark.parametrize("on", [True, False])
def test_without_a_slope_a_flip_is_not_judged(make_ind, on):
    """A session's first k bars (or no VWAP at all) have no slope: a flip neither starts nor
    ends there, whatever the cross counter says."""
    flip = FlipState(adverse_crosses=5, against=on)
    for vwap in (math.nan, 1.2):
        ind = make_ind(m5_time=T0, m5_close=1.1, vwap=vwap, vwap_slope=math.nan)
        after = update_flip(flip, ind, Side.BUY, A, P)
        assert after.against is on and not after.in_favour


# --- confluence -----------------------------------------------------------------------------


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_confluence_needs_vwap_flip_and_volume_flip(make_ind, side):
    heavy = {"buy_volume": 300.0, "sell_volume": 700.0}
    if side is Side.SELL:
        heavy = {"buy_volume": 700.0, "sell_volume": 300.0}
    ind = make_ind(**heavy)
    assert score_trade(ind, A, side, FlipState(against=True), P).hedge_confluence
    assert not score_trade(ind, A, side, NO_FLIP, P).hedge_confluence
    assert not score_trade(make_ind(), A, side, FlipState(against=True), P).hedge_confluence
    strict = adaptation(share=0.72)
    assert not score_trade(ind, strict, side, FlipState(against=True), P).hedge_confluence


def test_confluence_against_a_losing_buy_is_not_against_the_winning_sell(make_ind):
    # Falling market: price under VWAP, VWAP sloping down, sellers dominating.
    bars = [
        dict(
            m5_time=T0 + 300 * i,
            m5_close=1.09,
            vwap=1.1,
            vwap_slope=-0.002,
            buy_volume=200.0,
            sell_volume=800.0,
        )
        for i in range(4)
    ]
    flips = {Side.BUY: FlipState(), Side.SELL: FlipState()}
    for kw in bars:
        ind = make_ind(**kw)
        for side in flips:
            flips[side] = update_flip(flips[side], ind, side, A, P)
    assert score_trade(ind, A, Side.BUY, flips[Side.BUY], P).hedge_confluence
    sell = score_trade(ind, A, Side.SELL, flips[Side.SELL], P)
    assert not sell.hedge_confluence and not sell.vwap_flip_against


gaps = st.floats(-0.01, 0.01, allow_nan=False)
favourable_slopes = st.floats(0.0, 0.05, allow_nan=False)


@given(
    st.sampled_from([Side.BUY, Side.SELL]),
    st.lists(st.tuples(gaps, favourable_slopes), min_size=1, max_size=30),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
)
def test_confluence_never_fires_while_vwap_moves_with_the_trade(make_ind, side, bars, b, s):
    states = walk(make_ind, side, bars)
    ind = make_ind(buy_volume=b * 1000, sell_volume=s * 1000)
    for flip in states:
        assert not flip.against
        assert not score_trade(ind, A, side, flip, P).hedge_confluence


# --- properties: mirror symmetry and bounds -------------------------------------------------

rsi_values = st.integers(0, 6400).map(lambda k: k / 64)  # 100 - x is exact for these
small = st.floats(-0.01, 0.01, allow_nan=False)
prices = st.floats(0.5, 2.0, allow_nan=False)


@st.composite
def indicators(draw: st.DrawFn) -> SymbolIndicators:
    o, c, extra_hi, extra_lo = (
        draw(prices),
        draw(prices),
        draw(st.floats(0, 0.5)),
        draw(st.floats(0, 0.5)),
    )
    flags = draw(st.tuples(*[st.booleans()] * 4))
    return SymbolIndicators(
        m5_time=T0,
        m15_time=T0 - 600,
        m5_count=600,
        m15_count=300,
        last_price=c,
        atr_m15=0.001,
        atr_m15_mean=0.001,
        atr_m5=draw(st.floats(0.0, 1.0)),
        rsi=tuple(draw(st.lists(rsi_values, min_size=3, max_size=3))),
        macd_hist=tuple(draw(st.lists(small, min_size=4, max_size=4))),
        ema_fast_slope=draw(small),
        ema_slow_slope=draw(small),
        vwap=draw(prices),
        vwap_slope=draw(small),
        m5_open=o,
        m5_high=max(o, c) + extra_hi,
        m5_low=min(o, c) - extra_lo,
        m5_close=c,
        buy_volume=draw(st.floats(0, 1e4)),
        sell_volume=draw(st.floats(0, 1e4)),
        delta_z=draw(st.floats(-3, 3)),
        swing=Swing(c, 1.2, 1.0, 1.3, 0.9, *flags, complete=draw(st.booleans())),
        bb_width=0.01,
        available=Availability(*draw(st.tuples(*[st.booleans()] * 6))),
    )


def mirror(ind: SymbolIndicators) -> SymbolIndicators:
    """The same market upside down: every price negated (exact), RSI read from 100."""
    sw = ind.swing
    return dataclasses.replace(
        ind,
        last_price=-ind.last_price,
        rsi=tuple(100.0 - v for v in ind.rsi),
        macd_hist=tuple(-v for v in ind.macd_hist),
        ema_fast_slope=-ind.ema_fast_slope,
        ema_slow_slope=-ind.ema_slow_slope,
        vwap=-ind.vwap,
        vwap_slope=-ind.vwap_slope,
        m5_open=-ind.m5_open,
        m5_high=-ind.m5_low,
        m5_low=-ind.m5_high,
        m5_close=-ind.m5_close,
        buy_volume=ind.sell_volume,
        sell_volume=ind.buy_volume,
        delta_z=-ind.delta_z,
        swing=Swing(
            -sw.close,
            -sw.bos_low,
            -sw.bos_high,
            -sw.choch_low,
            -sw.choch_high,
            bos_up=sw.bos_down,
            bos_down=sw.bos_up,
            choch_up=sw.choch_down,
            choch_down=sw.choch_up,
            complete=sw.complete,
        ),
    )


def swap_direction(line: str) -> str:
    return line.replace("bullish", "\0").replace("bearish", "bullish").replace("\0", "bearish")


flips = st.builds(FlipState, st.integers(0, 5), st.integers(0, 5), st.booleans(), st.booleans())
weights = st.builds(Weights, *[st.floats(0, 2)] * 6)
adaptations = st.builds(adaptation, st.floats(1e-5, 0.01), rsi_values, st.floats(0, 1), weights)


@given(indicators(), adaptations, flips)
def test_mirroring_the_market_turns_a_buy_score_into_the_sell_score(ind, a, flip):
    buy = score_trade(ind, a, Side.BUY, flip, P)
    sell = score_trade(mirror(ind), a, Side.SELL, flip, P)
    assert [x.raw for x in buy.layers] == [x.raw for x in sell.layers]
    assert buy.total == sell.total
    assert (buy.hedge_confluence, buy.opposite_share, buy.bos_against, buy.choch_against) == (
        sell.hedge_confluence,
        sell.opposite_share,
        sell.bos_against,
        sell.choch_against,
    )
    assert buy.analysis == swap_direction(sell.analysis)


@given(indicators(), adaptations, st.lists(st.tuples(small, small), max_size=10))
def test_mirroring_the_market_mirrors_the_flip_memory(ind, a, bars):
    flip_buy = flip_sell = FlipState()
    for i, (gap, slope) in enumerate(bars):
        step = dataclasses.replace(
            ind, m5_time=T0 + 300 * (i + 1), m5_close=ind.vwap + gap, vwap_slope=slope
        )
        flip_buy = update_flip(flip_buy, step, Side.BUY, a, P)
        flip_sell = update_flip(flip_sell, mirror(step), Side.SELL, a, P)
    assert flip_buy == flip_sell


any_float = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def wild_indicators(draw: st.DrawFn) -> SymbolIndicators:
    """Anything at all, including NaN and infinities, on top of a valid shape."""
    base = draw(indicators())
    return dataclasses.replace(
        base,
        rsi=tuple(draw(st.lists(any_float, min_size=3, max_size=3))),
        macd_hist=tuple(draw(st.lists(any_float, min_size=4, max_size=4))),
        ema_fast_slope=draw(any_float),
        ema_slow_slope=draw(any_float),
        vwap=draw(any_float),
        vwap_slope=draw(any_float),
        delta_z=draw(any_float),
        atr_m5=draw(any_float),
        atr_m15=draw(any_float),
        atr_m15_mean=draw(any_float),
        bb_width=draw(any_float),
        m5_time=draw(st.integers(0, 2_000_000_000)),
    )


MAX_MULTIPLIER = max(
    max(w.values())
    for w in (
        Weights(),
        RangeWeights(),
        HighVolatilityWeights(),
        RangeWeights().times(HighVolatilityWeights()),
    )
)


@settings(max_examples=300)
@given(
    wild_indicators(),
    st.sampled_from([Side.BUY, Side.SELL]),
    flips,
    st.sampled_from(["EURUSD", "XAUUSDc", "BTCUSD", "GER40"]),
)
def test_total_is_bounded_by_the_adaptive_weights(ind, side, flip, symbol):
    a = adapt(symbol, ind, RegimeParams(), 0.0)
    result = score_trade(ind, a, side, flip, P)
    weight_sum = sum(x.weight for x in result.layers)
    assert math.isfinite(result.total)
    assert abs(result.total) <= weight_sum + 1e-9
    assert abs(result.total) <= 10.5 * MAX_MULTIPLIER + 1e-9
    for layer in result.layers:
        assert -1.0 <= layer.normalised <= 1.0
        assert math.isfinite(layer.weighted)
