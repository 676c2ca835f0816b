"""Every refusal path of order_send, in the order the terminal and server check them."""

from __future__ import annotations

from typing import Any

import pytest

from dtms.broker import constants as c
from dtms.broker.sim import SimBroker
from dtms.broker.sim.clock import ManualClock
from tests.broker.conftest import SATURDAY, Orders, make_sim


def refused(result: Any, retcode: int) -> None:
    assert result is not None
    assert result.retcode == retcode, result
    assert (result.deal, result.order, result.volume, result.price) == (0, 0, 0.0, 0.0)
    assert result.comment == c.retcode_comment(retcode)


def test_success_fills_buy_at_ask_and_sell_at_bid(sim: SimBroker, orders: Orders) -> None:
    bid, ask = orders.tick()
    r = orders.buy(volume=0.2, magic=3, comment="in")
    assert r.retcode == c.TRADE_RETCODE_DONE and r.comment == "Request executed"
    assert (r.price, r.bid, r.ask, r.volume) == (ask, bid, ask, 0.2)
    assert r.deal > 0 and r.order > 0 and r.deal != r.order and r.request_id > 0
    assert r.request.magic == 3 and r.request.comment == "in"
    s = orders.sell(volume=0.1)
    assert s.price == bid
    assert s.order > r.order and s.deal > r.deal and s.request_id > r.request_id


def test_autotrading_off_gives_10027(sim: SimBroker, orders: Orders) -> None:
    sim.scenario.set_autotrading(False)
    r = orders.buy()
    refused(r, c.TRADE_RETCODE_CLIENT_DISABLES_AT)
    assert r.request_id == 0
    term = sim.terminal_info()
    assert term is not None and term.trade_allowed is False


def test_python_api_trading_disabled_gives_none_and_minus_8(sim: SimBroker) -> None:
    sim.scenario.set_tradeapi_disabled(True)
    assert sim.order_send({"action": 1, "symbol": "EURUSD", "volume": 0.1}) is None
    assert sim.last_error() == (-8, "Auto-Trading using Python API disabled in Terminal")


def test_unknown_symbol_gives_10013(orders: Orders) -> None:
    refused(orders.buy("XXXYYY"), c.TRADE_RETCODE_INVALID)


@pytest.mark.parametrize(
    ("trade_mode", "side", "retcode"),
    [(0, "buy", 10017), (1, "sell", 10042), (2, "buy", 10043), (3, "buy", 10044),
     (3, "sell", 10044)],
)
def test_symbol_trade_modes(
    sim: SimBroker, orders: Orders, trade_mode: int, side: str, retcode: int
) -> None:
    sim.scenario.set_symbol("EURUSD", trade_mode=trade_mode)
    refused(orders.buy() if side == "buy" else orders.sell(), retcode)


def test_close_only_and_long_only_still_allow_closing(sim: SimBroker, orders: Orders) -> None:
    long_pos = orders.opened(volume=0.1)
    short_pos = orders.opened(volume=0.1, side="sell")
    sim.scenario.set_symbol("EURUSD", trade_mode=c.SYMBOL_TRADE_MODE_LONGONLY)
    assert orders.close(long_pos.ticket).retcode == c.TRADE_RETCODE_DONE
    sim.scenario.set_symbol("EURUSD", trade_mode=c.SYMBOL_TRADE_MODE_CLOSEONLY)
    assert orders.close(short_pos.ticket).retcode == c.TRADE_RETCODE_DONE


def test_weekend_closes_fx_but_not_crypto() -> None:
    sim = make_sim(ManualClock(SATURDAY + 12 * 3600))
    orders = Orders(sim)
    refused(orders.buy("EURUSD"), c.TRADE_RETCODE_MARKET_CLOSED)
    assert orders.buy("BTCUSD", 0.01).retcode == c.TRADE_RETCODE_DONE


def test_order_types_outside_order_mode_give_10035(sim: SimBroker, orders: Orders) -> None:
    refused(orders.deal("EURUSD", c.ORDER_TYPE_BUY_LIMIT, 0.1), c.TRADE_RETCODE_INVALID_ORDER)
    pending = orders.send(action=c.TRADE_ACTION_PENDING, symbol="EURUSD", volume=0.1,
                          type=c.ORDER_TYPE_BUY_LIMIT, price=1.0)
    refused(pending, c.TRADE_RETCODE_INVALID_ORDER)
    bid, _ = orders.tick()
    sim.scenario.set_symbol("EURUSD", order_mode=c.SYMBOL_ORDER_MARKET | c.SYMBOL_ORDER_TP)
    refused(orders.buy(sl=round(bid - 0.01, 5)), c.TRADE_RETCODE_INVALID_ORDER)
    assert orders.buy(tp=round(bid + 0.01, 5)).retcode == c.TRADE_RETCODE_DONE
    info = sim.symbol_info("EURUSD")
    assert info is not None and info.order_mode == c.SYMBOL_ORDER_MARKET | c.SYMBOL_ORDER_TP


