"""Alerts against a real local endpoint: modes, retries, an endpoint down or slow, the
link-down rule, the flush on stop; trading never waits for them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import trio
import trio.testing

from dtms.config import Settings
from dtms.ops.alerts import Alerts, channels_of
from dtms.ops.context import Ops
from dtms.ops.settings import AlertMode
from dtms.runtime.events import EventKind, OperatorEvent, Severity

from ..runtime.harness import Harness, simulated
from .kit import Endpoint

SCALE = 0.01
"""Trio seconds per 'real' second of the surfaces: a 2 s back-off takes 20 ms here."""


def _settings(*, telegram: str = "", webhook: str = "", **alerts: Any) -> Settings:
    s = Settings()
    a = s.alerts
    if telegram:
        a = replace(a, telegram=replace(a.telegram, bot_token="T0KEN", chat_id="42",
                                        api_url=telegram))
    if webhook:
        a = replace(a, webhook=replace(a.webhook, url=webhook + "/hook"))
    alerts.setdefault("process_started", AlertMode.OFF)  # most tests look at their own events
    events = {k: v for k, v in alerts.items() if isinstance(v, AlertMode)}
    rest = {k: v for k, v in alerts.items() if not isinstance(v, AlertMode)}
    a = replace(a, events=replace(a.events, **events), **rest)
    sup = replace(s.supervisor, cycle_seconds=0.1)
    return replace(s, alerts=a, supervisor=sup)


def _event(kind: EventKind, text: str, at: float = 1.0e9) -> OperatorEvent:
    return OperatorEvent(kind, at, text, Severity.WARNING, 557, "EURUSD", {"volume": 0.5})


@asynccontextmanager
async def _alerts(tmp_path: Path, clock: trio.testing.MockClock, settings: Settings
                  ) -> AsyncIterator[tuple[Harness, Ops, Alerts]]:
    async with simulated(tmp_path, clock, settings=settings) as h:
        ops = Ops(h.app, h.settings, SCALE)
        alerts = Alerts(ops, channels_of(h.settings.alerts))
        async with trio.open_nursery() as nursery:
            await nursery.start(alerts.run)
            yield h, ops, alerts
            nursery.cancel_scope.cancel()


async def _until(predicate: Callable[[], bool], within: float = 5.0) -> None:
    with trio.fail_after(within):
        while not predicate():
            await trio.sleep(0.01)


async def test_telegram_gets_each_kind_as_its_mode_says(
    tmp_path: Path, wall_clock: trio.testing.MockClock
) -> None:
    tg = Endpoint().start()
    settings = _settings(telegram=tg.url, data_fresh=AlertMode.OFF,
                         trading_enabled=AlertMode.SILENT, process_started=AlertMode.SILENT)
    async with _alerts(tmp_path, wall_clock, settings) as (h, ops, _):
        await _until(lambda: ops.counters["alerts.telegram.sent"] == 1)
        h.app.events.publish(_event(EventKind.HEDGE_OPENED, "hedge #9 opened for EURUSD #557"))
        await _until(lambda: ops.counters["alerts.telegram.sent"] == 2)
        h.app.events.publish(_event(EventKind.DATA_FRESH, "EURUSD data fresh again"))
        h.app.events.publish(_event(EventKind.TRADING_ENABLED, "AutoTrading back on"))
        await _until(lambda: ops.counters["alerts.telegram.sent"] == 3)
    tg.down()
    (started, first, second) = tg.posted()
    assert started["text"] == ("dtms: ℹ️ dtms started: monitoring 0 trade(s); alerts on "
                               "telegram")
    assert started["disable_notification"] is True
    assert {p for _, p, _ in tg.requests} == {"/botT0KEN/sendMessage"}
    assert first["chat_id"] == "42" and "hedge #9 opened for EURUSD #557" in first["text"]
    assert first["disable_notification"] is False
    assert "AutoTrading back on" in second["text"] and second["disable_notification"] is True
    assert "fresh" not in second["text"]  # off: never sent


async def test_a_webhook_failing_with_5xx_is_retried_until_it_answers(
    tmp_path: Path, wall_clock: trio.testing.MockClock
) -> None:
    hook = Endpoint(answers=[500, 503]).start()
    async with _alerts(tmp_path, wall_clock, _settings(webhook=hook.url)) as (h, ops, _):
        h.app.events.publish(_event(EventKind.QUARANTINED, "#557 quarantined"))
        await _until(lambda: ops.counters["alerts.webhook.sent"] == 1)
        assert ops.counters["alerts.webhook.failed"] == 0
    hook.down()
    bodies = hook.posted()
    assert len(bodies) == 3 and bodies[0] == bodies[2]
    assert bodies[0]["kind"] == "quarantined" and bodies[0]["text"] == "#557 quarantined"
    assert bodies[0]["ticket"] == 557 and bodies[0]["data"] == {"volume": 0.5}
    assert bodies[0]["source"] == "dtms" and bodies[0]["silent"] is False


async def test_a_refusal_is_not_retried_and_an_endpoint_down_is_given_up(
    tmp_path: Path, wall_clock: trio.testing.MockClock
) -> None:
    refusing = Endpoint(answers=[400]).start()
    gone = Endpoint().start()
    gone.down()  # connections refused from now on
    tg_settings = _settings(telegram=refusing.url, webhook=gone.url, attempts=3)
    async with _alerts(tmp_path, wall_clock, tg_settings) as (h, ops, _):
        cycles = h.app.supervisor.cycle_times.count
        h.app.events.publish(_event(EventKind.HEDGE_FAILED, "hedge for EURUSD #557 failed"))
        await _until(lambda: ops.counters["alerts.webhook.failed"] == 1
                     and ops.counters["alerts.telegram.failed"] == 1)
        await trio.sleep(0.5)
        assert h.app.supervisor.cycle_times.count > cycles  # trading went on meanwhile
    refusing.down()
    assert len(refusing.posted()) == 1  # a 400 will not change by asking again
    assert ops.counters["alerts.webhook.sent"] == ops.counters["alerts.telegram.sent"] == 0


async def test_a_slow_endpoint_drops_the_oldest_alerts_and_never_slows_the_cycles(
    tmp_path: Path, wall_clock: trio.testing.MockClock
) -> None:
    hook = Endpoint(delay=0.3).start()
    settings = _settings(webhook=hook.url, queue_size=3, timeout_seconds=100)
    async with _alerts(tmp_path, wall_clock, settings) as (h, ops, alerts):
        sup = h.app.supervisor
        with trio.fail_after(1):  # publishing never waits for the endpoint
            for i in range(10):
                h.app.events.publish(_event(EventKind.TRADE_CLOSED, f"closed {i}"))
        cycles = sup.cycle_times.count
        await trio.sleep(1.0)
        assert sup.cycle_times.count - cycles >= 5  # cycles every 0.1 s went on
        await _until(lambda: alerts.outboxes[0].idle, within=10)
    hook.down()
    texts = [b["text"] for b in hook.posted()]
    assert ops.counters["alerts.webhook.dropped"] == 10 - len(texts) >= 6
    assert texts[-3:] == ["closed 7", "closed 8", "closed 9"]  # the newest always arrive


async def test_link_down_is_told_only_when_it_lasts_and_link_up_only_after_it(
    tmp_path: Path, wall_clock: trio.testing.MockClock
) -> None:
    hook = Endpoint().start()
    settings = _settings(webhook=hook.url, link_down_seconds=20)  # 0.2 s of this test
    async with _alerts(tmp_path, wall_clock, settings) as (h, ops, _):
        bus = h.app.events
        bus.publish(_event(EventKind.BROKER_LINK_DOWN, "broker link lost", at=1000))
        await trio.sleep(0.05)
        bus.publish(_event(EventKind.BROKER_LINK_UP, "broker link back", at=1005))
        await trio.sleep(0.4)
        assert hook.posted() == []  # a blip: nothing to tell
        bus.publish(_event(EventKind.BROKER_LINK_DOWN, "broker link lost", at=2000))
        await _until(lambda: ops.counters["alerts.webhook.sent"] == 1)
        bus.publish(_event(EventKind.BROKER_LINK_UP, "broker link back after 90 s", at=2090))
        await _until(lambda: ops.counters["alerts.webhook.sent"] == 2)
    hook.down()
    down, up = hook.posted()
    assert down["kind"] == "broker_link_down"
    assert down["text"] == "broker link down for over 20 s: broker link lost"
    assert up["kind"] == "broker_link_up"
    assert up["text"] == "broker link back after 90 s"


async def test_stopping_flushes_the_stopping_alert_within_the_flush_time(
    tmp_path: Path, wall_clock: trio.testing.MockClock
) -> None:
    hook = Endpoint().start()
    slow = Endpoint(delay=3.0).start()
    for endpoint, delivered in ((hook, True), (slow, False)):
        settings = _settings(webhook=endpoint.url, flush_seconds=50, timeout_seconds=1000)
        async with simulated(tmp_path / endpoint.url[-5:], wall_clock, settings=settings) as h:
            ops = Ops(h.app, h.settings, SCALE)
            alerts = Alerts(ops, channels_of(h.settings.alerts))
            async with trio.open_nursery() as nursery:
                await nursery.start(alerts.run)
                started = trio.current_time()
                h.app.stop.set()  # serve publishes "stopping" and drains
                await alerts_done(nursery)
                assert trio.current_time() - started < 0.5 + 0.1  # flush_seconds x SCALE
            assert (ops.counters["alerts.webhook.sent"] == 1) is delivered
        kinds = [b["kind"] for b in endpoint.posted()]
        assert kinds == ["process_stopping"]
    hook.down()
    slow.down()


async def alerts_done(nursery: trio.Nursery) -> None:
    """Wait until the alert task (the nursery's only child) has ended by itself."""
    with trio.fail_after(5):
        while nursery.child_tasks:
            await trio.sleep(0.01)


def test_dtms_alerts_test_says_per_channel_whether_the_message_arrived(tmp_path: Path) -> None:
    import subprocess
    import sys

    hook = Endpoint().start()
    (tmp_path / "ok.toml").write_text(f'[alerts.webhook]\nurl = "{hook.url}/hook"\n')
    out = subprocess.run([sys.executable, "-m", "dtms.cli", "alerts", "test", "--config",
                          "ok.toml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    hook.down()
    assert (out.returncode, out.stdout) == (0, "webhook: delivered\n")
    assert hook.posted()[0]["text"] == "dtms alert test: this channel works"
    out = subprocess.run([sys.executable, "-m", "dtms.cli", "alerts", "test", "--config",
                          "ok.toml"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and out.stdout.startswith("webhook: FAILED: webhook: Connect")


async def test_a_real_link_loss_is_alerted_once_it_lasts_and_its_end_after_it(
    tmp_path: Path, wall_clock: trio.testing.MockClock
) -> None:
    hook = Endpoint().start()
    settings = _settings(webhook=hook.url, link_down_seconds=50)  # 0.5 s of this test
    async with _alerts(tmp_path, wall_clock, settings) as (h, ops, _):
        await trio.sleep(0.5)
        h.sim.scenario.ipc_outage(3.0)  # the simulated terminal's link is lost for 3 s
        await _until(lambda: ops.counters["alerts.webhook.sent"] == 2, within=20)
    hook.down()
    down, up = hook.posted()
    assert down["kind"] == "broker_link_down" and down["text"].startswith(
        "broker link down for over 50 s: ")
    assert up["kind"] == "broker_link_up" and up["text"].startswith("broker link back after")
