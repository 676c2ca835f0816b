"""``dtms replay`` end to end: bad input is one line and exit 2; a run reports both copies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dtms.cli import main as dtms_main
from dtms.replay.table import parse_time
from tests.replay.conftest import REAL_M5

BARS = str(REAL_M5)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = dtms_main(["replay", *argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("argv", "problem"),
    [
        (["--bars", "{tmp}/missing.csv", "--entries", "random:3"], "missing.csv: cannot read"),
        (["--bars", "{tmp}/bad.csv", "--entries", "random:3"], "bad.csv: line 3: high"),
        (["--bars", "FOOBAR={bars}", "--entries", "random:3"],
         "symbol FOOBAR is unknown to the simulator"),
        (["--bars", "{bars}", "--trades", "{tmp}/late.csv"],
         "late.csv:2: opened 2023-05-02 10:00, outside the bars of EURUSD"),
        (["--bars", "{bars}", "--trades", "{tmp}/other.csv"],
         "other.csv: line 2: symbol 'USDJPY' has no bars"),
        (["--bars", "{bars}", "--entries", "random:3", "--set", "actions.sl_tighten_r=lots"],
         "actions.sl_tighten_r: expected a number"),
        (["--bars", "{bars}", "--entries", "random:3", "--set", "machine.nope=1"],
         "machine.nope: unknown setting"),
        (["--bars", "{bars}", "--entries", "random:3", "--config", "{tmp}/none.toml"],
         "none.toml does not exist"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(capsys, tmp_path: Path, argv, problem):
    (tmp_path / "bad.csv").write_text(
        "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\n2022.01.10\t10:00\t1.1\t1.2\t1.0\t1.1\n"
        "2022.01.10\t10:05\t1.1\t1.0\t1.2\t1.1\n")
    (tmp_path / "late.csv").write_text("Time,Symbol,Type,Volume,Price\n"
                                       "2023.05.02 10:00,EURUSD,buy,1,1.1\n")
    (tmp_path / "other.csv").write_text("Time,Symbol,Type,Volume,Price\n"
                                        "2022.01.12 10:00,USDJPY,buy,1,115\n")
    args = [a.format(tmp=tmp_path, bars=BARS) for a in argv]
    code, out, err = run(capsys, *args, "--workers", "1")
    assert code == 2
    assert err.count("\n") == 1 and err.startswith("dtms replay: "), err
    assert problem in err
    assert "Traceback" not in err + out


def test_neither_trades_nor_entries_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as info:
        dtms_main(["replay", "--bars", BARS])
    assert info.value.code == 2
    assert "--trades" in capsys.readouterr().err


def test_a_trade_history_replays_both_copies(capsys, tmp_path: Path):
    """Two trades from a positions export: one closed by hand, one left to its stops. The
    unmanaged copies go as they really went; a trade dtms never acted on ends exactly as its
    unmanaged copy did; the report is written as a table, JSON and an HTML page."""
    history = tmp_path / "positions.csv"
    history.write_text(
        "Time,Position,Symbol,Type,Volume,Price,S / L,T / P,Time,Price,Commission,Swap,Profit\n"
        "2022.01.12 04:30:10,7001,EURUSD,buy,0.50,1.13700,1.13400,1.14300,"
        "2022.01.12 07:00:00,1.13800,0,0,50\n"
        "2022.01.18 06:00:20,7002,EURUSD,sell,0.30,1.13900,1.14300,1.13000,,,0,0,\n")
    code, out, err = run(capsys, "--bars", BARS, "--trades", str(history), "--workers", "1",
                         "--report", str(tmp_path / "rep"), "--quiet")
    assert code == 0, err
    assert "2 trades from" in out and "UTC-3.5 h, inferred from 7 weekend gap(s)" in out
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    (variant,) = data["variants"]
    first, second = variant["trades"]
    assert first["unmanaged"]["exit"] == "hand"
    assert abs(first["unmanaged"]["closed_at"] - parse_time("2022.01.12 07:00")) < 1
    assert second["unmanaged"]["exit"] in ("sl", "tp")
    for t in (first, second):
        assert t["states"][0] == "HEALTHY" and t["states"][-1] == "CLOSED"
        if not t["actions"]:
            assert t["managed"]["pnl"] == pytest.approx(t["unmanaged"]["pnl"])
            assert t["managed"]["exit"] == t["unmanaged"]["exit"]
    page = (tmp_path / "rep" / "report.html").read_text()
    assert page.startswith("<!doctype html>") and page.count("<svg") >= 3
    assert "http" not in page.split("</style>")[1]  # offline: nothing to fetch


def test_two_workers_replay_side_by_side(capsys, tmp_path: Path):
    """Every worker's simulated account has the same login: two jobs running at once must not
    take each other for a second dtms on one account (each job's lock is its own)."""
    code, out, err = run(capsys, "--bars", BARS, "--entries", "random:6,sl=1.5,tp=2",
                         "--workers", "2", "--report", str(tmp_path / "rep"), "--quiet")
    assert code == 0, err
    data = json.loads((tmp_path / "rep" / "report.json").read_text())
    (variant,) = data["variants"]
    assert len(variant["trades"]) == 6
    assert "already managed" not in err + out
