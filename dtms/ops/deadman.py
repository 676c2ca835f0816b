"""The dead-man heartbeat: a URL pinged every N seconds while dtms is healthy.

An outside monitor (healthchecks.io, Uptime Kuma's push monitor, cronitor, ...) expects the ping
and raises its own alarm when pings stop: when dtms died, hung, lost the broker, lost
AutoTrading or its journal — and when the machine or its network is gone, which no alert sent
by dtms itself can report. A failed ping is not retried: the next one is due soon enough.
"""

from __future__ import annotations

import httpx
import trio
from loguru import logger

from dtms.ops.context import Ops

log = logger.bind(component="deadman")


async def ping_once(ops: Ops, client: httpx.AsyncClient) -> bool:
    """Ping when healthy; True when a ping was delivered."""
    health = ops.health()
    if not health.ok:
        ops.count("deadman.skipped")
        return False
    try:
        response = await client.get(ops.settings.service.deadman_url)
    except httpx.HTTPError as exc:
        ops.count("deadman.failed")
        log.warning(f"dead-man ping failed: {type(exc).__name__}: {exc}")
        return False
    if not response.is_success:
        ops.count("deadman.failed")
        log.warning(f"dead-man ping answered {response.status_code}")
        return False
    ops.count("deadman.sent")
    return True


async def run_deadman(ops: Ops) -> None:
    """Ping every ``deadman_seconds`` until dtms stops."""
    s = ops.settings.service
    timeout = httpx.Timeout(ops.trio_seconds(min(10.0, s.deadman_seconds / 2)))
    async with httpx.AsyncClient(timeout=timeout) as client:
        first = min(5.0, s.deadman_seconds)  # let the first cycles run
        with trio.move_on_after(ops.trio_seconds(first)):
            await ops.app.stop.wait()
        while not ops.app.stop.is_set():
            await ping_once(ops, client)
            with trio.move_on_after(ops.trio_seconds(s.deadman_seconds)):
                await ops.app.stop.wait()
