"""Positions, history orders and deals: hedging, netting, partial closes, close-by."""

from __future__ import annotations

from typing import Any

import pytest

from dtms.broker import constants as c
from dtms.broker.sim import MarginMode, SimBroker
from dtms.broker.sim.clock import ManualClock
from tests.broker.conftest import Orders


def deals_of(sim: SimBroker, position: int) -> tuple[Any, ...]:
    deals = sim.history_deals_get(position=position)
    assert deals is not None
    return deals


def balance(sim: SimBroker) -> float:
    acc = sim.account_info()
    assert acc is not None
    return acc.balance


@pytest.fixture
def netting(make: Any) -> SimBroker:
    sim: SimBroker = make(margin_mode=MarginMode.NETTING)
    return sim


def test_open_writes_order_deal_and_position(sim: SimBroker, orders: Orders) -> None:
    r = orders.buy(volume=0.3, magic=42, comment="entry")
    pos = orders.position(r.order)
    assert pos.ticket == pos.identifier == r.order
    assert (pos.magic, pos.comment, pos.reason) == (42, "entry", c.POSITION_REASON_EXPERT)
    assert (pos.type, pos.volume, pos.price_open) == (c.POSITION_TYPE_BUY, 0.3, r.price)
    assert pos.price_current == r.bid
    (order,) = sim.history_orders_get(ticket=r.order) or ()
    assert order.state == c.ORDER_STATE_FILLED and order.position_id == r.order
    assert (order.magic, order.comment, order.reason) == (42, "entry", c.ORDER_REASON_EXPERT)
    assert order.volume_initial == 0.3 and order.volume_current == 0.0
    (deal,) = deals_of(sim, r.order)
    assert (deal.ticket, deal.order, deal.entry, deal.type) == (
        r.deal, r.order, c.DEAL_ENTRY_IN, c.DEAL_TYPE_BUY,
    )
    assert (deal.magic, deal.comment, deal.reason, deal.profit) == (42, "entry", 3, 0.0)


def test_close_writes_an_out_deal_whose_profit_moves_the_balance(
    sim: SimBroker, orders: Orders, clock: ManualClock
) -> None:
    pos = orders.opened(volume=0.5, comment="keep me")
    sim.market.set_mid("EURUSD", pos.price_open + 0.0050)
    clock.advance(1)
    before = balance(sim)
    r = orders.close(pos.ticket, magic=9, comment="out")
    out = deals_of(sim, pos.ticket)[-1]
    assert out.entry == c.DEAL_ENTRY_OUT and out.type == c.DEAL_TYPE_SELL
    assert (out.magic, out.comment, out.order, out.volume) == (9, "out", r.order, 0.5)
    assert out.reason == c.DEAL_REASON_EXPERT and out.position_id == pos.ticket
    assert out.profit == pytest.approx((out.price - pos.price_open) * 50_000, abs=0.006)
    assert out.profit > 200
    assert balance(sim) == pytest.approx(before + out.profit)
    assert sim.positions_get() == ()


def test_partial_close_keeps_the_ticket_and_the_opening_comment(
    sim: SimBroker, orders: Orders
) -> None:
    pos = orders.opened(volume=0.5, magic=1, comment="opening")
    r = orders.close(pos.ticket, 0.2, comment="partial")
    assert r.retcode == c.TRADE_RETCODE_DONE
    left = orders.position(pos.ticket)
    assert (left.volume, left.comment, left.magic) == (0.3, "opening", 1)
    assert left.identifier == pos.ticket and left.price_open == pos.price_open
    entries = [d.entry for d in deals_of(sim, pos.ticket)]
    assert entries == [c.DEAL_ENTRY_IN, c.DEAL_ENTRY_OUT]


def test_hedging_opposite_deal_without_position_opens_a_second_one(
    sim: SimBroker, orders: Orders
) -> None:
    buy = orders.opened(volume=0.2)
    sell = orders.opened(volume=0.1, side="sell")
    positions = sim.positions_get(symbol="EURUSD")
    assert positions is not None
    assert {p.ticket for p in positions} == {buy.ticket, sell.ticket}
    assert orders.position(buy.ticket).volume == 0.2


def test_hedged_margin_is_lower_than_the_sum_of_the_legs(sim: SimBroker, orders: Orders) -> None:
    orders.buy(volume=1.0)
    one_leg = sim.account_info()
    orders.sell(volume=1.0)
    both = sim.account_info()
    assert one_leg is not None and both is not None
    assert both.margin < 2 * one_leg.margin
    assert both.margin == pytest.approx(one_leg.margin, rel=0.01)  # margin_hedged = half


