"""``dtms sim-server``: the simulated broker served under the name ``MetaTrader5`` over rpyc.

The server is what mt5linux runs under Wine — an rpyc *classic* (SlaveService) server — except
that ``import MetaTrader5`` on it gives a module whose functions are one ``SimBroker``'s bound
methods and whose attributes are its constants. The mt5linux adapter, the real mt5linux client,
or any rpyc classic client can drive it. The account, its positions and its clock (a
``WallClock`` at ``--speed``) live as long as the server, across client connections.

rpyc classic is remote code execution by design: whoever reaches the port runs code as this
user. The server therefore listens on loopback addresses only.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import importlib.util
import ipaddress
import signal
import sys
import threading
import types
from collections.abc import Callable
from typing import Any, NoReturn

from dtms.broker.sim import FaultSettings, MarginMode, SimBroker, SimSettings
from dtms.broker.sim.clock import WallClock

DEFAULT_PORT = 18812
DEMO_MODULE = "dtms.broker.sim.demo"


class Stopped(Exception):
    """``serve()`` ended: SIGINT or SIGTERM arrived."""


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def build_module(sim: SimBroker) -> types.ModuleType:
    """A module object named ``MetaTrader5`` whose attributes are ``sim``'s public ones."""
    module = types.ModuleType("MetaTrader5", "The dtms simulated broker, served as MetaTrader5.")
    for name in dir(sim):
        if not name.startswith("_"):
            setattr(module, name, getattr(sim, name))
    module.__version__ = "5.0.6231+dtms.sim"  # type: ignore[attr-defined]
    module.__author__ = "dtms simulated broker"  # type: ignore[attr-defined]
    return module


def ready_line(host: str, port: int, speed: float, margin_mode: MarginMode) -> str:
    """The one line printed once the server accepts connections."""
    return (
        f"dtms sim-server listening on {host}:{port} "
        f"(speed ×{speed:g}, {margin_mode.value} account)"
    )


def serve(
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    sim_settings: SimSettings | None = None,
    speed: float = 1.0,
    scenario: Callable[[SimBroker], None] | None = None,
    ready: Callable[[str, int], object] | None = None,
) -> NoReturn:
    """Serve a simulated account over rpyc classic until SIGINT/SIGTERM.

    Args:
        host: a loopback address to listen on.
        port: TCP port (0 picks a free one; ``ready`` receives it).
        sim_settings: the account; its ``speed`` is replaced by ``speed``.
        speed: broker seconds per wall second of the server's clock.
        scenario: called once with the simulator before the first client (e.g. the demo).
        ready: called with the bound (host, port) once connections are accepted; default
            prints the ready line.

    Raises:
        ValueError: ``host`` is not a loopback address.
        OSError: the port cannot be bound.
        Stopped: a signal stopped the server (the normal end).
    """
    from rpyc.core.service import ClassicService
    from rpyc.utils.server import ThreadedServer

    if not is_loopback(host):
        raise ValueError(
            f"refusing to listen on {host}: rpyc classic runs any code a client sends, so "
            "dtms sim-server listens on loopback only (127.0.0.1, ::1, localhost)"
        )
    settings = dataclasses.replace(sim_settings or SimSettings(), speed=speed)
    sim = SimBroker(settings, clock=WallClock(settings.start_time, speed))
    if scenario is not None:
        scenario(sim)
    sys.modules["MetaTrader5"] = build_module(sim)
    server = ThreadedServer(
        ClassicService, hostname=host, port=port, reuse_addr=True, auto_register=False
    )
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _stop)
    server._listen()  # accept before saying ready, so a client may connect at once
    bound_port = int(server.port)
    if ready is None:
        print(ready_line(host, bound_port, speed, settings.margin_mode), flush=True)
    else:
        ready(host, bound_port)
    try:
        server.start()
    finally:
        server.close()
    raise Stopped("server closed")


def _stop(signum: int, _frame: Any) -> None:
    raise Stopped(signal.Signals(signum).name)


def _demo_available() -> bool:
    try:
        return importlib.util.find_spec(DEMO_MODULE) is not None
    except ImportError:
        return False


def _parser() -> argparse.ArgumentParser:
    scenarios = ["none", "demo"] if _demo_available() else ["none"]
    parser = argparse.ArgumentParser(
        prog="dtms sim-server",
        description=(
            "Serve the simulated MT5 broker as the MetaTrader5 module over rpyc classic, the "
            "protocol of the mt5linux bridge, so `dtms run --broker mt5linux` (or any mt5linux "
            "client) can trade against it. WARNING: rpyc classic is remote code execution by "
            "design (a client can run any code as you), so the server listens on loopback only."
        ),
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address to listen on")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="TCP port (18812)")
    parser.add_argument("--speed", type=float, default=1.0, help="clock acceleration (×1)")
    parser.add_argument("--seed", type=int, default=SimSettings().seed, help="price seed")
    parser.add_argument("--margin-mode", choices=[m.value for m in MarginMode], default="hedging")
    parser.add_argument("--balance", type=float, default=SimSettings().balance)
    parser.add_argument("--scenario", choices=scenarios, default="none")
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="latency of every call (a slow terminal)"
    )
    return parser


def main(argv: list[str]) -> int:
    """Run ``dtms sim-server`` with command-line arguments ``argv``; return the exit code."""
    args = _parser().parse_args(argv)
    if not is_loopback(args.host):
        print(
            f"dtms sim-server: refusing --host {args.host}: rpyc classic is remote code "
            "execution by design; use a loopback address such as 127.0.0.1",
            file=sys.stderr,
        )
        return 2
    if args.speed <= 0 or args.balance <= 0 or args.latency_ms < 0 or not 0 <= args.port <= 65535:
        print(
            "dtms sim-server: --speed and --balance must be > 0, --latency-ms >= 0, "
            "--port within 0..65535",
            file=sys.stderr,
        )
        return 2
    settings = SimSettings(
        seed=args.seed,
        balance=args.balance,
        margin_mode=MarginMode(args.margin_mode),
        faults=FaultSettings(call_latency_ms=args.latency_ms),
    )
    scenario = None
    if args.scenario == "demo":
        scenario = importlib.import_module(DEMO_MODULE).install
    try:
        serve(args.host, args.port, sim_settings=settings, speed=args.speed, scenario=scenario)
    except Stopped:
        return 0
    except OSError as exc:
        print(f"dtms sim-server: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
