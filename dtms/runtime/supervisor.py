"""The supervisor: reconciles broker positions every cycle and runs one actor per ticket.

Theory of operation (specification §5). Each cycle takes **one** ``positions_get`` through the
gateway and diffs the *union* of the tickets it knows (actors, journal) and the tickets the
broker lists — diffing only the broker's list would miss the trades that vanished. A new ticket
gets an actor; a vanished one is told so (its actor closes the trade and handles the orphan
hedge); the rest get the snapshot. Positions carrying dtms's own comments and magic (hedges,
re-adds) are linked to their parent, never managed as trades. A failed snapshot skips the cycle:
an unknown is never read as "everything vanished".

A crashed actor is restarted from its journaled state (budget: ``restart_budget`` restarts within
``restart_window_seconds``, waits ``restart_delays``); past the budget it is quarantined — its
broker-side SL checked, the trade flagged in the journal and in status — while every other
actor keeps running.
"""

from __future__ import annotations

import gc
import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import trio
from loguru import logger

from dtms.broker import constants as C
from dtms.core.indicators import IndicatorParams
from dtms.core.messages import Action, ClosePosition, Role
from dtms.core.pending import resume
from dtms.core.regime import RegimeParams
from dtms.core.trade import TradeState, new_trade
from dtms.core.types import AccountView, PositionView, Side, State
from dtms.runtime.actor import ActorContext, CycleInput, TradeActor
from dtms.runtime.events import EventKind, OperatorEvent, Severity
from dtms.runtime.execution import ExecContext, Executor
from dtms.runtime.gateway_stats import percentile
from dtms.runtime.market_data import FeedView, SymbolFeed
from dtms.runtime.settings import MarketDataSettings, SupervisorSettings

ActorFactory = Callable[[TradeState, ActorContext], TradeActor]


def position_view(p: Any) -> PositionView:
    """The core's view of an MT5 ``TradePosition`` (positional: this runs per position)."""
    return PositionView(
        int(p.ticket), str(p.symbol), Side.BUY if p.type == C.POSITION_TYPE_BUY else Side.SELL,
        float(p.volume), float(p.price_open), float(p.sl), float(p.tp), float(p.price_current),
        int(p.magic), str(p.comment), int(p.time), float(p.profit),
    )


@dataclass(slots=True)
class Book:
    """One snapshot, sorted into main trades and the positions dtms opened for them."""

    mains: dict[int, PositionView]
    hedges: dict[int, list[PositionView]]
    readds: dict[int, list[PositionView]]


def sort_positions(positions: list[PositionView], ctx: ActorContext,
                   ignore_magics: tuple[int, ...]) -> Book:
    """Split a snapshot by what dtms made of each position."""
    p = ctx.policy.actions
    book = Book({}, {}, {})
    for pos in positions:
        if pos.magic in ignore_magics:
            continue
        parent = None
        target = None
        if pos.magic == p.magic:
            for prefix, where in ((p.hedge_comment_prefix, book.hedges),
                                  (p.readd_comment_prefix, book.readds)):
                if pos.comment.startswith(prefix) and pos.comment[len(prefix):].isdigit():
                    parent, target = int(pos.comment[len(prefix):]), where
        if parent is None or target is None:
            book.mains[pos.ticket] = pos
        else:
            target.setdefault(parent, []).append(pos)
    return book


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one cycle did (for logs, status and the benchmark)."""

    at: float
    ok: bool
    positions: int = 0
    trades: int = 0
    spawned: int = 0
    vanished: int = 0
    new_bars: int = 0
    calls: int = 0
    delivered: int = 0
    """Actors woken this cycle (the others saw nothing new and were not due)."""
    duration: float = 0.0
    """Trio seconds from the snapshot request to the last actor woken (queue waits included)."""


class CycleTimes:
    """Durations of the recent cycles (bounded), for status, metrics and benchmarks."""

    def __init__(self, keep: int = 600) -> None:
        self.recent: deque[float] = deque(maxlen=keep)
        self.count = 0

    def add(self, seconds: float) -> None:
        """Record one cycle's duration."""
        self.recent.append(seconds)
        self.count += 1

    def summary(self) -> dict[str, float | None]:
        """Last, median and 95th percentile of the recent cycles (None before the first)."""
        window = sorted(self.recent)
        return {
            "last": self.recent[-1] if self.recent else None,
            "p50": percentile(window, 50),
            "p95": percentile(window, 95),
            "max": window[-1] if window else None,
        }


