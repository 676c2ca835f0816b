"""docs/simulator.md names every knob, scenario method and sim-server flag, and its example runs."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import pytest

from dtms.broker.sim import FaultSettings, QuirkSettings, Scenario
from dtms.broker.sim.cli import parser

DOC = Path(__file__).resolve().parents[2] / "docs" / "simulator.md"


@pytest.fixture(scope="module")
def text() -> str:
    return DOC.read_text(encoding="utf-8")


@pytest.mark.parametrize("cls", [FaultSettings, QuirkSettings])
def test_every_fault_and_quirk_is_documented(text: str, cls: type) -> None:
    missing = [f.name for f in dataclasses.fields(cls) if f"`{f.name}`" not in text]
    assert missing == []


def test_every_scenario_method_is_documented(text: str) -> None:
    methods = [m for m in dir(Scenario) if not m.startswith("_")]
    assert [m for m in methods if f"`{m}`" not in text and f"scenario.{m}(" not in text] == []


def test_every_sim_server_flag_is_documented(text: str) -> None:
    flags = [o for a in parser()._actions for o in a.option_strings if o.startswith("--")]
    assert [f for f in flags if f not in text and f != "--help"] == []


def test_the_examples_run(text: str) -> None:
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) == 2
    first = blocks[0].replace("sim.positions_get()[0].comment",
                              "comment = sim.positions_get()[0].comment")
    namespace: dict[str, Any] = {}
    exec(compile(first, str(DOC), "exec"), namespace)
    assert namespace["comment"] == "DTMS_HEDGE_55741"
    exec(compile(blocks[1], str(DOC), "exec"), namespace)
    sim, clock, ticket = namespace["sim"], namespace["clock"], namespace["ticket"]
    clock.advance(3600)
    deals = sim.history_deals_get(position=ticket)
    assert [d.entry for d in deals] == [sim.DEAL_ENTRY_IN, sim.DEAL_ENTRY_INOUT]
