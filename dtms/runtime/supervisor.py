"""The supervisor: reconciles broker positions every cycle and runs one actor per ticket.

Theory of operation (specification §5). Each cycle takes **one** ``positions_get`` through the
gateway and diffs the *union* of the tickets it knows (actors, journal) and the tickets the
broker lists — diffing only the broker's list would miss the trades that vanished. Then:

* a watched position the snapshot lacks is carried until its absence is proven
  (``dtms.runtime.presence``): one glitching answer never retires a trade;
* dtms's own positions are linked to their trades by ticket (``dtms.runtime.identity``), never
  managed as trades; orphans and unexplained ones are handled by ``dtms.runtime.strays``;
* every active symbol's feed refreshes its bars when one closed and reads its tick, all
  concurrently so the gateway batches them; the freshest tick of the cycle moves the broker
  clock;
* a new ticket gets an actor, a vanished one is told so, the rest get the snapshot when it
  changed or they are due.

The account is re-read every ``account_refresh_seconds`` and the account's recent deals checked
for another manager (``dtms.runtime.account``). A failed snapshot skips the cycle: an unknown is
never read as "everything vanished".

A crashed actor is restarted from its journaled state (budget: ``restart_budget`` restarts within
``restart_window_seconds``, waits ``restart_delays``); past the budget it is quarantined — its
broker-side SL checked, the trade flagged in the journal and in status — while every other
actor keeps running.
"""

from __future__ import annotations

import gc
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import replace

import trio
from loguru import logger

from dtms.core.guard_limits import GuardSettings
from dtms.core.indicators import IndicatorParams
from dtms.core.news import NewsEvent
from dtms.core.pending import resume
from dtms.core.regime import RegimeParams
from dtms.core.trade import TradeState, new_trade
from dtms.core.types import AccountView, PositionView, State
from dtms.runtime.account import AccountWatch, ForeignWatch
from dtms.runtime.actor import ActorContext, TradeActor
from dtms.runtime.calendar import Calendar
from dtms.runtime.cycles import CycleReport, CycleTimes
from dtms.runtime.delivery import CycleInput, same_market, same_trade_facts
from dtms.runtime.events import EventKind, OperatorEvent, Severity
from dtms.runtime.guard import AccountGuard
from dtms.runtime.identity import Book, Ownership
from dtms.runtime.market_data import FeedView, SymbolFeed
from dtms.runtime.positions import position_view
from dtms.runtime.presence import Presence
from dtms.runtime.scope import Scope, ScopeSettings, SpreadWatch
from dtms.runtime.settings import MarketDataSettings, SupervisorSettings
from dtms.runtime.strays import Strays

ActorFactory = Callable[[TradeState, ActorContext], TradeActor]


