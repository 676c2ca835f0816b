"""What every surface shares: the running system, the settings, and real time.

On the embedded simulator Trio's clock runs ``scale`` times faster than the wall clock, so a
surface that waits "five seconds" must wait ``5 * scale`` Trio seconds; the same holds for every
time limit handed to a library that runs on Trio (hypercorn's keep-alive, httpx's timeouts).
Against a real terminal ``scale`` is 1 and nothing changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import trio

from dtms.config import Settings
from dtms.ops.health import Health, check_health
from dtms.runtime.app import App

T = TypeVar("T")


@dataclass(slots=True)
class Ops:
    """Handles of the running system as the surfaces see them."""

    app: App
    settings: Settings
    scale: float = 1.0
    """Trio seconds per real second."""
    limiter: trio.CapacityLimiter = field(default_factory=lambda: trio.CapacityLimiter(2))
    """Journal reads run in worker threads, at most this many at once."""
    counters: dict[str, int] = field(default_factory=dict)
    """Counters of the surfaces themselves (alerts sent/dropped/failed, ...), for metrics."""
    streams: int = 0
    """Live streams (SSE) open right now."""
    last_ok_at: float | None = None
    """Broker time of the newest successful cycle seen (:meth:`observe`)."""

    def observe(self) -> None:
        """Note the last cycle if it succeeded (sampled often: see :meth:`watch_cycles`)."""
        report = self.app.supervisor.last_report
        if report is not None and report.ok and (self.last_ok_at is None
                                                 or report.at > self.last_ok_at):
            self.last_ok_at = report.at

    async def watch_cycles(self) -> None:
        """Sample the cycles four times a second until dtms stops."""
        while not self.app.stop.is_set():
            self.observe()
            with trio.move_on_after(self.trio_seconds(0.25)):
                await self.app.stop.wait()

    def health(self) -> Health:
        """The /health verdict now."""
        self.observe()
        return check_health(self.app, self.settings.http.max_cycle_age_seconds, self.scale,
                            self.last_ok_at)

    def trio_seconds(self, real: float) -> float:
        """Trio seconds that last ``real`` wall seconds."""
        return real * self.scale

    def real_seconds(self, trio_seconds: float) -> float:
        """Wall seconds that ``trio_seconds`` of Trio time last."""
        return trio_seconds / self.scale

    async def sleep(self, real: float) -> None:
        """Sleep ``real`` wall seconds."""
        await trio.sleep(real * self.scale)

    async def read(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a blocking read (the journal, a log file) in a worker thread."""
        return await trio.to_thread.run_sync(fn, *args, limiter=self.limiter)

    def count(self, name: str, by: int = 1) -> None:
        """Add to one of the surfaces' counters."""
        self.counters[name] = self.counters.get(name, 0) + by

    @property
    def journal_path(self) -> str:
        """The journal file (read-only views open it themselves)."""
        return self.settings.journal.path

    @property
    def log_dir(self) -> str:
        """Where the per-trade logs live."""
        return self.settings.logging.dir
