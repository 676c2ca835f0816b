"""Server-side life between calls: SL/TP hits on ticks, gaps, stop-out, hand closes."""

from __future__ import annotations

from typing import Any

import pytest

from dtms.broker import constants as c
from dtms.broker.sim import FaultSettings, SimBroker
from dtms.broker.sim.clock import ManualClock
from tests.broker.conftest import Orders, make_sim


def last_deal(sim: SimBroker, position: int) -> Any:
    deals = sim.history_deals_get(position=position)
    assert deals
    return deals[-1]


def mid(orders: Orders, symbol: str = "EURUSD") -> float:
    bid, ask = orders.tick(symbol)
    return (bid + ask) / 2


def test_stop_loss_closes_at_the_first_crossing_tick(
    sim: SimBroker, orders: Orders, clock: ManualClock
) -> None:
    bid, _ = orders.tick()
    sl = round(bid - 0.0020, 5)
    pos = orders.opened(volume=0.5, sl=sl, magic=5, comment="mine")
    start = clock()
    sim.market.script_path("EURUSD", [(start + 60, mid(orders) - 0.0050)])
    before = sim.account_info()
    assert before is not None
    clock.advance(120)
    assert sim.positions_get() == ()
    deal = last_deal(sim, pos.ticket)
    assert deal.reason == c.DEAL_REASON_SL and deal.entry == c.DEAL_ENTRY_OUT
    assert deal.comment == f"[sl {sl:.5f}]" and deal.magic == 5
    assert sl - 0.0002 < deal.price <= sl
    assert start < deal.time_msc / 1000 < start + 60
    assert deal.profit == pytest.approx((deal.price - pos.price_open) * 50_000, abs=0.006)
    after = sim.account_info()
    assert after is not None and after.balance == pytest.approx(before.balance + deal.profit)
    (order,) = sim.history_orders_get(ticket=deal.order) or ()
    assert order.reason == c.ORDER_REASON_SL


def test_take_profit_of_a_sell(sim: SimBroker, orders: Orders, clock: ManualClock) -> None:
    _, ask = orders.tick()
    tp = round(ask - 0.0015, 5)
    pos = orders.opened(volume=0.2, side="sell", tp=tp)
    sim.market.script_path("EURUSD", [(clock() + 60, mid(orders) - 0.0040)])
    clock.advance(61)
    deal = last_deal(sim, pos.ticket)
    assert deal.reason == c.DEAL_REASON_TP and deal.comment == f"[tp {tp:.5f}]"
    assert deal.type == c.DEAL_TYPE_BUY and deal.price <= tp and deal.profit > 0


def test_a_gap_through_the_stop_fills_beyond_it(
    sim: SimBroker, orders: Orders, clock: ManualClock
) -> None:
    bid, _ = orders.tick()
    sl = round(bid - 0.0020, 5)
    pos = orders.opened(volume=0.1, sl=sl)
    sim.market.set_mid("EURUSD", bid - 0.0100)
    clock.advance(5)
    deal = last_deal(sim, pos.ticket)
    assert deal.reason == c.DEAL_REASON_SL
    assert deal.price < sl - 0.0070, "a gap fills at the first price beyond the stop"


def test_stops_of_untouched_positions_stay(
    sim: SimBroker, orders: Orders, clock: ManualClock
) -> None:
    bid, _ = orders.tick()
    far = orders.opened(volume=0.1, sl=round(bid - 0.0500, 5))
    near = orders.opened(volume=0.1, sl=round(bid - 0.0010, 5))
    sim.market.script_path("EURUSD", [(clock() + 30, mid(orders) - 0.0030)])
    clock.advance(40)
    (left,) = sim.positions_get() or ()
    assert left.ticket == far.ticket
    assert last_deal(sim, near.ticket).reason == c.DEAL_REASON_SL


def test_stop_out_closes_the_worst_position_first(
    sim: SimBroker, orders: Orders, clock: ManualClock
) -> None:
    big = orders.opened(volume=5.0)
    small = orders.opened(volume=4.0)
    acc = sim.account_info()
    assert acc is not None and acc.margin_level > 100
    sim.market.script_path("EURUSD", [(clock() + 60, mid(orders) - 0.0088)])
    clock.advance(61)
    deal = last_deal(sim, big.ticket)
    assert deal.reason == c.DEAL_REASON_SO and deal.comment.startswith("so ")
    level = float(deal.comment.split()[1].rstrip("%"))
    assert level <= 30.0
    (left,) = sim.positions_get() or ()
    assert left.ticket == small.ticket
    after = sim.account_info()
    assert after is not None and after.margin_level > 30.0
    assert after.balance == pytest.approx(10_000 + deal.profit)


def test_hand_close_and_hand_open(sim: SimBroker, orders: Orders, clock: ManualClock) -> None:
    mine = orders.opened(volume=0.1)
    theirs = sim.scenario.open_position("GBPUSD", "sell", 0.3, magic=77, comment="human")
    pos = orders.position(theirs)
    assert (pos.reason, pos.magic, pos.comment, pos.type) == (
        c.POSITION_REASON_CLIENT, 77, "human", c.POSITION_TYPE_SELL,
    )
    ea = sim.scenario.open_position("EURUSD", c.ORDER_TYPE_BUY, 0.1, manual=False)
    assert orders.position(ea).reason == c.POSITION_REASON_EXPERT
    assert sim.scenario.close_position(mine.ticket) is True
    assert sim.scenario.close_position(mine.ticket) is False
    deal = last_deal(sim, mine.ticket)
    assert deal.reason == c.DEAL_REASON_CLIENT and deal.entry == c.DEAL_ENTRY_OUT
    assert sim.scenario.close_position(theirs, 0.1) is True
    assert orders.position(theirs).volume == pytest.approx(0.2)


def test_scheduled_actions_run_at_their_broker_time(
    sim: SimBroker, orders: Orders, clock: ManualClock
) -> None:
    pos = orders.opened(volume=0.1)
    at = clock() + 90
    seen: list[float] = []
    sim.scenario.at(at, sim.scenario.close_position, pos.ticket)
    sim.scenario.at(at + 10, lambda: seen.append(sim.market.now))
    clock.advance(60)
    assert len(sim.positions_get() or ()) == 1
    clock.advance(60)
    assert sim.positions_get() == ()
    assert last_deal(sim, pos.ticket).time == int(at)
    assert seen == [at + 10]


def test_scheduled_price_path_applies_from_its_own_instant(
    sim: SimBroker, orders: Orders, clock: ManualClock
) -> None:
    t0 = clock()
    target = mid(orders) + 0.0100
    sim.scenario.at(t0 + 600, sim.market.script_path, "EURUSD", [(t0 + 660, target)])
    clock.advance(900)
    rates = sim.copy_ticks_range("EURUSD", t0 + 655, t0 + 665, c.COPY_TICKS_ALL)
    assert rates is not None and len(rates) > 0
    assert abs((rates["bid"][-1] + rates["ask"][-1]) / 2 - target) < 0.0005


def test_external_closes_from_fault_rates(clock: ManualClock) -> None:
    sim = make_sim(clock, faults=FaultSettings(external_closes_per_hour=120.0))
    orders = Orders(sim)
    for _ in range(5):
        orders.buy(volume=0.1)
    clock.advance(1800)
    positions = sim.positions_get()
    assert positions is not None and len(positions) < 5
    closed = [d for d in sim.history_deals_get(0, clock()) or () if d.entry == 1]
    assert closed and all(d.reason == c.DEAL_REASON_CLIENT for d in closed)
