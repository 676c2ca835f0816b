"""Regime: sessions, volatility and structure labels, symbol names, adaptive thresholds."""

from __future__ import annotations

import dataclasses
import math

import pytest

from dtms.core.indicators import IndicatorParams, compute
from dtms.core.regime import (
    RegimeParams,
    SessionMultipliers,
    StructureMultipliers,
    VolatilityMultipliers,
    adapt,
    classify,
    normalise_symbol,
    session_at,
)
from dtms.core.types import Session, Structure, Volatility
from dtms.core.weights import LAYERS, HighVolatilityWeights, RangeWeights, Weights

R = RegimeParams()
MONDAY = 1_709_510_400  # 2024-03-04 00:00 UTC
SATURDAY = MONDAY + 5 * 86_400
SUNDAY = MONDAY + 6 * 86_400


def at(day: int, hh: int, mm: int = 0, ss: int = 0) -> int:
    return day + hh * 3600 + mm * 60 + ss


@pytest.mark.parametrize(
    ("utc", "session"),
    [
        (at(MONDAY, 0), Session.ASIAN),
        (at(MONDAY, 7, 59, 59), Session.ASIAN),
        (at(MONDAY, 8), Session.LONDON),
        (at(MONDAY, 12, 59, 59), Session.LONDON),
        (at(MONDAY, 13), Session.OVERLAP),
        (at(MONDAY, 15, 59, 59), Session.OVERLAP),
        (at(MONDAY, 16), Session.NEW_YORK),
        (at(MONDAY, 20, 59, 59), Session.NEW_YORK),
        (at(MONDAY, 21), Session.ASIAN),
        (at(MONDAY, 23, 59, 59), Session.ASIAN),
        (at(MONDAY + 4 * 86_400, 14), Session.OVERLAP),  # Friday
        (at(SATURDAY, 10), Session.ASIAN),
        (at(SATURDAY, 14), Session.ASIAN),
        (at(SUNDAY, 9), Session.ASIAN),
        (at(SUNDAY, 23), Session.ASIAN),
    ],
)
def test_session_boundaries_start_inclusive_end_exclusive(utc, session):
    assert session_at(utc, R) is session


def test_overlap_is_checked_before_london_and_new_york():
    wide = RegimeParams(london_end_utc=16.0, new_york_start_utc=13.0)
    assert session_at(at(MONDAY, 14), wide) is Session.OVERLAP
    assert session_at(at(MONDAY, 12), wide) is Session.LONDON


def test_a_session_window_may_wrap_midnight():
    late = RegimeParams(new_york_start_utc=22.0, new_york_end_utc=2.0)
    assert session_at(at(MONDAY, 23), late) is Session.NEW_YORK
    assert session_at(at(MONDAY + 86_400, 1, 59), late) is Session.NEW_YORK
    assert session_at(at(MONDAY + 86_400, 2), late) is Session.ASIAN


@pytest.mark.parametrize(
    ("broker_open", "offset", "session"),
    [
        # The regime "now" is the close of the newest M5 bar, converted to UTC.
        (at(MONDAY, 12, 50), 0.0, Session.LONDON),  # closes 12:55 UTC
        (at(MONDAY, 12, 55), 0.0, Session.OVERLAP),  # closes 13:00 UTC
        (at(MONDAY, 14, 55), 2.0, Session.OVERLAP),  # closes 15:00 broker = 13:00 UTC
        (at(MONDAY, 9, 50), 2.0, Session.ASIAN),  # closes 07:55 UTC
        (at(MONDAY, 9, 55), 2.0, Session.LONDON),  # closes 08:00 UTC
        (at(MONDAY, 10, 0), -3.0, Session.OVERLAP),  # closes 10:05 broker = 13:05 UTC
    ],
)
def test_classify_reads_the_session_from_the_bar_clock(make_ind, broker_open, offset, session):
    ind = make_ind(m5_time=broker_open, m15_time=broker_open - 600)
    assert classify(ind, R, offset).session is session


