"""Other people on the account: the AutoTrading button, a trader's hands, another EA."""

from __future__ import annotations

from typing import Any

import pytest

from dtms.broker import constants as c
from dtms.broker.sim import MarginMode, QuirkSettings, SimBroker
from dtms.broker.sim.clock import ManualClock
from tests.broker.conftest import START, Orders, make_sim

HOUR = 3600.0


def netting(clock: ManualClock, **quirks: Any) -> tuple[SimBroker, Orders]:
    sim = make_sim(clock, margin_mode=MarginMode.NETTING, quirks=QuirkSettings(**quirks))
    return sim, Orders(sim)


# --- AutoTrading ----------------------------------------------------------------------------
def test_scheduled_autotrading_switches(sim: SimBroker, orders: Orders, clock: ManualClock) -> None:
    sim.scenario.at(clock() + 60, sim.scenario.set_autotrading, False)
    sim.scenario.at(clock() + 180, sim.scenario.set_autotrading, True)
    clock.advance(61)
    terminal = sim.terminal_info()
    assert terminal is not None and terminal.trade_allowed is False
    refused = orders.buy()
    assert (refused.retcode, refused.comment) == (10027, "AutoTrading disabled by client")
    check = sim.order_check({"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 0})
    assert check is not None and check.retcode == 10027
    clock.advance(120)
    terminal = sim.terminal_info()
    assert terminal is not None and terminal.trade_allowed is True
    assert orders.buy().retcode == c.TRADE_RETCODE_DONE


def _autotrading_timeline(clock: ManualClock, **quirks: Any) -> list[bool]:
    sim = make_sim(clock, quirks=QuirkSettings(**quirks))
    states = []
    for _ in range(8 * 60):
        clock.advance(30)
        terminal = sim.terminal_info()
        assert terminal is not None
        states.append(terminal.trade_allowed)
    return states


def test_autotrading_is_never_touched_by_default(clock: ManualClock) -> None:
    assert all(_autotrading_timeline(clock))


def test_random_autotrading_toggles(clock: ManualClock) -> None:
    states = _autotrading_timeline(clock, autotrading_toggles_per_hour=3.0,
                                   autotrading_off_seconds=300.0)
    runs, current = [], 0
    for allowed in states:
        if not allowed:
            current += 1
        elif current:
            runs.append(current)
            current = 0
    assert 5 <= len(runs) <= 40, runs
    assert all(r >= 9 for r in runs), "a switch-off lasts 300 s (10 samples) or more"
    assert sum(1 for r in runs if r <= 11) > len(runs) // 2, runs
    again = _autotrading_timeline(ManualClock(START), autotrading_toggles_per_hour=3.0,
                                  autotrading_off_seconds=300.0)
    assert again == states, "the same seed switches at the same times"


# --- hands on a netting account -------------------------------------------------------------
def test_reverse_position_keeps_the_ticket_and_writes_one_inout_deal(clock: ManualClock) -> None:
    sim, orders = netting(clock)
    bid, _ = orders.tick()
    pos = orders.opened(volume=1.0, sl=round(bid - 0.003, 5), magic=7, comment="mine")
    clock.advance(30)
    bid, _ = orders.tick()
    deal = sim.scenario.reverse_position(pos.ticket)
    (now,) = sim.positions_get() or ()
    assert (now.ticket, now.identifier) == (pos.ticket, pos.identifier)
    assert (now.type, now.volume, now.price_open) == (c.POSITION_TYPE_SELL, 1.0, bid)
    assert (now.sl, now.tp) == (0.0, 0.0), "the BUY's stop would sit on the wrong side"
    deals = sim.history_deals_get(position=pos.ticket) or ()
    assert [d.entry for d in deals] == [c.DEAL_ENTRY_IN, c.DEAL_ENTRY_INOUT]
    inout = deals[-1]
    assert (inout.ticket, inout.volume, inout.type, inout.reason) == (
        deal, 2.0, c.DEAL_TYPE_SELL, c.DEAL_REASON_CLIENT)
    assert inout.profit == pytest.approx((bid - pos.price_open) * 100_000, abs=0.01)
    assert sim.scenario.reverse_position(999) is None


def test_scale_in_averages_the_open_price(clock: ManualClock) -> None:
    sim, orders = netting(clock)
    pos = orders.opened(volume=1.0)
    clock.advance(600)
    _, ask = orders.tick()
    deal = sim.scenario.scale_in(pos.ticket, 0.5)
    now = orders.position(pos.ticket)
    assert now.volume == 1.5 and now.type == c.POSITION_TYPE_BUY
    assert now.price_open == pytest.approx((pos.price_open * 1.0 + ask * 0.5) / 1.5, abs=1e-9)
    (last,) = [d for d in sim.history_deals_get(position=pos.ticket) or () if d.ticket == deal]
    assert (last.entry, last.volume, last.profit) == (c.DEAL_ENTRY_IN, 0.5, 0.0)


def test_hand_reversals_need_a_netting_account(sim: SimBroker, orders: Orders) -> None:
    pos = orders.opened()
    with pytest.raises(ValueError, match="netting"):
        sim.scenario.reverse_position(pos.ticket)
    with pytest.raises(ValueError, match="netting"):
        sim.scenario.scale_in(pos.ticket, 0.1)


@pytest.mark.parametrize("mode", [MarginMode.NETTING, MarginMode.HEDGING])
def test_random_hand_trades_on_netting_accounts_only(clock: ManualClock, mode: MarginMode) -> None:
    sim = make_sim(clock, margin_mode=mode, quirks=QuirkSettings(
        hand_reversals_per_hour=3.0, hand_scale_ins_per_hour=3.0))
    orders = Orders(sim)
    for symbol in ("EURUSD", "GBPUSD", "USDJPY"):
        orders.opened(symbol, volume=0.5)
    for _ in range(24):
        clock.advance(600)
    deals = [d for d in sim.history_deals_get(START, clock()) or () if d.symbol]
    hands = [d for d in deals if d.reason == c.DEAL_REASON_CLIENT]
    if mode is MarginMode.HEDGING:
        assert hands == []
        return
    entries = {d.entry for d in hands}
    assert entries == {c.DEAL_ENTRY_IN, c.DEAL_ENTRY_INOUT}, hands
    assert len(sim.positions_get() or ()) == 3, "netting keeps one position per symbol"


# --- another program with the same magic ----------------------------------------------------
def test_a_foreign_ea_close_carries_its_magic(sim: SimBroker, orders: Orders) -> None:
    pos = orders.opened(volume=0.3, magic=4242, comment="DTMS")
    assert sim.scenario.close_position(pos.ticket, 0.1, magic=4242, manual=False,
                                       comment="not dtms")
    deals = sim.history_deals_get(position=pos.ticket) or ()
    out = deals[-1]
    assert (out.entry, out.reason, out.magic, out.volume, out.comment) == (
        c.DEAL_ENTRY_OUT, c.DEAL_REASON_EXPERT, 4242, 0.1, "not dtms")
    (order,) = sim.history_orders_get(ticket=out.order) or ()
    assert (order.reason, order.magic, order.position_id) == (
        c.ORDER_REASON_EXPERT, 4242, pos.ticket)
    assert sim.scenario.close_position(pos.ticket)
    hand = (sim.history_deals_get(position=pos.ticket) or ())[-1]
    assert (hand.reason, hand.magic) == (c.DEAL_REASON_CLIENT, 0)


def test_random_foreign_orders(clock: ManualClock) -> None:
    sim = make_sim(clock, quirks=QuirkSettings(
        foreign_magic=4242, foreign_orders_per_hour=6.0, comment_truncate=5))
    orders = Orders(sim)
    mine = [orders.opened(s, volume=1.0, magic=4242).ticket for s in ("EURUSD", "GBPUSD")]
    for _ in range(36):
        clock.advance(600)
    foreign = [d for d in sim.history_deals_get(START, clock()) or () if d.comment == "other"]
    assert foreign, "another EA traded"
    assert all(d.magic == 4242 and d.reason == c.DEAL_REASON_EXPERT for d in foreign)
    partials = [d for d in foreign if d.entry == c.DEAL_ENTRY_OUT and d.position_id in mine]
    opened = [d for d in foreign if d.entry == c.DEAL_ENTRY_IN]
    assert partials and opened
    for d in opened:
        found = sim.positions_get(ticket=d.position_id) or ()
        for p in found:
            assert (p.magic, p.comment, p.volume) == (4242, "other", 0.01)


def test_no_foreign_orders_without_a_foreign_magic(clock: ManualClock) -> None:
    sim = make_sim(clock, quirks=QuirkSettings(foreign_orders_per_hour=60.0))
    Orders(sim).opened(volume=1.0)
    clock.advance(2 * HOUR)
    assert len(sim.history_deals_get(START, clock()) or ()) == 2  # the deposit and the open


def test_a_scripted_switch_off_outlives_a_random_switch_on(clock: ManualClock) -> None:
    sim = make_sim(clock, quirks=QuirkSettings(autotrading_toggles_per_hour=60.0,
                                               autotrading_off_seconds=600.0))
    for _ in range(240):  # until the first random switch-off
        clock.advance(15)
        terminal = sim.terminal_info()
        assert terminal is not None
        if not terminal.trade_allowed:
            break
    else:
        pytest.fail("AutoTrading was never switched off at random")
    sim.scenario.set_autotrading(False)  # the trader decides to keep it off
    clock.advance(3 * HOUR)
    terminal = sim.terminal_info()
    assert terminal is not None and terminal.trade_allowed is False