@pytest.mark.parametrize(
    ("symbol", "filling", "ok"),
    [
        ("EURUSD", c.ORDER_FILLING_FOK, True),
        ("EURUSD", c.ORDER_FILLING_IOC, True),
        ("EURUSD", c.ORDER_FILLING_RETURN, False),
        ("EURUSD", c.ORDER_FILLING_BOC, False),
        ("USDSGD", c.ORDER_FILLING_IOC, False),
        ("USDSGD", c.ORDER_FILLING_FOK, True),
        ("NZDUSD", c.ORDER_FILLING_FOK, False),
        ("NZDUSD", c.ORDER_FILLING_IOC, True),
    ],
)
def test_filling_mode_against_the_symbol_bitmask(
    orders: Orders, symbol: str, filling: int, ok: bool
) -> None:
    r = orders.buy(symbol, 0.1, type_filling=filling)
    if ok:
        assert r.retcode == c.TRADE_RETCODE_DONE
    else:
        refused(r, c.TRADE_RETCODE_INVALID_FILL)


def test_filling_under_exchange_and_instant_execution(sim: SimBroker, orders: Orders) -> None:
    sim.scenario.set_symbol("EURUSD", trade_exemode=c.SYMBOL_TRADE_EXECUTION_EXCHANGE)
    assert orders.buy(type_filling=c.ORDER_FILLING_RETURN).retcode == c.TRADE_RETCODE_DONE
    sim.scenario.set_symbol("EURUSD", trade_exemode=c.SYMBOL_TRADE_EXECUTION_INSTANT)
    _, ask = orders.tick()
    r = orders.buy(type_filling=c.ORDER_FILLING_RETURN, price=ask)
    assert r.retcode == c.TRADE_RETCODE_DONE


@pytest.mark.parametrize(
    ("symbol", "volume"),
    [("EURUSD", 0.001), ("EURUSD", 0.015), ("EURUSD", 100.01), ("EURUSD", 0.0),
     ("US30", 0.15), ("US30", 0.05)],
)
def test_invalid_volumes_give_10014(orders: Orders, symbol: str, volume: float) -> None:
    refused(orders.buy(symbol, volume), c.TRADE_RETCODE_INVALID_VOLUME)


def test_volume_on_the_step_within_float_noise_is_accepted(orders: Orders) -> None:
    assert orders.buy("EURUSD", 0.1 + 0.2).retcode == c.TRADE_RETCODE_DONE  # 0.30000000000000004
    assert orders.buy("US30", 0.3).retcode == c.TRADE_RETCODE_DONE


def test_volume_limit_counts_one_direction(sim: SimBroker, orders: Orders) -> None:
    sim.scenario.set_symbol("EURUSD", volume_limit=0.5)
    assert orders.buy(volume=0.3).retcode == c.TRADE_RETCODE_DONE
    refused(orders.buy(volume=0.3), c.TRADE_RETCODE_LIMIT_VOLUME)
    assert orders.sell(volume=0.5).retcode == c.TRADE_RETCODE_DONE


def test_closing_more_than_the_position_gives_10038(orders: Orders) -> None:
    pos = orders.opened(volume=0.1)
    refused(orders.close(pos.ticket, 0.2), c.TRADE_RETCODE_INVALID_CLOSE_VOLUME)
    assert orders.position(pos.ticket).volume == 0.1


def test_stops_on_the_wrong_side_give_10016(orders: Orders) -> None:
    bid, ask = orders.tick()
    refused(orders.buy(sl=round(bid + 0.001, 5)), c.TRADE_RETCODE_INVALID_STOPS)
    refused(orders.buy(sl=bid), c.TRADE_RETCODE_INVALID_STOPS)
    refused(orders.buy(tp=round(bid - 0.001, 5)), c.TRADE_RETCODE_INVALID_STOPS)
    refused(orders.sell(sl=round(ask - 0.001, 5)), c.TRADE_RETCODE_INVALID_STOPS)
    refused(orders.sell(tp=round(ask + 0.001, 5)), c.TRADE_RETCODE_INVALID_STOPS)
    r = orders.sell(sl=round(ask + 0.001, 5), tp=round(ask - 0.001, 5))
    assert r.retcode == c.TRADE_RETCODE_DONE


def test_stops_inside_the_stops_level_give_10016(orders: Orders) -> None:
    bid, _ = orders.tick("USDJPY")  # stops_level 10 points = 0.010
    refused(orders.buy("USDJPY", sl=round(bid - 0.005, 3)), c.TRADE_RETCODE_INVALID_STOPS)
    assert orders.buy("USDJPY", sl=round(bid - 0.011, 3)).retcode == c.TRADE_RETCODE_DONE


