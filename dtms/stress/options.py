"""The options of ``dtms stress`` and their checks (bad input is one line, exit 2)."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from dtms.errors import ConfigError
from dtms.stress.plan import SYMBOLS

SHOCK_MIN_MINUTES = 35.0
"""A shock needs three M15 closes after dtms starts (warning, partial close, hedge) and a few
minutes after the burst."""


@dataclass(frozen=True, slots=True)
class Options:
    """What one ``dtms stress`` run does."""

    trades: int = 300
    symbols: int = 3
    minutes: float = 45.0
    speed: float = 1.0
    faults: str = "latency"
    quirks: str = "none"
    kills: int = 0
    shock: bool = False
    seed: int = 1
    report: str | None = None
    work: str | None = None
    config: str | None = None
    broker: str = "sim"
    host: str = "127.0.0.1"
    port: int = 18812
    on_demo_account: bool = False


def parser() -> argparse.ArgumentParser:
    """The ``dtms stress`` argument parser."""
    d = Options()
    p = argparse.ArgumentParser(
        prog="dtms stress",
        description="Stress-test dtms as a user would: a simulated account in its own process "
        "(dtms sim-server), a trader's book on it, a price shock, faults, and dtms run over the "
        "mt5linux bridge, SIGKILLed and restarted; then the broker's history and the journal are "
        "checked. Exit 0 only if nothing is wrong.",
    )
    p.add_argument("--trades", type=int, default=d.trades, help=f"positions the trader opens "
                   f"(default {d.trades}; a share belongs to other EAs dtms must ignore)")
    p.add_argument("--symbols", type=int, default=d.symbols,
                   help=f"symbols they spread over (1..{len(SYMBOLS)}, default {d.symbols})")
    p.add_argument("--minutes", type=float, default=d.minutes, help="broker minutes dtms runs "
                   f"(default {d.minutes:g}; with --shock at least {SHOCK_MIN_MINUTES:g})")
    p.add_argument("--speed", type=float, default=d.speed, help="broker seconds per real second "
                   "(default 1: real time; timings mean what they say only at 1)")
    p.add_argument("--faults", default=d.faults, metavar="PROFILE", help="the terminal's faults: "
                   "none, latency, realistic, hostile, or a TOML file with [broker.sim.faults] "
                   f"(default {d.faults})")
    p.add_argument("--quirks", default=d.quirks, metavar="PROFILE", help="the broker's quirks: "
                   "none, realistic, hostile, or a TOML file with [broker.sim.quirks] (default "
                   f"{d.quirks})")
    p.add_argument("--kills", type=int, default=d.kills, help="SIGKILLs of dtms during the run, "
                   "each followed by a restart (default 0)")
    p.add_argument("--shock", action="store_true", help="drive prices against most of the book "
                   "so that every exposed trade needs its hedge on the same M15 close (dtms runs "
                   "with lowered thresholds, see docs/stress.md)")
    p.add_argument("--seed", type=int, default=d.seed, help="seed of the book, the market, the "
                   "faults and the kills (default 1)")
    p.add_argument("--report", metavar="FILE.json", help="where the JSON report goes (default: "
                   "report.json in the work folder)")
    p.add_argument("--work", metavar="DIR", help="work folder (journal, logs, configs; default: "
                   "a new temporary folder)")
    p.add_argument("--config", metavar="FILE", help="dtms config the tested dtms starts from, "
                   "and the [stress] table (default ./config.toml if present)")
    p.add_argument("--broker", choices=["sim", "mt5linux", "mt5"], default=d.broker,
                   help="sim (default): a simulated account of the run's own; mt5linux/mt5: a "
                   "real terminal, only on a demo account and with --on-demo-account")
    p.add_argument("--host", default=d.host, help="mt5linux: host of the terminal's server")
    p.add_argument("--port", type=int, default=d.port, help="mt5linux: port of its server")
    p.add_argument("--on-demo-account", action="store_true", help="allow a run against a real "
                   "terminal: it opens and closes positions on its (demo) account")
    return p


def options_from(argv: list[str]) -> Options:
    """Parse and check the command line.

    Raises:
        ConfigError: a value that cannot work (one line naming it).
        SystemExit: argparse's own errors (exit code 2, one usage line).
    """
    a = parser().parse_args(argv)
    o = Options(a.trades, a.symbols, a.minutes, a.speed, a.faults, a.quirks, a.kills, a.shock,
                a.seed, a.report, a.work, a.config, a.broker, a.host, a.port, a.on_demo_account)
    problems = [
        ("--trades must be at least 1", o.trades >= 1),
        ("--trades must be at most 100000", o.trades <= 100_000),
        (f"--symbols must be 1..{len(SYMBOLS)}", 1 <= o.symbols <= len(SYMBOLS)),
        ("--minutes must be a positive number", o.minutes > 0 and o.minutes == o.minutes
         and o.minutes != float("inf")),
        ("--speed must be a positive number (at most 1000)", 0 < o.speed <= 1000),
        ("--kills must be 0 or more", o.kills >= 0),
        ("--seed must be 0 or more", o.seed >= 0),
        ("--port must be 1..65535", 0 < o.port < 65536),
        (f"--shock needs --minutes of at least {SHOCK_MIN_MINUTES:g} (three M15 closes and the "
         "burst)", not o.shock or o.minutes >= SHOCK_MIN_MINUTES),
    ]
    for text, ok in problems:
        if not ok:
            raise ConfigError(text)
    if o.broker != "sim":
        d = Options()
        for flag, given in (("--shock", o.shock), ("--faults", o.faults != d.faults),
                            ("--quirks", o.quirks != d.quirks)):
            if given:
                raise ConfigError(f"{flag} needs the simulator: a real terminal's prices and "
                                  "faults are its own (drop it, or use --broker sim)")
        if o.speed != 1.0:
            raise ConfigError("--speed must be 1 on a real terminal (its clock is the real one)")
    return o
