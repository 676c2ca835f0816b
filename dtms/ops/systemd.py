"""systemd's notify protocol, spoken directly: readiness, status, the watchdog, stopping.

A ``Type=notify`` service gets ``NOTIFY_SOCKET`` (a Unix datagram socket; a leading ``@`` means
the abstract namespace) and, with ``WatchdogSec=``, ``WATCHDOG_USEC``. dtms sends ``READY=1``
once it monitors, ``WATCHDOG=1`` at half the watchdog interval *only while cycles complete and
the journal takes writes* (``dtms.ops.health.check_alive``), so systemd restarts a dtms that
hung; a ``STATUS=`` line says what it does; ``STOPPING=1`` on the way out. Without
``NOTIFY_SOCKET`` (not under systemd, or not on Linux) nothing is sent.
"""

from __future__ import annotations

import os
import socket

import trio

from dtms.ops.context import Ops
from dtms.ops.health import check_alive


class Notifier:
    """Sends notify messages to the service manager's socket."""

    def __init__(self, address: str) -> None:
        self.address = "\0" + address[1:] if address.startswith("@") else address
        self.sent: list[str] = []

    @classmethod
    def from_environment(cls) -> Notifier | None:
        """The notifier of this process (None when not started by systemd with a socket)."""
        address = os.environ.get("NOTIFY_SOCKET", "")
        if not address or not hasattr(socket, "AF_UNIX"):
            return None
        return cls(address)

    def send(self, *lines: str) -> bool:
        """Send one datagram of ``KEY=value`` lines; False when the manager is not there."""
        message = "\n".join(lines)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
                sock.setblocking(False)  # a busy manager loses a message; dtms never waits
                sock.connect(self.address)
                sock.send(message.encode())
        except OSError:  # BlockingIOError included
            return False
        self.sent.append(message)
        return True


def watchdog_interval() -> float | None:
    """Real seconds between two ``WATCHDOG=1`` (half the watchdog timeout), None when off."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 1e6 / 2


def status_line(ops: Ops) -> str:
    """One line for ``systemctl status``."""
    sup = ops.app.supervisor
    link = "up" if ops.app.gateway.connected else "DOWN"
    trading = "allowed" if sup.account.trade_allowed else "NOT allowed"
    return (f"monitoring {len(sup.actors)} trade(s); broker link {link}; trading {trading}; "
            f"{sup.cycles} cycles")


async def run_notify(ops: Ops, notifier: Notifier, interval: float | None,
                     task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Tell systemd dtms is ready, feed the watchdog while alive, say when stopping."""
    notifier.send("READY=1", f"MAINPID={os.getpid()}", f"STATUS={status_line(ops)}")
    task_status.started()
    period = interval if interval is not None else 10.0
    limit = ops.settings.service.watchdog_cycle_age_seconds
    while not ops.app.stop.is_set():
        with trio.move_on_after(ops.trio_seconds(period)):
            await ops.app.stop.wait()
        if ops.app.stop.is_set():
            break
        alive = check_alive(ops.app, limit, ops.scale)
        if alive.ok:
            lines = ["WATCHDOG=1"] if interval is not None else []
            notifier.send(*lines, f"STATUS={status_line(ops)}")
        else:
            notifier.send(f"STATUS=unhealthy: {'; '.join(alive.reasons)}")
    notifier.send("STOPPING=1", "STATUS=stopping: positions stay open with their stops")