def test_hedged_margin_with_zero_margin_hedged_is_free(sim: SimBroker, orders: Orders) -> None:
    sim.scenario.set_symbol("EURUSD", margin_hedged=0.0)
    orders.buy(volume=1.0)
    orders.sell(volume=1.0)
    orders.sell(volume=0.5)
    acc = sim.account_info()
    assert acc is not None
    one_lot = sim.order_calc_margin(c.ORDER_TYPE_SELL, "EURUSD", 0.5, orders.tick()[0])
    assert one_lot is not None
    assert acc.margin == pytest.approx(one_lot, rel=0.01)


def test_hedged_margin_on_the_larger_leg(sim: SimBroker, orders: Orders) -> None:
    sim.scenario.set_symbol("EURUSD", margin_hedged_use_leg=True)
    orders.buy(volume=1.0)
    orders.sell(volume=0.4)
    alone = sim.order_calc_margin(c.ORDER_TYPE_BUY, "EURUSD", 1.0, orders.tick()[1])
    acc = sim.account_info()
    assert acc is not None and alone is not None
    assert acc.margin == pytest.approx(alone, rel=0.01)


def test_close_by_offsets_at_the_open_price_of_position_by(
    sim: SimBroker, orders: Orders, clock: ManualClock
) -> None:
    buy = orders.opened(volume=0.3)
    clock.advance(30)
    sell = orders.opened(volume=0.3, side="sell")
    before = balance(sim)
    r = orders.close_by(buy.ticket, sell.ticket)
    assert r.retcode == c.TRADE_RETCODE_DONE
    assert sim.positions_get() == ()
    deals = [d for d in sim.history_deals_get(ticket=r.order) or ()]
    assert [d.entry for d in deals] == [c.DEAL_ENTRY_OUT_BY, c.DEAL_ENTRY_OUT_BY]
    assert {d.position_id for d in deals} == {buy.ticket, sell.ticket}
    assert all(d.price == sell.price_open for d in deals)
    pair = (sell.price_open - buy.price_open) * 30_000
    assert sum(d.profit for d in deals) == pytest.approx(pair, abs=0.011)
    assert balance(sim) == pytest.approx(before + pair, abs=0.011)
    (order,) = sim.history_orders_get(ticket=r.order) or ()
    assert order.type == c.ORDER_TYPE_CLOSE_BY
    assert (order.position_id, order.position_by_id) == (buy.ticket, sell.ticket)


def test_close_by_with_unequal_volumes_leaves_the_larger_remainder(
    sim: SimBroker, orders: Orders
) -> None:
    buy = orders.opened(volume=0.5, comment="main")
    sell = orders.opened(volume=0.2, side="sell")
    assert orders.close_by(sell.ticket, buy.ticket).retcode == c.TRADE_RETCODE_DONE
    (left,) = sim.positions_get() or ()
    assert (left.ticket, left.volume, left.comment) == (buy.ticket, 0.3, "main")


def test_close_by_refusals(sim: SimBroker, orders: Orders) -> None:
    a = orders.opened(volume=0.1)
    b = orders.opened(volume=0.1)
    assert orders.close_by(a.ticket, b.ticket).retcode == c.TRADE_RETCODE_INVALID
    g = orders.opened("GBPUSD", 0.1, side="sell")
    assert orders.close_by(a.ticket, g.ticket).retcode == c.TRADE_RETCODE_INVALID
    assert orders.close_by(a.ticket, 999).retcode == c.TRADE_RETCODE_POSITION_CLOSED
    x = orders.opened("EURCHF", 0.1)
    y = orders.opened("EURCHF", 0.1, side="sell")
    assert orders.close_by(x.ticket, y.ticket).retcode == c.TRADE_RETCODE_INVALID_ORDER
    info = sim.symbol_info("EURCHF")
    assert info is not None and not info.order_mode & c.SYMBOL_ORDER_CLOSEBY


