"""config.toml: complete, validated, and every mistake named in one line."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from dtms.config import Settings, load_settings, parse_settings
from dtms.configload import knob_paths, render_toml
from dtms.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def _flatten(table: dict, where: str = "") -> set[str]:
    out: set[str] = set()
    for key, value in table.items():
        path = f"{where}.{key}" if where else key
        out |= _flatten(value, path) if isinstance(value, dict) else {path}
    return out


def test_shipped_config_names_every_knob_and_nothing_else() -> None:
    table = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    assert _flatten(table) == set(knob_paths(Settings))


def test_shipped_config_loads_and_every_line_is_commented() -> None:
    settings = load_settings(ROOT / "config.toml")
    assert settings.machine.flat_timer_minutes == 75.0
    assert settings.actions.hedge_comment_prefix == "DTMS_HEDGE_"
    for line in (ROOT / "config.toml").read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith("#"):
            assert "  # " in line, f"uncommented setting: {line}"


def test_rendered_defaults_round_trip() -> None:
    assert parse_settings(render_toml(Settings)) == Settings()


MALFORMED = [
    ("[machine]\nflat_timer_minute = 75\n", "machine.flat_timer_minute: unknown setting"),
    ("[machine]\nflat_timer_minutes = \"75\"\n", "machine.flat_timer_minutes: expected a number"),
    ("[machine]\nflat_timer_minutes = -1\n", "machine.flat_timer_minutes: -1 is out of range"),
    ("[actions]\nhedge_ratio = 1.5\n", "actions.hedge_ratio: 1.5 is out of range"),
    ("[actions]\nre_add_enabled = 1\n", "actions.re_add_enabled: expected true or false"),
    ("[actions]\norphan_hedge_policy = \"ignore\"\n",
     "actions.orphan_hedge_policy: expected one of"),
    ("[machine]\nmax_hedges_per_trade = 2.5\n",
     "machine.max_hedges_per_trade: expected an integer"),
    ("[supervisor]\nrestart_delays = [0.5, -2]\n", "supervisor.restart_delays: -2 is out of range"),
    ("[broker]\nkind = \"ctrader\"\n", "broker.kind: expected one of simulated, mt5, mt5linux"),
    ("[broker.mt5linux]\nport = 70000\n", "broker.mt5linux.port"),
    ("[regime.session]\nASIAN = 0\n", "regime.session.ASIAN"),
    ("[indicators]\nbos_buffer = 1.0\n", "indicators.bos_buffer: 1 is out of range (must be < 1)"),
    ("machine = 3\n", "machine: expected a table of settings"),
    ("[unknown_table]\nx = 1\n", "unknown_table: unknown setting"),
    ("[machine]\nhedge_score = -1\n", "machine: scores must satisfy"),
    ("[machine\nhedge_score = -1\n", "not valid TOML"),
    ("[actions]\nhedge_comment_prefix = \"MY_LONG_HEDGE_COMMENT_\"\n",
     "actions: hedge_comment_prefix 'MY_LONG_HEDGE_COMMENT_' leaves 9 of comment_max_length 31 "
     "characters for the ticket; a 10-digit ticket needs 10"),
    ("[actions]\ncomment_max_length = 20\n",
     "actions: hedge_comment_prefix 'DTMS_HEDGE_' leaves 9"),
    ("[machine]\nweekend_policy = \"sell\"\n", "machine.weekend_policy: expected one of"),
]


@pytest.mark.parametrize(("text", "message"), MALFORMED)
def test_malformed_config_is_one_line_naming_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_settings(text, "bad.toml")
    text_of = str(info.value)
    assert message in text_of
    assert "\n" not in text_of


def test_missing_explicit_config_is_an_error_but_missing_default_uses_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")
    monkeypatch.chdir(tmp_path)
    assert load_settings() == Settings()


def test_cli_reports_a_bad_config_in_one_line_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[machine]\nflat_timer_minutes = \"soon\"\n")
    out = subprocess.run([sys.executable, "-m", "dtms.cli", "run", "--config", str(bad)],
                         capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "dtms: machine.flat_timer_minutes: expected a number, got 'soon' (a string)"
    ]


def test_shipped_config_is_the_rendered_defaults() -> None:
    # `make config` writes it; a knob added without running it is caught here
    from dtms.config import default_config_text

    assert (ROOT / "config.toml").read_text(encoding="utf-8") == default_config_text()
