"""Injected faults and scripted answers, and reproducibility with a seed."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dtms.broker import constants as c
from dtms.broker.sim import FaultSettings, SimBroker, SimSettings
from dtms.broker.sim.clock import ManualClock
from dtms.core.params import bounds_of, doc_of
from tests.broker.conftest import START, Orders, make_sim


def faulty(clock: ManualClock, **faults: Any) -> SimBroker:
    return make_sim(clock, faults=FaultSettings(**faults))


@pytest.mark.parametrize(
    ("knob", "retcode"),
    [("requote_probability", 10004), ("price_off_probability", 10021),
     ("no_money_probability", 10019)],
)
def test_refusal_faults_do_not_execute(clock: ManualClock, knob: str, retcode: int) -> None:
    sim = faulty(clock, **{knob: 1.0})
    r = Orders(sim).buy()
    assert r.retcode == retcode and r.order == 0
    assert sim.positions_get() == ()
    if retcode == c.TRADE_RETCODE_REQUOTE:
        tick = sim.symbol_info_tick("EURUSD")
        assert tick is not None and (r.bid, r.ask) == (tick.bid, tick.ask)


def test_a_lost_answer_still_executes(clock: ManualClock) -> None:
    sim = faulty(clock, timeout_executed_probability=1.0)
    req = {"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 0, "comment": "hedge"}
    assert sim.order_send(req) is None
    assert sim.last_error() == (-10005, "IPC timeout")
    (pos,) = sim.positions_get() or ()
    assert pos.comment == "hedge"


def test_scripted_answer_without_execution(sim: SimBroker, orders: Orders) -> None:
    sim.scenario.next_order_send(c.TRADE_RETCODE_TIMEOUT)
    r = orders.buy()
    assert (r.retcode, r.order, r.comment) == (10012, 0, "Request canceled by timeout")
    assert sim.positions_get() == ()
    assert orders.buy().retcode == c.TRADE_RETCODE_DONE, "only the next call is scripted"


def test_scripted_answer_whose_order_went_through(sim: SimBroker, orders: Orders) -> None:
    pos = orders.opened(volume=0.1)
    sim.scenario.next_order_send(c.TRADE_RETCODE_TIMEOUT, execute=True)
    r = orders.close(pos.ticket)
    assert r.retcode == c.TRADE_RETCODE_TIMEOUT and r.deal == 0
    assert sim.positions_get() == (), "the close executed although the answer says timeout"
    sim.scenario.next_order_send(c.TRADE_RETCODE_NO_MONEY, execute=True)
    assert orders.buy().retcode == c.TRADE_RETCODE_NO_MONEY
    assert len(sim.positions_get() or ()) == 1


def test_faults_spare_validation_failures(clock: ManualClock) -> None:
    sim = faulty(clock, requote_probability=1.0)
    assert Orders(sim).buy(volume=0.015).retcode == c.TRADE_RETCODE_INVALID_VOLUME


def _run(seed: int) -> tuple[Any, ...]:
    clock = ManualClock(START)
    sim = make_sim(clock, seed=seed, faults=FaultSettings(
        requote_probability=0.3, timeout_executed_probability=0.2, latency_jitter_ms=5.0,
        external_closes_per_hour=30.0,
    ))
    orders = Orders(sim)
    answers = []
    for i in range(30):
        clock.advance(37)
        r = sim.order_send({"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": i % 2})
        answers.append(None if r is None else (r.retcode, r.order, r.price))
    tick = orders.tick()
    return tuple(answers), sim.history_deals_get(0, clock()), tick


def test_same_seed_same_run() -> None:
    assert _run(7) == _run(7)


def test_different_seed_different_run() -> None:
    assert _run(7) != _run(8)


def test_fault_settings_are_knobs_with_bounds() -> None:
    for f in dataclasses.fields(FaultSettings):
        assert doc_of(f), f.name
        bounds = bounds_of(f)
        assert bounds.ge is not None or bounds.gt is not None, f.name
    assert FaultSettings() == FaultSettings(
        requote_probability=0.0, price_off_probability=0.0, no_money_probability=0.0,
        timeout_executed_probability=0.0, ipc_outages_per_hour=0.0, call_latency_ms=0.0,
        order_latency_ms=0.0, latency_jitter_ms=0.0, external_closes_per_hour=0.0,
    )


def test_sim_settings_are_documented_knobs() -> None:
    for f in dataclasses.fields(SimSettings):
        if f.name not in ("faults", "quirks"):
            assert doc_of(f), f.name
