"""The plan of a stress run is drawn from its seed: same seed, same run."""

from __future__ import annotations

from dataclasses import replace

from dtms.stress.plan import SYMBOLS, Side, exposed_side, kill_times, make_plan
from dtms.stress.settings import StressSettings

S = StressSettings()


def test_the_same_seed_draws_the_same_book_and_another_seed_another() -> None:
    a = make_plan(trades=500, symbols=4, minutes=40, seed=3, settings=S)
    assert a == make_plan(trades=500, symbols=4, minutes=40, seed=3, settings=S)
    assert a.positions != make_plan(trades=500, symbols=4, minutes=40, seed=4,
                                    settings=S).positions
    assert kill_times(a, 5, 1800.0) == kill_times(a, 5, 1800.0)


def test_the_book_has_the_shares_the_settings_ask_for() -> None:
    plan = make_plan(trades=4000, symbols=3, minutes=60, seed=1, settings=S)
    n = len(plan.positions)
    assert plan.symbols == SYMBOLS[:3]
    assert {p.symbol for p in plan.positions} == set(SYMBOLS[:3])
    share = {
        "ignored": sum(p.ignored for p in plan.positions) / n,
        "no_sl": sum(not p.with_sl for p in plan.positions) / n,
        "exposed": sum(p.exposed for p in plan.positions) / n,
        "hand": plan.hand_closes / len(plan.managed),
    }
    assert abs(share["ignored"] - S.ignored_share) < 0.02
    assert abs(share["no_sl"] - S.no_sl_share) < 0.02
    assert abs(share["exposed"] - S.exposed_share) < 0.03
    assert abs(share["hand"] - S.hand_close_share) < 0.02
    for p in plan.positions:
        falls = plan.falls[plan.symbols.index(p.symbol)]
        assert (p.side is exposed_side(falls)) == p.exposed
        assert p.magic in S.ignored_magics if p.ignored else p.magic == S.ea_magic
        assert S.min_volume <= p.volume <= S.max_volume
        assert p.hand_close_at is None or (not p.ignored and 0 < p.hand_close_at < 3600)
    assert {Side.BUY, Side.SELL} == {p.side for p in plan.positions}


def test_an_all_exposed_book_with_stops_and_no_other_ea() -> None:
    headline = replace(S, exposed_share=1.0, no_sl_share=0.0, ignored_share=0.0,
                       hand_close_share=0.0)
    plan = make_plan(trades=300, symbols=3, minutes=40, seed=1, settings=headline)
    assert all(p.exposed and p.with_sl and not p.ignored for p in plan.positions)
    assert plan.hand_closes == 0 and len(plan.managed) == 300


def test_half_the_kills_land_in_the_burst() -> None:
    plan = make_plan(trades=10, symbols=1, minutes=40, seed=2, settings=S)
    times = kill_times(plan, 10, burst_at=1800.0)
    assert len(times) == 10 and list(times) == sorted(times)
    assert sum(1800.0 <= t <= 1920.0 for t in times) >= 5
    assert all(60.0 <= t <= 2340.0 for t in times)
    assert all(60.0 <= t <= 2340.0 for t in kill_times(plan, 10))
