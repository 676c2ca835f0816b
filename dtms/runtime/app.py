"""Wiring the running system: journal, gateway, supervisor, heartbeat, graceful stop.

The stop ladder: a stop request (SIGINT/SIGTERM, or the caller's event) stops new actions,
lets broker calls already in flight finish under a shielded deadline
(``shutdown_grace_seconds``), writes a final status, flushes the journal and returns. Open
positions stay at the broker with their stops.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from dtms.config import Settings
from dtms.errors import JournalError
from dtms.journal.owner import Journal, open_journal
from dtms.locks import Held, ProcessLock
from dtms.runtime.actor import ActorContext, TradeActor
from dtms.runtime.brokertime import BrokerTime
from dtms.runtime.calendar import Calendar
from dtms.runtime.events import EventBus, EventKind, OperatorEvent, Severity
from dtms.runtime.executor import Executor as CallExecutor
from dtms.runtime.gateway import Gateway, open_gateway
from dtms.runtime.heartbeat import Heartbeat
from dtms.runtime.retention import keep_flat
from dtms.runtime.supervisor import ActorFactory, Supervisor


@dataclass(slots=True)
class App:
    """Handles of a running system (for tests and benchmarks)."""

    supervisor: Supervisor
    gateway: Gateway
    journal: Journal
    stop: trio.Event

    @property
    def events(self) -> EventBus:
        """Operator events of the running system."""
        return self.supervisor.ctx.events


async def serve(
    settings: Settings,
    connect: Callable[[], Any],
    broker_now: Callable[[], float],
    *,
    live_clock: BrokerTime | None = None,
    executor: CallExecutor | None = None,
    broker_label: str = "simulated",
    time_scale: float = 1.0,
    stop: trio.Event | None = None,
    actor_factory: ActorFactory = TradeActor,
    task_status: trio.TaskStatus[App] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run dtms until ``stop`` is set (or the task is cancelled).

    Args:
        connect: returns the broker object (MT5 surface); called once by the gateway.
        broker_now: the broker clock (epoch seconds).
        live_clock: for a live broker, the clock learned from its ticks (``broker_now`` itself),
            which the supervisor feeds each cycle's ticks; None when the clock is exact.
        executor: where broker calls run (default: one dedicated worker thread).
        time_scale: Trio seconds per real second (the simulator's speed), so the heartbeat
            stays a real-time heartbeat on an accelerated clock.
    """
    stop = stop if stop is not None else trio.Event()
    # a calendar that cannot be read stops dtms here, in one line, before anything starts
    calendar = Calendar(settings.news, settings.indicators.broker_utc_offset_hours)
    async with (
        open_journal(settings.journal.path) as journal,
        open_gateway(connect, settings.gateway.in_real_seconds(time_scale),
                     executor=executor) as gateway,
    ):
        account_lock = await _check_account(journal, gateway, settings.journal.path,
                                            settings.supervisor.account_lock_dir)
        try:
            await _run_system(settings, journal, gateway, broker_now, live_clock, broker_label,
                              time_scale, stop, actor_factory, calendar, task_status)
        finally:
            if account_lock is not None:
                account_lock.release()
    logger.info("dtms stopped; positions stay open at the broker with their stops")


