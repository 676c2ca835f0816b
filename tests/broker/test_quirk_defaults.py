"""Every quirk is off by default: the default simulator is the polite broker of the docs."""

from __future__ import annotations

import dataclasses

from dtms.broker import constants as c
from dtms.broker.sim import MarginMode, QuirkSettings, SimSettings
from dtms.broker.sim.clock import ManualClock
from dtms.broker.sim.symbols import default_symbols
from dtms.core.params import bounds_of, doc_of
from tests.broker.conftest import START, Orders, make_sim


def test_quirk_settings_are_documented_knobs_all_off() -> None:
    for f in dataclasses.fields(QuirkSettings):
        assert doc_of(f), f.name
    numeric = [f for f in dataclasses.fields(QuirkSettings) if f.type in ("int", "float")]
    assert all(bounds_of(f).ge is not None or bounds_of(f).gt is not None for f in numeric)
    assert QuirkSettings() == QuirkSettings(
        comment_drop=False, comment_truncate=0, comment_replace_on_stops=False,
        empty_snapshot_probability=0.0, partial_snapshot_probability=0.0, quiet_symbols=(),
        daily_breaks=(), autotrading_toggles_per_hour=0.0, volume_max=0.0, freeze_level=-1,
        stops_level=-1, hand_reversals_per_hour=0.0, hand_scale_ins_per_hour=0.0,
        foreign_magic=0, foreign_orders_per_hour=0.0,
    )
    assert SimSettings().quirks == QuirkSettings()


def test_a_default_netting_day_has_no_quirk_at_all() -> None:
    clock = ManualClock(START)
    sim = make_sim(clock, margin_mode=MarginMode.NETTING)
    orders = Orders(sim)
    bid, _ = orders.tick()
    mine = [orders.opened(s, volume=0.5, magic=9, comment="DTMS_HEDGE_557416502").ticket
            for s in ("EURUSD", "GBPUSD", "EURGBP")]
    assert orders.sltp(mine[0], round(bid - 0.01, 5), 0.0).retcode == c.TRADE_RETCODE_DONE
    for _ in range(24):
        clock.advance(900)
        assert sorted(p.ticket for p in sim.positions_get() or ()) == sorted(mine)
        terminal = sim.terminal_info()
        assert terminal is not None and terminal.trade_allowed
        for symbol in ("EURUSD", "GBPUSD", "EURGBP", "US30"):
            tick = sim.symbol_info_tick(symbol)
            assert tick is not None and clock() - tick.time < 60
            check = sim.order_check({"action": 1, "symbol": symbol, "volume": 0.1, "type": 0})
            assert check is not None and check.retcode == 0
    deals = [d for d in sim.history_deals_get(START, clock()) or () if d.symbol]
    assert [d.entry for d in deals] == [c.DEAL_ENTRY_IN] * 3
    assert {d.comment for d in deals} == {p.comment for p in sim.positions_get() or ()} == {
        "DTMS_HEDGE_557416502"}
    for name, sym in default_symbols().items():
        info = sim.symbol_info(name)
        assert info is not None and info.volume_max == sym.volume_max
