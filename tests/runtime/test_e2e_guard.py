"""The account guard on the simulator, checked at the broker (issue 11).

An equity drop through the warning and breach levels: everything dtms manages is closed (a
hedged trade by close-by), a position opened while locked is closed, a restart keeps the lock,
the next reset releases it; an operator's unlock reaches the running process through the
journal.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import trio
import trio.testing

from dtms.broker import constants as C
from dtms.config import Settings
from dtms.core.guard_limits import FlattenScope, GuardSettings
from dtms.core.types import State
from dtms.guard_cli import request_unlock
from dtms.ops.context import Ops
from dtms.runtime.events import EventKind, OperatorEvent

from ..ops.kit import api_client
from .harness import HOUR, Harness, journal_rows, open_trade, path, simulated

MAGIC = Settings().actions.magic
GBP_PIP = 0.0001


def _guarded(reset_hour: float = 0.0, **kw: object) -> Settings:
    """3 % daily and 10 % overall of the 10,000 USD account; warning at 80 %."""
    s = Settings()
    guard = GuardSettings(daily_loss=3.0, overall_loss=10.0, reset_hour=reset_hour)
    return replace(s, guard=replace(guard, **kw))


def _drain(events: trio.MemoryReceiveChannel[OperatorEvent]) -> list[OperatorEvent]:
    out = []
    while True:
        try:
            out.append(events.receive_nowait())
        except trio.WouldBlock:
            return out


def _open_positions(h: Harness) -> list[int]:
    return [int(p.ticket) for p in h.sim.positions_get() or ()]


async def _drop_gbpusd(h: Harness, lots: float = 1.0, pips: float = 40.0) -> int:
    """A hand trade on GBPUSD whose price falls ``pips`` in 20 minutes."""
    ticket, mid = open_trade(h.sim, "GBPUSD", "BUY", lots, stop_pips=150)
    path(h.sim, "GBPUSD", h.now(), mid, [(0, 0), (10, -pips / 2), (20, -pips), (600, -pips)])
    return ticket


async def test_a_breach_closes_everything_keeps_the_account_flat_survives_a_restart_and_resets(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    settings = _guarded(reset_hour=8.0)  # the simulation starts at 07:00: a reset at 08:00
    async with simulated(tmp_path, autojump_clock, symbols=("EURUSD", "GBPUSD"),
                         settings=settings) as h:
        guard = h.app.supervisor.guard
        with h.app.events.subscribe() as events:
            other, _ = open_trade(h.sim, "EURUSD", "SELL", 0.1, stop_pips=150)
            ticket = await _drop_gbpusd(h)
            await h.until(lambda: bool(guard.lock), within=HOUR, what="the lock")
            kinds = [e.kind for e in _drain(events)]
            assert kinds.index(EventKind.GUARD_WARNING) < kinds.index(EventKind.GUARD_TRIGGERED)
            assert "daily loss limit reached" in guard.lock
            await h.until(lambda: _open_positions(h) == [], within=60,
                          what="every position closed")
        await h.until(lambda: h.state(ticket) is h.state(other) is State.CLOSED, within=60,
                      what="both trades closed")
        for t in (ticket, other):
            assert "account guard" in h.trade(t).close_reason
            assert [d.magic for d in h.deals_of(t) if d.entry == C.DEAL_ENTRY_OUT] == [MAGIC]
        locked_at = h.now()
        assert locked_at < h.epoch + HOUR  # before the reset
        # a position opened while locked is closed
        late = h.sim.scenario.open_position("EURUSD", "BUY", 0.2)
        await h.until(lambda: h.position(late) is None, within=60, what="the new one closed")
        status = guard.status()
        assert status["locked"] and status["limits"]["daily"]["level"] == "breached"
    # a restart keeps the lock and its reason
    async with simulated(tmp_path, autojump_clock, symbols=("EURUSD", "GBPUSD"),
                         settings=settings, sim=h.sim) as h2:
        guard = h2.app.supervisor.guard
        assert "daily loss limit reached" in guard.lock
        again = h2.sim.scenario.open_position("GBPUSD", "SELL", 0.1)
        await h2.until(lambda: h2.position(again) is None, within=60, what="closed after restart")
        with h2.app.events.subscribe() as events:
            reset = h2.epoch + HOUR  # 08:00
            await trio.sleep(reset - h2.now() + 10)
            assert guard.lock == ""
            assert EventKind.GUARD_RELEASED in [e.kind for e in _drain(events)]
        kept = h2.sim.scenario.open_position("EURUSD", "BUY", 0.1)
        await trio.sleep(600)
        assert h2.position(kept) is not None  # unlocked: dtms manages it again, not closes it
        assert h2.state(kept) is not State.CLOSED
    saved = journal_rows(tmp_path, "SELECT value FROM meta WHERE key='guard'")
    assert '"lock": null' in saved[0][0]


async def test_a_hedged_trade_is_closed_by_close_by_when_the_account_breaches(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    settings = _guarded()
    settings = replace(settings, supervisor=replace(settings.supervisor, cycle_seconds=10.0))
    async with simulated(tmp_path, autojump_clock, symbols=("EURUSD", "GBPUSD"),
                         settings=settings) as h:
        ticket, mid = open_trade(h.sim, "EURUSD", "BUY", 0.2, stop_pips=150)
        path(h.sim, "EURUSD", h.now(), mid, [(0, 0), (135, -42), (330, -50)])
        await h.until(lambda: h.state(ticket) is State.HEDGED, within=6 * HOUR, what="HEDGED")
        hedge = h.trade(ticket).hedge
        assert hedge is not None and h.app.supervisor.guard.lock == ""
        await _drop_gbpusd(h)
        await h.until(lambda: _open_positions(h) == [], within=HOUR, what="all closed")
        await h.until(lambda: h.state(ticket) is State.CLOSED, within=60, what="trade closed")
        entries = {d.entry for d in h.deals_of(ticket)} | {d.entry for d in h.deals_of(
            hedge.ticket)}
        assert C.DEAL_ENTRY_OUT_BY in entries  # the hedge offset the main: one spread saved


async def test_an_operator_unlock_reaches_the_running_process_through_the_journal(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock, symbols=("EURUSD", "GBPUSD"),
                         settings=_guarded()) as h:
        guard = h.app.supervisor.guard
        await _drop_gbpusd(h)
        await h.until(lambda: bool(guard.lock), within=HOUR, what="the lock")
        await h.until(lambda: _open_positions(h) == [], within=60, what="flat")
        async with api_client(Ops(h.app, h.settings)) as client:  # the HTTP API shows it too
            api = (await client.get("/api/status")).json()["guard"]
        assert api["locked"] and api["limits"]["daily"]["level"] == "breached"
        assert api["limits"]["daily"]["distance"] <= 0
        request = request_unlock(h.settings.journal.path, "checked by hand")
        await h.until(lambda: guard.lock == "", within=30, what="the unlock")
        assert guard.state.request == request and "unlocked" in guard.state.answer
        assert guard.status()["suspended"] == ["daily"]
        kept = h.sim.scenario.open_position("EURUSD", "BUY", 0.1)
        await trio.sleep(300)
        assert h.position(kept) is not None  # the daily limit waits for the next reset


async def test_flatten_scope_account_also_closes_positions_dtms_leaves_alone(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    settings = _guarded(flatten_scope=FlattenScope.ACCOUNT)
    settings = replace(settings, supervisor=replace(settings.supervisor, ignore_magics=(777,)))
    async with simulated(tmp_path, autojump_clock, symbols=("EURUSD", "GBPUSD"),
                         settings=settings) as h:
        ignored = h.sim.scenario.open_position("EURUSD", "SELL", 0.1, magic=777, manual=False)
        await _drop_gbpusd(h)
        await h.until(lambda: bool(h.app.supervisor.guard.lock), within=HOUR, what="the lock")
        await h.until(lambda: h.position(ignored) is None, within=120, what="the ignored one")
        assert h.state(ignored) is None  # closed by the guard, never managed as a trade


async def test_with_hedge_risk_check_trades_plan_with_the_room_the_daily_limit_leaves(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock, symbols=("EURUSD", "GBPUSD"),
                         settings=_guarded(hedge_risk_check=True)) as h:
        await _drop_gbpusd(h, pips=15.0)
        await trio.sleep(20 * 60)
        sup = h.app.supervisor
        daily = sup.guard.status()["limits"]["daily"]
        room = sup.guard.account_view(sup.account).loss_room
        assert room is not None and 0 < room < 300.0
        assert room == pytest.approx(daily["distance"], abs=0.01)
    (tmp_path / "off").mkdir()
    async with simulated(tmp_path / "off", autojump_clock, settings=_guarded()) as h:
        sup = h.app.supervisor
        await h.settle()
        assert sup.guard.account_view(sup.account).loss_room is None


async def test_a_journaled_lock_is_not_enforced_once_the_config_sets_no_limit(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock, symbols=("EURUSD", "GBPUSD"),
                         settings=_guarded()) as h:
        await _drop_gbpusd(h)
        await h.until(lambda: bool(h.app.supervisor.guard.lock), within=HOUR, what="the lock")
    async with simulated(tmp_path, autojump_clock, symbols=("EURUSD", "GBPUSD"),
                         sim=h.sim) as h2:  # the limits removed from the config
        assert h2.app.supervisor.guard.lock == ""
        kept = h2.sim.scenario.open_position("EURUSD", "BUY", 0.1)
        await trio.sleep(300)
        assert h2.position(kept) is not None
        assert h2.app.supervisor.guard.status()["locked"] is False