class Supervisor:
    """Reconciles broker positions and supervises the trade actors."""

    def __init__(self, ctx: ActorContext, settings: SupervisorSettings,
                 md_settings: MarketDataSettings, ind_params: IndicatorParams,
                 regime_params: RegimeParams, *, actor_factory: ActorFactory = TradeActor) -> None:
        self.ctx = ctx
        self.s = settings
        self.md = md_settings
        self.ind_params = ind_params
        self.regime_params = regime_params
        self.actor_factory = actor_factory
        self.actors: dict[int, TradeActor] = {}
        self.quarantined: dict[int, str] = {}
        self.retired: OrderedDict[int, None] = OrderedDict()
        self.feeds: dict[str, SymbolFeed] = {}
        self.active_symbols: set[str] = set()
        self.account = AccountView(hedging=True, trade_allowed=True)
        self.cycles = 0
        self.last_report: CycleReport | None = None
        self.cycle_times = CycleTimes()
        self._epoch = -1
        self._nursery: trio.Nursery | None = None
        self._orphans_closing: dict[int, float] = {}
        self._snapshot_failing = False
        self._mains: dict[int, PositionView] = {}
        self._delivered: dict[int, tuple[object, ...]] = {}
        self.log = logger.bind(component="supervisor")

    # ------------------------------------------------------------------ lifecycle

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Resume journaled trades, then cycle until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await self.refresh_account()
            journaled = self.ctx.journal.file.open_trades()
            await self._calibrate_clock({t.symbol for t in journaled})
            now = self.ctx.broker_now()
            for trade in journaled:
                self._spawn(resume(trade, now))
            if self.actors:
                self.log.info(f"resumed {len(self.actors)} trade(s) from the journal")
            task_status.started()
            last_gc = time.monotonic()
            while True:
                started = trio.current_time()
                report = await self.cycle()
                self.cycle_times.add(report.duration)
                if time.monotonic() - last_gc >= self.s.gc_interval_seconds:
                    gc.collect()  # between cycles; automatic collection is off (app.serve)
                    last_gc = time.monotonic()
                await trio.sleep_until(started + self.s.cycle_seconds)

    async def refresh_account(self) -> None:
        """Read the account's margin mode and trading permissions."""
        gw = self.ctx.gateway
        acc = (await gw.call("account_info")).value
        term = (await gw.call("terminal_info")).value
        if acc is None:
            self.log.warning("account_info unavailable; keeping the previous account view")
            return
        hedging = int(acc.margin_mode) == C.ACCOUNT_MARGIN_MODE_RETAIL_HEDGING
        allowed = bool(acc.trade_allowed) and bool(getattr(acc, "trade_expert", True))
        if term is not None:
            allowed = allowed and bool(term.trade_allowed)
        previous = self.account
        self.account = AccountView(hedging, allowed, float(acc.margin_free), str(acc.currency))
        if not hedging and (previous.hedging or self._epoch < 0):
            self.log.warning(f"account {acc.login} is a netting account: an opposite order "
                             "would net the position, so dtms will tighten stops and close "
                             "partials but never hedge")
        if not allowed:
            self.log.warning("trading is not allowed on this account/terminal (AutoTrading "
                             "off or investor login): actions will be refused")
        self._epoch = self.ctx.gateway.connection_epoch

    async def _calibrate_clock(self, symbols: set[str]) -> None:
        """Learn the broker's clock from a tick before the first cycle stamps anything.

        Only for a live broker (where the clock is estimated); without a quote yet (no trades,
        market closed) the first feed's tick calibrates it, and cycles wait for that.
        """
        if self.ctx.observe_time is None:
            return
        gw = self.ctx.gateway
        if not symbols:
            positions = (await gw.call("positions_get")).value or ()
            symbols = {str(p.symbol) for p in positions}
        for sym in sorted(symbols):
            tick = (await gw.call("symbol_info_tick", sym)).value
            if tick is not None and float(getattr(tick, "time", 0.0)) > 0:
                self.ctx.observe_time(float(tick.time))
                return

    # ------------------------------------------------------------------ one cycle

    async def cycle(self) -> CycleReport:
        """Take one snapshot and bring every actor up to date."""
        gw = self.ctx.gateway
        if gw.connection_epoch != self._epoch:
            self.log.info("broker (re)connected: full reconciliation")
            await self.refresh_account()
        calls0 = gw.statistics().calls_total
        started = trio.current_time()
        now = self.ctx.broker_now()
        r = await gw.call("positions_get")
        if not r.ok or r.value is None:
            if not self._snapshot_failing:
                self.log.warning(f"positions snapshot failed ({r.reason}); skipping the cycle, "
                                 "nothing is assumed closed")
            self._snapshot_failing = True
            self.last_report = CycleReport(now, False, duration=trio.current_time() - started)
            return self.last_report
        if self._snapshot_failing:
            self.log.info("positions snapshot works again")
        self._snapshot_failing = False
        book = sort_positions([position_view(p) for p in r.value], self.ctx, self.s.ignore_magics)
        self._mains = book.mains
        symbols = {p.symbol for p in book.mains.values()}
        symbols |= {a.trade.symbol for a in self.actors.values()}
        new_bars = 0
        for sym in sorted(symbols):
            new_bars += await self._refresh_feed(sym, now)
        if not self.ctx.clock_known():
            # the broker has not told its time yet: nothing is stamped with a guess
            self.last_report = CycleReport(now, False, duration=trio.current_time() - started)
            return self.last_report
        self.active_symbols = symbols
        views = {sym: self.feeds[sym].view(now) for sym in symbols if sym in self.feeds}
        spawned = vanished = delivered = 0
        deep_left = self.s.max_deep_checks_per_cycle
        for ticket in sorted(set(self.actors) | set(book.mains)):
            if ticket in self.quarantined:
                continue
            main = book.mains.get(ticket)
            actor = self.actors.get(ticket)
            if actor is None:
                if main is None or ticket in self.retired:
                    continue
                actor = self._spawn(self._first_sight(main, now))
                spawned += 1
            if main is None:
                vanished += 1
            known_hedge = actor.trade.hedge.ticket if actor.trade.hedge else None
            hedge = _pick(book.hedges.get(ticket, []), known_hedge)
            readd = _pick(book.readds.get(ticket, []), actor.trade.readd_ticket)
            view = views.get(actor.trade.symbol)
            # an unchanged slice of the snapshot is not worth waking the actor for, until it
            # is due (a fast check, a timer, a command at the broker)
            sig = (_facts(main), _facts(hedge), _facts(readd), self.account,
                   (view.m5_time, view.m15_close, view.stale) if view else None)
            before = self._delivered.get(ticket)
            if sig == before and now < actor.due_at():
                continue
            if view is not None and view.m15_close * 1000 > actor.trade.last_eval_id:
                # a deep check: a bar's checks beyond the budget wait a cycle, unless this
                # trade's facts changed or a timer or a command outcome needs it now
                if deep_left <= 0 and before is not None and sig[:4] == before[:4] \
                        and now < actor.urgent_at():
                    continue
                deep_left -= 1
            self._delivered[ticket] = sig
            delivered += 1
            actor.deliver(CycleInput(now, main, hedge, readd, view, self.account))
        self._orphans(book, now, views)
        self.cycles += 1
        report = CycleReport(now, True, len(r.value), len(self.actors), spawned, vanished,
                             new_bars, gw.statistics().calls_total - calls0, delivered,
                             trio.current_time() - started)
        self.last_report = report
        return report

    async def _refresh_feed(self, sym: str, now: float) -> int:
        feed = self.feeds.get(sym)
        if feed is None:
            feed = SymbolFeed(sym, self.ctx.gateway, self.md, self.ind_params, self.regime_params,
                              self.ctx.observe_time)
            self.feeds[sym] = feed
            if not await feed.backfill(now):
                self.log.warning(f"{sym}: {feed.error or 'backfill incomplete'}")
            return 1
        if feed.spec is None:
            if not await feed.backfill(now):
                return 0
            return 1
        if feed.due(now):
            return int(await feed.refresh(now))
        return 0

    def _first_sight(self, main: PositionView, now: float) -> TradeState:
        known = self.ctx.journal.file.load(main.ticket)
        if known is None:
            self.log.info(f"#{main.ticket} {main.symbol} {main.side.value} {main.volume} lots "
                          f"@ {main.price_open}: now managed (SL {main.sl or 'none'})")
            return new_trade(main, now)
        if known.is_open:
            return resume(known, now)
        self.log.error(f"#{main.ticket} was CLOSED in the journal ({known.close_reason}) but the "
                       "broker lists it again: managing it again from HEALTHY")
        return replace(known, state=State.HEALTHY, since=now, closed_at=None, close_reason="",
                       pending=None, volume=main.volume, sl=main.sl, tp=main.tp)

    # ------------------------------------------------------------------ actors

    def _spawn(self, trade: TradeState) -> TradeActor:
        assert self._nursery is not None
        self.ctx.journal.save_nowait(trade, self.ctx.broker_now())  # known from now on
        actor = self.actor_factory(trade, self.ctx)
        self.actors[trade.ticket] = actor
        self._nursery.start_soon(self._supervise, actor)
        return actor

    async def _supervise(self, actor: TradeActor) -> None:
        ticket = actor.ticket
        restarts: list[float] = []
        while True:
            try:
                await actor.run()
                break
            except Exception as exc:  # one actor's crash never stops the others
                now = trio.current_time()
                restarts = [t for t in restarts if now - t < self.s.restart_window_seconds]
                actor.log.opt(exception=exc).error(
                    f"#{ticket} actor crashed ({type(exc).__name__}: {exc}); "
                    f"{len(restarts)} restart(s) in the last {self.s.restart_window_seconds:g} s")
                if len(restarts) >= self.s.restart_budget:
                    self._quarantine(actor, exc)
                    return
                delay = self.s.restart_delays[len(restarts)]
                restarts.append(now)
                await trio.sleep(delay)
                journaled = self.ctx.journal.file.load(ticket) or actor.trade
                last = actor.last_input
                actor = self.actor_factory(resume(journaled, self.ctx.broker_now()), self.ctx)
                self.actors[ticket] = actor
                actor.log.info(f"#{ticket} actor restarted from its journaled state "
                               f"({actor.trade.state.value})")
                if last is not None:
                    actor.deliver(last)
        if self.actors.get(ticket) is actor:
            del self.actors[ticket]
            self._delivered.pop(ticket, None)
        self.retired[ticket] = None
        while len(self.retired) > 10_000:
            self.retired.popitem(last=False)

    def _quarantine(self, actor: TradeActor, exc: BaseException) -> None:
        ticket = actor.ticket
        self.actors.pop(ticket, None)
        main = self._mains.get(ticket)
        sl_note = "SL at the broker: none!" if main is not None and main.sl <= 0 else (
            f"SL at the broker: {main.sl}" if main is not None else "position not seen")
        reason = f"quarantined after {self.s.restart_budget} restarts ({exc}); {sl_note}"
        self.quarantined[ticket] = reason
        actor.log.error(f"#{ticket} {reason}; all other trades keep running")
        self.ctx.events.publish(OperatorEvent(
            EventKind.QUARANTINED, self.ctx.broker_now(), f"#{ticket} {reason}",
            Severity.CRITICAL, ticket, actor.trade.symbol))
        trade, at = actor.trade, self.ctx.broker_now()
        self.ctx.journal.write_nowait(lambda f: f.save_trade(trade, at, quarantined=True,
                                                             alert=reason))

    # ------------------------------------------------------------------ orphans

    def _orphans(self, book: Book, now: float, views: dict[str, FeedView | None]) -> None:
        """Close hedges/re-adds whose parent is gone and has no actor (orphan policy)."""
        from dtms.core.policy import OrphanPolicy

        if self.ctx.policy.actions.orphan_hedge_policy is not OrphanPolicy.CLOSE:
            return
        live = set(self.actors) | set(book.mains) | set(self.quarantined)
        for parent, positions in (*book.hedges.items(), *book.readds.items()):
            if parent in live:
                continue
            for pos in positions:
                if now - self._orphans_closing.get(pos.ticket, -math.inf) < 30.0:
                    continue
                view = views.get(pos.symbol)
                if view is None or self._nursery is None or self.ctx.stopping:
                    continue
                self._orphans_closing[pos.ticket] = now
                self.log.warning(f"#{pos.ticket} ({pos.comment}) is an orphan: its trade "
                                 f"#{parent} is gone; closing it (orphan_hedge_policy = close)")
                self._nursery.start_soon(self._close_orphan, pos, parent, view)

    async def _close_orphan(self, pos: PositionView, parent: int, view: FeedView) -> None:
        ctx = ExecContext(self.ctx.gateway, view.spec, self.ctx.policy.actions,
                          self.ctx.broker_now, self.md.stale_tick_seconds)
        cmd = ClosePosition(f"{parent}-orphan-{pos.ticket}", Action.CLOSE_ALL, pos.ticket,
                            pos.symbol, pos.side, pos.volume, Role.HEDGE)
        outcome = await Executor(ctx).execute(cmd)
        self.log.info(f"#{pos.ticket} orphan close: {type(outcome).__name__}")

    # ------------------------------------------------------------------ shutdown

    async def drain(self) -> None:
        """Stop new actions and wait until no actor is at the broker."""
        self.ctx.stopping = True
        while any(a.busy for a in self.actors.values()):
            await trio.sleep(0.01)


def _facts(p: PositionView | None) -> tuple[object, ...] | None:
    """What of a position matters to its actor between fast checks (not the moving price)."""
    return None if p is None else (p.ticket, p.volume, p.sl, p.tp)


def _pick(positions: list[PositionView], known: int | None) -> PositionView | None:
    if not positions:
        return None
    for p in positions:
        if known and p.ticket == known:
            return p
    return positions[0]