async def _run_system(settings: Settings, journal: Journal, gateway: Gateway,
                      broker_now: Callable[[], float], live_clock: BrokerTime | None,
                      broker_label: str, time_scale: float, stop: trio.Event,
                      actor_factory: ActorFactory, calendar: Calendar,
                      task_status: trio.TaskStatus[App]) -> None:
    ctx = ActorContext(journal, gateway, settings.policy, settings.score, broker_now,
                       settings.market_data.stale_tick_seconds,
                       settings.journal.scores_per_trade)
    if live_clock is not None:
        ctx.observe_time = live_clock.observe
        ctx.observe_ticks = live_clock.observe_ticks
        ctx.clock_known = lambda: live_clock.calibrated
    sup = Supervisor(ctx, settings.supervisor, settings.market_data, settings.indicators,
                     settings.regime, actor_factory=actor_factory, guard=settings.guard,
                     scope=settings.scope, calendar=calendar)
    started_wall = time.time()
    async with trio.open_nursery() as nursery, _quiet_gc():
        await nursery.start(sup.run)
        beat = Heartbeat(sup, journal, broker_label, started_wall, time_scale, settings)
        nursery.start_soon(beat.run)
        nursery.start_soon(keep_flat, journal, settings.journal, settings.logging.dir,
                           broker_now)
        line = (f"dtms monitoring {len(sup.actors)} trade(s) on the {broker_label} broker; "
                f"journal {settings.journal.path}")
        logger.info(line)
        ctx.events.publish(OperatorEvent(EventKind.PROCESS_STARTED, broker_now(), line))
        task_status.started(App(sup, gateway, journal, stop))
        await stop.wait()
        logger.info("stopping: no new actions; letting broker calls in flight finish")
        ctx.events.publish(OperatorEvent(EventKind.PROCESS_STOPPING, broker_now(),
                                         "dtms is stopping; positions stay open with their "
                                         "stops", Severity.WARNING))
        with trio.move_on_after(settings.supervisor.shutdown_grace_seconds) as scope:
            scope.shield = True
            await sup.drain()
        if scope.cancelled_caught:
            logger.warning("shutdown grace period over with broker calls still in flight")
        beat.write(active=False)
        nursery.cancel_scope.cancel()


@asynccontextmanager
async def _quiet_gc() -> AsyncIterator[None]:
    """Keep Python's cyclic collector out of the monitoring cycle.

    Every deep check allocates a few dozen short-lived objects per trade, and the automatic
    collector sweeps them at about 0.4 us each: a fifth of a 10,000-trade cycle. Reference
    counting frees almost all of dtms's garbage on its own, so automatic collection is off
    while dtms runs and the supervisor runs a full collection between cycles every
    ``gc_interval_seconds`` (cycles of objects are rare; memory stays bounded).
    """
    enabled = gc.isenabled()
    gc.freeze()  # what start-up created lives as long as the process
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
        gc.unfreeze()


async def _check_account(journal: Journal, gateway: Gateway, path: str, lock_dir: str
                         ) -> ProcessLock | None:
    """A journal belongs to one account, and an account to one dtms on this machine.

    Managing account B with account A's journal would find every journaled trade "vanished"
    and close it in the journal, while it is still open on account A. Two dtms on one account
    (with different journals) would both act on the same positions: both did their once-only
    partial close and closed a 1-lot trade in full. The second one is refused at start.
    """
    info = (await gateway.call("account_info")).value
    if info is None:
        return None  # the supervisor reports the broker's state; nothing to compare yet
    lock = _account_lock(int(info.login), str(info.server), lock_dir)
    current = {"login": int(info.login), "server": str(info.server)}
    stored = journal.file.get_meta("account")
    if stored is None:
        await journal.write(lambda f: f.set_meta("account", current))
    elif stored != current:
        lock.release()
        raise JournalError(
            f"journal {path} belongs to account {stored['login']} on {stored['server']}, but "
            f"the broker is logged into {current['login']} on {current['server']}: use another "
            "journal (--journal) for this account"
        )
    return lock


def _account_lock(login: int, server: str, lock_dir: str) -> ProcessLock:
    folder = Path(lock_dir) if lock_dir else Path(tempfile.gettempdir()) / "dtms-accounts"
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in server)
    lock = ProcessLock(folder / f"{safe}-{login}.lock")
    try:
        lock.acquire()
    except Held as held:
        raise JournalError(
            f"account {login} on {server} is already managed by another dtms on this machine "
            f"(pid {held.holder}); two managers would act on the same positions: stop it first"
        ) from held
    return lock
