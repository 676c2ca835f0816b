"""``config.toml``: every tunable number of dtms, loaded into frozen, typed settings.

Each table of the file is the parameter dataclass of the part that uses it; this module only
composes them. Loading stops at the first problem with one line naming the key and what is
wrong (see ``dtms.configload``).
"""

from __future__ import annotations

import enum
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from dtms.broker.mt5 import Mt5Settings
from dtms.broker.mt5linux import Mt5LinuxSettings
from dtms.broker.sim.market_settings import MarketSettings
from dtms.broker.sim.settings import SimSettings
from dtms.configload import build
from dtms.core.guard_limits import GuardSettings
from dtms.core.indicators import IndicatorParams
from dtms.core.layers import ScoreParams
from dtms.core.news import NewsPolicy
from dtms.core.params import knob
from dtms.core.policy import ActionParams, MachinePolicy, Policy
from dtms.core.regime import RegimeParams
from dtms.errors import ConfigError
from dtms.ops.settings import AlertSettings, HttpSettings, ServiceSettings
from dtms.replay.settings import ReplaySettings
from dtms.runtime.gateway_settings import GatewaySettings
from dtms.runtime.scope import ScopeSettings
from dtms.runtime.settings import (
    JournalSettings,
    LogSettings,
    MarketDataSettings,
    SimRunSettings,
    SupervisorSettings,
)
from dtms.stress.settings import StressSettings

DEFAULT_PATH = "config.toml"
HEADER = """\
# dtms configuration: every tunable number, with its default.
# Each table belongs to one part of dtms; unknown keys, wrong types and out-of-range values
# stop dtms with one line naming the key. Delete a line to use the default.
"""


class BrokerKind(enum.Enum):
    """Which broker dtms talks to."""

    SIMULATED = "simulated"
    MT5 = "mt5"
    MT5LINUX = "mt5linux"


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Table ``[broker]`` and its sub-tables."""

    kind: BrokerKind = knob(BrokerKind.SIMULATED, "simulated (default), mt5 or mt5linux")
    sim: SimSettings = field(default_factory=SimSettings)
    market: MarketSettings = field(default_factory=MarketSettings)
    mt5: Mt5Settings = field(default_factory=Mt5Settings)
    mt5linux: Mt5LinuxSettings = field(default_factory=Mt5LinuxSettings)


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything ``config.toml`` can set."""

    broker: BrokerSettings = field(default_factory=BrokerSettings)
    run: SimRunSettings = field(default_factory=SimRunSettings)
    indicators: IndicatorParams = field(default_factory=IndicatorParams)
    regime: RegimeParams = field(default_factory=RegimeParams)
    score: ScoreParams = field(default_factory=ScoreParams)
    machine: MachinePolicy = field(default_factory=MachinePolicy)
    actions: ActionParams = field(default_factory=ActionParams)
    guard: GuardSettings = field(default_factory=GuardSettings)
    news: NewsPolicy = field(default_factory=NewsPolicy)
    scope: ScopeSettings = field(default_factory=ScopeSettings)
    gateway: GatewaySettings = field(default_factory=GatewaySettings)
    supervisor: SupervisorSettings = field(default_factory=SupervisorSettings)
    market_data: MarketDataSettings = field(default_factory=MarketDataSettings)
    journal: JournalSettings = field(default_factory=JournalSettings)
    logging: LogSettings = field(default_factory=LogSettings)
    stress: StressSettings = field(default_factory=StressSettings)
    replay: ReplaySettings = field(default_factory=ReplaySettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    alerts: AlertSettings = field(default_factory=AlertSettings)
    service: ServiceSettings = field(default_factory=ServiceSettings)

    @property
    def policy(self) -> Policy:
        """The state machine's policy."""
        return Policy(self.machine, self.actions, self.news)


def parse_settings(text: str, source: str = DEFAULT_PATH) -> Settings:
    """Parse and validate TOML text."""
    try:
        table = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from exc
    return build(Settings, table, "")


def load_settings(path: str | os.PathLike[str] | None = None) -> Settings:
    """Load ``path`` (default ``./config.toml``; defaults when that file is absent)."""
    explicit = path is not None
    p = Path(path if path is not None else DEFAULT_PATH)
    if not p.exists():
        if explicit:
            raise ConfigError(f"config file {p} does not exist")
        return Settings()
    if p.is_dir():
        raise ConfigError(f"config path {p} is a directory, not a file")
    try:
        text = p.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from exc
    return parse_settings(text, str(p))


def default_config_text() -> str:
    """The shipped ``config.toml``: every knob at its default, each with its one-line doc."""
    from dtms.configload import render_toml

    return render_toml(Settings, HEADER)


if __name__ == "__main__":  # `make config` rewrites config.toml from the knobs' declarations
    Path(DEFAULT_PATH).write_text(default_config_text(), encoding="utf-8")