@pytest.mark.parametrize(
    ("atr", "mean", "label"),
    [
        (0.69, 1.0, Volatility.LOW),
        (0.7, 1.0, Volatility.NORMAL),
        (1.0, 1.0, Volatility.NORMAL),
        (1.3, 1.0, Volatility.NORMAL),
        (1.31, 1.0, Volatility.HIGH),
        (5.0, math.nan, Volatility.NORMAL),
        (math.nan, 1.0, Volatility.NORMAL),
        (1.0, 0.0, Volatility.NORMAL),
    ],
)
def test_volatility_labels(make_ind, atr, mean, label):
    assert classify(make_ind(atr_m15=atr, atr_m15_mean=mean), R, 0.0).volatility is label


@pytest.mark.parametrize(
    ("width", "label"),
    [
        (0.0039, Structure.RANGE),
        (0.004, Structure.TREND),
        (0.01, Structure.TREND),
        (math.nan, Structure.TREND),
    ],
)
def test_structure_labels(make_ind, width, label):
    assert classify(make_ind(bb_width=width), R, 0.0).structure is label


def test_volatility_is_normal_until_a_hundred_atr_values_exist(recorded):
    params = IndicatorParams()
    m5 = recorded.m5.tail(600)
    short = compute(m5, recorded.m15.tail(112), params)  # 98 ATR values
    full = compute(m5, recorded.m15.tail(114), params)  # 100 ATR values
    assert math.isnan(short.atr_m15_mean)
    assert math.isfinite(full.atr_m15_mean)
    low = dataclasses.replace(short, atr_m15=short.atr_m15 * 0.01)
    assert classify(low, R, 0.0).volatility is Volatility.NORMAL


@pytest.mark.parametrize(
    ("raw", "base"),
    [
        ("XAUUSD", "XAUUSD"),
        ("XAUUSDc", "XAUUSD"),
        ("xauusd", "XAUUSD"),
        ("EURUSD.m", "EURUSD"),
        ("EURUSDpro", "EURUSD"),
        ("EURUSDPRO", "EURUSD"),
        ("EURUSD.ecn", "EURUSD"),
        ("m.EURUSD", "EURUSD"),
        ("GBPJPY#", "GBPJPY"),
        ("GBPJPYm", "GBPJPY"),
        ("USDJPY_i", "USDJPY"),
        ("BTCUSD", "BTCUSD"),
        ("AUDUSDm", "AUDUSD"),
        ("audusd", "AUDUSD"),
        ("GER40.cash", "GER40"),
        ("US30", "US30"),
        ("", ""),
    ],
)
def test_symbol_names_are_normalised(raw, base):
    assert normalise_symbol(raw) == base


@pytest.mark.parametrize(
    ("symbol", "base"),
    [
        ("XAUUSDc", 0.001),
        ("BTCUSD", 0.002),
        ("EURUSD.m", 0.0005),
        ("GBPUSD", 0.0005),
        ("USDJPY", 0.0007),
        ("GBPJPY#", 0.0007),
        ("EURJPY", 0.0007),
        ("AUDCAD", 0.001),
    ],
)
def test_base_threshold_per_symbol(make_ind, symbol, base):
    # London, NORMAL, TREND: every multiplier is 1.
    a = adapt(symbol, make_ind(), R, 0.0)
    assert a.regime == classify(make_ind(), R, 0.0)
    assert (a.regime.session, a.regime.volatility, a.regime.structure) == (
        Session.LONDON,
        Volatility.NORMAL,
        Structure.TREND,
    )
    assert a.vwap_threshold == pytest.approx(base)


NOON = at(MONDAY, 11, 55)  # closes 12:00 UTC, London
ASIA = at(MONDAY, 2, 55)
OVERLAP = at(MONDAY, 13, 55)
NEW_YORK = at(MONDAY, 17, 55)


