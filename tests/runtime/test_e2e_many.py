"""Many trades needing a hedge in the same cycle: exactly one hedge each, margin respected."""

from __future__ import annotations

import gc
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import trio
import trio.testing

from dtms.broker.sim import SimSettings
from dtms.broker.sim.symbols import default_symbols
from dtms.config import Settings
from dtms.core.machine import Decision
from dtms.core.messages import Evaluated
from dtms.core.score import ScoreResult
from dtms.core.types import State
from dtms.runtime.settings import SupervisorSettings

from .harness import HOUR, Harness, OnSend, journal_rows, path, simulated

N = 200
# 200 actors over hours of virtual time: a 10 s cycle keeps the run short
SETTINGS = Settings(supervisor=replace(SupervisorSettings(), cycle_seconds=10.0))


def _open_many(h: Harness, volume: float) -> tuple[list[int], float]:
    tick = h.sim.symbol_info_tick("EURUSD")
    tickets = [h.sim.scenario.open_position("EURUSD", "BUY", volume, sl=round(tick.ask - 0.0150, 5))
               for _ in range(N)]
    return tickets, (tick.bid + tick.ask) / 2


def _hedge_tickets(h: Harness) -> Counter[str]:
    return Counter(p.comment for p in h.sim.positions_get() if p.comment.startswith("DTMS_HEDGE_"))


async def test_two_hundred_trades_hedging_in_one_cycle_get_exactly_one_hedge_each(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock, settings=SETTINGS,
                         sim_settings=SimSettings(balance=1_000_000.0)) as h:
        tickets, mid = _open_many(h, 0.04)
        path(h.sim, "EURUSD", h.now(), mid, [(0, 0), (135, -42), (330, -50)])
        await h.until(lambda: all(h.state(t) is State.WARNING_L2 for t in tickets),
                      within=4 * HOUR, what="all in WARNING_L2")
        await h.until(lambda: all(h.state(t) is State.HEDGED for t in tickets), within=HOUR,
                      what="all hedged")
        intents = h.app.journal.file.conn.execute(
            "SELECT min(ts), max(ts), count(*) FROM actions WHERE type='open_hedge'").fetchone()
        assert intents[2] == N  # one intent per trade, all decided in the same cycle:
        assert intents[1] - intents[0] <= h.settings.supervisor.cycle_seconds
        hedges = _hedge_tickets(h)
        assert len(hedges) == N and set(hedges.values()) == {1}
        assert set(hedges) == {f"DTMS_HEDGE_{t}" for t in tickets}
        await trio.sleep(600)  # later cycles add nothing
        assert _hedge_tickets(h) == hedges
        stored = {h.trade(t).hedge.ticket for t in tickets}  # type: ignore[union-attr]
        assert len(stored) == N


async def test_with_margin_for_only_some_the_rest_stay_l2_with_a_journaled_10019(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    # locked (hedged) volume charged in full, so every hedge needs margin of its own
    eurusd = replace(default_symbols()["EURUSD"], margin_hedged=100_000.0)
    async with simulated(tmp_path, autojump_clock, settings=SETTINGS,
                         sim_symbols={"EURUSD": eurusd},
                         sim_settings=SimSettings(balance=100_000.0)) as h:
        tickets, mid = _open_many(h, 0.04)
        path(h.sim, "EURUSD", h.now(), mid, [(0, 0), (135, -42), (330, -50)])
        await h.until(lambda: all(h.state(t) is State.WARNING_L2 for t in tickets),
                      within=4 * HOUR, what="all in WARNING_L2")
        # leave free margin for about half of the hedges
        tick = h.sim.symbol_info_tick("EURUSD")
        per_hedge = h.sim.order_calc_margin(h.sim.ORDER_TYPE_SELL, "EURUSD", 0.01, tick.bid)
        free = h.sim.account_info().margin_free
        h.sim.scenario.deposit(-(free - per_hedge * N / 2), "withdrawal")
        await h.until(lambda: any(h.state(t) is State.HEDGED for t in tickets), within=HOUR,
                      what="the first hedge")
        await trio.sleep(h.settings.supervisor.cycle_seconds * 5)
        hedged = [t for t in tickets if h.state(t) is State.HEDGED]
        waiting = [t for t in tickets if h.state(t) is State.WARNING_L2]
        assert hedged and waiting and len(hedged) + len(waiting) == N
        hedges = _hedge_tickets(h)
        assert set(hedges) == {f"DTMS_HEDGE_{t}" for t in hedged}
        assert set(hedges.values()) == {1}
        account = h.sim.account_info()
        assert account.margin_level > h.sim.settings.stop_out  # no stop-out was risked
    failed = journal_rows(tmp_path, "SELECT ticket, retcode FROM actions WHERE type='open_hedge' "
                          "AND status='failed'")
    assert {t for t, _ in failed} == set(waiting)
    assert {rc for _, rc in failed} == {10019}


async def test_trades_waiting_in_the_gateway_keep_neither_their_score_nor_their_decision(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    """In a burst every trade waits in the gateway's queue at once; what each keeps while it
    waits is multiplied by the book (it once kept its deep check's event, score and decision,
    several KB a trade)."""
    seen: dict[str, int] = {}
    hedges_sent = 0

    def hedge(request: dict[str, Any]) -> bool:
        nonlocal hedges_sent
        if str(request.get("comment", "")).startswith("DTMS_HEDGE_"):
            hedges_sent += 1
        return hedges_sent == N // 2

    def count(_request: dict[str, Any]) -> None:
        gc.collect()
        kinds = (Evaluated, ScoreResult, Decision)
        for o in gc.get_objects():
            if isinstance(o, kinds):
                seen[type(o).__name__] = seen.get(type(o).__name__, 0) + 1

    async with simulated(tmp_path, autojump_clock, settings=SETTINGS,
                         sim_settings=SimSettings(balance=1_000_000.0),
                         wrap=lambda sim: OnSend(sim, hedge, count, times=N)) as h:
        tickets, mid = _open_many(h, 0.04)
        path(h.sim, "EURUSD", h.now(), mid, [(0, 0), (135, -42), (330, -50)])
        await h.until(lambda: all(h.state(t) is State.HEDGED for t in tickets),
                      within=5 * HOUR, what="all hedged")
    assert hedges_sent == N  # counted halfway, with the other half waiting
    assert "Evaluated" not in seen and "ScoreResult" not in seen, f"kept while waiting: {seen}"
    # a decision lives on only in a journal write queued for the next commit
    assert seen.get("Decision", 0) <= N // 10, f"kept while waiting: {seen}"
