"""The ``dtms`` command: run the manager, and read what it did.

Every user error (a bad config, an unknown ticket, a locked journal, a missing MT5 package)
ends with one line on stderr and exit status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from dtms.errors import DtmsError, StoppedBeforeStart

EXIT_USER_ERROR = 2


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="dtms",
        description="Defensive trade manager for MetaTrader 5: scores every open position and "
        "protects it (tighter stops, partial closes, hedges, flat-timer closes).",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the manager (default: on the embedded simulator)")
    run.add_argument("--broker", choices=["simulated", "mt5", "mt5linux"],
                     help="broker to manage (default: [broker] kind in the config)")
    run.add_argument("--config", help="config file (default: ./config.toml)")
    run.add_argument("--journal", help="journal file (default: [journal] path)")
    run.add_argument("--host", help="mt5linux: host of the rpyc server (default: config)")
    run.add_argument("--port", type=int, help="mt5linux: port of the rpyc server (default: config)")
    run.add_argument("--speed", type=float,
                     help="simulated: clock acceleration; mt5linux: the sim-server's speed")
    run.add_argument("--scenario", choices=["demo", "none"],
                     help="simulated: demo opens trades and drives some into trouble")
    run.add_argument("--http", metavar="HOST:PORT",
                     help="serve the HTTP API, /metrics and the dashboard there (default: "
                     "[http] in the config; a non-loopback HOST needs a token)")
    run.add_argument("--duration", type=_positive_seconds,
                     help="stop by itself after this many real seconds (default: run until "
                     "Ctrl-C / SIGTERM)")

    st = sub.add_parser("status", help="is dtms monitoring, and what it manages")
    st.add_argument("--json", action="store_true", help="machine-readable output")
    tr = sub.add_parser("trade", help="one trade: state, score, timers, hedge, warnings")
    tr.add_argument("ticket", type=int)
    tr.add_argument("--json", action="store_true")
    hi = sub.add_parser("history", help="actions sent to the broker, newest first")
    hi.add_argument("ticket", type=int, nargs="?")
    hi.add_argument("--limit", type=int, default=50)
    hi.add_argument("--json", action="store_true")
    lg = sub.add_parser("logs", help="a trade actor's log")
    lg.add_argument("ticket", type=int)
    lg.add_argument("--follow", "-f", action="store_true", help="keep printing new lines")
    gd = sub.add_parser("guard", help="the account guard (loss limits)")
    gsub = gd.add_subparsers(dest="guard_command", required=True, metavar="ACTION")
    gu = gsub.add_parser("unlock", help="release the guard's lock (works while dtms runs)")
    gu.add_argument("--reason", default="", help="why (kept in the journal)")
    gu.add_argument("--wait", type=float, default=15.0,
                    help="seconds to wait for the running dtms to answer (default 15)")
    for cmd in (st, tr, hi, lg, gu):
        cmd.add_argument("--config", help="config file (default: ./config.toml)")
        cmd.add_argument("--journal", help="journal file (default: [journal] path)")

    al = sub.add_parser("alerts", help="alert channels: `dtms alerts test` sends a test message")
    al.add_argument("action", choices=["test"])
    al.add_argument("--config", help="config file (default: ./config.toml)")
    svc = sub.add_parser("service", help="run dtms as a systemd service (Linux)")
    from dtms.ops.service import parser as service_parser

    service_parser(svc)

    sub.add_parser("sim-server", add_help=False,
                   help="serve the simulated broker over rpyc classic on 127.0.0.1 "
                   "(see dtms sim-server --help)")
    sub.add_parser("stress", add_help=False,
                   help="stress-test dtms in a market shock with faults and kills, and check "
                   "what it did (see dtms stress --help)")
    sub.add_parser("replay", add_help=False,
                   help="what dtms would have done to your trades, on recorded bars "
                   "(see dtms replay --help)")
    return p


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``dtms`` console script."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list[:1] == ["sim-server"]:
        from dtms.broker.simserver import main as sim_main

        try:
            return sim_main(args_list[1:])
        except DtmsError as exc:
            print(f"dtms sim-server: {exc}", file=sys.stderr)
            return EXIT_USER_ERROR
    if args_list[:1] == ["stress"]:
        from dtms.stress.cli import main as stress_main

        return stress_main(args_list[1:])
    if args_list[:1] == ["replay"]:
        from dtms.replay.cli import main as replay_main

        return replay_main(args_list[1:])
    args = _parser().parse_args(args_list)
    try:
        match args.command:
            case "run":
                with _stoppable_startup():
                    from dtms.runner import run

                    return run(args)
            case "status":
                return _status(args)
            case "trade":
                return _trade(args)
            case "history":
                return _history(args)
            case "logs":
                return _logs(args)
            case "guard":
                from dtms.guard_cli import unlock

                return unlock(_journal(args), args.reason, args.wait)
            case "alerts":
                from dtms.config import load_settings
                from dtms.ops.alerts import main_test

                return main_test(load_settings(args.config).alerts)
            case "service":
                from dtms.ops.service import main as service_main

                return service_main(args)
    except DtmsError as exc:
        print(f"dtms: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except StoppedBeforeStart as stopped:
        print(f"dtms: stopped by {stopped} before monitoring started; nothing was sent",
              file=sys.stderr)
        return 0
    except KeyboardInterrupt:
        return 130
    return 0


@contextlib.contextmanager
def _stoppable_startup() -> Iterator[None]:
    """Until the running system installs its own signal handling, SIGTERM and SIGINT stop
    dtms cleanly (exit 0) instead of killing it: a service manager may stop it at any time."""

    def stop(signum: int, _frame: object) -> None:
        raise StoppedBeforeStart(signal.Signals(signum).name)

    handled = [signal.SIGINT] + ([signal.SIGTERM] if hasattr(signal, "SIGTERM") else [])
    previous = {s: signal.signal(s, stop) for s in handled}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


# ---------------------------------------------------------------------- readers


def _journal(args: argparse.Namespace) -> str:
    if getattr(args, "journal", None):
        return str(args.journal)
    from dtms.config import load_settings

    return load_settings(args.config).journal.path


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts))


def _status(args: argparse.Namespace) -> int:
    from dtms.status import get_system_status

    s = get_system_status(_journal(args))
    if args.json:
        print(json.dumps(s, indent=2, default=str))
        return 0
    state = "ACTIVE" if s["monitoring_active"] else "not running"
    print(f"dtms: {state} (pid {s['pid']}, {s['broker']} broker, uptime "
          f"{s['uptime_seconds']:.0f} s, broker time {_when(s['broker_time'])})")
    by_state = ", ".join(f"{k} {v}" for k, v in sorted(s["trades_by_state"].items())) or "none"
    print(f"trades: {s['active_trades']} open ({by_state}); {s['closed_trades']} closed")
    a = s["actions"]
    print(f"checks: {s['checks']['deep']} deep ({s['checks']['early']} early), last at "
          f"{_when(s['last_check_at'])}")
    print(f"actions: {a['succeeded']} succeeded, {a['failed']} failed, {a['unknown']} unknown, "
          f"{a['in_flight']} in flight")
    trading = s.get("trading") or {}
    if trading.get("halted"):
        print(f"HALTED: {trading['halted']}")
    elif trading.get("disabled"):
        print(f"TRADING DISABLED: {trading['disabled']} (actions wait until it is back)")
    waiting = {k: v for k, v in (s.get("waiting") or {}).items() if k != "in_flight" and v}
    if waiting:
        print("waiting: " + ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in
                                       sorted(waiting.items())))
    cycle = s.get("cycle_seconds") or {}
    if cycle.get("p50") is not None:
        print(f"cycles: last {cycle['last'] * 1000:.0f} ms, p50 {cycle['p50'] * 1000:.0f} ms, "
              f"p95 {cycle['p95'] * 1000:.0f} ms")
    for sym, h in sorted(s["data_health"].items()):
        state = "CLOSED " if h.get("closed") else "STALE " if h["stale"] else ""
        print(f"  {sym}: {state + h['reason'] if state else 'fresh'}")
    from dtms.guard_cli import status_lines

    for line in status_lines(s["guard"]):
        print(line)
    if s["quarantined"]:
        print(f"QUARANTINED: {', '.join(map(str, s['quarantined']))} (see dtms trade TICKET)")
    gw = s["gateway"]
    if gw:
        p50 = gw.get("latency_p50")
        lat = f"{p50 * 1000:.2f} ms" if p50 is not None else "-"
        print(f"gateway: {'connected' if gw.get('connected') else 'DISCONNECTED'}, "
              f"{gw.get('calls_total', 0)} calls, p50 {lat}, "
              f"{gw.get('reconnects', 0)} reconnects, {gw.get('unknown_outcomes', 0)} unknown")
    return 0


def _trade(args: argparse.Namespace) -> int:
    from dtms.status import get_trade_status

    t = get_trade_status(args.ticket, _journal(args))
    if args.json:
        print(json.dumps(t, indent=2, default=str))
        return 0
    print(f"#{t['ticket']} {t['symbol']} {t['side']} {t['volume']} lots @ {t['entry']}  "
          f"state {t['state']}{' (pending ' + t['pending'] + ')' if t['pending'] else ''}")
    score = "n/a" if t["score"] is None else f"{t['score']:+.2f}"
    print(f"score {score}  {t['analysis']}")
    for layer in t["layers"]:
        mark = "" if layer.get("available", True) else "  (unavailable)"
        print(f"  {layer['name']:<18} raw {layer['raw']:+.2f}  weighted "
              f"{layer['weighted']:+.2f}{mark}")
    hedge = f"#{t['hedge_ticket']} {t['hedge_volume']} lots" if t["hedge_ticket"] else "none"
    print(f"SL {t['sl']} (initial {t['initial_sl']}); hedge {hedge}; hedges opened "
          f"{t['hedges_opened']}; partial closes {t['partial_closes']}")
    for name in ("flat_timer_remaining", "recovery_timer_remaining"):
        if t[name] is not None:
            print(f"{name.replace('_', ' ')}: {t[name] / 60:.1f} min")
    if t["last_transition"]:
        lt = t["last_transition"]
        print(f"last transition {_when(lt['ts'])}: {lt['from_state']} -> {lt['to_state']} "
              f"({lt['reason']})")
    if t["closed_at"]:
        print(f"closed {_when(t['closed_at'])}: {t['close_reason']}")
    if t["quarantined"]:
        print(f"QUARANTINED: {t['alert']}")
    for w in t["warnings"]:
        print(f"  ! {_when(w['ts'])} {w['kind']}: {w['text']}")
    return 0


def _history(args: argparse.Namespace) -> int:
    from dtms.status import get_action_history

    rows = get_action_history(args.ticket, args.limit, _journal(args))
    if args.json:
        print(json.dumps(rows, indent=2, default=str))
        return 0
    if not rows:
        print("no actions yet")
    for r in rows:
        retcode = f" {r['retcode']}" if r["retcode"] is not None else ""
        extra = f" -> #{r['result_ticket']}" if r["result_ticket"] else ""
        err = f" ({r['error']})" if r["error"] else ""
        print(f"{_when(r['ts'])} #{r['ticket']} {r['symbol']} {r['type']}: "
              f"{r['status']}{retcode}{extra}{err}")
    return 0


def _logs(args: argparse.Namespace) -> int:
    from dtms.config import load_settings
    from dtms.runtime.logs import trade_log_path

    settings = load_settings(args.config)
    path = trade_log_path(settings.logging.dir, args.ticket)
    if not path.exists() and not args.follow:
        raise DtmsError(f"no log for ticket {args.ticket} at {path}")
    _print_file(path, args.follow)
    return 0


def _print_file(path: Path, follow: bool) -> None:
    while not path.exists():
        time.sleep(0.5)
    with open(path, encoding="utf-8") as fh:
        sys.stdout.write(fh.read())
        sys.stdout.flush()
        while follow:
            line = fh.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
            else:
                time.sleep(0.25)


if __name__ == "__main__":
    raise SystemExit(main())
