"""Named fault and quirk profiles of the simulated broker, or the user's own TOML file.

A profile is a fragment of a dtms config file: ``[broker.sim.faults]`` for ``--faults``,
``[broker.sim.quirks]`` for ``--quirks``. The named ones ship with dtms (``profiles/*.toml``
next to this module, each commented); any other value is read as a path to such a file and
validated by dtms's config loader, so a bad key or value is one line naming it.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from dtms.broker.sim.faults import FaultSettings
from dtms.broker.sim.quirks import QuirkSettings
from dtms.config import Settings, parse_settings
from dtms.errors import ConfigError

FAULT_PROFILES = ("none", "latency", "realistic", "hostile")
QUIRK_PROFILES = ("none", "realistic", "hostile")


@dataclass(frozen=True, slots=True)
class Profile:
    """A profile's name (or file) and the settings it makes."""

    name: str
    text: str
    settings: Settings


def _load(kind: str, spec: str, names: tuple[str, ...]) -> Profile:
    flag = f"--{kind}"
    if spec in names:
        text = (resources.files("dtms.stress") / "profiles" / f"{kind}-{spec}.toml").read_text(
            encoding="utf-8")
        source = f"{kind} profile {spec!r}"
    else:
        path = Path(spec)
        if not path.is_file():
            raise ConfigError(f"{flag}: {spec!r} is neither a profile ({', '.join(names)}) nor "
                              "a TOML file")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{flag}: cannot read {spec}: {exc}") from exc
        source = str(path)
    settings = parse_settings(text, source)
    return Profile(spec, text, settings)


def load_faults(spec: str) -> tuple[Profile, FaultSettings]:
    """The ``[broker.sim.faults]`` of a named profile or a TOML file.

    Raises:
        ConfigError: unknown name and no such file, or a bad key or value (one line).
    """
    profile = _load("faults", spec, FAULT_PROFILES)
    return profile, profile.settings.broker.sim.faults


def load_quirks(spec: str) -> tuple[Profile, QuirkSettings]:
    """The ``[broker.sim.quirks]`` of a named profile or a TOML file (see :func:`load_faults`)."""
    profile = _load("quirks", spec, QUIRK_PROFILES)
    return profile, profile.settings.broker.sim.quirks


def order_latency_seconds(faults: FaultSettings) -> float:
    """The mean round trip of one ``order_send`` under ``faults`` (the jitter is uniform)."""
    return (faults.call_latency_ms + faults.order_latency_ms + faults.latency_jitter_ms / 2.0) \
        / 1000.0
