"""Past M1 bars of a simulated symbol, generated directly without ticks.

So that indicators have their windows at once, the market starts with ``history_days`` of M1
bars. They follow the same regime process as live ticks, one step per open minute, and are
shifted in log space so the last close lands on the symbol's start price, where live ticks
begin. High and low come from the exact distribution of a Brownian bridge's maximum and minimum
between the minute's open and close.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dtms.broker.sim.bars import BarCols
from dtms.broker.sim.hours import Quoting, TradingHours
from dtms.broker.sim.process import RANGE, TREND_UP, ProcState, SymbolModel, evolve


@dataclass(frozen=True, slots=True)
class History:
    """Generated bars and the process state they end in."""

    bars: BarCols
    state: ProcState


def generate_history(
    model: SymbolModel, rng: np.random.Generator, hours: TradingHours, quoting: Quoting,
    end_s: int, days: int, start_price: float,
) -> History:
    """Generate the M1 bars of ``days`` days before ``end_s`` (a minute boundary).

    The returned state is the process at ``end_s`` with log-mid ``log(start_price)``.
    """
    x_end = float(np.log(start_price))
    n_min = days * 1440
    current = TREND_UP + int(rng.integers(0, 3))
    if n_min == 0:
        return History(BarCols.empty(), ProcState(x_end, end_s * 1000, current, None, x_end))
    minutes = np.arange(end_s // 60 - n_min, end_s // 60, dtype=np.int64)
    codes = np.empty(n_min, dtype=np.int8)
    pos = 0
    while pos < n_min:
        mean = 1.0 / max(model.hazard[current], 1e-12)
        length = max(1, round(float(rng.exponential(mean))))
        codes[pos : pos + length] = current
        pos += length
        if pos < n_min:
            current = model.next_regime(current, float(rng.random()))
    is_open = hours.open_mask((minutes * 60).astype(np.float64), quoting)
    t_close = (minutes[is_open] + 1) * 60_000
    reg = codes[is_open]
    n = int(t_close.shape[0])
    z = rng.standard_normal(n)
    x = np.empty(n, dtype=np.float64)
    change = np.flatnonzero(np.diff(reg)) + 1
    starts = np.concatenate(([0], change)).astype(np.int64) if n else change
    stops = np.concatenate((change, [n])).astype(np.int64) if n else change
    x_prev, t_prev, anchor = 0.0, (int(t_close[0]) - 60_000) if n else 0, 0.0
    for a, b in zip(starts.tolist(), stops.tolist(), strict=True):
        code = int(reg[a])
        if code == RANGE:
            anchor = x_prev
        xs = evolve(
            x_prev, t_prev, t_close[a:b], z[a:b], model.mu[code], model.sigma[code],
            model.kappa[code], anchor, model.gap_cap_s,
        )
        x[a:b] = xs
        x_prev, t_prev = float(xs[-1]), int(t_close[b - 1])
    shift = x_end - x_prev
    state = ProcState(x_end, end_s * 1000, int(codes[-1]), None, anchor + shift)
    if n == 0:
        return History(BarCols.empty(), state)
    x_open = np.concatenate(([0.0], x[:-1])) + shift
    x += shift
    sig = np.asarray(model.sigma, dtype=np.float64)[reg] * np.sqrt(60.0)
    b = x - x_open
    var2 = 2.0 * sig * sig
    hi = x_open + 0.5 * (b + np.sqrt(b * b - var2 * np.log1p(-rng.random(n))))
    lo = x_open + 0.5 * (b - np.sqrt(b * b - var2 * np.log1p(-rng.random(n))))
    if model.spread_float:
        mult = np.asarray(model.spread_mult, dtype=np.float64)[reg]
        raw = model.typical_spread * np.exp(model.jitter * rng.standard_normal(n)) * mult
        spread = np.maximum(np.rint(raw), 1.0).astype(np.int32)
    else:
        spread = np.full(n, model.typical_spread, dtype=np.int32)
    half = spread * (model.point * 0.5)

    def bid(v: np.ndarray) -> np.ndarray:
        return np.asarray(np.round(np.exp(v) - half, model.digits), dtype=np.float64)

    volume = np.maximum(rng.poisson(model.ticks_per_minute, n), 1).astype(np.int64)
    bars = BarCols(
        minutes[is_open] * 60, bid(x_open), bid(hi), bid(lo), bid(x), volume, spread
    )
    return History(bars, state)
