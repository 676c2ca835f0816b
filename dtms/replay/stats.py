"""The figures of a replay: per copy, the difference between them, and what dtms did.

Theory of operation: each trade has two numbers, the P&L of its managed copy and of its
unmanaged copy (account currency, costs included). Per copy: total, expectancy (mean per
trade), win rate, the worst trade, the tail (mean of the worst ``tail_share`` of trades) and
the maximum drawdown of the realised equity curve (trades booked when their copy closed).
The comparison pairs the two copies of each trade: the confidence interval of the expectancy
difference and of the tail difference comes from a paired bootstrap (trades resampled with
replacement, both copies together), so it says whether the difference is larger than what a
different draw of the same kind of trades would give.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dtms.replay.outcome import Arm, TradeOutcome

F64 = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class ArmStats:
    """The figures of one copy over all trades (account currency)."""

    trades: int
    pnl: float
    expectancy: float
    win_rate: float
    worst: float
    tail_mean: float
    """Mean P&L of the worst ``tail_share`` of the trades."""
    max_drawdown: float
    """Largest fall of the realised equity from a previous peak."""
    spread: float
    commission: float
    swap: float


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate and its bootstrap confidence interval."""

    point: float
    low: float
    high: float

    @property
    def excludes_zero(self) -> bool:
        """Whether the interval lies entirely on one side of zero."""
        return self.low > 0 or self.high < 0


@dataclass(frozen=True, slots=True)
class Comparison:
    """Managed against unmanaged, for one variant."""

    managed: ArmStats
    unmanaged: ArmStats
    diff_expectancy: Interval
    """Managed minus unmanaged P&L per trade."""
    diff_tail: Interval
    """Managed minus unmanaged tail mean (positive: dtms made the worst trades less bad)."""
    states: dict[str, int]
    """Trades whose managed copy reached each state."""
    rules: dict[str, int]
    """Transitions by rule."""
    actions: dict[str, dict[str, int]]
    """Actions by type, then by final status."""
    exits: dict[str, int]
    """How the managed copies' main positions ended."""
    skipped: int


def equity_curve(arms: Sequence[Arm]) -> tuple[F64, F64]:
    """(close times, cumulative P&L) of a copy's trades in the order they closed."""
    done = sorted((a.closed_at, a.pnl) for a in arms if math.isfinite(a.closed_at))
    times = np.array([t for t, _ in done], dtype=np.float64)
    return times, np.cumsum(np.array([p for _, p in done], dtype=np.float64))


def max_drawdown(equity: F64) -> float:
    """Largest fall from a running peak (the curve starts at 0)."""
    if not len(equity):
        return 0.0
    curve = np.concatenate(([0.0], equity))
    return float((np.maximum.accumulate(curve) - curve).max())


def _tail_count(n: int, share: float) -> int:
    return max(1, math.ceil(n * share))


def arm_stats(arms: Sequence[Arm], tail_share: float) -> ArmStats:
    """The figures of one copy."""
    pnl = np.array([a.pnl for a in arms], dtype=np.float64)
    n = len(pnl)
    if n == 0:
        return ArmStats(0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0)
    worst = np.sort(pnl)[: _tail_count(n, tail_share)]
    return ArmStats(
        trades=n, pnl=float(pnl.sum()), expectancy=float(pnl.mean()),
        win_rate=float((pnl > 0).mean()), worst=float(pnl.min()), tail_mean=float(worst.mean()),
        max_drawdown=max_drawdown(equity_curve(arms)[1]),
        spread=float(sum(a.spread for a in arms)),
        commission=float(sum(a.commission for a in arms)), swap=float(sum(a.swap for a in arms)),
    )


def bootstrap(managed: F64, unmanaged: F64, tail_share: float, resamples: int,
              confidence: float, seed: int) -> tuple[Interval, Interval]:
    """Paired bootstrap of the expectancy difference and of the tail-mean difference."""
    n = len(managed)
    if n == 0:
        zero = Interval(0.0, 0.0, 0.0)
        return zero, zero
    k = _tail_count(n, tail_share)
    rng = np.random.default_rng(seed)
    diffs = np.empty(resamples)
    tails = np.empty(resamples)
    chunk = max(1, 2_000_000 // max(n, 1))
    for lo in range(0, resamples, chunk):
        hi = min(resamples, lo + chunk)
        idx = rng.integers(0, n, size=(hi - lo, n))
        m, u = managed[idx], unmanaged[idx]
        diffs[lo:hi] = (m - u).mean(axis=1)
        part = min(k, n - 1)
        m_tail = np.partition(m, part, axis=1)[:, :k] if k < n else m
        u_tail = np.partition(u, part, axis=1)[:, :k] if k < n else u
        tails[lo:hi] = m_tail.mean(axis=1) - u_tail.mean(axis=1)
    q = [(1 - confidence) / 2 * 100, (1 + confidence) / 2 * 100]
    point_tail = float(np.sort(managed)[:k].mean() - np.sort(unmanaged)[:k].mean())
    d_lo, d_hi = np.percentile(diffs, q)
    t_lo, t_hi = np.percentile(tails, q)
    return (Interval(float((managed - unmanaged).mean()), float(d_lo), float(d_hi)),
            Interval(point_tail, float(t_lo), float(t_hi)))


def compare(trades: Sequence[TradeOutcome], tail_share: float, resamples: int,
            confidence: float, seed: int) -> Comparison:
    """Every figure of one variant."""
    done = [t for t in trades if t.managed is not None and t.unmanaged is not None]
    managed = [t.managed for t in done if t.managed is not None]
    unmanaged = [t.unmanaged for t in done if t.unmanaged is not None]
    m = np.array([a.pnl for a in managed], dtype=np.float64)
    u = np.array([a.pnl for a in unmanaged], dtype=np.float64)
    diff, tail = bootstrap(m, u, tail_share, resamples, confidence, seed)
    states: Counter[str] = Counter()
    rules: Counter[str] = Counter()
    actions: dict[str, Counter[str]] = {}
    for t in done:
        states.update(t.states)
        rules.update(rule for _, _, _, rule, _ in t.transitions)
        for _, kind, status, _ in t.actions:
            actions.setdefault(kind, Counter())[status] += 1
    return Comparison(
        arm_stats(managed, tail_share), arm_stats(unmanaged, tail_share), diff, tail,
        dict(states), dict(rules), {k: dict(v) for k, v in actions.items()},
        dict(Counter(a.exit for a in managed)), len(trades) - len(done))
