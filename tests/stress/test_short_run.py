"""A short ``dtms stress`` run, as a user types it: a few hundred trades, a shock, faults, two
SIGKILLs, on an accelerated clock. Every check must pass and every figure must be there."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from dtms.cli import main

SPEED = "40"
"""Broker seconds per real second: 35 broker minutes in about 53 s."""


@pytest.mark.slow
def test_a_short_stress_run_finds_no_violation(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    report = tmp_path / "report.json"
    code = main(["stress", "--trades", "200", "--symbols", "3", "--minutes", "35", "--speed",
                 SPEED, "--shock", "--kills", "2", "--faults", "realistic", "--seed", "3",
                 "--work", str(tmp_path / "work"), "--report", str(report)])
    out = capsys.readouterr().out
    result = json.loads(report.read_text())
    assert code == 0, json.dumps(result["violations"][:10], indent=1)
    assert "PASS: no violation" in out and "trades" in out and "hedges" in out
    f = result["figures"]
    assert result["run"]["kills"] == 2
    assert f["book"]["managed"] > 150 and f["book"]["hedges_placed"] > 50
    assert f["burst"]["due"] > 50 and f["burst"]["placed"] == f["burst"]["due"]
    assert f["hedge_latency"]["n"] > 50 and f["stops"]["sent"] > 50
    assert f["calls"]["order_sends_per_action"] is not None
    assert f["cycles"]["n"] > 10 and f["memory"]["peak_rss_mb"] > 0
