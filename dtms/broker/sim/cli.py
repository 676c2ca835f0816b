"""``dtms sim-server``: the command line of the served simulator.

The account, its faults and quirks and the market come from a dtms config file
(``[broker.sim]``, ``[broker.sim.faults]``, ``[broker.sim.quirks]``, ``[broker.market]``) when
``--config`` names one; flags given on the command line override the file. Bad input (a bad
file, a bad number, a non-loopback host, a quirk naming a symbol the simulator does not list)
is one line on stderr and exit code 2; a port that cannot be bound is exit code 1.
"""

from __future__ import annotations

import argparse
import calendar
import dataclasses
import importlib
import importlib.util
import math
import sys
import time
from datetime import datetime
from typing import Any

from dtms.broker.sim.serving import DEFAULT_PORT, Stopped, is_loopback, serve
from dtms.broker.sim.settings import MarginMode, SimSettings
from dtms.errors import ConfigError

PROG = "dtms sim-server"
DEMO_MODULE = "dtms.broker.sim.demo"


class BadInput(Exception):
    """A command-line value or config file dtms sim-server cannot use (one line)."""


def _demo_available() -> bool:
    try:
        return importlib.util.find_spec(DEMO_MODULE) is not None
    except ImportError:
        return False


def parser() -> argparse.ArgumentParser:
    """The ``dtms sim-server`` argument parser (flags default to the config file's values)."""
    scenarios = ["none", "demo"] if _demo_available() else ["none"]
    p = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Serve the simulated MT5 broker as the MetaTrader5 module over rpyc classic, the "
            "protocol of the mt5linux bridge, so `dtms run --broker mt5linux` (or any mt5linux "
            "or plain rpyc client) can trade against it. Flags override the config file. "
            "WARNING: rpyc classic is remote code execution by design (a client can run any "
            "code as you), so the server listens on loopback only."
        ),
    )
    p.add_argument("--config", metavar="FILE",
                   help="dtms config file: its [broker.sim], [broker.sim.faults], "
                   "[broker.sim.quirks] and [broker.market] tables set up the account")
    p.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    p.add_argument("--port", type=int, default=DEFAULT_PORT,
                   help=f"TCP port ({DEFAULT_PORT}; 0 picks a free one)")
    p.add_argument("--speed", type=float,
                   help="broker seconds per wall second (default: [broker.sim] speed, 1)")
    p.add_argument("--start", metavar="WHEN",
                   help="broker time the clock starts at: 'now' (UTC now plus "
                   "[broker.market] broker_utc_offset_hours), an ISO date-time (naive: broker "
                   "time; with an offset: converted) or epoch seconds (default: [broker.sim] "
                   "start_time)")
    p.add_argument("--seed", type=int, help="seed of prices, faults and quirks")
    p.add_argument("--margin-mode", choices=[m.value for m in MarginMode],
                   help="hedging or netting account")
    p.add_argument("--balance", type=float, help="initial deposit (USD)")
    p.add_argument("--latency-ms", type=float,
                   help="latency of every call, ms (a slow terminal; [broker.sim.faults] "
                   "call_latency_ms)")
    p.add_argument("--scenario", choices=scenarios, default="none",
                   help="'demo' opens trades over time and drives some into trouble")
    return p


def parse_start(text: str, utc_offset_hours: float, now: float | None = None) -> float:
    """Broker epoch seconds for ``--start``: 'now', an ISO date-time or epoch seconds."""
    if text.strip().lower() == "now":
        return (time.time() if now is None else now) + utc_offset_hours * 3600.0
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if math.isfinite(value):
        if value < 0:
            raise BadInput(f"--start: epoch seconds cannot be negative, got {text!r}")
        return value
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadInput(
            f"--start: expected 'now', an ISO date-time (2026-03-02T07:00) or epoch seconds, "
            f"got {text!r}"
        ) from None
    if when.tzinfo is None:  # broker-server wall time, which MT5 writes as if it were UTC
        return calendar.timegm(when.timetuple()) + when.microsecond / 1e6
    return when.timestamp() + utc_offset_hours * 3600.0


def settings_from(args: argparse.Namespace) -> tuple[SimSettings, Any]:
    """The account and market settings: the config file's, then the flags over them."""
    from dtms.config import Settings, load_settings

    try:
        settings = load_settings(args.config) if args.config else Settings()
    except ConfigError as exc:
        raise BadInput(str(exc)) from None
    sim, market = settings.broker.sim, settings.broker.market
    if args.host and not is_loopback(args.host):
        raise BadInput(
            f"refusing --host {args.host}: rpyc classic is remote code execution by design; "
            "use a loopback address such as 127.0.0.1"
        )
    bad = [
        name for name, ok in (
            ("--speed must be > 0", args.speed is None or args.speed > 0),
            ("--balance must be > 0", args.balance is None or args.balance > 0),
            ("--latency-ms must be >= 0", args.latency_ms is None or args.latency_ms >= 0),
            ("--port must be within 0..65535", 0 <= args.port <= 65535),
            ("--seed must be >= 0", args.seed is None or args.seed >= 0),
        ) if not ok
    ]
    if bad:
        raise BadInput(", ".join(bad))
    changes: dict[str, Any] = {}
    if args.speed is not None:
        changes["speed"] = args.speed
    if args.seed is not None:
        changes["seed"] = args.seed
    if args.balance is not None:
        changes["balance"] = args.balance
    if args.margin_mode is not None:
        changes["margin_mode"] = MarginMode(args.margin_mode)
    if args.start is not None:
        changes["start_time"] = parse_start(args.start, market.broker_utc_offset_hours)
    if args.latency_ms is not None:
        changes["faults"] = dataclasses.replace(sim.faults, call_latency_ms=args.latency_ms)
    return dataclasses.replace(sim, **changes), market


def main(argv: list[str]) -> int:
    """Run ``dtms sim-server`` with command-line arguments ``argv``; return the exit code."""
    args = parser().parse_args(argv)
    try:
        sim, market = settings_from(args)
    except BadInput as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    scenario = None
    if args.scenario == "demo":
        scenario = importlib.import_module(DEMO_MODULE).install
    try:
        serve(args.host, args.port, sim_settings=sim, market_settings=market,
              scenario=scenario)
    except Stopped:
        return 0
    except ValueError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"{PROG}: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0  # pragma: no cover (serve only ends by raising)
