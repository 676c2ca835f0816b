"""``dtms run``: build the broker and the clocks, run the system until told to stop."""

from __future__ import annotations

import argparse
import os
import signal
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import trio
from loguru import logger

from dtms.broker.sim.settings import SimSettings
from dtms.config import BrokerKind, Settings, load_settings
from dtms.errors import DtmsError, StoppedBeforeStart
from dtms.journal.store import check_writable, open_readonly
from dtms.ops.settings import HttpSettings
from dtms.runtime.app import serve
from dtms.runtime.clock import AcceleratedClock, broker_clock_from, broker_sleep_from
from dtms.runtime.executor import WorkerThreadExecutor
from dtms.runtime.logs import setup_logging
from dtms.runtime.settings import Scenario


def run(args: argparse.Namespace) -> int:
    """Run dtms with the command line's settings; 0 after a graceful stop."""
    settings = settings_with_overrides(args)
    check_writable(Path(settings.journal.path))  # before anything starts, and untouched
    router = setup_logging(settings.logging)
    try:
        match settings.broker.kind:
            case BrokerKind.SIMULATED:
                _run_simulated(settings, args.duration)
            case BrokerKind.MT5:
                from dtms.broker.mt5 import connect_mt5, load_mt5

                load_mt5()  # fail fast, with the install hint, before anything starts
                _run_live(settings, lambda: connect_mt5(settings.broker.mt5), "mt5", 1.0,
                          args.duration)
            case BrokerKind.MT5LINUX:
                from dtms.broker.mt5linux import connect_mt5linux

                m = settings.broker.mt5linux
                rate = args.speed or 1.0
                _run_live(settings, lambda: connect_mt5linux(m), f"mt5linux {m.host}:{m.port}",
                          rate, args.duration)
    finally:
        router.close()
    return 0


def _run_simulated(settings: Settings, duration: float | None) -> None:
    from dtms.broker.sim import SimBroker
    from dtms.broker.sim.demo import install as install_demo

    sim_settings = continue_simulation(settings)
    speed = settings.run.speed
    clock = AcceleratedClock(speed)
    broker_now = broker_clock_from(clock, sim_settings.start_time)
    sim = SimBroker(sim_settings, clock=broker_now, sleep=broker_sleep_from(clock))
    if settings.run.scenario is Scenario.DEMO:
        install_demo(sim, trades=settings.run.demo_trades)
    label = f"simulated (x{speed:g}, {sim_settings.margin_mode.value} account)"
    _trio_run(settings, lambda: sim, lambda: broker_now, label, speed, duration, clock)


def continue_simulation(settings: Settings) -> SimSettings:
    """Settings for a simulated account that continues the story its journal tells.

    The embedded simulator does not outlive the process; the journal does. A new run starts its
    clock after the last broker time the journal saw (at the next weekday's London open) and
    numbers its tickets above every ticket the journal knows, as a long-lived account would, so
    journaled trades are found gone (and closed) instead of colliding with new ones.
    """
    sim = settings.broker.sim
    path = Path(settings.journal.path)
    if not path.exists():
        return sim
    with closing(open_readonly(path)) as conn:
        tickets = conn.execute(
            "SELECT max(m) FROM (SELECT max(ticket) AS m FROM trades UNION ALL "
            "SELECT max(result_ticket) FROM actions)").fetchone()[0] or 0
        last = conn.execute(
            "SELECT max(t) FROM (SELECT max(updated_at) AS t FROM trades UNION ALL "
            "SELECT max(ts) FROM transitions UNION ALL SELECT max(ts) FROM actions)"
        ).fetchone()[0] or 0.0
    start = max(sim.start_time, next_session_start(float(last))) if last else sim.start_time
    first = max(sim.first_ticket, int(tickets) + 1000) if tickets else sim.first_ticket
    return replace(sim, start_time=start, first_ticket=first)


def next_session_start(t: float) -> float:
    """The next weekday 07:00 UTC strictly after ``t`` (markets open, London session)."""
    day = datetime.fromtimestamp(t, UTC)
    candidate = day.replace(hour=7, minute=0, second=0, microsecond=0)
    if candidate <= day:
        candidate += timedelta(days=1)
    while candidate.weekday() >= 5:
        candidate += timedelta(days=1)
    return candidate.timestamp()


def _run_live(settings: Settings, connect: Callable[[], Any], label: str, rate: float,
              duration: float | None) -> None:
    clock = AcceleratedClock(rate)
    _trio_run(settings, connect, None, label, rate, duration, clock)


