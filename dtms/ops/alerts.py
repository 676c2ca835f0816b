"""Alerts: operator events to Telegram and a webhook, never in trading's way.

Theory of operation. One dispatcher subscribes to the runtime's event bus (which never blocks
its publishers: a full subscriber drops and counts) and applies the rules: each event kind is
on, silent or off (``[alerts.events]``); "broker link down" is told only when the link stays
down ``link_down_seconds``, and "link up" only after such an alert. Each channel has its own
outbox: a bounded queue (when full, the *oldest* alert is dropped and counted, so the newest
state always gets through) served by one sender task that retries a failed delivery with
exponential back-off (a 429's ``retry_after`` honoured) up to ``attempts`` times. So an alert
endpoint that is down or slow delays only its own alerts. On stop, what waits is flushed for at
most ``flush_seconds`` (the "dtms is stopping" alert included), then the tasks end.
"""

from __future__ import annotations

import time
from collections import deque

import httpx
import trio
from loguru import logger

from dtms.errors import DtmsError
from dtms.ops.channels import Alert, Channel, DeliveryError, Telegram, Webhook
from dtms.ops.context import Ops
from dtms.ops.settings import AlertMode, AlertSettings
from dtms.runtime.events import EventKind, OperatorEvent, Severity

log = logger.bind(component="alerts")


def channels_of(settings: AlertSettings) -> list[Channel]:
    """The channels the settings configure (none: alerts are off)."""
    out: list[Channel] = []
    tg = settings.telegram
    if tg.enabled:
        out.append(Telegram(tg.api_url, tg.resolved_token(), tg.chat_id, settings.batch_max))
    if settings.webhook.enabled:
        out.append(Webhook(settings.webhook.url))
    return out


class Outbox:
    """One channel's bounded queue and its sender."""

    def __init__(self, ops: Ops, channel: Channel, settings: AlertSettings) -> None:
        self.ops, self.channel, self.s = ops, channel, settings
        self.queue: deque[Alert] = deque()
        self.sending = False
        self._wake = trio.Event()
        self._key = f"alerts.{channel.name}"
        for what in ("sent", "failed", "dropped", "queued"):
            ops.counters.setdefault(f"{self._key}.{what}", 0)

    def put(self, alert: Alert) -> None:
        """Queue an alert; drop the oldest when full (never waits)."""
        if len(self.queue) >= self.s.queue_size:
            self.queue.popleft()
            self.ops.count(f"{self._key}.dropped")
        self.queue.append(alert)
        self.ops.counters[f"{self._key}.queued"] = len(self.queue)
        self._wake.set()

    @property
    def idle(self) -> bool:
        """Nothing waits and nothing is being sent."""
        return not self.queue and not self.sending

    async def run(self, client: httpx.AsyncClient) -> None:
        """Deliver queued alerts, oldest first, until cancelled."""
        while True:
            while not self.queue:
                await self._wake.wait()
                self._wake = trio.Event()
            batch = [self.queue.popleft()
                     for _ in range(min(self.channel.max_batch, len(self.queue)))]
            self.ops.counters[f"{self._key}.queued"] = len(self.queue)
            self.sending = True
            try:
                await self._deliver(client, batch)
            finally:
                self.sending = False

    async def _deliver(self, client: httpx.AsyncClient, batch: list[Alert]) -> None:
        wait = self.s.backoff_seconds
        for attempt in range(1, self.s.attempts + 1):
            try:
                await self.channel.deliver(client, batch)
            except DeliveryError as exc:
                if not exc.retry or attempt == self.s.attempts:
                    self.ops.count(f"{self._key}.failed", len(batch))
                    log.warning(f"alert to {self.channel.name} given up after {attempt} "
                                f"attempt(s): {exc}")
                    return
                pause = min(max(exc.retry_after or 0.0, wait), self.s.backoff_max_seconds)
                if attempt == 1:
                    log.info(f"alert to {self.channel.name} failed ({exc}); retrying")
                await self.ops.sleep(pause)
                wait = min(wait * 2, self.s.backoff_max_seconds)
            else:
                self.ops.count(f"{self._key}.sent", len(batch))
                return


