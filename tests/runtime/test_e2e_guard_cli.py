"""`dtms guard unlock` and the guard in `dtms status`, as a user runs them; bad guard config.

The unlock runs in its own process against a `dtms run` that is running (the request goes
through the journal), and against a journal nobody runs.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from dtms.config import parse_settings
from dtms.errors import ConfigError
from dtms.journal.store import JournalFile

ROOT = Path(__file__).resolve().parents[2]
DTMS = [sys.executable, "-m", "dtms.cli"]


def _dtms(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DTMS, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout)


def _status(cwd: Path) -> dict:
    out = _dtms(cwd, "status", "--json")
    return json.loads(out.stdout) if out.returncode == 0 else {}


def _wait(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
def test_unlock_reaches_a_running_dtms_and_status_shows_the_guard(tmp_path: Path) -> None:
    config = (ROOT / "config.toml").read_text().replace(
        'account_lock_dir = ""', f'account_lock_dir = "{tmp_path}"')
    config = config.replace("daily_loss = 0.0", "daily_loss = 1.0").replace(
        'daily_loss_unit = "percent"', 'daily_loss_unit = "money"').replace(  # the first spread
        "heartbeat_seconds = 5.0", "heartbeat_seconds = 1.0")  # locks; status soon shows it
    (tmp_path / "config.toml").write_text(config)
    proc = subprocess.Popen([*DTMS, "run", "--duration", "120"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        def locked() -> bool:
            guard = _status(tmp_path).get("guard", {})
            return bool(guard.get("locked") and guard.get("limits"))  # and a heartbeat saw it

        _wait(locked, 90, "the lock")
        text = _dtms(tmp_path, "status").stdout
        assert "guard: LOCKED since" in text and "daily loss limit reached" in text
        assert "guard: daily loss" in text and "breached" in text
        out = _dtms(tmp_path, "guard", "unlock", "--reason", "checked", "--wait", "30")
        assert out.returncode == 0, out.stderr
        assert "unlocked at" in out.stdout and "not enforced again before the next reset" \
            in out.stdout
        guard = _status(tmp_path)["guard"]
        assert guard["locked"] is False and "unlocked" in guard["last_answer"]
        assert guard["suspended"] == ["daily"]
    finally:
        proc.kill()
        proc.wait()


def test_unlock_with_nobody_running_stores_the_request(tmp_path: Path) -> None:
    journal = tmp_path / "dtms.sqlite3"
    JournalFile.open(journal).close()
    out = _dtms(tmp_path, "guard", "unlock", "--journal", str(journal), "--wait", "0")
    assert out.returncode == 0, out.stderr
    assert "dtms is not running: it is handled when dtms starts" in out.stdout
    f = JournalFile.open(journal)
    try:
        request = f.get_meta("guard_unlock")
    finally:
        f.close()
    assert request["id"] in out.stdout


def test_unlock_without_a_journal_is_one_line(tmp_path: Path) -> None:
    out = _dtms(tmp_path, "guard", "unlock", "--journal", str(tmp_path / "none.sqlite3"))
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "no journal at" in out.stderr
    assert "Traceback" not in out.stderr


BAD_GUARD = [
    ('[guard]\npreset = "classic_5_10"\ndaily_loss = 4.0\n',
     "guard: preset 'classic_5_10' sets daily_loss; remove daily_loss or set preset = \"custom\""),
    ('[guard]\npreset = "ftmo"\n', "guard.preset: expected one of custom, classic_5_10"),
    ('[guard]\ndaily_loss_unit = "pips"\n', "guard.daily_loss_unit: expected one of percent"),
    ("[guard]\ndaily_loss = 120.0\n", "guard: daily_loss 120 percent leaves nothing"),
    ("[guard]\noverall_loss = -5\n", "guard.overall_loss: -5 is out of range"),
    ("[guard]\nreset_hour = 24\n", "guard.reset_hour: 24 is out of range"),
    ("[guard]\nwarning_at = 1.5\n", "guard.warning_at: 1.5 is out of range"),
    ('[guard]\nflatten_scope = "all"\n', "guard.flatten_scope: expected one of managed, account"),
]


@pytest.mark.parametrize(("text", "message"), BAD_GUARD)
def test_bad_guard_config_is_one_line_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(text, "bad.toml")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_bad_guard_config_stops_dtms_run_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "bad.toml").write_text('[guard]\npreset = "strict_4_8"\novercall_loss = 1\n')
    out = _dtms(tmp_path, "run", "--config", "bad.toml", "--duration", "1")
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "guard.overcall_loss: unknown setting" in lines[0]
