"""``dtms sim-server``: --config, --start, flags over the file, plain clients without dtms."""

from __future__ import annotations

import calendar
import json
import pickle
import subprocess
import sys
import sysconfig
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from dtms.broker import structs
from dtms.broker.mt5linux import Mt5LinuxBroker
from dtms.broker.sim.cli import BadInput, parse_start
from dtms.broker.simserver import main, portable
from tests.broker.test_simserver import running_sim_server

CONFIG = """
[broker.sim]
margin_mode = "netting"
balance = 25000.0
seed = 5
[broker.sim.faults]
requote_probability = 0.0
[broker.sim.quirks]
comment_drop = true
volume_max = 2.0
[broker.market]
broker_utc_offset_hours = 2.0
history_days = 2
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "dtms.toml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def buy(broker: Any, comment: str) -> Any:
    return broker.order_send({"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 0,
                              "type_filling": 1, "comment": comment})


def test_the_config_file_sets_up_the_served_account(config: Path) -> None:
    with running_sim_server("--config", str(config)) as (_, port):
        broker = Mt5LinuxBroker(port=port)
        assert broker.initialize() is True
        try:
            account = broker.account_info()
            assert (account.margin_mode, account.balance) == (0, 25000.0)
            assert broker.symbol_info("EURUSD").volume_max == 2.0
            sent = buy(broker, "dropped")
            assert sent.retcode == 10009, broker.last_error()
            (pos,) = broker.positions_get()
            assert pos.comment == ""
        finally:
            broker.shutdown()


def test_flags_override_the_file(config: Path) -> None:
    start = "2026-03-03T10:00"
    args = ("--config", str(config), "--margin-mode", "hedging", "--balance", "500",
            "--start", start)
    with running_sim_server(*args) as (_, port):
        broker = Mt5LinuxBroker(port=port)
        assert broker.initialize() is True
        try:
            account = broker.account_info()
            assert (account.margin_mode, account.balance) == (2, 500.0)
            (deposit,) = broker.history_deals_get(position=0) or broker.history_deals_get(
                0, 2**31)
            expected = calendar.timegm(time.strptime(start, "%Y-%m-%dT%H:%M"))
            assert expected <= deposit.time < expected + 60
        finally:
            broker.shutdown()


def test_start_now_follows_the_broker_offset(config: Path) -> None:
    with running_sim_server("--config", str(config), "--start", "now") as (_, port):
        broker = Mt5LinuxBroker(port=port)
        assert broker.initialize() is True
        try:
            (deposit,) = broker.history_deals_get(0, 2**31)
            assert abs(deposit.time - (time.time() + 2 * 3600)) < 60
        finally:
            broker.shutdown()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", 1_000_000.0 + 7200.0),
        ("1772434800", 1772434800.0),
        ("1772434800.5", 1772434800.5),
        ("2026-03-02T07:00", 1772434800.0),
        ("2026-03-02 07:00:00", 1772434800.0),
        ("2026-03-02T05:00Z", 1772434800.0),
        ("2026-03-02T07:00+02:00", 1772434800.0),
        ("2026-03-02", 1772409600.0),
    ],
)
def test_parse_start(text: str, expected: float) -> None:
    assert parse_start(text, 2.0, now=1_000_000.0) == expected


@pytest.mark.parametrize("text", ["yesterday", "-5", "2026-13-01", "", "nan", "inf"])
def test_parse_start_refuses_nonsense(text: str) -> None:
    with pytest.raises(BadInput, match="--start"):
        parse_start(text, 0.0)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "does not exist"),
        ("[broker.sim]\nbalance = 'lots'\n", "broker.sim.balance"),
        ("[broker.sim.quirks]\nfreeze_level = -5\n", "broker.sim.quirks.freeze_level"),
        ("[broker.sim.quirks]\ndaily_breaks = ['US30 23:00']\n", "daily_breaks[0]"),
        ("[broker.sim.quirks]\nquiet_symbols = ['US500']\n", "US500"),
        ("[broker.sim.quirks]\nvolume_max = 0.01\n", "volume_min"),
        ("not toml ===", "not valid TOML"),
    ],
)
def test_a_bad_config_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, words: str
) -> None:
    path = tmp_path / "bad.toml"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    assert main(["--config", str(path), "--port", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("dtms sim-server: ") and err.count("\n") == 1, err
    assert words in err and "Traceback" not in err


def test_served_structs_pickle_without_dtms() -> None:
    position = portable((structs.TradePosition(ticket=7, comment="x"),))
    sent = portable(structs.OrderSendResult(retcode=10009, request=structs.TradeRequest(
        symbol="EURUSD")))
    assert isinstance(position[0], structs.TradePosition), "on the server they stay dtms structs"
    copy = pickle.loads(pickle.dumps(position))
    assert b"dtms" not in pickle.dumps(position) + pickle.dumps(sent)
    assert type(copy[0]) is not structs.TradePosition
    assert type(copy[0]).__name__ == "TradePosition" and copy[0]._fields == position[0]._fields
    assert copy[0].ticket == 7 and copy[0]._asdict()["comment"] == "x"
    result = pickle.loads(pickle.dumps(sent))
    assert result.retcode == 10009 and result.request.symbol == "EURUSD"
    assert type(result.request).__name__ == "TradeRequest"


CLIENT = """
import json, sys
sys.path.append({site!r})
try:
    import dtms
