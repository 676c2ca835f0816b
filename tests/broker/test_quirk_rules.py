"""Trading rules imposed on every symbol: volume_max, stops level and freeze level (§6.4)."""

from __future__ import annotations

from typing import Any

import pytest

from dtms.broker import constants as c
from dtms.broker.sim import QuirkSettings, SimBroker
from dtms.broker.sim.clock import ManualClock
from dtms.broker.sim.symbols import default_symbols
from tests.broker.conftest import Orders, make_sim

POINT = 0.00001


def ruled(clock: ManualClock, **quirks: Any) -> tuple[SimBroker, Orders]:
    sim = make_sim(clock, quirks=QuirkSettings(**quirks))
    return sim, Orders(sim)


def test_symbols_keep_their_own_rules_by_default(sim: SimBroker) -> None:
    for name, sym in default_symbols().items():
        info = sim.symbol_info(name)
        assert info is not None
        assert (info.volume_max, info.trade_stops_level, info.trade_freeze_level) == (
            sym.volume_max, sym.stops_level, sym.freeze_level)


def test_overrides_show_in_symbol_info(clock: ManualClock) -> None:
    sim, _ = ruled(clock, volume_max=2.0, freeze_level=30, stops_level=15)
    for name in default_symbols():
        info = sim.symbol_info(name)
        assert info is not None
        assert (info.volume_max, info.trade_stops_level, info.trade_freeze_level) == (2.0, 15, 30)


def test_volume_above_volume_max_is_10014_for_opens_and_closes(clock: ManualClock) -> None:
    sim, orders = ruled(clock, volume_max=2.0)
    assert orders.buy(volume=2.5).retcode == c.TRADE_RETCODE_INVALID_VOLUME
    assert orders.buy(volume=2.0).retcode == c.TRADE_RETCODE_DONE
    big = sim.scenario.open_position("EURUSD", "buy", 6.0)  # a hand trade is not checked
    assert orders.close(big, 6.0).retcode == c.TRADE_RETCODE_INVALID_VOLUME
    for _ in range(3):
        assert orders.close(big, 2.0).retcode == c.TRADE_RETCODE_DONE
    assert sim.positions_get(ticket=big) == ()
    outs = [d for d in sim.history_deals_get(position=big) or () if d.entry == c.DEAL_ENTRY_OUT]
    assert [d.volume for d in outs] == [2.0, 2.0, 2.0]


def test_volume_max_below_a_symbols_minimum_is_refused(clock: ManualClock) -> None:
    with pytest.raises(ValueError, match=r"volume_max 0\.05 is below US30's volume_min 0\.1"):
        make_sim(clock, quirks=QuirkSettings(volume_max=0.05))


@pytest.mark.parametrize(("distance", "frozen"), [(29, True), (30, True), (31, False)])
def test_freeze_level_is_strict(clock: ManualClock, distance: int, frozen: bool) -> None:
    """A position whose SL is at most freeze_level points from the bid cannot be touched."""
    _, orders = ruled(clock, freeze_level=30)
    bid, _ = orders.tick()
    pos = orders.opened(volume=0.2, sl=round(bid - distance * POINT, 5))
    wider = round(bid - 100 * POINT, 5)
    expected = c.TRADE_RETCODE_FROZEN if frozen else c.TRADE_RETCODE_DONE
    assert orders.sltp(pos.ticket, wider, 0.0).retcode == expected
    if frozen:
        assert orders.close(pos.ticket, 0.1).retcode == c.TRADE_RETCODE_FROZEN
        other = orders.opened(side="sell", volume=0.1)
        assert orders.close_by(pos.ticket, other.ticket).retcode == c.TRADE_RETCODE_FROZEN
        assert orders.position(pos.ticket).volume == 0.2


def test_a_take_profit_inside_the_freeze_zone_freezes_a_sell(clock: ManualClock) -> None:
    sim, orders = ruled(clock, freeze_level=20)
    _, ask = orders.tick()
    pos = orders.opened(side="sell", tp=round(ask - 15 * POINT, 5))
    assert orders.close(pos.ticket).retcode == c.TRADE_RETCODE_FROZEN
    assert orders.sltp(pos.ticket, 0.0, 0.0).retcode == c.TRADE_RETCODE_FROZEN
    bid, ask = orders.tick()
    sim.market.set_mid("EURUSD", (bid + ask) / 2 + 0.0010)  # the market walks away
    clock.advance(1)
    assert orders.close(pos.ticket).retcode == c.TRADE_RETCODE_DONE


def test_positions_without_stops_are_never_frozen(clock: ManualClock) -> None:
    _, orders = ruled(clock, freeze_level=500)
    pos = orders.opened()
    assert orders.close(pos.ticket).retcode == c.TRADE_RETCODE_DONE


@pytest.mark.parametrize(("distance", "ok"), [(14, False), (15, True)])
def test_stops_level_override(clock: ManualClock, distance: int, ok: bool) -> None:
    _, orders = ruled(clock, stops_level=15)
    bid, _ = orders.tick()
    result = orders.buy(sl=round(bid - distance * POINT, 5))
    assert result.retcode == (c.TRADE_RETCODE_DONE if ok else c.TRADE_RETCODE_INVALID_STOPS)
