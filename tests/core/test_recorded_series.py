"""Walk the recorded series bar by bar through compute -> adapt -> update_flip -> score_trade.

The runtime's loop in miniature: at each closed M5 bar the windows are the last 600 closed M5
bars and the M15 bars that have closed by then; a BUY and a SELL held through the whole series
are scored with their own flip memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from dtms.core.indicators import IndicatorParams, SymbolIndicators, compute
from dtms.core.regime import RegimeParams, adapt
from dtms.core.score import FlipState, ScoreParams, ScoreResult, score_trade, update_flip
from dtms.core.types import Bars, Session, Side, Structure, Volatility

FIRST = 700  # M5 bars of history before the walk starts (M15 window past EMA200's needs)


@dataclass(frozen=True)
class Step:
    index: int
    ind: SymbolIndicators
    buy: ScoreResult
    sell: ScoreResult


def window(bars: Bars, end: int, keep: int) -> Bars:
    s = slice(max(end - keep, 0), end)
    return Bars(
        bars.time[s], bars.open[s], bars.high[s], bars.low[s], bars.close[s], bars.volume[s]
    )


def run(m5: Bars, m15: Bars, offset: float) -> list[Step]:
    """Score a BUY and a SELL at every closed M5 bar from ``FIRST`` on."""
    ip = IndicatorParams(broker_utc_offset_hours=offset)
    rp, sp = RegimeParams(), ScoreParams()
    m15_close = m15.time + 900
    flips = {Side.BUY: FlipState(), Side.SELL: FlipState()}
    steps = []
    for i in range(FIRST, len(m5)):
        now = int(m5.time[i]) + 300
        closed15 = int(np.searchsorted(m15_close, now, side="right"))
        ind = compute(window(m5, i + 1, 600), window(m15, closed15, 300), ip)
        a = adapt("EURUSD.m", ind, rp, offset)
        scores = {}
        for side in flips:
            flips[side] = update_flip(flips[side], ind, side, a, sp)
            scores[side] = score_trade(ind, a, side, flips[side], sp)
        steps.append(Step(i, ind, scores[Side.BUY], scores[Side.SELL]))
    return steps


@pytest.fixture(scope="module")
def walk(recorded) -> list[Step]:
    return run(recorded.m5, recorded.m15, recorded.broker_utc_offset_hours)


def during(walk: list[Step], recorded, name: str, skip: int = 0) -> list[Step]:
    first, end = recorded.segments[name]
    return [s for s in walk if first + skip <= s.index < end]


def test_every_layer_is_available_and_nothing_is_nan(walk):
    for step in walk:
        for result in (step.buy, step.sell):
            assert math.isfinite(result.total)
            for layer in result.layers:
                assert layer.available, (step.index, layer.name)
                assert all(math.isfinite(x) for x in (layer.raw, layer.normalised, layer.weighted))
            assert math.isfinite(result.vwap_threshold) and math.isfinite(result.opposite_share)


def test_scores_are_mirror_images_in_sign_during_the_downtrend(walk, recorded):
    steps = during(walk, recorded, "downtrend", skip=48)
    buy = np.array([s.buy.total for s in steps])
    sell = np.array([s.sell.total for s in steps])
    assert buy.mean() < -1.5 and sell.mean() > 1.0
    assert np.mean(buy < 0) > 0.75 and np.mean(sell > 0) > 0.75


def test_scores_favour_the_buy_during_the_uptrend(walk, recorded):
    steps = during(walk, recorded, "uptrend", skip=24)
    assert np.mean([s.buy.total for s in steps]) > 1.0
    assert np.mean([s.sell.total for s in steps]) < -1.0


def test_structure_scores_at_every_breakout_of_the_series(walk, recorded):
    """Independently of the code under test: M15 closes beyond the prior 10 bars' extreme."""
    m15 = recorded.m15
    ups = downs = 0
    for step in walk:
        j = int(np.searchsorted(m15.time, step.ind.m15_time))
        prior_high = m15.high[j - 10 : j].max()
        prior_low = m15.low[j - 10 : j].min()
        close = m15.close[j]
        if close > prior_high * (1 + 0.0003):
            ups += 1
            assert step.buy.layer("structure").raw > 0 and step.buy.bos_in_favour
            assert step.sell.layer("structure").raw < 0 and step.sell.bos_against
        elif close < prior_low * (1 - 0.0003):
            downs += 1
            assert step.buy.layer("structure").raw < 0 and step.buy.bos_against
            assert step.sell.layer("structure").raw > 0 and step.sell.bos_in_favour
        else:
            assert not (step.buy.bos_in_favour or step.buy.bos_against)
    assert ups >= 20 and downs >= 20  # the series has real breakouts both ways


def test_the_breakout_and_breakdown_bars_are_seen(walk, recorded):
    breakout = during(walk, recorded, "breakout")
    assert any(s.buy.bos_in_favour for s in breakout)
    assert any(s.sell.choch_against for s in breakout)
    breakdown = during(walk, recorded, "breakdown")
    assert any(s.sell.bos_in_favour for s in breakdown)
    assert any(s.buy.choch_against for s in breakdown)


def test_confluence_hedges_the_losing_side_only(walk, recorded):
    falling = during(walk, recorded, "breakdown") + during(walk, recorded, "downtrend")
    assert any(s.buy.hedge_confluence for s in falling)
    assert not any(s.sell.hedge_confluence for s in falling)
    rising = during(walk, recorded, "breakout") + during(walk, recorded, "uptrend")
    assert not any(s.buy.hedge_confluence for s in rising)


def test_regimes_seen_along_the_series(walk, recorded):
    regimes = [s.buy.regime for s in walk]
    assert {r.session for r in regimes} == set(Session)
    assert {r.volatility for r in regimes} == set(Volatility)
    assert {r.structure for r in regimes} == set(Structure)
    ranging = during(walk, recorded, "range", skip=60)
    assert all(s.buy.regime.structure is Structure.RANGE for s in ranging)
    assert all(s.buy.regime == s.sell.regime for s in walk)


def upside_down(bars: Bars, centre: float) -> Bars:
    """The same bars reflected about ``centre``: highs become lows, rises become falls."""
    c = 2 * centre
    return Bars(bars.time, c - bars.open, c - bars.low, c - bars.high, c - bars.close, bars.volume)


def test_an_upside_down_market_scores_the_sell_as_the_original_scores_the_buy(walk, recorded):
    centre = float(np.median(recorded.m15.close))
    mirrored = run(
        upside_down(recorded.m5, centre),
        upside_down(recorded.m15, centre),
        recorded.broker_utc_offset_hours,
    )
    pairs = list(zip(walk, mirrored, strict=True))
    # Reflection changes relative measures by a hair (slopes are divided by a reflected
    # price), so a comparison sitting exactly on a threshold may tip; nearly all bars agree.
    same = sum(abs(a.buy.total - b.sell.total) < 1e-9 for a, b in pairs)
    assert same >= 0.97 * len(pairs)
    assert sum(a.buy.hedge_confluence for a, _ in pairs) == sum(
        b.sell.hedge_confluence for _, b in pairs
    )
