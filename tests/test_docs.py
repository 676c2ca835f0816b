"""The documentation reads the same transition table as the code."""

from __future__ import annotations

from pathlib import Path

from dtms.core.machine import table_rows

ROOT = Path(__file__).resolve().parents[1]


def test_readme_transition_table_is_the_machines_table() -> None:
    lines = (ROOT / "README.md").read_text(encoding="utf-8").splitlines()
    start = lines.index("| from | to | rule | condition | actions |")
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        rows.append(tuple(cell.strip() for cell in line.strip("|").split("|")))
    assert rows == table_rows()


def test_readme_quick_start_is_exactly_the_two_commands() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = text.split("## Quick start", 1)[1].split("```", 2)[1]
    assert quick.split() == ["make", "run", "make", "test"]
