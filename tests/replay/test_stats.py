"""The figures of a replay: drawdown, tail, paired bootstrap."""

from __future__ import annotations

import numpy as np
import pytest

from dtms.replay.outcome import Arm
from dtms.replay.stats import arm_stats, bootstrap, equity_curve, max_drawdown


def arm(pnl: float, closed: float) -> Arm:
    return Arm(pnl, -0.5, 0.1, 1.0, closed, "sl", ())


def test_drawdown_is_the_largest_fall_from_a_running_peak():
    assert max_drawdown(np.array([5.0, 2.0, 8.0, 1.0, 3.0])) == 7.0
    assert max_drawdown(np.array([-4.0, -1.0])) == 4.0  # the curve starts at 0
    assert max_drawdown(np.array([])) == 0.0


def test_the_equity_curve_books_trades_when_they_closed():
    times, equity = equity_curve([arm(1.0, 30.0), arm(-5.0, 10.0), arm(2.0, 20.0)])
    assert times.tolist() == [10.0, 20.0, 30.0] and equity.tolist() == [-5.0, -3.0, -2.0]


def test_arm_figures():
    arms = [arm(float(p), float(k)) for k, p in enumerate([10, -20, 5, -1, 30, -40, 2, 3, 4, 6])]
    s = arm_stats(arms, 0.2)
    assert (s.trades, s.pnl, s.expectancy, s.win_rate, s.worst) == (10, -1.0, -0.1, 0.7, -40.0)
    assert s.tail_mean == -30.0  # the worst two
    assert s.max_drawdown == 40.0 and s.commission == -5.0 and s.spread == 10.0


def test_the_paired_bootstrap_sees_a_shift_and_not_noise():
    rng = np.random.default_rng(0)
    base = rng.normal(0, 10, 400)
    shifted, _ = bootstrap(base + 1.5 + rng.normal(0, 0.5, 400), base, 0.05, 2000, 0.95, 1)
    assert shifted.excludes_zero and shifted.low < 1.5 < shifted.high
    noise, _ = bootstrap(base + rng.normal(0, 0.5, 400), base, 0.05, 2000, 0.95, 1)
    assert not noise.excludes_zero
    cut = np.where(base < -12, -12, base)  # a stop that caps the worst losses
    _, tail = bootstrap(cut, base, 0.05, 2000, 0.95, 1)
    assert tail.excludes_zero and tail.point > 0
    assert tail.point == pytest.approx(np.sort(cut)[:20].mean() - np.sort(base)[:20].mean())
