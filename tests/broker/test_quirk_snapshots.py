"""A glitching terminal: unfiltered positions_get() answers () or leaves positions out."""

from __future__ import annotations

from typing import Any

from dtms.broker.sim import QuirkSettings, SimBroker
from dtms.broker.sim.clock import ManualClock
from tests.broker.conftest import START, Orders, make_sim


def with_positions(clock: ManualClock, n: int = 3, **quirks: Any) -> tuple[SimBroker, list[int]]:
    sim = make_sim(clock, quirks=QuirkSettings(**quirks))
    orders = Orders(sim)
    tickets = [orders.opened("EURUSD" if i % 2 else "GBPUSD").ticket for i in range(n)]
    return sim, tickets


def tickets_of(answer: Any) -> list[int]:
    assert answer is not None
    return sorted(p.ticket for p in answer)


def test_snapshots_are_whole_by_default(clock: ManualClock) -> None:
    sim, tickets = with_positions(clock)
    for _ in range(200):
        assert tickets_of(sim.positions_get()) == tickets


def test_scripted_empty_snapshot_only_for_the_next_unfiltered_call(clock: ManualClock) -> None:
    sim, tickets = with_positions(clock)
    sim.scenario.glitch_next_snapshot()
    assert tickets_of(sim.positions_get(ticket=tickets[0])) == [tickets[0]]
    assert tickets_of(sim.positions_get(symbol="GBPUSD")) == [tickets[0], tickets[2]]
    assert tickets_of(sim.positions_get(group="*USD*")) == tickets
    assert sim.positions_get() == ()
    assert sim.last_error() == (1, "Success")
    assert sim.positions_total() == 3
    assert tickets_of(sim.positions_get()) == tickets


def test_scripted_partial_snapshot_leaves_out_the_named_tickets(clock: ManualClock) -> None:
    sim, tickets = with_positions(clock)
    sim.scenario.glitch_next_snapshot([tickets[1]])
    sim.scenario.glitch_next_snapshot([tickets[0], tickets[2]])
    assert tickets_of(sim.positions_get()) == [tickets[0], tickets[2]]
    assert tickets_of(sim.positions_get()) == [tickets[1]]
    assert tickets_of(sim.positions_get()) == tickets


def test_random_empty_snapshots(clock: ManualClock) -> None:
    sim, tickets = with_positions(clock, empty_snapshot_probability=0.3)
    answers = [tickets_of(sim.positions_get()) for _ in range(300)]
    empty = sum(1 for a in answers if a == [])
    assert 50 < empty < 140
    assert all(a in ([], tickets) for a in answers)
    assert tickets_of(sim.positions_get(ticket=tickets[1])) == [tickets[1]]


def test_random_partial_snapshots_leave_out_at_least_one(clock: ManualClock) -> None:
    sim, tickets = with_positions(clock, n=5, partial_snapshot_probability=1.0)
    seen = set()
    for _ in range(100):
        answer = tickets_of(sim.positions_get())
        assert len(answer) < 5 and set(answer) <= set(tickets)
        seen.add(len(answer))
    assert len(seen) > 2, "the subset left out varies"


def test_no_glitch_without_positions(clock: ManualClock) -> None:
    sim = make_sim(clock, quirks=QuirkSettings(empty_snapshot_probability=1.0))
    assert sim.positions_get() == ()


def _glitches(seed: int) -> list[int]:
    clock = ManualClock(START)
    sim = make_sim(clock, seed=seed, quirks=QuirkSettings(
        empty_snapshot_probability=0.2, partial_snapshot_probability=0.3))
    orders = Orders(sim)
    for _ in range(4):
        orders.opened()
    return [len(sim.positions_get() or ()) for _ in range(100)]


def test_glitches_follow_the_seed() -> None:
    assert _glitches(3) == _glitches(3)
    assert _glitches(3) != _glitches(4)