class Supervisor:
    """Reconciles broker positions and supervises the trade actors."""

    def __init__(self, ctx: ActorContext, settings: SupervisorSettings,
                 md_settings: MarketDataSettings, ind_params: IndicatorParams,
                 regime_params: RegimeParams, *, actor_factory: ActorFactory = TradeActor,
                 guard: GuardSettings | None = None, scope: ScopeSettings | None = None,
                 calendar: Calendar | None = None) -> None:
        self.ctx = ctx
        self.s = settings
        self.md = md_settings
        self.ind_params = ind_params
        self.regime_params = regime_params
        self.actor_factory = actor_factory
        self.actors: dict[int, TradeActor] = {}
        self.quarantined: dict[int, str] = {}
        self.retired: OrderedDict[int, float] = OrderedDict()
        """Tickets whose trade closed, and the broker time it did (a bounded memory)."""
        self.feeds: dict[str, SymbolFeed] = ctx.feeds
        self.active_symbols: set[str] = set()
        self.cycles = 0
        self.last_report: CycleReport | None = None
        self.last_snapshot_at: float | None = None
        """Broker time of the last snapshot that succeeded (a failed one leaves it)."""
        self.cycle_times = CycleTimes()
        self.ownership = Ownership(ctx.policy.actions, settings.ignore_magics)
        self.presence = Presence(ctx.gateway, confirm_snapshots=settings.vanish_confirm_snapshots,
                                 per_cycle=settings.vanish_confirms_per_cycle)
        self.account_watch = AccountWatch(ctx.gateway, ctx.events,
                                          settings.account_refresh_seconds, ctx.broker_now)
        self.foreign: ForeignWatch | None = None
        self.strays = Strays(ctx, self.ownership, settings.identify_seconds, self.halt)
        self.halted = ""
        """Why dtms stopped acting ("" while it acts)."""
        self.guard = AccountGuard(ctx, guard or GuardSettings())
        self.scope = Scope(scope or ScopeSettings())
        self.spreads = SpreadWatch(scope or ScopeSettings())
        self.calendar = calendar or Calendar(ctx.policy.news)
        self._outside: set[int] = set()
        self._epoch = -1
        self._link_down_since: float | None = None
        self._nursery: trio.Nursery | None = None
        self._snapshot_failing = False
        self._mains: dict[int, PositionView] = {}
        self._listed: dict[int, PositionView] = {}
        """The last snapshot's views by ticket (the next one reuses their unchanged values)."""
        self.log = logger.bind(component="supervisor")
        ctx.halted = lambda: self.halted
        ctx.trading_disabled = self.account_watch.refresh_soon
        ctx.link_position = self.ownership.link
        ctx.owner_of = self.ownership.owner_of

    @property
    def account(self) -> AccountView:
        """The account as last read."""
        return self.account_watch.view

    # ------------------------------------------------------------------ lifecycle

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Resume journaled trades, then cycle until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            await self.account_watch.refresh()
            self._epoch = self.ctx.gateway.connection_epoch
            journaled = self.ctx.journal.file.open_trades()
            self.ownership.learn(journaled)
            await self._calibrate_clock({t.symbol for t in journaled})
            now = self.ctx.broker_now()
            self.foreign = ForeignWatch(self.ctx.gateway, self.ctx.policy.actions.magic,
                                        self.ctx.sent_orders, self.s.foreign_check_seconds, now)
            self.ctx.sending = self.foreign.sending
            self.ctx.answered = self.foreign.answered
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

    def halt(self, now: float, why: str) -> None:
        """Stop acting (another manager on the account): say it once, loudly."""
        if self.halted:
            return
        self.halted = (f"{why}: another dtms, or an EA with the same magic, acts on this "
                       "account. dtms stopped acting; stop the other manager (or give it "
                       "another magic) and restart dtms")
        self.log.critical(self.halted)
        self.ctx.events.publish(OperatorEvent(EventKind.ANOTHER_MANAGER, now, self.halted,
                                              Severity.CRITICAL))

    async def _calibrate_clock(self, symbols: set[str]) -> None:
        """Learn the broker's clock from the freshest tick before the first cycle stamps it.

        Only for a live broker (where the clock is estimated); without a quote yet (no trades,
        market closed) the first cycle's ticks calibrate it, and cycles wait for that.
        """
        if self.ctx.observe_ticks is None:
            return
        if not symbols:
            positions = (await self.ctx.gateway.call("positions_get")).value or ()
            symbols = {str(p.symbol) for p in positions}
        ticks = {}
        for sym in sorted(symbols):
            tick = (await self.ctx.gateway.call("symbol_info_tick", sym)).value
            if tick is not None and float(getattr(tick, "time", 0.0)) > 0:
                ticks[sym] = float(tick.time)
        self.ctx.observe_ticks(ticks)

    # ------------------------------------------------------------------ one cycle

    async def cycle(self) -> CycleReport:
        """Take one snapshot and bring every actor up to date."""
        gw = self.ctx.gateway
        calls0 = gw.statistics().calls_total
        started = trio.current_time()
        now = self.ctx.broker_now()
        if gw.connection_epoch != self._epoch:
            self.log.info("broker (re)connected: full reconciliation")
            self._epoch = gw.connection_epoch
            self.account_watch.refresh_soon()
            if self.foreign is not None:
                self.foreign.look_back(now)
        if self.account_watch.due(now):
            was_disabled = self.account_watch.disabled
            await self.account_watch.refresh()
            if was_disabled and not self.account_watch.disabled and self.foreign is not None:
                self.foreign.look_back(now)
        if self.ctx.clock_known():  # days are counted on the broker's clock: not on a guess
            await self.guard.check(now)
        r = await gw.call("positions_get")
        self._link_state(r.ok, now)
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
        built = (position_view(p, self._listed.get(int(p.ticket))) for p in r.value)
        listed = self._listed = {v.ticket: v for v in built}
        trades = {t: a.trade for t, a in self.actors.items()}
        rec = await self.presence.reconcile(listed, self._watched(trades))
        book = self.ownership.sort(rec.present.values(), trades)
        self.ownership.forget(rec.gone)
        self.strays.forget(set(rec.gone))
        self.guard.forget(rec.gone)
        self._mains = book.mains
        live = set(self.actors) | set(book.mains) | set(self.quarantined)
        outside = self._out_of_scope(book)
        symbols = {p.symbol for t, p in book.mains.items() if t not in outside}
        symbols |= {a.trade.symbol for a in self.actors.values()}
        symbols |= self.strays.symbols(book, live)
        flatten = self.guard.targets(rec.present, book, set(self.actors), self.quarantined)
        symbols |= {p.symbol for p in flatten}
        new_bars = await self._refresh_feeds(symbols, now)
        if not self.ctx.clock_known():
            # the broker has not told its time yet: nothing is stamped with a guess
            self.last_report = CycleReport(now, False, duration=trio.current_time() - started)
            return self.last_report
        self.active_symbols = symbols
        views = {sym: self.feeds[sym].view(now) for sym in symbols if sym in self.feeds}
        self.calendar.refresh()
        for view in views.values():
            if view is not None and view.quote is not None:
                self.spreads.observe(view.symbol, view.quote, now)
        spawned, vanished, delivered = self._deliver(book, views, rec.unresolved | outside, now)
        if self._nursery is not None:
            self.strays.handle(book, set(self.actors) | set(book.mains) | set(self.quarantined),
                               now, self._nursery)
            self.guard.sweep(flatten, now, self._nursery)
        if self.foreign is not None and self.foreign.due(now):
            await self.foreign.check(now, [a.trade for a in self.actors.values()])
            if self.foreign.halted and not self.halted:
                self.halt(now, self.foreign.halted)
        self.cycles += 1
        report = CycleReport(now, True, len(r.value), len(self.actors), spawned, vanished,
                             new_bars, gw.statistics().calls_total - calls0, delivered,
                             trio.current_time() - started, len(rec.carried))
        self.last_report = report
        self.last_snapshot_at = now
        return report

    def _watched(self, trades: dict[int, TradeState]) -> set[int]:
        """Positions whose absence must be proven: open trades, and their hedges and re-adds."""
        watched = {t for t, trade in trades.items() if trade.is_open}
        for ticket, (parent, _) in self.ownership.links.items():
            if parent in watched:
                watched.add(ticket)
        return watched

    def _deliver(self, book: Book, views: dict[str, FeedView | None], unresolved: frozenset[int],
                 now: float) -> tuple[int, int, int]:
        spawned = vanished = delivered = 0
        deep_left = self.s.max_deep_checks_per_cycle
        account = self.guard.account_view(self.account)
        lock = self.guard.lock
        market: dict[str, tuple[bool, tuple[NewsEvent, ...]]] = {}  # spread and news per symbol
        for ticket in sorted(set(self.actors) | set(book.mains)):
            if ticket in self.quarantined or ticket in unresolved:
                continue
            main = book.mains.get(ticket)
            actor = self.actors.get(ticket)
            if actor is None:
                if main is None or not self._may_manage(ticket, now):
                    continue
                actor = self._spawn(self._first_sight(main, now))
                spawned += 1
            if main is None:
                vanished += 1
            known_hedge = actor.trade.hedge.ticket if actor.trade.hedge else None
            hedge = _pick(book.hedges.get(ticket, []), known_hedge)
            readd = _pick(book.readds.get(ticket, []), actor.trade.readd_ticket)
            view = views.get(actor.trade.symbol)
            sym = actor.trade.symbol
            wide, news = market.get(sym) or market.setdefault(sym, (
                self.spreads.wide(sym, view.quote if view else None),
                self.calendar.near(sym, now)))
            # an unchanged slice of the snapshot is not worth waking the actor for, until it
            # is due (a fast check, a timer, a command at the broker, a wait to re-plan)
            inp = CycleInput(now, main, hedge, readd, view, account, lock, wide, news)
            same = same_trade_facts(inp, actor.delivered)
            if same and same_market(inp, actor.delivered) and now < actor.due_at():
                continue
            if view is not None and view.m15_close * 1000 > actor.trade.last_eval_id:
                # a deep check: a bar's checks beyond the budget wait a cycle, unless this
                # trade's facts changed or a timer or a command outcome needs it now
                if deep_left <= 0 and same and now < actor.urgent_at():
                    continue
                deep_left -= 1
            delivered += 1
            actor.deliver(inp)
        return spawned, vanished, delivered

    def _out_of_scope(self, book: Book) -> frozenset[int]:
        """New positions ``[scope]`` leaves alone (said once each); managed ones stay managed."""
        out = set()
        for ticket, pos in book.mains.items():
            if ticket in self.actors or ticket in self.quarantined:
                continue
            why = self.scope.outside(pos)
            if why:
                out.add(ticket)
                if ticket not in self._outside:
                    self.log.info(f"#{ticket} {pos.symbol} is outside the scope ({why}): not "
                                  "managed")
        self._outside = out
        return frozenset(out)

    def _may_manage(self, ticket: int, now: float) -> bool:
        """A ticket whose trade closed is managed again only if the broker keeps listing it."""
        closed_at = self.retired.get(ticket)
        if closed_at is None:
            return True
        return now - closed_at > self.s.relisted_after_seconds

    def _link_state(self, ok: bool, now: float) -> None:
        """Say when the broker link went down and when it came back (once each)."""
        connected = self.ctx.gateway.connected
        if not connected and not ok and self._link_down_since is None:
            self._link_down_since = now
            self.ctx.events.publish(OperatorEvent(EventKind.BROKER_LINK_DOWN, now,
                                                  "broker link lost; reconnecting",
                                                  Severity.WARNING))
        elif ok and self._link_down_since is not None:
            down = now - self._link_down_since
            self._link_down_since = None
            self.ctx.events.publish(OperatorEvent(
                EventKind.BROKER_LINK_UP, now, f"broker link back after {down:.0f} s",
                data={"down_seconds": down}))

    async def _refresh_feeds(self, symbols: set[str], now: float) -> int:
        """Bars and ticks of every symbol, concurrently (the gateway batches the reads)."""
        counts: dict[str, int] = {}
        async with trio.open_nursery() as nursery:
            for sym in sorted(symbols):
                nursery.start_soon(self._refresh_feed, sym, now, counts)
        ticks = {sym: feed.tick.time for sym in symbols
                 if (feed := self.feeds.get(sym)) is not None and feed.tick is not None}
        if self.ctx.observe_ticks is not None:
            self.ctx.observe_ticks(ticks)
        self._tell_staleness(symbols, now)
        return sum(counts.values())

    async def _refresh_feed(self, sym: str, now: float, counts: dict[str, int]) -> None:
        feed = self.feeds.get(sym)
        if feed is None:
            feed = SymbolFeed(sym, self.ctx.gateway, self.md, self.ind_params, self.regime_params,
                              self.ctx.observe_time)
            self.feeds[sym] = feed
        if feed.spec is None:
            ok = await feed.backfill(now)
            if not ok:
                self.log.warning(f"{sym}: {feed.error or 'backfill incomplete'}")
            counts[sym] = int(feed.spec is not None)
        elif feed.due(now):
            counts[sym] = int(await feed.refresh(now))
        if feed.spec is not None:
            await feed.poll_quote()

    def _tell_staleness(self, symbols: set[str], now: float) -> None:
        for sym in symbols:
            feed = self.feeds.get(sym)
            if feed is None or feed.spec is None:
                continue
            view = feed.view(now)
            stale = bool(view and (view.stale or view.closed))
            if stale != feed.reported_stale:
                feed.reported_stale = stale
                why = (view.stale_reason or feed.closed_reason(now)) if view else ""
                kind = EventKind.DATA_STALE if stale else EventKind.DATA_FRESH
                text = f"{sym}: {why}" if stale else f"{sym}: market data fresh again"
                self.ctx.events.publish(OperatorEvent(kind, now, text, symbol=sym))

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
                       pending=None, volume=main.volume, sl=main.sl, tp=main.tp, blocked=None)

    # ------------------------------------------------------------------ actors

    def _spawn(self, trade: TradeState) -> TradeActor:
        assert self._nursery is not None
        self.ctx.journal.save_nowait(trade, self.ctx.broker_now())  # known from now on
        self.retired.pop(trade.ticket, None)
        actor = self.actor_factory(trade, self.ctx)
        self.actors[trade.ticket] = actor
        # named here: trio would otherwise make every task a 320-byte qualified name
        self._nursery.start_soon(self._supervise, actor, name=f"actor #{trade.ticket}")
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
                actor.log.bound().opt(exception=exc).error(
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
        self.retired[ticket] = self.ctx.broker_now()
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

    # ------------------------------------------------------------------ shutdown

    async def drain(self) -> None:
        """Stop new actions and wait until no actor is at the broker."""
        self.ctx.stopping = True
        while any(a.busy for a in self.actors.values()):
            await trio.sleep(0.01)


def _pick(positions: list[PositionView], known: int | None) -> PositionView | None:
    if not positions:
        return None
    for p in positions:
        if known and p.ticket == known:
            return p
    return positions[0]


__all__ = ["ActorFactory", "CycleReport", "CycleTimes", "Supervisor"]
