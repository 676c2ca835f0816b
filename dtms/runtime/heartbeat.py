"""The heartbeat: the running process writes its status into the journal every few seconds.

``dtms status``, the Python API and anything else that reads the journal (from another process)
see from it whether dtms is alive, how its cycles and the gateway keep up under load, whether the
account may trade, and what waits.
"""

from __future__ import annotations

import dataclasses
import os
import time
from typing import TYPE_CHECKING, Any

import trio

from dtms.config import Settings
from dtms.journal.owner import Journal

if TYPE_CHECKING:
    from dtms.runtime.supervisor import Supervisor


class Heartbeat:
    """Writes the process status into the journal for ``dtms status`` and the Python API."""

    def __init__(self, sup: Supervisor, journal: Journal, broker: str, started_wall: float,
                 time_scale: float, settings: Settings) -> None:
        self.sup, self.journal, self.broker = sup, journal, broker
        self.started_wall = started_wall
        self.time_scale = time_scale
        self.interval = settings.supervisor.heartbeat_seconds

    async def run(self) -> None:
        """Write the status every ``heartbeat_seconds`` of real time."""
        while True:
            self.write(active=True)
            await trio.sleep(self.interval * self.time_scale)

    def write(self, *, active: bool) -> None:
        """Write the status now."""
        status = self.status(active=active)
        self.journal.write_nowait(lambda f: f.set_meta("process", status))

    def status(self, *, active: bool) -> dict[str, Any]:
        """The process status, as plain JSON-ready values."""
        sup = self.sup
        now = sup.ctx.broker_now()
        c = sup.ctx.counters
        account = sup.account_watch
        return {
            "pid": os.getpid(),
            "broker": self.broker,
            "monitoring_active": active,
            "started_wall": self.started_wall,
            "heartbeat_wall": time.time(),
            "heartbeat_interval": self.interval,
            "time_scale": self.time_scale,
            "broker_time": now,
            "cycles": sup.cycles,
            "cycle_seconds": sup.cycle_times.summary(),
            "actors": len(sup.actors),
            "quarantined": {str(k): v for k, v in sup.quarantined.items()},
            "trading": {
                "allowed": not account.disabled and not sup.halted,
                "disabled": account.disabled,
                "halted": sup.halted,
                "hedging_account": account.view.hedging,
            },
            "waiting": _waiting(sup),
            "guard": sup.guard.status(),
            "counters": {
                "deep_checks": c.deep_checks, "early_checks": c.early_checks,
                "actions_done": c.actions_done, "actions_failed": c.actions_failed,
                "actions_unknown": c.actions_unknown, "by_action": c.by_action,
            },
            "last_check_at": c.last_check_at,
            "last_snapshot_at": sup.last_snapshot_at,
            "data_health": _health(sup, now),
            "gateway": plain_stats(sup.ctx.gateway.statistics()),
            "identity": {
                "linked_positions": len(sup.ownership.links),
                "snapshot_glitches": sup.presence.glitches,
            },
        }


def _waiting(sup: Supervisor) -> dict[str, int]:
    """Trades with orders at the broker, and trades whose action waits (by reason)."""
    out: dict[str, int] = {"in_flight": 0}
    for actor in sup.actors.values():
        t = actor.trade
        if t.pending is not None:
            out["in_flight"] += 1
        if t.blocked is not None:
            key = t.blocked.wait.name.lower()
            out[key] = out.get(key, 0) + 1
    return out


def _health(sup: Supervisor, now: float) -> dict[str, dict[str, Any]]:
    health = {}
    for sym in sorted(sup.active_symbols):
        feed = sup.feeds.get(sym)
        if feed is None:
            continue
        view = feed.view(now)
        health[sym] = {
            "stale": view.stale if view else True,
            "closed": view.closed if view else False,
            "reason": ((view.stale_reason or feed.closed_reason(now)) if view else feed.error)
            or "",
            "m5_time": view.m5_time if view else 0,
            "m15_close": view.m15_close if view else 0,
            "tick_time": feed.tick.time if feed.tick else None,
        }
    return health


def plain_stats(stats: Any) -> dict[str, Any]:
    """Gateway statistics as JSON-ready values (enum keys by name; no deep copies)."""
    out = {}
    for f in dataclasses.fields(stats):
        value = getattr(stats, f.name)
        if isinstance(value, dict):
            value = {getattr(k, "name", str(k)): v for k, v in value.items()}
        out[f.name] = value
    out["unknown_outcomes"] = stats.unknown_outcomes
    return out
