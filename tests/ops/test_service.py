"""``dtms service``: the systemd unit it writes, checked by systemd's own verifier when present."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from dtms.ops.service import unit_text

DTMS = [sys.executable, "-m", "dtms.cli"]
ROOT = Path(__file__).resolve().parents[2]


def _dtms(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*DTMS, *args], cwd=cwd, capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})


def _settings(text: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith("#"):
            key, _, value = line.partition("=")
            out.setdefault(key, []).append(value)
    return out


def test_install_user_writes_a_notify_unit_with_watchdog_and_restart_policy(
    tmp_path: Path,
) -> None:
    (tmp_path / "config.toml").write_text((ROOT / "config.toml").read_text())
    out = _dtms(tmp_path, "service", "install", "--user", "--run-args", "--broker mt5linux",
                XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    assert out.returncode == 0, out.stderr
    unit = tmp_path / "xdg" / "systemd" / "user" / "dtms.service"
    assert f"wrote {unit}" in out.stdout
    assert "systemctl --user enable --now dtms.service" in out.stdout
    s = _settings(unit.read_text())
    assert s["Type"] == ["notify"] and s["WatchdogSec"] == ["60"]
    assert s["Restart"] == ["on-failure"] and s["StartLimitBurst"] == ["10"]
    assert s["ExecStart"] == [f"{sys.executable} -m dtms.cli run --config "
                              f"{tmp_path / 'config.toml'} --broker mt5linux"]
    assert s["WorkingDirectory"] == [str(tmp_path)]
    assert s["WantedBy"] == ["default.target"] and "User" not in s
    printed = _dtms(tmp_path, "service", "unit", "--user", "--run-args", "--broker mt5linux")
    assert printed.stdout == unit.read_text()


def test_a_system_unit_runs_as_a_named_account() -> None:
    text = unit_text(python="/opt/dtms/bin/python", config=Path("/srv/dtms/config.toml"),
                     workdir=Path("/srv/dtms"), scope="system", user="trader")
    s = _settings(text)
    assert s["User"] == ["trader"] and s["WantedBy"] == ["multi-user.target"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_the_unit_even_with_awkward_paths(tmp_path: Path) -> None:
    odd = tmp_path / "my 100% dtms"
    odd.mkdir()
    python = shutil.which("true") or "/bin/true"  # verify checks that the binary exists
    text = unit_text(python=python, config=odd / "config.toml", workdir=odd, scope="user",
                     run_args=["--journal", str(odd / "j.sqlite3")])
    unit = tmp_path / "dtms-test.service"
    unit.write_text(text)
    out = subprocess.run(["systemd-analyze", "verify", str(unit)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stderr.strip() == "", out.stderr  # no line "ignored"
    assert f'"{odd}/j.sqlite3"'.replace("%", "%%") in text


def test_service_errors_are_one_line(tmp_path: Path) -> None:
    out = _dtms(tmp_path, "service", "install", "--user")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        f"dtms: service: config file {tmp_path / 'config.toml'} does not exist (dtms run "
        "reads it; copy config.toml there first)"]
    (tmp_path / "config.toml").write_text("")
    (tmp_path / "afile").write_text("")
    out = _dtms(tmp_path, "service", "install", "--system", "--unit-dir",
                str(tmp_path / "afile" / "units"))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "dtms: service: cannot write" in out.stderr and "--user" in out.stderr
