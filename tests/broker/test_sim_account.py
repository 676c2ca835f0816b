"""Money: margin and profit formulas, currency conversion, account arithmetic, swaps."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dtms.broker import constants as c
from dtms.broker.sim import SimBroker
from dtms.broker.sim.clock import ManualClock
from dtms.broker.sim.ledger import Origin
from dtms.broker.sim.trading import Open
from tests.broker.conftest import START, Orders

BUY, SELL = c.ORDER_TYPE_BUY, c.ORDER_TYPE_SELL
DAY = 86_400


@pytest.mark.parametrize(
    ("symbol", "volume", "price", "expected"),
    [
        ("EURUSD", 0.1, 1.0991, 109.91),  # 100 EUR at the order price (MetaQuotes docs)
        ("GBPUSD", 0.1, 1.2273, 122.73),
        ("USDJPY", 0.1, 108.0, 100.0),
        ("USDCHF", 0.1, 0.91, 100.0),
        ("XAUUSD", 1.0, 2350.0, 2350.0),  # CFDLEVERAGE: lots x contract x price / leverage
        ("US30", 1.0, 39000.0, 390.0),
    ],
)
def test_margin_worked_values(
    sim: SimBroker, symbol: str, volume: float, price: float, expected: float
) -> None:
    assert sim.order_calc_margin(BUY, symbol, volume, price) == pytest.approx(expected)
    assert sim.last_error() == (1, "Success")


def test_cross_margin_converts_through_the_major(sim: SimBroker) -> None:
    tick = sim.symbol_info_tick("EURUSD")
    assert tick is not None
    margin = sim.order_calc_margin(BUY, "EURJPY", 0.1, 162.5)
    assert margin == pytest.approx(100.0 * (tick.bid + tick.ask) / 2, abs=0.006)


def test_margin_scales_with_leverage(make: Any) -> None:
    sim = make(leverage=500)
    assert sim.order_calc_margin(BUY, "EURUSD", 1.0, 1.1) == pytest.approx(220.0)


@pytest.mark.parametrize(
    ("symbol", "action", "open_", "close", "expected"),
    [
        ("EURUSD", BUY, 1.1000, 1.1030, 300.0),
        ("GBPUSD", SELL, 1.2730, 1.2700, 300.0),
        ("USDJPY", BUY, 108.183, 108.483, 276.54),  # JPY converted at the closing price
        ("USDJPY", SELL, 108.179, 107.879, 278.09),
        ("EURUSD", BUY, 1.1030, 1.1000, -300.0),
    ],
)
def test_profit_worked_values(
    sim: SimBroker, symbol: str, action: int, open_: float, close: float, expected: float
) -> None:
    assert sim.order_calc_profit(action, symbol, 1.0, open_, close) == pytest.approx(expected)


def test_calc_functions_refuse_bad_arguments(sim: SimBroker) -> None:
    assert sim.order_calc_margin(c.ORDER_TYPE_BUY_LIMIT + 40, "EURUSD", 0.1, 1.1) is None
    assert sim.last_error()[0] == -2
    assert sim.order_calc_profit(BUY, "NOPE", 0.1, 1.1, 1.2) is None
    assert sim.last_error()[0] == -4


def test_account_arithmetic_with_open_positions(make: Any, clock: ManualClock) -> None:
    sim = make(credit=500.0)
    orders = Orders(sim)
    orders.buy(volume=1.0)
    orders.sell("GBPUSD", 0.5)
    orders.buy("USDJPY", 0.3)
    clock.advance(120)
    acc = sim.account_info()
    assert acc is not None
    positions = sim.positions_get() or ()
    assert acc.credit == 500.0 and acc.balance == 10_000.0
    assert acc.profit == pytest.approx(sum(p.profit + p.swap for p in positions), abs=0.011)
    assert acc.equity == pytest.approx(acc.balance + acc.credit + acc.profit, abs=0.011)
    assert acc.margin_free == pytest.approx(acc.equity - acc.margin, abs=0.011)
    assert acc.margin_level == pytest.approx(acc.equity / acc.margin * 100, abs=0.01)
    assert acc.margin_so_call == 50.0 and acc.margin_so_so == 30.0


def test_margin_level_is_zero_without_margin(sim: SimBroker) -> None:
    acc = sim.account_info()
    assert acc is not None
    assert (acc.margin, acc.margin_level, acc.margin_free) == (0.0, 0.0, acc.equity)


def test_order_check_projects_the_account(sim: SimBroker, orders: Orders) -> None:
    bid, ask = orders.tick()
    req = {"action": c.TRADE_ACTION_DEAL, "symbol": "EURUSD", "volume": 1.0, "type": BUY,
           "type_filling": c.ORDER_FILLING_FOK}
    check = sim.order_check(req)
    assert check is not None and (check.retcode, check.comment) == (0, "Done")
    assert sim.last_error() == (1, "Success")
    assert check.balance == 10_000.0
    assert check.margin == pytest.approx(1000 * ask, abs=0.01)
    assert check.profit == pytest.approx((bid - ask) * 100_000, abs=0.011)
    assert check.equity == pytest.approx(10_000 + check.profit)
    assert check.margin_free == pytest.approx(check.equity - check.margin)
    assert check.margin_level == pytest.approx(check.equity / check.margin * 100, abs=0.01)
    assert check.request.volume == 1.0
    assert sim.positions_get() == (), "order_check must not trade"


def test_order_check_reports_refusals_with_their_retcode(sim: SimBroker) -> None:
    check = sim.order_check({"action": 1, "symbol": "EURUSD", "volume": 0.015, "type": 0})
    assert check is not None and check.retcode == c.TRADE_RETCODE_INVALID_VOLUME
    assert check.comment == "Invalid volume" and check.balance == 10_000.0


def test_floating_profit_follows_the_quote(
    sim: SimBroker, orders: Orders, clock: ManualClock
) -> None:
    pos = orders.opened("USDJPY", 1.0)
    sim.market.set_mid("USDJPY", pos.price_open + 0.5)
    clock.advance(1)
    now = orders.position(pos.ticket)
    assert now.price_current > pos.price_open + 0.4
    expected = (now.price_current - pos.price_open) * 100_000 / now.price_current
    assert now.profit == pytest.approx(expected, abs=0.006)


def test_swaps_accrue_at_rollover_with_triple_wednesday(
    sim: SimBroker, orders: Orders, clock: ManualClock
) -> None:
    pos = orders.opened("EURUSD", 1.0)  # swap_long -6.5 points: -6.50 USD a night per lot
    clock.set(START + 17 * 3600 + 1)  # past Tuesday 00:00: Monday's night
    assert orders.position(pos.ticket).swap == pytest.approx(-6.5)
    clock.set(START + 3 * DAY - 7 * 3600 + 1)  # past Thursday 00:00: Tue, Wed (x3)
    assert orders.position(pos.ticket).swap == pytest.approx(-6.5 * 5)
    acc = sim.account_info()
    assert acc is not None
    p = orders.position(pos.ticket)
    assert acc.profit == pytest.approx(p.profit + p.swap, abs=0.011)
    before = acc.balance
    orders.close(pos.ticket)
    out = (sim.history_deals_get(position=pos.ticket) or ())[-1]
    assert out.swap == pytest.approx(-32.5)
    after = sim.account_info()
    assert after is not None and after.balance == pytest.approx(before + out.profit - 32.5)


def test_no_swaps_when_switched_off(make: Any, clock: ManualClock) -> None:
    sim = make(swaps=False)
    pos = Orders(sim).opened("EURUSD", 1.0)
    clock.set(START + DAY)
    assert Orders(sim).position(pos.ticket).swap == 0.0
    info = sim.symbol_info("EURUSD")
    assert info is not None and info.swap_mode == c.SYMBOL_SWAP_MODE_DISABLED


def test_deposits_are_balance_deals(sim: SimBroker) -> None:
    ticket = sim.scenario.deposit(2_500.0)
    acc = sim.account_info()
    assert acc is not None and acc.balance == 12_500.0
    deals = sim.history_deals_get(0, START + 10) or ()
    balance_deals = [d for d in deals if d.type == c.DEAL_TYPE_BALANCE]
    assert [d.profit for d in balance_deals] == [10_000.0, 2_500.0]
    assert balance_deals[-1].ticket == ticket
    assert all(d.order == 0 and d.position_id == 0 and d.symbol == "" for d in balance_deals)


def test_a_new_position_s_projection_is_the_account_after_executing_it(make: Any) -> None:
    # the margin check of an open adds the new leg to the account instead of executing on a
    # copy of the book: both must give the same account, hedged legs, crosses and commission
    sim = make(commission_per_lot=7.0)
    orders = Orders(sim)
    for symbol, side, volume in (("EURUSD", "buy", 1.0), ("EURUSD", "sell", 0.4),
                                 ("EURJPY", "sell", 0.7), ("XAUUSD", "buy", 0.3)):
        orders.opened(symbol, volume, side=side)
    trading = sim._server.trading
    for symbol, kind, volume in (("EURUSD", SELL, 0.8), ("EURJPY", BUY, 0.2),
                                 ("GBPUSD", BUY, 1.5)):
        tick = sim.symbol_info_tick(symbol)
        price = tick.ask if kind == BUY else tick.bid
        plan = Open(symbol, kind, volume, price, 0.0, 0.0, False)
        origin = Origin(reason=c.DEAL_REASON_EXPERT, magic=1, comment="", filling=0)
        fast = trading.project(plan, origin)
        fork = trading.book.fork()
        trading.apply(plan, origin, fork)
        assert fast == trading.snapshot(fork)
    assert len(sim.positions_get()) == 4, "projecting never trades"


def _reference_margin(money: Any, legs: list[tuple[str, int, float, float]]) -> float:
    # positions_margin as its docstring states it, leg by leg through Money.margin
    sides: dict[str, list[float]] = {}
    for symbol, kind, volume, price in legs:
        acc = sides.setdefault(symbol, [0.0, 0.0, 0.0, 0.0])
        i = 0 if kind == BUY else 1
        acc[i] += volume
        acc[2 + i] += money.margin(money._symbols[symbol], kind, volume, price)
    total = 0.0
    for symbol, (vb, vs, mb, ms) in sides.items():
        sym = money._symbols[symbol]
        locked = min(vb, vs)
        per_b, per_s = (mb / vb if vb else 0.0), (ms / vs if vs else 0.0)
        total += locked * (per_b + per_s) * (sym.hedged_contract / sym.contract_size)
        total += (vb - locked) * per_b + (vs - locked) * per_s
    return total


def test_the_account_s_sums_are_the_positions_one_by_one(make: Any) -> None:
    # the account's floating profit and margin are summed with each symbol's quote and
    # formula looked up once (thousands of positions per order); they must stay the sums of
    # the per-position figures: crosses, JPY profit at the close, CFDs, hedged legs, swaps
    sim = make(balance=1_000_000.0)
    orders = Orders(sim)
    book = [("EURUSD", "buy", 1.0), ("EURUSD", "sell", 0.4), ("EURJPY", "sell", 0.7),
            ("XAUUSD", "buy", 0.3), ("USDJPY", "buy", 0.25), ("USDJPY", "sell", 1.1),
            ("GBPUSD", "sell", 0.13), ("US30", "buy", 2.0), ("AUDJPY", "buy", 0.9)]
    for i, (symbol, side, volume) in enumerate(book * 3):
        orders.opened(symbol, volume * (1 + i // len(book)), side=side)
    trading = sim._server.trading
    ledger = trading.book
    for n, pos in enumerate(ledger.positions.values()):
        ledger.charge_swap(pos, -0.37 * n)
    expected_profit = 0.0
    for pos in ledger.positions.values():
        q = trading.engine.quote(pos.symbol)
        assert q is not None
        expected_profit += pos.swap + ledger.floating(pos, q[1], q[2])
    account = trading.snapshot()
    assert account.profit == round(expected_profit, 2)
    assert account.margin == round(_reference_margin(ledger.money, ledger.legs()), 2)
    assert account.profit != 0.0 and account.margin > 0.0


@pytest.mark.parametrize(
    ("mode", "formula"),
    [  # reference §6.6, in the margin currency: lots = volume x contract size
        (c.SYMBOL_CALC_MODE_FOREX, lambda lots, price, lev: lots / lev),
        (c.SYMBOL_CALC_MODE_FOREX_NO_LEVERAGE, lambda lots, price, lev: lots),
        (c.SYMBOL_CALC_MODE_CFD, lambda lots, price, lev: lots * price),
        (c.SYMBOL_CALC_MODE_CFDINDEX, lambda lots, price, lev: lots * price),
        (c.SYMBOL_CALC_MODE_CFDLEVERAGE, lambda lots, price, lev: lots * price / lev),
    ],
)
def test_every_calculation_mode_converts_its_margin_currency(
    sim: SimBroker, mode: int, formula: Any
) -> None:
    # EUR margin at the position's price (EURUSD), USD margin as is (USDJPY), EUR margin of a
    # cross at EURUSD's current mid (EURJPY)
    money = sim._server.trading.book.money
    bid, ask = Orders(sim).tick("EURUSD")
    for symbol, price, rate in (("EURUSD", 1.08731, 1.08731), ("USDJPY", 157.113, 1.0),
                                ("EURJPY", 163.2, (bid + ask) / 2)):
        sym = dataclasses.replace(money._symbols[symbol], trade_calc_mode=mode)
        lots = 1.37 * sym.contract_size
        expected = formula(lots, price, money.leverage) * rate
        assert money.margin(sym, BUY, 1.37, price) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("margin_mode", ["hedging", "netting"])
def test_the_kept_margin_sums_follow_every_change_of_the_book(
    make: Any, clock: ManualClock, margin_mode: str
) -> None:
    # the book keeps its margin sums as positions open; every other change (partial and full
    # closes, close-by, netting, a cross's rate moving) must give what summing the book gives
    sim = make(balance=1_000_000.0, margin_mode=margin_mode)
    orders = Orders(sim)
    ledger = sim._server.trading.book

    def check() -> None:
        assert ledger.margin() == _reference_margin(ledger.money, ledger.legs())
        extra = ("EURJPY", SELL, 0.3, 163.2)
        assert ledger.margin(extra) == _reference_margin(ledger.money, [*ledger.legs(), extra])

    tickets = []
    for i, (symbol, side) in enumerate([("EURUSD", "buy"), ("EURJPY", "sell"),
                                        ("EURUSD", "sell"), ("XAUUSD", "buy"),
                                        ("EURJPY", "buy"), ("USDJPY", "sell")] * 2):
        tickets.append(orders.opened(symbol, 0.1 * (1 + i % 4), side=side).ticket)
        check()
        clock.advance(7)  # the quotes, EUR's rate among them, move
        check()
    live = [p.ticket for p in sim.positions_get()]
    orders.close(live[0], 0.1)
    check()
    orders.close(live[-1])
    check()
    if margin_mode == "hedging":
        buy = orders.opened("EURUSD", 0.5, side="buy").ticket
        sell = orders.opened("EURUSD", 0.2, side="sell").ticket
        check()
        assert orders.close_by(buy, sell).retcode == c.TRADE_RETCODE_DONE
        check()
    orders.opened("GBPUSD", 0.4, side="buy")
    check()
    assert ledger.margin() > 0.0
