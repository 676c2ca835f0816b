"""The configs a stress run writes load back as dtms configs, with only the run's changes."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dtms.broker.sim.faults import FaultSettings
from dtms.broker.sim.quirks import QuirkSettings
from dtms.config import BrokerKind, Settings, load_settings
from dtms.core.policy import MachinePolicy
from dtms.stress import runconfig
from dtms.stress.settings import StressSettings


def test_the_dtms_under_test_keeps_the_users_settings_and_changes_only_the_runs(
    tmp_path: Path,
) -> None:
    users = replace(Settings(), machine=replace(MachinePolicy(), flat_timer_minutes=50.0))
    users = replace(users, supervisor=replace(users.supervisor, ignore_magics=(5,)))
    written = runconfig.write(
        runconfig.dtms_settings(users, tmp_path, port=4242, stress=StressSettings(),
                                shock=False), tmp_path / "dtms.toml", "a test")
    s = load_settings(written)
    assert s.machine == users.machine  # thresholds untouched without a shock
    assert s.broker.kind is BrokerKind.MT5LINUX and s.broker.mt5linux.port == 4242
    assert s.journal.path == str(tmp_path / "dtms.sqlite3")
    assert s.logging.dir == str(tmp_path / "logs")
    assert s.supervisor.account_lock_dir == str(tmp_path)
    assert s.supervisor.ignore_magics == (5, 777, 778)
    assert s.indicators == users.indicators and s.actions == users.actions


def test_a_shock_run_lowers_the_thresholds_and_judges_on_bar_closes_only(tmp_path: Path
                                                                         ) -> None:
    written = runconfig.write(
        runconfig.dtms_settings(Settings(), tmp_path, port=1, stress=StressSettings(),
                                shock=True), tmp_path / "dtms.toml", "a test")
    m = load_settings(written).machine
    assert (m.warning_l1_score, m.warning_l2_score, m.hedge_score) == (0.0, 0.0, 0.0)
    assert m.l1_recover_score == m.l2_recover_score == runconfig.UNREACHABLE_SCORE
    assert not m.close_on_choch and m.early_check_min_interval_seconds >= 1e9
    assert m.flat_timer_minutes == MachinePolicy().flat_timer_minutes


def test_the_simulated_account_gets_the_profiles_and_the_deposit(tmp_path: Path) -> None:
    faults = FaultSettings(order_latency_ms=45.0, requote_probability=0.1)
    quirks = QuirkSettings(comment_truncate=16)
    stress = StressSettings(balance=5e6)
    written = runconfig.write(runconfig.sim_settings(Settings(), faults, quirks, stress),
                              tmp_path / "sim.toml", "a test")
    sim = load_settings(written).broker.sim
    assert (sim.faults, sim.quirks, sim.balance) == (faults, quirks, 5e6)
    assert written.read_text().startswith("# a test\n")