class Alerts:
    """The dispatcher: rules over operator events, fan-out to the outboxes."""

    def __init__(self, ops: Ops, channels: list[Channel]) -> None:
        self.ops = ops
        self.s = ops.settings.alerts
        self.outboxes = [Outbox(ops, c, self.s) for c in channels]
        self.stopping_seen = trio.Event()
        self._link_down: OperatorEvent | None = None
        self._link_alerted = False
        self._link_watch: trio.CancelScope | None = None

    def emit(self, event: OperatorEvent, text: str | None = None) -> None:
        """Queue ``event`` on every channel unless its kind is off."""
        mode = self.s.mode(event.kind.value)
        if mode is AlertMode.OFF:
            return
        alert = Alert(event, mode is AlertMode.SILENT, text or event.text)
        for box in self.outboxes:
            box.put(alert)

    def handle(self, event: OperatorEvent, nursery: trio.Nursery) -> None:
        """Apply the rules to one event."""
        match event.kind:
            case EventKind.BROKER_LINK_DOWN:
                if self._link_down is None:
                    self._link_down = event
                    nursery.start_soon(self._link_timer, event)
            case EventKind.BROKER_LINK_UP:
                down, alerted = self._link_down, self._link_alerted
                self._link_down, self._link_alerted = None, False
                if self._link_watch is not None:
                    self._link_watch.cancel()
                if down is not None and alerted:
                    self.emit(event)  # the runtime's line says how long it was down
            case _:
                self.emit(event)
                if event.kind is EventKind.PROCESS_STOPPING:
                    self.stopping_seen.set()

    async def _link_timer(self, event: OperatorEvent) -> None:
        with trio.CancelScope() as scope:
            self._link_watch = scope
            await self.ops.sleep(self.s.link_down_seconds)
            if self._link_down is event:
                self._link_alerted = self.s.mode(event.kind.value) is not AlertMode.OFF
                self.emit(event, f"broker link down for over {self.s.link_down_seconds:g} s: "
                                 f"{event.text}")
        if self._link_watch is scope:
            self._link_watch = None

    async def run(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Dispatch until dtms stops, then flush for at most ``flush_seconds``."""
        ops = self.ops
        timeout = httpx.Timeout(ops.trio_seconds(self.s.timeout_seconds))
        with ops.app.events.subscribe(max(self.s.queue_size, 100)) as events:
            async with httpx.AsyncClient(timeout=timeout) as client, \
                    trio.open_nursery() as nursery:
                for box in self.outboxes:
                    nursery.start_soon(box.run, client)

                async def dispatch() -> None:
                    async for event in events:
                        self.handle(event, nursery)

                nursery.start_soon(dispatch)
                # serve announced the start before the surfaces existed: say it here
                sup = ops.app.supervisor
                names = ", ".join(box.channel.name for box in self.outboxes)
                self.emit(OperatorEvent(
                    EventKind.PROCESS_STARTED, sup.ctx.broker_now(),
                    f"dtms started: monitoring {len(sup.actors)} trade(s); alerts on {names}"))
                task_status.started()
                await ops.app.stop.wait()
                with trio.move_on_after(ops.trio_seconds(self.s.flush_seconds)):
                    await self.stopping_seen.wait()
                    while not all(box.idle for box in self.outboxes):
                        await ops.sleep(0.05)
                left = sum(len(box.queue) for box in self.outboxes)
                if left:
                    log.warning(f"{left} alert(s) not delivered before stopping")
                nursery.cancel_scope.cancel()



async def send_test(settings: AlertSettings, text: str) -> dict[str, str | None]:
    """Send ``text`` once on every configured channel; per channel, None or why it failed."""
    event = OperatorEvent(EventKind.PROCESS_STARTED, time.time(), text, Severity.INFO)
    results: dict[str, str | None] = {}
    async with httpx.AsyncClient(timeout=httpx.Timeout(settings.timeout_seconds)) as client:
        for channel in channels_of(settings):
            try:
                await channel.deliver(client, [Alert(event, False, text)])
            except DeliveryError as exc:
                results[channel.name] = str(exc)
            else:
                results[channel.name] = None
    return results


def main_test(settings: AlertSettings) -> int:
    """``dtms alerts test``: one message on each channel; 0 when every one arrived."""
    if not channels_of(settings):
        raise DtmsError("alerts: no channel configured: set [alerts.telegram] bot_token and "
                        "chat_id, or [alerts.webhook] url")
    results = trio.run(send_test, settings, "dtms alert test: this channel works")
    for name, why in results.items():
        print(f"{name}: {'delivered' if why is None else 'FAILED: ' + why}")
    return 0 if all(why is None for why in results.values()) else 1
