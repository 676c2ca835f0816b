"""Entry rules for exploring without a trade history."""

from __future__ import annotations

import numpy as np
import pytest

from dtms.core.types import Side
from dtms.replay.bars import ReplayInputError
from dtms.replay.rules import WARMUP_M15_BARS, entries, parse_rule


def test_a_rule_with_options():
    r = parse_rule("random:500,side=both,sl=2,tp=0,volume=0.5,seed=3,from=2022-01-10,hold=4")
    assert (r.kind, r.count, r.side, r.sl_atr, r.tp_atr, r.volume, r.seed) == (
        "random", 500, "both", 2.0, 0.0, 0.5, 3)
    assert r.hold_hours == 4.0 and r.start == 1641772800


@pytest.mark.parametrize(
    ("text", "problem"),
    [("lottery:3", "random:N or every:MINUTES"), ("random:0", "random:N"),
     ("random:5,side=up", "side is one of"), ("random:5,sl=-1", "out of range"),
     ("random:5,colour=red", "unknown option"), ("every:60,from=yesterday", "unparsable time"),
     ("random:5,sl", "expected name=value")],
)
def test_bad_rules_say_what_is_wrong(text, problem):
    with pytest.raises(ReplayInputError, match=problem):
        parse_rule(text)


def test_random_entries_are_reproducible_and_wait_for_history(real_bars):
    rule = parse_rule("random:200,sl=1.5,tp=2")
    first = entries(rule, [real_bars], 7)
    assert first == entries(rule, [real_bars], 7)
    assert first != entries(rule, [real_bars], 8)
    assert len(first) == 200 and len({t.opened_at for t in first}) == 200
    times = np.array([t.opened_at for t in first])
    assert (np.diff(times) > 0).all()
    m15 = np.unique(real_bars.bars.time // 900)
    assert times.min() >= (m15[WARMUP_M15_BARS - 1] + 1) * 900
    assert times.max() < real_bars.end_time
    sides = {t.side for t in first}
    assert sides == {Side.BUY, Side.SELL}
    for t in first:  # stop 1.5 and target 2 ATR14(M15): a 4:3 ratio, a few pips each
        assert t.tp_distance == pytest.approx(t.sl_distance * 4 / 3)
        assert 0.0003 < t.sl_distance < 0.01


def test_both_sides_at_the_same_instant_and_periodic_entries(real_bars):
    both = entries(parse_rule("every:240,side=both,hold=2"), [real_bars], 1)
    buys, sells = both[0::2], both[1::2]
    assert all(b.side is Side.BUY and s.side is Side.SELL for b, s in zip(buys, sells, strict=True))
    assert [b.opened_at for b in buys] == [s.opened_at for s in sells]
    gaps = np.diff([b.opened_at for b in buys])
    assert np.mean(gaps == 4 * 3600) > 0.8  # on a 4-hour grid, a shorter step after a weekend
    assert all(t.exits[0].at == t.opened_at + 7200 for t in both)


def test_a_window_without_bars_is_refused(real_bars):
    with pytest.raises(ReplayInputError, match="no bar of the files lies in the rule's window"):
        entries(parse_rule("random:5,from=2023-01-01"), [real_bars], 1)
