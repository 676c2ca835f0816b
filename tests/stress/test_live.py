"""Against a terminal it does not own, ``dtms stress`` runs only on a demo account, and only when
asked: anything else is one line, exit 2, and not a single order."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dtms.broker import constants as C
from dtms.broker.mt5linux import Mt5LinuxBroker
from dtms.broker.structs import AccountInfo
from dtms.cli import main
from dtms.errors import DtmsError
from dtms.stress.live import check_account


def account(mode: int) -> AccountInfo:
    return AccountInfo(login=5012345, trade_mode=mode, server="Broker-Live")


@pytest.mark.parametrize("mode, allowed, says", [
    (C.ACCOUNT_TRADE_MODE_REAL, True, "is a REAL account"),
    (C.ACCOUNT_TRADE_MODE_REAL, False, "is a REAL account"),
    (C.ACCOUNT_TRADE_MODE_CONTEST, True, "is a contest account"),
    (C.ACCOUNT_TRADE_MODE_DEMO, False, "pass --on-demo-account"),
])
def test_anything_but_an_allowed_demo_account_is_refused(mode: int, allowed: bool,
                                                         says: str) -> None:
    with pytest.raises(DtmsError, match=says):
        check_account(account(mode), allowed, 300)


def test_an_allowed_demo_account_may_run() -> None:
    check_account(account(C.ACCOUNT_TRADE_MODE_DEMO), True, 300)
    with pytest.raises(DtmsError, match="cannot read"):
        check_account(None, True, 300)


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[int]:
    """A terminal the run does not own: a sim-server (its account is a demo account)."""
    server = subprocess.Popen(
        [sys.executable, "-m", "dtms.cli", "sim-server", "--port", "0", "--start",
         "2026-03-05T14:00", "--balance", "1000000"], cwd=tmp_path, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    assert server.stdout is not None
    line = server.stdout.readline()
    found = re.search(r":(\d+) ", line)
    assert found, line
    threading.Thread(target=server.stdout.read, daemon=True).start()
    try:
        yield int(found.group(1))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)


def _positions(port: int) -> tuple[object, ...]:
    broker = Mt5LinuxBroker("127.0.0.1", port)
    assert broker.initialize()
    found = broker.positions_get()
    broker._close()
    assert found is not None
    return tuple(found)


def test_a_demo_account_without_the_flag_is_refused_before_any_order(
    terminal: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["stress", "--broker", "mt5linux", "--port", str(terminal), "--trades", "5",
                 "--work", str(tmp_path / "work")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip() == ("dtms stress: account 5012345 on dtms-Sim is a demo account; dtms "
                           "stress would open 5 positions on it and close them at the end: "
                           "pass --on-demo-account to allow it")
    assert _positions(terminal) == ()
    assert not (tmp_path / "work").exists()


@pytest.mark.slow
def test_a_short_run_on_a_demo_account_cleans_up_after_itself(
    terminal: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "report.json"
    code = main(["stress", "--broker", "mt5linux", "--port", str(terminal), "--trades", "6",
                 "--symbols", "2", "--minutes", "0.4", "--kills", "1", "--on-demo-account",
                 "--work", str(tmp_path / "work"), "--report", str(report)])
    out = capsys.readouterr().out
    result = json.loads(report.read_text())
    assert code == 0, result["violations"]
    assert result["figures"]["book"]["managed"] >= 5 and result["run"]["kills"] == 1
    assert "closed 6 of the 6 positions the run left open" in out
    assert _positions(terminal) == ()
