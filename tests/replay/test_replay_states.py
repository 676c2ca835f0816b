"""Every state of the machine on real prices with the defaults, through the replay.

The trades are SELLs of the real slice in tests/data/real, opened before the rally of
2022-01-31 with a wide stop (60 pips) and no target, as a trader might hold them. With the
default configuration each one is warned (stop tightened), warned again (half closed), hedged
when its score falls to -6, recovers when a snapshot after the next M15 close shows the price
back beyond the hedge's entry (the hedge is closed), and is closed when the recovery timer finds
its score still below +1. Everything runs as live: supervisor, actors, gateway, journal.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dtms.cli import main as dtms_main
from tests.replay.conftest import REAL_M5

TRADES = """\
open_time,symbol,side,lots,open_price,sl,tp
2022-01-31 09:45:07,EURUSD,sell,0.1,1.11557,1.12157,0
2022-01-31 10:00:07,EURUSD,sell,0.1,1.11618,1.12218,0
"""
PATH = ["HEALTHY", "WARNING_L1", "WARNING_L2", "HEDGED", "RECOVERING", "CLOSED"]


def test_every_state_is_reached_on_real_prices_with_the_defaults(tmp_path: Path, capsys):
    trades = tmp_path / "positions.csv"
    trades.write_text(TRADES)
    code = dtms_main(["replay", "--bars", str(REAL_M5), "--trades", str(trades),
                      "--config", os.devnull, "--workers", "1", "--quiet",
                      "--report", str(tmp_path / "rep")])
    assert code == 0, capsys.readouterr().err
    (variant,) = json.loads((tmp_path / "rep" / "report.json").read_text())["variants"]
    for trade in variant["trades"]:
        assert trade["states"] == PATH, trade["trade"]
        rules = [t[3] for t in trade["transitions"]]
        assert rules == ["warning_l1", "warning_l2", "hedge", "structure_resumed",
                         "not_recovered"], trade["trade"]
        done = [a[1] for a in trade["actions"] if a[2] == "done"]
        assert done == ["tighten_sl", "partial_close", "open_hedge", "close_hedge",
                        "close_all"], trade["trade"]
    out = capsys.readouterr().out
    assert "HEDGED 2, RECOVERING 2, CLOSED 2" in out
