"""Bad input to `dtms run`: one clear line, a non-zero exit, the journal untouched.

Each case runs the real command in its own process, as a user would.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

DTMS = [sys.executable, "-m", "dtms.cli"]


def _run(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    config = cwd / "config.toml"
    lock = f'[supervisor]\naccount_lock_dir = "{cwd}"\n'  # its own machine
    if not config.exists():
        config.write_text(lock)
    elif "account_lock_dir" not in config.read_text():
        config.write_text(config.read_text() + "\n" + lock)
    return subprocess.run([*DTMS, "run", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def _one_line(out: subprocess.CompletedProcess[str], *words: str) -> str:
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "Traceback" not in out.stderr
    for word in words:
        assert word in lines[0], lines[0]
    return lines[0]


def test_an_empty_journal_file_is_refused_and_left_empty(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    journal.write_bytes(b"")
    out = _run(tmp_path, "--journal", str(journal), "--duration", "1")
    assert out.returncode == 2
    _one_line(out, "empty file (0 bytes)", "left untouched")
    assert journal.stat().st_size == 0 and not Path(f"{journal}-wal").exists()


def test_a_journal_path_naming_a_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "jdir").mkdir()
    out = _run(tmp_path, "--journal", str(tmp_path / "jdir"), "--duration", "1")
    assert out.returncode == 2
    _one_line(out, "is a directory")


def test_a_read_only_journal_is_refused_before_anything_starts(tmp_path: Path) -> None:
    journal = tmp_path / "j.sqlite3"
    first = _run(tmp_path, "--journal", str(journal), "--duration", "1", "--scenario", "none")
    assert first.returncode == 0, first.stderr
    before = journal.read_bytes()
    if os.geteuid() == 0:  # root writes through file permissions: make it immutable instead
        made = subprocess.run(["chattr", "+i", str(journal)], capture_output=True)
        if made.returncode != 0:
            pytest.skip("running as root without chattr +i: cannot make a read-only file")
    else:
        journal.chmod(0o444)
    try:
        out = _run(tmp_path, "--journal", str(journal), "--duration", "1")
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(journal)], capture_output=True)
    assert out.returncode == 2
    _one_line(out, str(journal), "writ")
    assert journal.read_bytes() == before


@pytest.mark.parametrize("where", ["under-a-file/logs", "a-file"])
def test_a_log_directory_that_cannot_be_written_is_one_line(tmp_path: Path, where: str) -> None:
    (tmp_path / "under-a-file").write_text("not a directory\n")
    (tmp_path / "a-file").write_text("not a directory\n")
    (tmp_path / "config.toml").write_text(f'[logging]\ndir = "{where}"\n')
    out = _run(tmp_path, "--duration", "1")
    assert out.returncode == 2
    _one_line(out, "logging.dir", "cannot write logs")
    assert not (tmp_path / "dtms.sqlite3").exists()  # nothing was started


@pytest.mark.parametrize("value", ["-5", "0", "soon", "nan"])
def test_a_duration_that_is_not_a_positive_number_is_one_line(tmp_path: Path, value: str) -> None:
    out = _run(tmp_path, "--duration", value, timeout=20)
    assert out.returncode == 2
    assert "--duration" in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "dtms.sqlite3").exists()


def test_a_comment_prefix_too_long_for_a_ticket_is_refused_at_load(tmp_path: Path) -> None:
    prefix = "MY_VERY_LONG_HEDGE_TAG_"  # 23 characters: 8 left of 31 for the ticket
    (tmp_path / "config.toml").write_text(f'[actions]\nhedge_comment_prefix = "{prefix}"\n')
    out = _run(tmp_path, "--duration", "1")
    assert out.returncode == 2
    _one_line(out, "hedge_comment_prefix", "10-digit ticket")


@contextlib.contextmanager
def _silent_port() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conn, _ = server.accept()
                held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for conn in held:
            conn.close()
        server.close()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_silent_terminal_port_does_not_make_startup_deaf_to_signals(
    tmp_path: Path, signum: int
) -> None:
    with _silent_port() as port:
        (tmp_path / "config.toml").write_text(f'[supervisor]\naccount_lock_dir = "{tmp_path}"\n')
        proc = subprocess.Popen([*DTMS, "run", "--broker", "mt5linux", "--port", str(port)],
                                cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        time.sleep(3)  # well inside the connection attempt
        assert proc.poll() is None
        sent = time.monotonic()
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
        assert time.monotonic() - sent < 15  # bounded and interruptible
    assert proc.returncode == 0, err
    assert "Traceback" not in err


@pytest.mark.parametrize("delay", [0.2, 0.6])  # once Python runs, through the first second
def test_sigterm_in_the_first_second_of_startup_is_a_clean_exit(tmp_path: Path,
                                                                delay: float) -> None:
    (tmp_path / "config.toml").write_text(f'[supervisor]\naccount_lock_dir = "{tmp_path}"\n')
    proc = subprocess.Popen([*DTMS, "run", "--duration", "30"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
