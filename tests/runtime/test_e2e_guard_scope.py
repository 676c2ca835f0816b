"""Scope filters on the simulator, checked at the broker: include lists, the spread filter, the
news blackout and flattening before news."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from dtms.broker.sim import SimBroker
from dtms.config import Settings
from dtms.core.messages import Wait
from dtms.core.news import NewsFlatten, NewsPolicy
from dtms.core.types import State
from dtms.runtime.scope import ScopeSettings

from .harness import HOUR, Harness, journal_rows, open_trade, path, simulated

MAGIC = Settings().actions.magic
GRIND = [(0, 0), (135, -42), (330, -50)]


def _slow(s: Settings) -> Settings:
    """10 s cycles: hours of grinding, decided on M15 bars."""
    return replace(s, supervisor=replace(s.supervisor, cycle_seconds=10.0))


def _clock(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _dtms_deals(h: Harness, ticket: int) -> list[Any]:
    return [d for d in h.deals_of(ticket) if d.magic == MAGIC]


def _actions(tmp_path: Path, ticket: int) -> list[tuple[float, str, str]]:
    rows = journal_rows(tmp_path, "SELECT ts, type, status FROM actions WHERE ticket=? "
                        "ORDER BY ts", ticket)
    return [tuple(r) for r in rows]


async def test_only_positions_matching_every_include_list_are_managed(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    s = Settings()
    scope = ScopeSettings(include_symbols=("EURUSD",), include_magics=(0, 42),
                          include_comment_prefixes=("keep",))
    async with simulated(tmp_path, autojump_clock, symbols=("EURUSD", "GBPUSD"),
                         settings=_slow(replace(s, scope=scope))) as h:
        eur = h.sim.symbol_info_tick("EURUSD")
        mid, sl = (eur.bid + eur.ask) / 2, round(eur.bid - 0.0150, 5)
        managed = h.sim.scenario.open_position("EURUSD", "BUY", 1.0, sl=sl, comment="keep 1")
        ea = h.sim.scenario.open_position("EURUSD", "BUY", 1.0, sl=sl, magic=42,
                                          comment="keeper", manual=False)
        wrong_comment = h.sim.scenario.open_position("EURUSD", "BUY", 1.0, sl=sl,
                                                     comment="other")
        wrong_magic = h.sim.scenario.open_position("EURUSD", "BUY", 1.0, sl=sl, magic=99,
                                                   comment="keep", manual=False)
        gbp = h.sim.symbol_info_tick("GBPUSD")
        gbp_sl = round(gbp.bid - 0.0150, 5)
        wrong_symbol = h.sim.scenario.open_position("GBPUSD", "BUY", 1.0, sl=gbp_sl,
                                                    comment="keep")
        path(h.sim, "EURUSD", h.now(), mid, GRIND)
        path(h.sim, "GBPUSD", h.now(), (gbp.bid + gbp.ask) / 2, GRIND)
        await h.until(lambda: h.state(managed) in (State.WARNING_L2, State.HEDGED),
                      within=5 * HOUR, what="the managed trade in trouble")
        await h.settle()
        for ticket in (managed, ea):
            assert h.state(ticket) is not None and _dtms_deals(h, ticket)
        for ticket, stop in ((wrong_comment, sl), (wrong_magic, sl), (wrong_symbol, gbp_sl)):
            assert h.state(ticket) is None  # never managed
            assert _dtms_deals(h, ticket) == []
            pos = h.position(ticket)
            assert pos is not None and pos.volume == 1.0 and pos.sl == pytest.approx(stop)
        assert "GBPUSD" not in h.app.supervisor.feeds  # no bars read for what is not managed


class WideQuotes:
    """The simulator, quoting ``symbol`` with its ask ``extra`` higher between two broker times
    (the simulator has no scripted spread of its own)."""

    def __init__(self, sim: SimBroker, symbol: str, start: float, end: float,
                 extra: float) -> None:
        self._sim, self._symbol, self.start, self.end, self._extra = sim, symbol, start, end, \
            extra

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sim, name)

    def symbol_info_tick(self, symbol: str) -> Any:
        tick = self._sim.symbol_info_tick(symbol)
        if tick is not None and symbol == self._symbol and \
                self.start <= self._sim.market.now < self.end:
            return tick._replace(ask=round(tick.ask + self._extra, 5))
        return tick


async def test_no_defensive_order_while_the_spread_is_far_above_its_typical_value(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    s = Settings()
    s = _slow(replace(s, scope=ScopeSettings(spread_filter_multiple=3.0),
                      machine=replace(s.machine, close_on_choch=False)))  # defensive orders only
    wide: list[WideQuotes] = []

    def wrap(sim: SimBroker) -> WideQuotes:
        t0 = sim.market.now  # an hour of ordinary spreads first: the typical spread
        wide.append(WideQuotes(sim, "EURUSD", t0 + 62 * 60, t0 + 90 * 60, 0.0010))  # +10 pips
        return wide[0]

    async with simulated(tmp_path, autojump_clock, settings=s, wrap=wrap) as h:
        ticket, mid = open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
        # quiet while dtms learns the typical spread, then down while the spread is wide
        path(h.sim, "EURUSD", h.now(), mid, [(0, 0), (62, -5), (75, -40), (600, -45)])
        await h.until(lambda: h.state(ticket) is not None and h.trade(ticket).blocked
                      is not None, within=2 * HOUR,
                      what="a defensive order held back")
        blocked = h.trade(ticket).blocked
        assert blocked is not None and blocked.wait is Wait.WIDE_SPREAD
        assert wide[0].start <= h.now() < wide[0].end
        await trio.sleep(wide[0].end - h.now() + 120)
        assert h.trade(ticket).blocked is None  # the wait is lifted once the spread narrowed
    actions = _actions(tmp_path, ticket)
    while_wide = [a for a in actions if wide[0].start + 60 <= a[0] < wide[0].end]
    assert while_wide == []  # nothing new went out while the spread was wide
    notes = journal_rows(tmp_path, "SELECT kind, text FROM notes WHERE ticket=? AND text LIKE "
                         "'%spread%'", ticket)
    assert len(notes) == 1 and notes[0][0] == "waiting"


def _calendar(tmp_path: Path, at: float, currency: str) -> str:
    p = tmp_path / "week.csv"
    p.write_text(f"time,currency,impact,title\n{_clock(at)},{currency},high,Rate decision\n"
                 f"{_clock(at)},JPY,low,Minor data\n")
    return str(p)


async def test_a_hedge_waits_out_a_news_blackout(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    s = Settings()
    start = s.broker.sim.start_time
    event = start + 2 * HOUR + 15 * 60  # the grind reaches the hedge trigger at about 2 h
    news = NewsPolicy(calendar=_calendar(tmp_path, event, "EUR"), blackout_minutes=30.0)
    async with simulated(tmp_path, autojump_clock, settings=_slow(replace(s, news=news))) as h:
        ticket, mid = open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
        path(h.sim, "EURUSD", h.now(), mid, [(0, 0), (135, -42), (600, -50)])
        await h.until(lambda: h.state(ticket) is not None and h.trade(ticket).blocked
                      is not None, within=4 * HOUR, what="the hedge held back")
        blocked = h.trade(ticket).blocked
        assert blocked is not None and blocked.wait is Wait.NEWS and blocked.rule == "hedge"
        assert event - 30 * 60 <= h.now() <= event + 30 * 60
        await trio.sleep(event + 30 * 60 - h.now() + 60)
        assert h.trade(ticket).blocked is None  # planned again once the window passed
        await trio.sleep(HOUR)
        opens = [d.time for d in h.sim.history_deals_get(0, int(h.now()) + 1) or ()
                 if d.magic == MAGIC and d.entry == 0]
        assert all(not event - 30 * 60 <= t <= event + 30 * 60 for t in opens)
    notes = journal_rows(tmp_path, "SELECT kind, text FROM notes WHERE ticket=? AND text LIKE "
                         "'%news%'", ticket)
    assert notes and notes[0][0] == "waiting" and "EUR Rate decision" in notes[0][1]


async def test_flatten_before_news_closes_the_affected_trades_only(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    s = Settings()
    event = s.broker.sim.start_time + HOUR
    news = NewsPolicy(calendar=_calendar(tmp_path, event, "EUR"), flatten=NewsFlatten.ALL,
                      flatten_minutes=10.0)
    async with simulated(tmp_path, autojump_clock, symbols=("EURUSD", "GBPUSD"),
                         settings=replace(s, news=news)) as h:
        eur, _ = open_trade(h.sim, "EURUSD", "BUY", 0.5, stop_pips=150)
        gbp, _ = open_trade(h.sim, "GBPUSD", "SELL", 0.5, stop_pips=150)
        await h.until(lambda: h.state(eur) is State.CLOSED, within=2 * HOUR, what="closed")
        (close,) = [d for d in _dtms_deals(h, eur)]
        assert event - 10 * 60 <= close.time < event
        assert "news in" in h.trade(eur).close_reason
        assert h.position(gbp) is not None and h.state(gbp) is not State.CLOSED
