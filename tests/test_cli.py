"""The dtms command as a user runs it: a real process, read while it runs, stopped by signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DTMS = [sys.executable, "-m", "dtms.cli"]


def _dtms(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DTMS, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _status(cwd: Path) -> dict:
    out = _dtms(cwd, "status", "--json")
    return json.loads(out.stdout) if out.returncode == 0 else {}


@pytest.fixture
def running(tmp_path: Path):  # type: ignore[no-untyped-def]
    (tmp_path / "config.toml").write_text((ROOT / "config.toml").read_text().replace(
        'account_lock_dir = ""', f'account_lock_dir = "{tmp_path}"'))  # its own machine
    proc = subprocess.Popen([*DTMS, "run", "--duration", "120"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        _wait(lambda: _status(tmp_path).get("active_trades", 0) >= 2, 60, "trades")
        yield tmp_path, proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_read_commands_work_while_running_and_a_signal_stops_it_cleanly(
    running: tuple[Path, subprocess.Popen[str]], sig: signal.Signals
) -> None:
    cwd, proc = running
    status = _status(cwd)
    assert status["monitoring_active"] is True and status["broker"].startswith("simulated")
    text = _dtms(cwd, "status")
    assert text.returncode == 0 and "ACTIVE" in text.stdout
    _wait(lambda: _status(cwd)["actions"]["succeeded"] >= 1, 60, "a first action")
    loaded = _status(cwd)  # how the cycles and the gateway keep up, and what may trade
    assert loaded["cycle_seconds"]["p95"] is not None and loaded["cycle_seconds"]["p50"] >= 0
    assert set(loaded["gateway"]["queue_depth"]) == {"READ", "MODIFY", "HEDGE", "CLOSE"}
    assert "oldest_queued" in loaded["gateway"] and "in_flight" in loaded["waiting"]
    assert loaded["trading"]["allowed"] is True and loaded["trading"]["halted"] == ""
    history = json.loads(_dtms(cwd, "history", "--json").stdout)
    ticket = history[0]["ticket"]
    trade = _dtms(cwd, "trade", str(ticket))
    assert trade.returncode == 0 and f"#{ticket}" in trade.stdout and "state" in trade.stdout
    detail = json.loads(_dtms(cwd, "trade", str(ticket), "--json").stdout)
    assert detail["layers"] and detail["state"] in {
        "HEALTHY", "WARNING_L1", "WARNING_L2", "HEDGED", "RECOVERING", "CLOSED"}
    logs = _dtms(cwd, "logs", str(ticket))
    assert logs.returncode == 0 and f"#{ticket}" in logs.stdout
    assert all(f"#{ticket}" in line for line in logs.stdout.splitlines() if "#" in line)

    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out[-2000:]
    assert "stopping gracefully" in out and "dtms stopped" in out
    assert "Traceback" not in out
    assert _status(cwd)["monitoring_active"] is False


def test_unknown_ticket_and_missing_journal_are_one_line_errors(tmp_path: Path) -> None:
    out = _dtms(tmp_path, "status")
    assert out.returncode == 2 and out.stderr.strip().count("\n") == 0
    assert "no journal at" in out.stderr
    (tmp_path / "config.toml").write_text("[journal]\npath = \"j.sqlite3\"\n")
    from dtms.journal.store import JournalFile

    JournalFile.open(tmp_path / "j.sqlite3").close()
    out = _dtms(tmp_path, "trade", "424242")
    assert out.returncode == 2 and "ticket 424242 is not in the journal" in out.stderr
    out = _dtms(tmp_path, "logs", "424242")
    assert out.returncode == 2 and "no log for ticket 424242" in out.stderr
    out = _dtms(tmp_path, "run", "--broker", "mt5")
    assert out.returncode == 2 and out.stderr.count("\n") == 1
    assert "Windows" in out.stderr and "mt5linux" in out.stderr


def test_a_second_dtms_on_the_same_journal_is_refused(tmp_path: Path) -> None:
    from dtms.journal.store import JournalFile

    holder = JournalFile.open(tmp_path / "dtms.sqlite3")
    try:
        out = _dtms(tmp_path, "run", "--duration", "1")
        assert out.returncode == 2
        assert out.stderr.strip().splitlines()[-1].startswith("dtms: journal")
        assert "in use by another dtms process" in out.stderr and "Traceback" not in out.stderr
    finally:
        holder.close()
    assert os.path.exists(tmp_path / "dtms.sqlite3")


def _line(stream, timeout: float = 20.0) -> str:  # type: ignore[no-untyped-def]
    import select

    ready, _, _ = select.select([stream], [], [], timeout)
    assert ready, "no output in time"
    return str(stream.readline())


def test_logs_follow_prints_what_the_actor_writes_next(tmp_path: Path) -> None:
    trades = tmp_path / "logs" / "trades"
    trades.mkdir(parents=True)
    log = trades / "7.log"
    log.write_text("#7 first\n")
    proc = subprocess.Popen([*DTMS, "logs", "7", "--follow"], cwd=tmp_path,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert _line(proc.stdout) == "#7 first\n"
        with open(log, "a") as fh:
            fh.write("#7 second\n")
        assert _line(proc.stdout) == "#7 second\n"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_trade_log_has_one_line_per_record(tmp_path: Path) -> None:
    from loguru import logger

    from dtms.runtime.logs import setup_logging
    from dtms.runtime.settings import LogSettings

    router = setup_logging(LogSettings(dir=str(tmp_path / "logs")), console=False)
    try:
        logger.bind(ticket=42).info("#42 first")
        logger.bind(ticket=42).warning("#42 second")
    finally:
        router.close()
        logger.remove()
    lines = (tmp_path / "logs" / "trades" / "42.log").read_text().splitlines()
    assert len(lines) == 2 and lines[0].endswith("#42 first") and "WARNING" in lines[1]
