"""The two config files of a stress run: the simulated account's, and the dtms it tests.

The dtms under test runs with the user's config (``--config``, else ``./config.toml``, else the
defaults) and only what the run must change: its journal, logs and account lock in the work
folder, the other EAs' magics among ``ignore_magics``, a heartbeat every second (the run's
observer samples it), and for ``--shock`` the thresholds that make the shock a decision on one
bar (:data:`SHOCK_MACHINE`). Both files are written in full, so a run can be repeated by hand
(``dtms run --config <work>/dtms.toml``, ``dtms sim-server --config <work>/sim.toml``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from dtms.broker.sim.faults import FaultSettings
from dtms.broker.sim.quirks import QuirkSettings
from dtms.config import BrokerKind, Settings
from dtms.configload import render_toml
from dtms.runtime.settings import LogLevel
from dtms.stress.settings import StressSettings

UNREACHABLE_SCORE = 100.0
"""A recovery threshold no score reaches (scores lie within about +-12)."""
SHOCK_MACHINE: dict[str, Any] = {
    "warning_l1_score": 0.0,
    "warning_l2_score": 0.0,
    "hedge_score": 0.0,
    "l1_recover_score": UNREACHABLE_SCORE,
    "l2_recover_score": UNREACHABLE_SCORE,
    "close_on_choch": False,
    "early_check_min_interval_seconds": 1e9,
}
"""``[machine]`` of a ``--shock`` run: any score at or below 0 is one step worse, nothing
recovers, a change of character does not close the trade, and no early check runs between bars
(each trade is judged on bar closes only). So the whole exposed book walks WARNING_L1 ->
WARNING_L2 -> HEDGED on three consecutive M15 closes and needs its hedge on the same bar."""
HEARTBEAT_SECONDS = 1.0


def sim_settings(base: Settings, faults: FaultSettings, quirks: QuirkSettings,
                 stress: StressSettings) -> Settings:
    """The settings the simulated account is served with."""
    sim = dataclasses.replace(base.broker.sim, balance=stress.balance, faults=faults,
                              quirks=quirks)
    return dataclasses.replace(base, broker=dataclasses.replace(base.broker, sim=sim))


def dtms_settings(base: Settings, work: Path, *, port: int, stress: StressSettings,
                  shock: bool, host: str = "127.0.0.1", kind: BrokerKind = BrokerKind.MT5LINUX
                  ) -> Settings:
    """The settings of the dtms under test."""
    r = dataclasses.replace
    ignore = tuple(sorted(set(base.supervisor.ignore_magics) | set(stress.ignored_magics)))
    supervisor = r(base.supervisor, account_lock_dir=str(work), ignore_magics=ignore,
                   heartbeat_seconds=HEARTBEAT_SECONDS)
    link = r(base.broker.mt5linux, host=host, port=port)
    s = r(base,
          broker=r(base.broker, kind=kind, mt5linux=link),
          journal=r(base.journal, path=str(work / "dtms.sqlite3")),
          logging=r(base.logging, dir=str(work / "logs"), console_level=LogLevel.WARNING),
          supervisor=supervisor)
    if shock:
        s = r(s, machine=r(s.machine, **SHOCK_MACHINE))
    return s


def write(settings: Settings, path: Path, header: str) -> Path:
    """Write ``settings`` in full as a dtms config file."""
    comment = "\n".join(f"# {line}" if line else "#" for line in header.splitlines())
    path.write_text(render_toml(settings, comment), encoding="utf-8")
    return path
