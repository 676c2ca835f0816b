"""Every state of the machine on real prices, through the replay (the live runtime).

The two trades are real instants of the slice in tests/data/real. The first is a SELL opened
before the 2022-01-31 rally with a wide stop: with the defaults it is warned twice (its stop
tightened, half of it closed), hedged when its score falls to -6, and closed. The second, a
BUY of 2022-01-14, recovers: its hedge is closed when the price comes back beyond the hedge's
entry. With the defaults no hedge of the slice recovered (each time the hedge's 0.5 ATR stop was
hit before an M15 close saw the price back; see docs/replay.md), so the second trade recovers
with hedges made more frequent, as in the measurements behind the recovery rule.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from dtms.cli import main as dtms_main
from tests.replay.conftest import REAL_M5

TRADES = """\
open_time,symbol,side,lots,open_price,sl,tp
2022-01-31 10:15:07,EURUSD,sell,0.1,1.11841,1.12441,0
2022-01-14 05:45:13,EURUSD,buy,0.1,1.14640,1.14461,1.14819
"""
ALL = ["HEALTHY", "WARNING_L1", "WARNING_L2", "HEDGED", "RECOVERING", "CLOSED"]


def test_every_state_is_reached_on_real_prices(tmp_path: Path, capsys):
    trades = tmp_path / "positions.csv"
    trades.write_text(TRADES)
    code = dtms_main(["replay", "--bars", str(REAL_M5), "--trades", str(trades),
                      "--config", os.devnull, "--workers", "1", "--quiet",
                      "--set", "machine.hedge_score=-4 actions.sl_tighten_r=1.0",
                      "--report", str(tmp_path / "rep")])
    assert code == 0, capsys.readouterr().err
    defaults, frequent = json.loads((tmp_path / "rep" / "report.json").read_text())["variants"]
    recovered, hedged = frequent["trades"][0], defaults["trades"][1]  # in order of entry
    assert hedged["states"] == ["HEALTHY", "WARNING_L1", "WARNING_L2", "HEDGED", "CLOSED"]
    kinds = [a[1] for a in hedged["actions"] if a[2] == "done"]
    assert kinds[:3] == ["tighten_sl", "partial_close", "open_hedge"]
    assert "RECOVERING" in recovered["states"]
    rules = [t[3] for t in recovered["transitions"]]
    assert "structure_resumed" in rules and "hedge" in rules
    assert any(a[1] == "close_hedge" and a[2] == "done" for a in recovered["actions"])
    seen = {s for v in (defaults, frequent) for t in v["trades"] for s in t["states"]}
    assert seen == set(ALL)