@pytest.mark.parametrize(
    ("m5_time", "atr", "width", "factor"),
    [
        (NOON, 1.0, 0.01, 1.0),
        (ASIA, 1.0, 0.01, 1.5),
        (NEW_YORK, 1.0, 0.01, 0.8),
        (OVERLAP, 1.0, 0.01, 0.7),
        (NOON, 0.5, 0.01, 1.4),
        (NOON, 2.0, 0.01, 0.8),
        (NOON, 1.0, 0.001, 1.3),
        (OVERLAP, 2.0, 0.01, 0.56),
        (ASIA, 0.5, 0.001, 1.8),  # 1.5 x 1.4 x 1.3 = 2.73, clamped
        (NOON, 0.5, 0.001, 1.8),  # 1.4 x 1.3 = 1.82, clamped
    ],
)
def test_adaptive_threshold_is_the_product_clamped(make_ind, m5_time, atr, width, factor):
    ind = make_ind(
        m5_time=m5_time, m15_time=m5_time - 600, atr_m15=atr, atr_m15_mean=1.0, bb_width=width
    )
    assert adapt("XAUUSD", ind, R, 0.0).vwap_threshold == pytest.approx(0.001 * factor)


def test_threshold_clamps_at_the_floor_too(make_ind):
    low = RegimeParams(session=SessionMultipliers(LONDON=0.2))
    assert adapt("EURUSD", make_ind(), low, 0.0).vwap_threshold == pytest.approx(0.0005 * 0.5)


@pytest.mark.parametrize(
    ("atr", "rsi", "share"), [(0.5, 40.0, 0.72), (1.0, 45.0, 0.65), (2.0, 45.0, 0.65)]
)
def test_rsi_threshold_and_volume_share_tighten_in_low_volatility(make_ind, atr, rsi, share):
    a = adapt("EURUSD", make_ind(atr_m15=atr, atr_m15_mean=1.0), R, 0.0)
    assert (a.rsi_threshold, a.volume_flip_share) == (rsi, share)


def _row(w: Weights) -> tuple[float, ...]:
    return tuple(round(x, 12) for x in w.values())


@pytest.mark.parametrize(
    ("m5_time", "atr", "width", "expected"),
    [
        (NOON, 1.0, 0.01, (1, 1, 1, 1, 1, 1)),
        (NOON, 1.0, 0.001, (0.7, 1.3, 1.0, 0.8, 1.2, 1.1)),
        (NOON, 2.0, 0.01, (1.2, 0.9, 0.8, 1.0, 1.1, 0.9)),
        (NOON, 2.0, 0.001, (0.84, 1.17, 0.8, 0.8, 1.32, 0.99)),
        (ASIA, 1.0, 0.01, (0.8,) * 6),
        (ASIA, 1.0, 0.001, (0.56, 1.04, 0.8, 0.64, 0.96, 0.88)),
    ],
)
def test_adaptive_weight_multipliers(make_ind, m5_time, atr, width, expected):
    ind = make_ind(
        m5_time=m5_time, m15_time=m5_time - 600, atr_m15=atr, atr_m15_mean=1.0, bb_width=width
    )
    assert _row(adapt("EURUSD", ind, R, 0.0).weights) == tuple(float(x) for x in expected)


def test_labels_have_one_spelling_across_enums_and_tables():
    tables = [
        (Session, SessionMultipliers),
        (Volatility, VolatilityMultipliers),
        (Structure, StructureMultipliers),
    ]
    for enum_cls, table in tables:
        assert {m.value for m in enum_cls} == {f.name for f in dataclasses.fields(table)}
    for row in (Weights, RangeWeights, HighVolatilityWeights):
        assert tuple(f.name for f in dataclasses.fields(row)) == LAYERS


@pytest.mark.parametrize(
    "kw",
    [
        {"vol_low_ratio": 1.5, "vol_high_ratio": 1.3},
        {"threshold_min_factor": 2.0, "threshold_max_factor": 1.8},
    ],
)
def test_params_reject_crossed_bounds(kw):
    with pytest.raises(ValueError):
        RegimeParams(**kw)


def test_partial_weight_rows_keep_their_own_defaults():
    # The config loader fills a partly written table from the class defaults.
    assert RangeWeights(structure=0.5).vwap_volume == 1.3
    assert HighVolatilityWeights(momentum=1.0).structure == 1.2
