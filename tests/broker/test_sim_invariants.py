"""Account invariants under random trading: the books always balance."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dtms.broker import constants as c
from dtms.broker.sim import MarginMode
from dtms.broker.sim.clock import ManualClock
from tests.broker.conftest import START, Orders, make_sim

SYMBOLS = ("EURUSD", "USDJPY", "EURJPY", "XAUUSD")

action = st.one_of(
    st.tuples(st.just("open"), st.sampled_from(SYMBOLS), st.sampled_from(("buy", "sell")),
              st.integers(1, 40)),
    st.tuples(st.just("close"), st.integers(0, 9), st.integers(1, 40)),
    st.tuples(st.just("wait"), st.floats(1.0, 900.0)),
)


def _check_books(sim: Any) -> None:
    acc = sim.account_info()
    positions = sim.positions_get()
    deals = sim.history_deals_get(0, START + 10 * 86_400)
    assert acc is not None and positions is not None and deals is not None
    money = sum(d.profit + d.commission + d.swap for d in deals)
    assert acc.balance == pytest.approx(money, abs=0.011 * max(1, len(deals)))
    assert acc.profit == pytest.approx(sum(p.profit + p.swap for p in positions), abs=0.011)
    assert acc.equity == pytest.approx(acc.balance + acc.credit + acc.profit, abs=0.011)
    assert acc.margin_free == pytest.approx(acc.equity - acc.margin, abs=0.011)
    assert len({p.ticket for p in positions}) == len(positions)
    for p in positions:
        steps = p.volume / 0.01
        assert abs(steps - round(steps)) < 1e-6 and p.volume > 0
        assert p.ticket == p.identifier
    tickets = [d.ticket for d in deals]
    assert tickets == sorted(tickets) and len(set(tickets)) == len(tickets)


@pytest.mark.parametrize("mode", [MarginMode.HEDGING, MarginMode.NETTING])
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(actions=st.lists(action, min_size=1, max_size=25))
def test_books_balance_after_any_sequence(mode: MarginMode, actions: list[Any]) -> None:
    clock = ManualClock(START)
    sim = make_sim(clock, margin_mode=mode, commission_per_lot=5.0)
    orders = Orders(sim)
    for step in actions:
        if step[0] == "open":
            _, symbol, side, lots = step
            volume = round(lots * 0.01, 2)
            kind = c.ORDER_TYPE_BUY if side == "buy" else c.ORDER_TYPE_SELL
            r = orders.deal(symbol, kind, volume)
            assert r.retcode in (c.TRADE_RETCODE_DONE, c.TRADE_RETCODE_NO_MONEY)
        elif step[0] == "close":
            _, index, lots = step
            positions = sim.positions_get() or ()
            if positions:
                pos = positions[index % len(positions)]
                volume = min(round(lots * 0.01, 2), pos.volume)
                assert orders.close(pos.ticket, volume).retcode == c.TRADE_RETCODE_DONE
        else:
            clock.advance(step[1])
        _check_books(sim)