def test_sltp_rules(sim: SimBroker, orders: Orders) -> None:
    pos = orders.opened(volume=0.1)
    bid, _ = orders.tick()
    sl, tp = round(bid - 0.002, 5), round(bid + 0.002, 5)
    r = orders.sltp(pos.ticket, sl, tp)
    assert r.retcode == c.TRADE_RETCODE_DONE and (r.deal, r.order) == (0, 0)
    moved = orders.position(pos.ticket)
    assert (moved.sl, moved.tp) == (sl, tp) and moved.time_update_msc >= pos.time_update_msc
    refused(orders.sltp(pos.ticket, sl, tp), c.TRADE_RETCODE_NO_CHANGES)
    refused(orders.sltp(pos.ticket, round(bid + 0.001, 5), tp), c.TRADE_RETCODE_INVALID_STOPS)
    refused(orders.sltp(123, sl, tp), c.TRADE_RETCODE_POSITION_CLOSED)
    no_position = orders.send(action=c.TRADE_ACTION_SLTP, symbol="EURUSD", sl=sl, tp=tp)
    refused(no_position, c.TRADE_RETCODE_INVALID)  # hedging: the ticket is required
    assert orders.sltp(pos.ticket, 0.0, 0.0).retcode == c.TRADE_RETCODE_DONE


def test_freeze_level_blocks_modify_and_close(sim: SimBroker, orders: Orders) -> None:
    bid, _ = orders.tick("XAUUSD")
    pos = orders.opened("XAUUSD", 0.01, sl=round(bid - 0.5, 2))
    sim.scenario.set_symbol("XAUUSD", freeze_level=100)  # 1.00: the SL is now inside it
    refused(orders.sltp(pos.ticket, round(bid - 2.0, 2), 0.0), c.TRADE_RETCODE_FROZEN)
    refused(orders.close(pos.ticket), c.TRADE_RETCODE_FROZEN)
    sim.scenario.set_symbol("XAUUSD", freeze_level=5)
    assert orders.close(pos.ticket).retcode == c.TRADE_RETCODE_DONE


def test_closing_a_closed_or_unknown_ticket_gives_10036(orders: Orders) -> None:
    pos = orders.opened(volume=0.1)
    assert orders.close(pos.ticket).retcode == c.TRADE_RETCODE_DONE
    again = orders.sell(volume=0.1, position=pos.ticket)
    refused(again, c.TRADE_RETCODE_POSITION_CLOSED)
    refused(orders.sell(volume=0.1, position=42), c.TRADE_RETCODE_POSITION_CLOSED)


def test_a_close_must_be_the_opposite_side(orders: Orders) -> None:
    pos = orders.opened(volume=0.1)
    refused(orders.buy(volume=0.1, position=pos.ticket), c.TRADE_RETCODE_INVALID)
    refused(orders.sell("GBPUSD", 0.1, position=pos.ticket), c.TRADE_RETCODE_INVALID)


def test_close_without_symbol_on_hedging_uses_the_position(sim: SimBroker, orders: Orders) -> None:
    pos = orders.opened(volume=0.1)
    r = orders.send(action=c.TRADE_ACTION_DEAL, position=pos.ticket, volume=0.1,
                    type=c.ORDER_TYPE_SELL)
    assert r is not None and r.retcode == c.TRADE_RETCODE_DONE
    assert sim.positions_get() == ()


def test_not_enough_margin_gives_10019(sim: SimBroker, orders: Orders) -> None:
    refused(orders.buy(volume=50.0), c.TRADE_RETCODE_NO_MONEY)
    check = sim.order_check({"action": 1, "symbol": "EURUSD", "volume": 50.0, "type": 0})
    assert check is not None and check.retcode == c.TRADE_RETCODE_NO_MONEY
    assert check.comment == "No money" and check.margin_free < 0 < check.margin
    assert sim.positions_get() == ()


def test_position_limit_gives_10040(make: Any) -> None:
    orders = Orders(make(limit_positions=2))
    orders.buy()
    orders.buy()
    refused(orders.buy(), c.TRADE_RETCODE_LIMIT_POSITIONS)


def test_instant_execution_checks_price_and_deviation(sim: SimBroker, orders: Orders) -> None:
    sim.scenario.set_symbol("EURUSD", trade_exemode=c.SYMBOL_TRADE_EXECUTION_INSTANT)
    bid, ask = orders.tick()
    refused(orders.buy(), c.TRADE_RETCODE_INVALID_PRICE)
    r = orders.buy(price=round(ask + 0.0005, 5), deviation=10)
    assert r.retcode == c.TRADE_RETCODE_REQUOTE and (r.bid, r.ask) == (bid, ask)
    assert orders.buy(price=round(ask + 0.0005, 5), deviation=60).retcode == 10009
    assert orders.buy(price=ask, deviation=0).retcode == c.TRADE_RETCODE_DONE


def test_request_price_is_ignored_without_instant_execution(orders: Orders) -> None:
    _, ask = orders.tick()
    r = orders.buy(price=1.5, deviation=0)
    assert r.retcode == c.TRADE_RETCODE_DONE and r.price == ask


def test_unknown_actions_give_10013(orders: Orders) -> None:
    refused(orders.send(action=99, symbol="EURUSD", volume=0.1), c.TRADE_RETCODE_INVALID)
    refused(orders.send(action=c.TRADE_ACTION_REMOVE, order=5), c.TRADE_RETCODE_INVALID)
    refused(orders.send(symbol="EURUSD", volume=0.1), c.TRADE_RETCODE_INVALID)
