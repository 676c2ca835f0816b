"""The dead-man heartbeat and systemd's notify protocol, against real local sockets."""

from __future__ import annotations

import os
import socket
from dataclasses import replace
from pathlib import Path

import pytest
import trio
import trio.testing

from dtms.config import Settings
from dtms.ops.context import Ops
from dtms.ops.deadman import run_deadman
from dtms.ops.systemd import Notifier, run_notify, watchdog_interval

from ..runtime.harness import simulated
from .kit import Endpoint

SCALE = 0.01


async def test_the_dead_man_is_pinged_while_healthy_and_not_while_the_link_is_down(
    tmp_path: Path, wall_clock: trio.testing.MockClock
) -> None:
    monitor = Endpoint().start()
    s = Settings()
    s = replace(s, service=replace(s.service, deadman_url=monitor.url + "/ping/abc",
                                   deadman_seconds=5),  # 50 ms of this test
                supervisor=replace(s.supervisor, cycle_seconds=0.05))
    async with simulated(tmp_path, wall_clock, settings=s) as h:
        ops = Ops(h.app, h.settings, SCALE)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(run_deadman, ops)
            await trio.sleep(1.0)
            assert ops.counters.get("deadman.sent", 0) >= 3
            assert {(m, p) for m, p, _ in monitor.requests} == {("GET", "/ping/abc")}
            h.sim.scenario.ipc_outage(1.0)
            with trio.fail_after(5):
                while h.app.gateway.connected:
                    await trio.sleep(0.01)
            before = len(monitor.requests)
            await trio.sleep(0.3)
            if not h.app.gateway.connected:
                assert len(monitor.requests) == before  # silent while unhealthy
            assert ops.counters.get("deadman.skipped", 0) >= 3
            h.app.stop.set()
            with trio.fail_after(2):  # it ends by itself when dtms stops
                while nursery.child_tasks:
                    await trio.sleep(0.01)
    monitor.down()


def _receiver(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.setblocking(False)
    return sock


def _messages(sock: socket.socket) -> list[str]:
    out = []
    while True:
        try:
            out.append(sock.recv(4096).decode())
        except BlockingIOError:
            return out


@pytest.mark.skipif(not hasattr(socket, "AF_UNIX"), reason="needs Unix datagram sockets")
async def test_systemd_hears_ready_then_watchdog_only_while_cycles_are_recent_then_stopping(
    tmp_path: Path, wall_clock: trio.testing.MockClock
) -> None:
    sock = _receiver(tmp_path / "notify")
    s = Settings()
    # a cycle every second against a 0.3 s limit: the watchdog is fed only in the first 0.3 s
    # after each cycle, as it would be only while a hung supervisor was still fresh
    s = replace(s, supervisor=replace(s.supervisor, cycle_seconds=1.0),
                service=replace(s.service, watchdog_cycle_age_seconds=0.3))
    async with simulated(tmp_path, wall_clock, settings=s) as h:
        ops = Ops(h.app, h.settings)
        notifier = Notifier(str(tmp_path / "notify"))
        sent: list[str] = []

        async def systemd() -> None:  # the manager reads its socket as it goes
            while True:
                sent.extend(_messages(sock))
                await trio.sleep(0.02)

        async with trio.open_nursery() as manager:
            manager.start_soon(systemd)
            async with trio.open_nursery() as nursery:
                await nursery.start(run_notify, ops, notifier, 0.05)
                await trio.sleep(2.5)
                h.app.stop.set()
                with trio.fail_after(2):
                    while nursery.child_tasks:
                        await trio.sleep(0.01)
            manager.cancel_scope.cancel()
    sent.extend(_messages(sock))
    sock.close()
    assert sent[0].split("\n")[0] == "READY=1" and f"MAINPID={os.getpid()}" in sent[0]
    feeds = [m for m in sent if m.startswith("WATCHDOG=1\n")]
    starved = [m for m in sent if m.startswith("STATUS=unhealthy: no monitoring cycle for")]
    assert len(feeds) >= 3 and len(starved) >= 3
    assert "STATUS=monitoring 0 trade(s); broker link up; trading allowed" in feeds[0]
    assert sent[-1].startswith("STOPPING=1\n")
    assert sent == notifier.sent


def test_notify_addresses_and_the_watchdog_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Notifier("@dtms/notify").address == "\0dtms/notify"  # abstract namespace
    assert Notifier("/run/systemd/notify").address == "/run/systemd/notify"
    assert not Notifier("/nonexistent/socket").send("READY=1")  # nobody listens: no error
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    assert Notifier.from_environment() is None
    monkeypatch.setenv("WATCHDOG_USEC", "30000000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    assert watchdog_interval() == 15.0
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid() + 1))  # meant for another process
    assert watchdog_interval() is None
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    monkeypatch.setenv("WATCHDOG_USEC", "0")
    assert watchdog_interval() is None
