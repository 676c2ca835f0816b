"""``dtms sim-server``: loopback only, one ready line, exit 0 on SIGINT/SIGTERM."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from dtms.broker import constants
from dtms.broker.sim import MarginMode, SimBroker, SimSettings
from dtms.broker.simserver import build_module, is_loopback, main, ready_line

READY = re.compile(
    r"^dtms sim-server listening on 127\.0\.0\.1:(\d+) \(speed ×([\d.]+), (\w+) account\)$"
)


@contextmanager
def running_sim_server(*args: str, port: int = 0) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """Start ``python -m dtms.broker.simserver`` and yield it with the port it listens on."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "dtms.broker.simserver", "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        match = READY.match(line)
        if match is None:
            proc.kill()
            _, err = proc.communicate(timeout=10)
            pytest.fail(f"sim-server did not start: {line!r} {err}")
        yield proc, int(match.group(1))
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.0.0.2", True),
        ("::1", True),
        ("localhost", True),
        ("0.0.0.0", False),
        ("192.168.1.10", False),
        ("::", False),
        ("example.com", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_refuses_a_non_loopback_host_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "0.0.0.0" in err and "remote code execution" in err


def test_help_warns_about_remote_code_execution(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["--help"])
    assert caught.value.code == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "remote code execution by design" in out
    assert "loopback only" in out


@pytest.mark.parametrize("bad", [["--speed", "0"], ["--balance", "-1"], ["--port", "70000"]])
def test_bad_numbers_are_refused(bad: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(bad) == 2
    assert capsys.readouterr().err.startswith("dtms sim-server: ")


def test_module_carries_the_simulator_functions_and_constants() -> None:
    sim = SimBroker(SimSettings())
    module = build_module(sim)
    assert module.__name__ == "MetaTrader5"
    assert module.initialize() is True
    assert module.account_info().login == SimSettings().login
    for name, value in constants.MODULE_CONSTANTS.items():
        assert getattr(module, name) == value, name
    assert module.last_error() == (1, "Success")


def test_ready_line_format() -> None:
    line = ready_line("127.0.0.1", 18812, 60.0, MarginMode.HEDGING)
    assert line == "dtms sim-server listening on 127.0.0.1:18812 (speed ×60, hedging account)"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_prints_one_ready_line_and_exits_0_on_signal(signum: signal.Signals) -> None:
    with running_sim_server("--speed", "30", "--margin-mode", "netting") as (proc, port):
        assert port > 0
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert out == "" and "Traceback" not in err


def test_a_busy_port_gives_one_clear_line() -> None:
    with running_sim_server() as (_, port):
        busy = subprocess.run(
            [sys.executable, "-m", "dtms.broker.simserver", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert busy.returncode == 1
    assert busy.stderr.startswith(f"dtms sim-server: cannot listen on 127.0.0.1:{port}: ")
    assert busy.stderr.count("\n") == 1
