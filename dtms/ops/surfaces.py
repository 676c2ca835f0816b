"""Starting the operating surfaces next to a running dtms, and stopping them with it.

``dtms run`` calls :func:`prepare` before Trio starts (a missing token or a port in use stops it
there, with one line, before anything trades), then runs :func:`run` in the nursery where
``serve`` runs, once ``serve`` handed over its :class:`~dtms.runtime.app.App`. Each surface ends
by itself when the app's stop event is set: the HTTP server drains its connections, the alerts
flush what waits (the "stopping" alert included) within ``[alerts] flush_seconds``, the
dead-man heartbeat stops pinging, systemd hears ``STOPPING=1``.
"""

from __future__ import annotations

from dataclasses import dataclass

import trio
from hypercorn.config import Sockets

from dtms.config import Settings
from dtms.ops.alerts import Alerts, channels_of
from dtms.ops.context import Ops
from dtms.ops.deadman import run_deadman
from dtms.ops.server import bind, serve_http
from dtms.ops.systemd import Notifier, run_notify, watchdog_interval
from dtms.runtime.app import App


@dataclass(slots=True)
class Prepared:
    """What :func:`prepare` set up before Trio started."""

    sockets: Sockets | None
    notifier: Notifier | None

    @property
    def port(self) -> int | None:
        """The HTTP port (None when the API is off)."""
        if self.sockets is None:
            return None
        return int(self.sockets.insecure_sockets[0].getsockname()[1])


def prepare(settings: Settings) -> Prepared | None:
    """Validate and bind what the settings turn on; None when nothing is on.

    Raises:
        DtmsError: a non-loopback HTTP address without a token, or a port that cannot be bound.
    """
    sockets = bind(settings.http) if settings.http.enabled else None
    notifier = Notifier.from_environment()
    wanted = (sockets is not None or notifier is not None or bool(channels_of(settings.alerts))
              or bool(settings.service.deadman_url))
    return Prepared(sockets, notifier) if wanted else None


async def run(prepared: Prepared, app: App, settings: Settings, scale: float = 1.0,
              task_status: trio.TaskStatus[Ops] = trio.TASK_STATUS_IGNORED) -> None:
    """Run every prepared surface until ``app.stop`` is set and each has wound down."""
    ops = Ops(app, settings, scale)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(ops.watch_cycles)
        channels = channels_of(settings.alerts)
        if channels:
            await nursery.start(Alerts(ops, channels).run)
        if prepared.sockets is not None:
            await nursery.start(serve_http, ops, prepared.sockets)
        if settings.service.deadman_url:
            nursery.start_soon(run_deadman, ops)
        if prepared.notifier is not None:
            await nursery.start(run_notify, ops, prepared.notifier, watchdog_interval())
        task_status.started(ops)
