"""The named fault and quirk profiles load and say what their comments say; a file works too."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtms.broker.sim.faults import FaultSettings
from dtms.broker.sim.quirks import QuirkSettings
from dtms.errors import ConfigError
from dtms.stress.profiles import (
    FAULT_PROFILES,
    QUIRK_PROFILES,
    load_faults,
    load_quirks,
    order_latency_seconds,
)


def test_none_is_the_polite_default() -> None:
    assert load_faults("none")[1] == FaultSettings()
    assert load_quirks("none")[1] == QuirkSettings()


def test_latency_is_a_realistic_terminal_and_nothing_else() -> None:
    f = load_faults("latency")[1]
    # the terminal on average: reads 5 ms, order_send 50 ms (the jitter is uniform)
    assert f.call_latency_ms + f.latency_jitter_ms / 2 == pytest.approx(5.0)
    assert order_latency_seconds(f) == pytest.approx(0.050)
    assert f.requote_probability == f.timeout_executed_probability == 0.0


@pytest.mark.parametrize("name", FAULT_PROFILES)
def test_every_fault_profile_loads_with_a_comment(name: str) -> None:
    profile, faults = load_faults(name)
    assert profile.text.startswith(f'# Faults profile "{name}"')
    assert isinstance(faults, FaultSettings)


@pytest.mark.parametrize("name", QUIRK_PROFILES)
def test_every_quirk_profile_loads_with_a_comment(name: str) -> None:
    profile, quirks = load_quirks(name)
    assert profile.text.startswith(f'# Quirks profile "{name}"')
    assert isinstance(quirks, QuirkSettings)


def test_the_faulty_profiles_have_the_faults_of_the_soak() -> None:
    for name in ("realistic", "hostile"):
        f = load_faults(name)[1]
        assert f.requote_probability > 0 and f.timeout_executed_probability > 0
        assert f.ipc_outages_per_hour > 0 and f.external_closes_per_hour > 0


def test_a_file_of_ones_own(tmp_path: Path) -> None:
    mine = tmp_path / "slow.toml"
    mine.write_text("[broker.sim.faults]\norder_latency_ms = 250.0\n")
    profile, faults = load_faults(str(mine))
    assert faults.order_latency_ms == 250.0 and profile.name == str(mine)
    with pytest.raises(ConfigError, match="neither a profile"):
        load_quirks(str(tmp_path / "missing.toml"))
