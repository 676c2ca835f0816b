"""Fixtures for the core tests: the recorded series and a neutral indicator builder."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dtms.core.indicators import Availability, SymbolIndicators
from dtms.core.structure import Swing
from dtms.core.types import Bars

DATA = Path(__file__).resolve().parent.parent / "data"


@dataclass(frozen=True)
class Recorded:
    """The recorded EURUSD-like series (see tests/data/make_series.py)."""

    m5: Bars
    m15: Bars
    broker_utc_offset_hours: float
    segments: dict[str, tuple[int, int]]
    """Stretch name -> (first, end) M5 bar index."""


def read_bars(path: Path) -> tuple[Bars, list[str]]:
    """Read one recorded CSV: the bars and its '#' header lines."""
    lines = path.read_text().splitlines()
    header = [x[1:].strip() for x in lines if x.startswith("#")]
    rows = np.loadtxt(path, delimiter=",", comments="#", skiprows=len(header) + 1, ndmin=2)
    bars = Bars(
        time=rows[:, 0].astype(np.int64),
        open=rows[:, 1].copy(),
        high=rows[:, 2].copy(),
        low=rows[:, 3].copy(),
        close=rows[:, 4].copy(),
        volume=rows[:, 5].copy(),
    )
    return bars, header


@pytest.fixture(scope="session")
def recorded() -> Recorded:
    """The recorded M5 and aligned M15 series with its stretches."""
    m5, header = read_bars(DATA / "eurusd_m5.csv")
    m15, _ = read_bars(DATA / "eurusd_m15.csv")
    offset = 0.0
    segments: dict[str, tuple[int, int]] = {}
    for line in header:
        words = line.split()
        if words[0] == "broker_utc_offset_hours":
            offset = float(words[1])
        elif words[0] == "segment":
            segments[words[1]] = (int(words[2]), int(words[3]))
    return Recorded(m5, m15, offset, segments)


NEUTRAL_SWING = Swing(
    close=1.1,
    bos_high=1.2,
    bos_low=1.0,
    choch_high=1.2,
    choch_low=1.0,
    bos_up=False,
    bos_down=False,
    choch_up=False,
    choch_down=False,
    complete=True,
)

ALL_AVAILABLE = Availability(True, True, True, True, True, True)


def neutral_indicators(**overrides: Any) -> SymbolIndicators:
    """Indicators on which every layer is available and scores 0, with ``overrides`` applied.

    The M5 bar is a doji at VWAP, RSI flat at 50, MACD histogram flat, EMA slopes zero,
    volume split evenly, no structure break.
    """
    base = SymbolIndicators(
        m5_time=1_709_553_600,  # Monday 2024-03-04 12:00 UTC (London session)
        m15_time=1_709_553_000,
        m5_count=600,
        m15_count=300,
        last_price=1.1,
        atr_m15=0.001,
        atr_m15_mean=0.001,
        atr_m5=0.0005,
        rsi=(50.0, 50.0, 50.0),
        macd_hist=(0.0, 0.0, 0.0, 0.0),
        ema_fast_slope=0.0,
        ema_slow_slope=0.0,
        vwap=1.1,
        vwap_slope=0.0,
        m5_open=1.1,
        m5_high=1.1005,
        m5_low=1.0995,
        m5_close=1.1,
        buy_volume=500.0,
        sell_volume=500.0,
        delta_z=0.0,
        swing=NEUTRAL_SWING,
        bb_width=0.01,
        available=ALL_AVAILABLE,
    )
    return dataclasses.replace(base, **overrides)


@pytest.fixture(scope="session")
def make_ind() -> Callable[..., SymbolIndicators]:
    """The :func:`neutral_indicators` builder (session-scoped, so Hypothesis may use it)."""
    return neutral_indicators


REAL_M5 = DATA / "real" / "EURUSD_M5_2022-01-04_2022-02-22.csv.gz"
REAL_UTC_OFFSET = -3.5
"""Broker time minus UTC of the real slice (its weekly close, Friday 18:30, is 22:00 UTC)."""


def _aggregate(bars: Bars, seconds: int) -> Bars:
    key = bars.time // seconds
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    return Bars(
        time=(key[starts] * seconds).astype(np.int64),
        open=bars.open[starts].copy(),
        high=np.maximum.reduceat(bars.high, starts),
        low=np.minimum.reduceat(bars.low, starts),
        close=bars.close[ends - 1].copy(),
        volume=np.add.reduceat(bars.volume, starts),
    )


@dataclass(frozen=True)
class RealStep:
    """The indicators and the adaptation at the close of one real M5 bar."""

    at: int
    """Close time of the M5 bar (broker time)."""
    ind: SymbolIndicators
    adaptation: Any


@pytest.fixture(scope="session")
def real_walk() -> list[RealStep]:
    """Real EURUSD M5 (tests/data/real), walked bar by bar as the runtime does: at each
    closed M5 bar, the last 600 M5 bars and the M15 bars closed by then."""
    from dtms.broker.sim.replay import read_mt5_csv
    from dtms.core.indicators import IndicatorParams, compute
    from dtms.core.regime import RegimeParams, adapt

    rb = read_mt5_csv(REAL_M5, 10)
    m5 = Bars(rb.time, rb.open, rb.high, rb.low, rb.close, rb.tick_volume.astype(np.float64))
    m15 = _aggregate(m5, 900)
    ip, rp = IndicatorParams(broker_utc_offset_hours=REAL_UTC_OFFSET), RegimeParams()
    m15_close = m15.time + 900
    steps = []
    for i in range(700, len(m5)):  # M15 windows past EMA200's needs from here on
        at = int(m5.time[i]) + 300
        k = int(np.searchsorted(m15_close, at, side="right"))
        s5, s15 = slice(max(i + 1 - 600, 0), i + 1), slice(max(k - 300, 0), k)
        w5 = Bars(m5.time[s5], m5.open[s5], m5.high[s5], m5.low[s5], m5.close[s5],
                  m5.volume[s5])
        w15 = Bars(m15.time[s15], m15.open[s15], m15.high[s15], m15.low[s15], m15.close[s15],
                   m15.volume[s15])
        ind = compute(w5, w15, ip)
        steps.append(RealStep(at, ind, adapt("EURUSD", ind, rp, REAL_UTC_OFFSET)))
    return steps
