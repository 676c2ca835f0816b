"""dtms/core does no I/O: no clock, no logging, no Trio, no SQLite, no broker."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dtms.core

CORE = Path(dtms.core.__file__).parent
FORBIDDEN = {
    "trio", "sqlite3", "MetaTrader5", "mt5linux", "rpyc", "loguru", "logging", "time",
    "datetime", "socket", "threading", "asyncio", "subprocess", "os", "io", "pathlib",
    "random", "pandas", "dtms.runtime", "dtms.broker", "dtms.journal", "dtms.config",
    "dtms.cli", "dtms.status",
}
MODULES = sorted(CORE.glob("*.py"))


def _imports(path: Path) -> list[str]:
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_core_module_imports_nothing_impure(path: Path) -> None:
    bad = [n for n in _imports(path) if any(n == f or n.startswith(f + ".") for f in FORBIDDEN)]
    assert bad == [], f"{path.name} imports {bad}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: p.name)
def test_core_module_calls_no_builtin_io(path: Path) -> None:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    calls = {n.func.id for n in ast.walk(tree)
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert not calls & {"open", "print", "input", "exec", "eval"}, path.name


def test_the_check_itself_sees_an_impure_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import time\nfrom dtms.runtime import gateway\n")
    assert _imports(sample) == ["time", "dtms.runtime"]
    assert len(MODULES) >= 15  # every core module is checked, not an empty glob