def test_netting_opposite_order_reduces_instead_of_hedging(netting: SimBroker) -> None:
    orders = Orders(netting)
    first = orders.buy(volume=0.5, comment="first")
    r = orders.sell(volume=0.2)
    assert r.retcode == c.TRADE_RETCODE_DONE
    (pos,) = netting.positions_get() or ()
    assert (pos.ticket, pos.identifier, pos.type) == (first.order, first.order, 0)
    assert (pos.volume, pos.comment) == (0.3, "first")
    assert deals_of(netting, first.order)[-1].entry == c.DEAL_ENTRY_OUT
    acc = netting.account_info()
    assert acc is not None and acc.margin_mode == c.ACCOUNT_MARGIN_MODE_RETAIL_NETTING


def test_netting_same_side_adds_at_the_average_price(
    netting: SimBroker, clock: ManualClock
) -> None:
    orders = Orders(netting)
    a = orders.buy(volume=0.1)
    netting.market.set_mid("EURUSD", a.price + 0.0100)
    clock.advance(1)
    b = orders.buy(volume=0.3)
    (pos,) = netting.positions_get() or ()
    assert pos.ticket == a.order and pos.volume == pytest.approx(0.4)
    assert pos.price_open == pytest.approx((a.price * 0.1 + b.price * 0.3) / 0.4)
    assert [d.entry for d in deals_of(netting, a.order)] == [0, 0]


def test_netting_reversal_writes_inout_and_keeps_the_identifier(netting: SimBroker) -> None:
    orders = Orders(netting)
    a = orders.buy(volume=0.2)
    r = orders.sell(volume=0.5, sl=0.0)
    (pos,) = netting.positions_get() or ()
    assert pos.identifier == a.order and pos.type == c.POSITION_TYPE_SELL
    assert pos.volume == pytest.approx(0.3) and pos.price_open == r.price
    last = deals_of(netting, a.order)[-1]
    assert last.entry == c.DEAL_ENTRY_INOUT and last.volume == 0.5


def test_netting_full_close_and_refusals(netting: SimBroker) -> None:
    orders = Orders(netting)
    a = orders.buy(volume=0.2)
    assert orders.close_by(a.order, a.order).retcode == c.TRADE_RETCODE_INVALID
    assert orders.sell(volume=0.2).retcode == c.TRADE_RETCODE_DONE
    assert netting.positions_get() == ()
    sltp = orders.send(action=c.TRADE_ACTION_SLTP, symbol="EURUSD", sl=1.0, tp=0.0)
    assert sltp is not None and sltp.retcode == c.TRADE_RETCODE_POSITION_CLOSED


def test_netting_sltp_by_symbol(netting: SimBroker) -> None:
    orders = Orders(netting)
    a = orders.buy(volume=0.2)
    bid, _ = orders.tick()
    r = orders.send(action=c.TRADE_ACTION_SLTP, symbol="EURUSD", sl=round(bid - 0.002, 5),
                    tp=0.0)
    assert r is not None and r.retcode == c.TRADE_RETCODE_DONE
    assert orders.position(a.order).sl == round(bid - 0.002, 5)


def test_commission_is_charged_on_every_deal(make: Any) -> None:
    sim = make(commission_per_lot=7.0)
    orders = Orders(sim)
    pos = orders.opened(volume=0.5)
    opening = deals_of(sim, pos.ticket)[0]
    assert opening.commission == -3.5
    assert balance(sim) == pytest.approx(10_000 - 3.5)
    orders.close(pos.ticket)
    closing = deals_of(sim, pos.ticket)[-1]
    assert closing.commission == -3.5
    assert balance(sim) == pytest.approx(10_000 - 7.0 + closing.profit)


def test_positions_get_filters(sim: SimBroker, orders: Orders) -> None:
    eur = orders.opened("EURUSD", 0.1)
    gbp = orders.opened("GBPUSD", 0.1)
    jpy = orders.opened("USDJPY", 0.1)
    by_symbol = sim.positions_get(symbol="GBPUSD")
    assert by_symbol is not None and [p.ticket for p in by_symbol] == [gbp.ticket]
    by_group = sim.positions_get(group="*USD*,!*JPY*")
    assert by_group is not None and {p.ticket for p in by_group} == {eur.ticket, gbp.ticket}
    by_ticket = sim.positions_get(ticket=jpy.ticket)
    assert by_ticket is not None and [p.symbol for p in by_ticket] == ["USDJPY"]
    symbol_wins = sim.positions_get(symbol="EURUSD", ticket=jpy.ticket)
    assert symbol_wins is not None and [p.ticket for p in symbol_wins] == [eur.ticket]
    assert sim.positions_get(ticket=1) == ()
    assert sim.positions_total() == 3
