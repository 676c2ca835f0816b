"""Bad input to ``dtms stress`` is one line naming the problem, exit code 2, nothing started."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtms.cli import main
from dtms.stress.options import Options, options_from


@pytest.mark.parametrize("args, says", [
    (["--trades", "0"], "--trades must be at least 1"),
    (["--symbols", "0"], "--symbols must be 1..16"),
    (["--symbols", "17"], "--symbols must be 1..16"),
    (["--minutes", "-5"], "--minutes must be a positive number"),
    (["--minutes", "nan"], "--minutes must be a positive number"),
    (["--speed", "0"], "--speed must be a positive number"),
    (["--kills", "-1"], "--kills must be 0 or more"),
    (["--seed", "-3"], "--seed must be 0 or more"),
    (["--shock", "--minutes", "20"], "--shock needs --minutes of at least 35"),
    (["--faults", "wild"], "--faults: 'wild' is neither a profile (none, latency, realistic, "
                           "hostile) nor a TOML file"),
    (["--quirks", "odd"], "--quirks: 'odd' is neither a profile"),
    (["--broker", "mt5linux", "--shock"], "--shock needs the simulator"),
    (["--broker", "mt5linux", "--faults", "hostile"], "--faults needs the simulator"),
    (["--broker", "mt5linux", "--speed", "10"], "--speed must be 1 on a real terminal"),
])
def test_bad_arguments_are_one_line_and_exit_2(args: list[str], says: str, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    work = tmp_path / "work"
    assert main(["stress", *args, "--work", str(work)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dtms stress: ") and says in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not work.exists()  # nothing started


def test_argparse_errors_are_one_usage_line_and_exit_2(capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["stress", "--trades", "many"])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "invalid int value: 'many'" in err and "Traceback" not in err


def test_a_profile_file_with_a_bad_key_is_one_line(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    profile = tmp_path / "mine.toml"
    profile.write_text("[broker.sim.faults]\nrequote_probabilty = 0.5\n")
    assert main(["stress", "--faults", str(profile)]) == 2
    err = capsys.readouterr().err
    assert "broker.sim.faults.requote_probabilty: unknown setting" in err
    assert err.count("\n") == 1


def test_a_stress_table_out_of_range_is_one_line(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "config.toml"
    config.write_text("[stress]\nexposed_share = 1.5\n")
    assert main(["stress", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "stress.exposed_share: 1.5 is out of range (must be <= 1)" in err


def test_defaults_and_flags_are_read() -> None:
    assert options_from([]) == Options()
    o = options_from(["--trades", "1500", "--symbols", "3", "--minutes", "40", "--speed", "1",
                      "--faults", "realistic", "--quirks", "hostile", "--kills", "10",
                      "--shock", "--seed", "7", "--report", "r.json"])
    assert (o.trades, o.symbols, o.minutes, o.speed, o.faults, o.quirks, o.kills, o.shock,
            o.seed, o.report) == (1500, 3, 40.0, 1.0, "realistic", "hostile", 10, True, 7,
                                  "r.json")
