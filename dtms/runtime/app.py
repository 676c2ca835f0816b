"""Wiring the running system: journal, gateway, supervisor, heartbeat, graceful stop.

The stop ladder: a stop request (SIGINT/SIGTERM, or the caller's event) stops new actions,
lets broker calls already in flight finish under a shielded deadline
(``shutdown_grace_seconds``), writes a final status, flushes the journal and returns. Open
positions stay at the broker with their stops.
"""

from __future__ import annotations

import gc
import os
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import asdict, dataclass
from typing import Any

import trio
from loguru import logger

from dtms.config import Settings
from dtms.errors import JournalError
from dtms.journal.owner import Journal, open_journal
from dtms.runtime.actor import ActorContext, TradeActor
from dtms.runtime.brokertime import BrokerTime
from dtms.runtime.events import EventBus, EventKind, OperatorEvent, Severity
from dtms.runtime.executor import Executor as CallExecutor
from dtms.runtime.gateway import Gateway, open_gateway
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
    async with (
        open_journal(settings.journal.path) as journal,
        open_gateway(connect, settings.gateway, executor=executor) as gateway,
    ):
        await _check_account(journal, gateway, settings.journal.path)
        ctx = ActorContext(journal, gateway, settings.policy, settings.score, broker_now,
                           settings.market_data.stale_tick_seconds,
                           settings.journal.scores_per_trade)
        if live_clock is not None:
            ctx.observe_time = live_clock.observe
            ctx.observe_ticks = live_clock.observe_ticks
            ctx.clock_known = lambda: live_clock.calibrated
        sup = Supervisor(ctx, settings.supervisor, settings.market_data, settings.indicators,
                         settings.regime, actor_factory=actor_factory)
        started_wall = time.time()
        async with trio.open_nursery() as nursery, _quiet_gc():
            await nursery.start(sup.run)
            beat = _Heartbeat(sup, journal, broker_label, started_wall, time_scale, settings)
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
    logger.info("dtms stopped; positions stay open at the broker with their stops")


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


async def _check_account(journal: Journal, gateway: Gateway, path: str) -> None:
    """A journal belongs to one account: refuse another one rather than close its trades.

    Managing account B with account A's journal would find every journaled trade "vanished"
    and close it in the journal, while it is still open on account A.
    """
    info = (await gateway.call("account_info")).value
    if info is None:
        return  # the supervisor reports the broker's state; nothing to compare yet
    current = {"login": int(info.login), "server": str(info.server)}
    stored = journal.file.get_meta("account")
    if stored is None:
        await journal.write(lambda f: f.set_meta("account", current))
    elif stored != current:
        raise JournalError(
            f"journal {path} belongs to account {stored['login']} on {stored['server']}, but "
            f"the broker is logged into {current['login']} on {current['server']}: use another "
            "journal (--journal) for this account"
        )


class _Heartbeat:
    """Writes the process status into the journal for ``dtms status`` and the Python API."""

    def __init__(self, sup: Supervisor, journal: Journal, broker: str, started_wall: float,
                 time_scale: float, settings: Settings) -> None:
        self.sup, self.journal, self.broker = sup, journal, broker
        self.started_wall = started_wall
        self.time_scale = time_scale
        self.interval = settings.supervisor.heartbeat_seconds

    async def run(self) -> None:
        while True:
            self.write(active=True)
            await trio.sleep(self.interval * self.time_scale)

    def write(self, *, active: bool) -> None:
        sup = self.sup
        stats = sup.ctx.gateway.statistics()
        c = sup.ctx.counters
        health = {}
        for sym in sorted(sup.active_symbols):
            feed = sup.feeds.get(sym)
            if feed is None:
                continue
            view = feed.view(sup.ctx.broker_now())
            health[sym] = {
                "stale": view.stale if view else True,
                "reason": (view.stale_reason if view else feed.error) or "",
                "m5_time": view.m5_time if view else 0,
                "m15_close": view.m15_close if view else 0,
            }
        status = {
            "pid": os.getpid(),
            "broker": self.broker,
            "monitoring_active": active,
            "started_wall": self.started_wall,
            "heartbeat_wall": time.time(),
            "heartbeat_interval": self.interval,
            "time_scale": self.time_scale,
            "broker_time": sup.ctx.broker_now(),
            "cycles": sup.cycles,
            "actors": len(sup.actors),
            "quarantined": {str(k): v for k, v in sup.quarantined.items()},
            "counters": {
                "deep_checks": c.deep_checks, "early_checks": c.early_checks,
                "actions_done": c.actions_done, "actions_failed": c.actions_failed,
                "actions_unknown": c.actions_unknown, "by_action": c.by_action,
            },
            "last_check_at": c.last_check_at,
            "last_snapshot_at": sup.last_report.at if sup.last_report and sup.last_report.ok
            else None,
            "data_health": health,
            "gateway": _plain_stats(stats),
        }
        self.journal.write_nowait(lambda f: f.set_meta("process", status))


def _plain_stats(stats: Any) -> dict[str, Any]:
    out = {}
    for key, value in asdict(stats).items():
        if isinstance(value, dict):
            value = {getattr(k, "name", str(k)): v for k, v in value.items()}
        out[key] = value
    out["unknown_outcomes"] = stats.unknown_outcomes
    return out