except ImportError:
    pass
else:
    raise SystemExit("dtms is importable here: the test proves nothing")
import rpyc
from rpyc.utils.classic import obtain

conn = rpyc.classic.connect("127.0.0.1", {port})
conn.execute("import MetaTrader5 as mt5")  # what the mt5linux 1.x clients do on connect

def call(code):
    return obtain(conn.eval(code))  # copies by pickling on the server, as mt5linux 1.x does

out = {{"initialize": call("mt5.initialize()")}}
account = call("mt5.account_info()")
out["account"] = [type(account).__name__, account.balance, account._asdict()["login"]]
request = dict(action=1, symbol="EURUSD", volume=0.1, type=0, type_filling=1, comment="plain")
sent = call(f"mt5.order_send({{request!r}})")
out["sent"] = [sent.retcode, sent.order, type(sent.request).__name__, sent.request.comment]
positions = call("mt5.positions_get()")
out["positions"] = [[type(p).__name__, p.ticket, p.comment, p[0]] for p in positions]
rates = call("mt5.copy_rates_from_pos('EURUSD', mt5.TIMEFRAME_M5, 0, 10)")
out["rates"] = [len(rates), list(rates.dtype.names)]
out["last_error"] = list(call("mt5.last_error()"))
out["modules"] = sorted({{type(v).__module__ for v in (account, sent, positions[0])}})
print(json.dumps(out))
"""


def test_a_plain_rpyc_client_without_dtms_gets_usable_values() -> None:
    site = sysconfig.get_paths()["purelib"]
    with running_sim_server() as (_, port):
        script = textwrap.dedent(CLIENT.format(site=site, port=port))
        done = subprocess.run([sys.executable, "-I", "-S", "-c", script], capture_output=True,
                              text=True, timeout=60, cwd="/")
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["initialize"] is True
    assert out["account"] == ["AccountInfo", 10000.0, 5012345]
    retcode, order, request_type, comment = out["sent"]
    assert (retcode, request_type, comment) == (10009, "TradeRequest", "plain")
    assert out["positions"] == [["TradePosition", order, "plain", order]]
    assert out["rates"][0] == 10 and "tick_volume" in out["rates"][1]
    assert out["last_error"] == [1, "Success"]
    assert not any(m.startswith("dtms") for m in out["modules"])


QUIRKS_OVER_THE_WIRE = """
[broker.sim]
start_time = 1772434800.0  # Monday 07:00
[broker.sim.quirks]
daily_breaks = ["GBPUSD 06:30-08:00"]
empty_snapshot_probability = 1.0
comment_truncate = 4
"""


def test_quirks_reach_a_client_over_the_wire(tmp_path: Path) -> None:
    path = tmp_path / "quirks.toml"
    path.write_text(QUIRKS_OVER_THE_WIRE, encoding="utf-8")
    with running_sim_server("--config", str(path)) as (_, port):
        broker = Mt5LinuxBroker(port=port)
        assert broker.initialize() is True
        try:
            closed = broker.order_send({"action": 1, "symbol": "GBPUSD", "volume": 0.1,
                                        "type": 0, "type_filling": 1})
            assert closed.retcode == 10018
            sent = buy(broker, "truncated")
            assert sent.retcode == 10009
            assert broker.positions_get() == (), "a glitching terminal"
            (pos,) = broker.positions_get(ticket=sent.order)
            assert pos.comment == "trun"
        finally:
            broker.shutdown()