def _trio_run(settings: Settings, connect: Callable[[], Any],
              make_clock: Callable[[], Callable[[], float]] | None, label: str, rate: float,
              duration: float | None, clock: AcceleratedClock) -> None:
    async def main() -> None:
        from dtms.runtime.brokertime import BrokerTime

        stop = trio.Event()
        live = BrokerTime(settings.indicators.broker_utc_offset_hours) if make_clock is None \
            else None
        broker_now: Callable[[], float] = live if live is not None else make_clock()  # type: ignore[misc]
        finished = trio.Event()

        async def system(task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED) -> None:
            try:
                await serve(settings, connect, broker_now, live_clock=live,
                            executor=WorkerThreadExecutor(), broker_label=label,
                            time_scale=rate, stop=stop, task_status=task_status)
            finally:
                finished.set()

        async with trio.open_nursery() as nursery:
            running = trio.Event()
            nursery.start_soon(_on_signals, stop, running, nursery.cancel_scope)
            if duration is not None:
                nursery.start_soon(_stop_after, duration * rate, stop)
            app = await nursery.start(system)
            running.set()
            if surfaces is not None:  # they end by themselves once stop is set
                from dtms.ops.surfaces import run as run_surfaces

                surfaces_done, prepared = trio.Event(), surfaces

                async def operating(task_status: trio.TaskStatus[Any]) -> None:
                    try:
                        await run_surfaces(prepared, app, settings, rate, task_status=task_status)
                    finally:
                        surfaces_done.set()

                await nursery.start(operating)
            await finished.wait()
            if surfaces is not None:
                await surfaces_done.wait()
            nursery.cancel_scope.cancel()

    surfaces = None
    if wants_surfaces(settings):
        from dtms.ops.surfaces import prepare

        surfaces = prepare(settings)  # a missing token or a busy port stops dtms here
    try:
        trio.run(main, clock=clock)
    except BaseExceptionGroup as group:
        raise _first_user_error(group) from None


def wants_surfaces(settings: Settings) -> bool:
    """Whether any operating surface (HTTP, alerts, dead-man, systemd) may be needed."""
    a = settings.alerts
    return (settings.http.enabled or bool(settings.service.deadman_url)
            or bool(os.environ.get("NOTIFY_SOCKET")) or a.webhook.enabled or a.telegram.enabled)


async def _on_signals(stop: trio.Event, running: trio.Event, startup: trio.CancelScope) -> None:
    """SIGINT/SIGTERM: a graceful stop once running; during startup, abandon the startup
    (a terminal that never answers must not make dtms deaf to its service manager)."""
    signals = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    with trio.open_signal_receiver(*signals) as received:
        async for signum in received:
            name = signal.Signals(signum).name
            stop.set()
            if running.is_set():
                logger.info(f"received {name}: stopping gracefully")
                return
            logger.warning(f"received {name} while starting: startup abandoned, nothing sent")
            startup.cancel()
            return


async def _stop_after(seconds: float, stop: trio.Event) -> None:
    await trio.sleep(seconds)
    logger.info("requested duration reached: stopping")
    stop.set()


def _first_user_error(group: BaseExceptionGroup) -> BaseException:
    """The one error a user should see from an exception group (a DtmsError if there is one,
    or the signal that stopped the startup)."""
    for exc in group.exceptions:
        if isinstance(exc, BaseExceptionGroup):
            found = _first_user_error(exc)
            if isinstance(found, DtmsError | StoppedBeforeStart):
                return found
        elif isinstance(exc, DtmsError | StoppedBeforeStart):
            return exc
    return group


def settings_with_overrides(args: argparse.Namespace) -> Settings:
    """The config file's settings with the command line's overrides applied."""
    s = load_settings(args.config)
    if args.broker:
        s = replace(s, broker=replace(s.broker, kind=BrokerKind(args.broker)))
    if args.journal:
        s = replace(s, journal=replace(s.journal, path=args.journal))
    if args.speed is not None:
        if args.speed <= 0:
            raise DtmsError(f"--speed must be positive, got {args.speed}")
        s = replace(s, run=replace(s.run, speed=args.speed))
    if args.scenario:
        s = replace(s, run=replace(s.run, scenario=Scenario(args.scenario)))
    link = s.broker.mt5linux
    if args.host:
        link = replace(link, host=args.host)
    if args.port is not None:
        if not 0 < args.port < 65536:
            raise DtmsError(f"--port must be 1..65535, got {args.port}")
        link = replace(link, port=args.port)
    s = replace(s, broker=replace(s.broker, mt5linux=link))
    if getattr(args, "http", None):
        s = replace(s, http=http_override(s.http, args.http))
    return s


def http_override(http: HttpSettings, spec: str) -> HttpSettings:
    """``--http HOST:PORT`` (or ``PORT``): the API on, at that address."""
    host, sep, port = spec.rpartition(":")
    if not sep:
        host, port = http.host, spec
    if not port.isdigit() or not 0 <= int(port) < 65536:
        raise DtmsError(f"--http expects HOST:PORT or PORT (port 0..65535), got {spec!r}")
    return replace(http, enabled=True, host=host.strip("[]") or http.host, port=int(port))
