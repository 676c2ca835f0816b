"""History stays faithful to identity: tickets, position ids, magic, reason, entry, comments."""

from __future__ import annotations

from typing import Any

from dtms.broker import constants as c
from dtms.broker.sim import FaultSettings, MarginMode, QuirkSettings, SimBroker
from dtms.broker.sim.clock import ManualClock
from tests.broker.conftest import START, Orders, make_sim


def test_an_executed_order_names_its_position_on_hedging(sim: SimBroker, orders: Orders) -> None:
    result = orders.buy(volume=0.3, magic=77, comment="DTMS_HEDGE_1")
    (pos,) = sim.positions_get(ticket=result.order) or ()
    assert pos.ticket == pos.identifier == result.order
    (order,) = sim.history_orders_get(ticket=result.order) or ()
    assert (order.position_id, order.state, order.reason, order.magic, order.comment) == (
        result.order, c.ORDER_STATE_FILLED, c.ORDER_REASON_EXPERT, 77, "DTMS_HEDGE_1")
    (deal,) = sim.history_deals_get(ticket=result.order) or ()  # ticket= is the ORDER ticket
    assert (deal.ticket, deal.order, deal.position_id, deal.entry, deal.reason, deal.magic) == (
        result.deal, result.order, result.order, c.DEAL_ENTRY_IN, c.DEAL_REASON_EXPERT, 77)
    closed = orders.close(pos.ticket, 0.1)
    deals = sim.history_deals_get(position=pos.ticket) or ()
    assert [(d.entry, d.order, d.position_id) for d in deals] == [
        (c.DEAL_ENTRY_IN, result.order, pos.ticket), (c.DEAL_ENTRY_OUT, closed.order, pos.ticket)]
    history = sim.history_orders_get(position=pos.ticket) or ()
    assert [o.ticket for o in history] == [result.order, closed.order]
    assert all(o.position_id == pos.ticket for o in history)


def test_netting_orders_all_belong_to_the_one_position(clock: ManualClock) -> None:
    sim = make_sim(clock, margin_mode=MarginMode.NETTING)
    orders = Orders(sim)
    first = orders.buy(volume=0.2)
    second = orders.buy(volume=0.1)
    third = orders.sell(volume=0.5)
    assert first.order != second.order != third.order
    (pos,) = sim.positions_get() or ()
    assert pos.ticket == first.order and pos.type == c.POSITION_TYPE_SELL
    history = sim.history_orders_get(position=pos.ticket) or ()
    assert [o.ticket for o in history] == [first.order, second.order, third.order]
    deals = sim.history_deals_get(position=pos.ticket) or ()
    assert [d.entry for d in deals] == [c.DEAL_ENTRY_IN, c.DEAL_ENTRY_IN, c.DEAL_ENTRY_INOUT]


def test_history_comments_match_the_position_under_truncation(clock: ManualClock) -> None:
    """A broker that cuts comments stores the cut comment everywhere (our choice, documented):
    the position, its history order and its deal agree, so a client can match them."""
    sim = make_sim(clock, quirks=QuirkSettings(comment_truncate=10))
    result = Orders(sim).buy(comment="DTMS_HEDGE_557416502")
    (pos,) = sim.positions_get() or ()
    (order,) = sim.history_orders_get(ticket=result.order) or ()
    (deal,) = sim.history_deals_get(ticket=result.order) or ()
    assert pos.comment == order.comment == deal.comment == "DTMS_HEDGE"


def _run(seed: int) -> tuple[Any, ...]:
    clock = ManualClock(START)
    quirks = QuirkSettings(
        comment_truncate=12, comment_replace_on_stops=True, empty_snapshot_probability=0.1,
        partial_snapshot_probability=0.1, quiet_symbols=("EURGBP",), quiet_tick_seconds=300,
        daily_breaks=("GBPUSD 09:00-09:20",), autotrading_toggles_per_hour=2.0,
        volume_max=5.0, freeze_level=10, foreign_magic=5, foreign_orders_per_hour=4.0,
    )
    sim = make_sim(clock, seed=seed, quirks=quirks,
                   faults=FaultSettings(external_closes_per_hour=1.0))
    orders = Orders(sim)
    answers = []
    for i in range(60):
        clock.advance(97)
        symbol = ("EURUSD", "GBPUSD", "EURGBP")[i % 3]
        r = orders.send(action=1, symbol=symbol, volume=0.1, type=i % 2, comment=f"trade {i}")
        answers.append(None if r is None else (r.retcode, r.order, r.price))
        answers.append(len(sim.positions_get() or ()))
    deals = sim.history_deals_get(0, clock())
    return tuple(answers), deals, sim.symbol_info_tick("EURGBP")


def test_same_seed_same_quirky_run() -> None:
    first = _run(11)
    assert first == _run(11)
    assert first != _run(12)
