"""``dtms service``: run dtms as a Linux systemd service.

``dtms service install --user`` (or ``--system``) writes a unit that starts ``dtms run`` with
this Python and this config from this directory. It is ``Type=notify``: systemd waits for
dtms's ``READY=1`` and restarts it when the watchdog is not fed (cycles stopped, journal dead:
see ``dtms.ops.systemd``) or when it dies. A terminal that is not reachable yet (exit status 2)
is retried every 30 s up to the start limit (ten tries in 15 minutes), so a bad config ends as
a failed unit rather than a loop; a stop (SIGTERM, exit 0) stays stopped. ``dtms service unit``
prints the unit without writing anything. Secrets go in ``dtms.env`` next to the config.
"""

from __future__ import annotations

import argparse
import getpass
import os
import shlex
import sys
from pathlib import Path

from dtms.errors import DtmsError

WATCHDOG_SECONDS = 60
"""Kept in step with ``[service] watchdog_cycle_age_seconds`` (its default)."""


def _quote(arg: str) -> str:
    """One ExecStart argument, quoted the way systemd reads it."""
    if arg and not any(c in arg for c in " \t\n\"'\\;$%"):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace(
        "$", "$$")
    return f'"{escaped}"'


def _path(path: Path) -> str:
    """A path setting (taken whole by systemd; only its specifiers need escaping)."""
    return str(path).replace("%", "%%")


def unit_text(*, python: str, config: Path, workdir: Path, scope: str,
              run_args: list[str] | None = None, user: str | None = None) -> str:
    """The unit file for ``scope`` ("user" or "system")."""
    command = [python, "-m", "dtms.cli", "run", "--config", str(config), *(run_args or [])]
    lines = [
        "# dtms: defensive trade manager for MetaTrader 5 (written by `dtms service install`)",
        "[Unit]",
        "Description=dtms defensive trade manager (MetaTrader 5)",
        "After=network-online.target",
        "Wants=network-online.target",
        "# a terminal that is not up yet is retried for a while; a bad config gives up",
        "StartLimitIntervalSec=900",
        "StartLimitBurst=10",
        "",
        "[Service]",
        "Type=notify",
        "NotifyAccess=main",
        f"WorkingDirectory={_path(workdir)}",
        f"ExecStart={' '.join(_quote(a) for a in command)}",
        "Environment=PYTHONUNBUFFERED=1",
        "# DTMS_HTTP_TOKEN=..., DTMS_TELEGRAM_BOT_TOKEN=... (optional, keep it chmod 600)",
        f"EnvironmentFile=-{_path(workdir / 'dtms.env')}",
        "Restart=on-failure",
        "RestartSec=30",
        "TimeoutStartSec=300",
        "TimeoutStopSec=60",
        f"WatchdogSec={WATCHDOG_SECONDS}",
        "KillSignal=SIGTERM",
    ]
    if scope == "system":
        lines.append(f"User={user or getpass.getuser()}")
    lines += ["", "[Install]",
              "WantedBy=" + ("default.target" if scope == "user" else "multi-user.target"), ""]
    return "\n".join(lines)


def unit_dir(scope: str) -> Path:
    """Where systemd looks for units of ``scope``."""
    if scope == "system":
        return Path("/etc/systemd/system")
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "systemd" / "user"


def next_steps(scope: str, name: str) -> list[str]:
    """The commands that enable and start the installed unit."""
    if scope == "user":
        return ["systemctl --user daemon-reload",
                f"systemctl --user enable --now {name}.service",
                "loginctl enable-linger \"$USER\"   # keep it running when you log out",
                f"journalctl --user -u {name} -f   # follow it"]
    return ["sudo systemctl daemon-reload", f"sudo systemctl enable --now {name}.service",
            f"journalctl -u {name} -f   # follow it"]


def parser(sub: argparse.ArgumentParser) -> None:
    """Arguments of ``dtms service``."""
    actions = sub.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, text in (("install", "write the systemd unit (then enable it)"),
                       ("unit", "print the systemd unit, write nothing")):
        p = actions.add_parser(name, help=text)
        scope = p.add_mutually_exclusive_group(required=True)
        scope.add_argument("--user", dest="scope", action="store_const", const="user",
                           help="a user service (~/.config/systemd/user)")
        scope.add_argument("--system", dest="scope", action="store_const", const="system",
                           help="a system service (/etc/systemd/system, needs root)")
        p.add_argument("--config", default="config.toml",
                       help="config file dtms runs with (default: ./config.toml)")
        p.add_argument("--name", default="dtms", help="unit name (default: dtms)")
        p.add_argument("--run-args", default="",
                       help="more arguments for dtms run, e.g. \"--broker mt5linux\"")
        p.add_argument("--run-as", help="--system: the account dtms runs as (default: the "
                       "user who ran sudo)")
        p.add_argument("--unit-dir", help="write the unit here instead of systemd's folder")


def main(args: argparse.Namespace) -> int:
    """Run ``dtms service ACTION``."""
    workdir = Path.cwd()
    config = (workdir / args.config).resolve()
    if not config.is_file():
        raise DtmsError(f"service: config file {config} does not exist (dtms run reads it; "
                        "copy config.toml there first)")
    try:
        run_args = shlex.split(args.run_args)
    except ValueError as exc:
        raise DtmsError(f"service: --run-args: {exc}") from None
    if not args.name.replace("-", "").replace("_", "").isalnum():
        raise DtmsError(f"service: --name must be letters, digits, - or _, got {args.name!r}")
    user = args.run_as or os.environ.get("SUDO_USER") or None
    text = unit_text(python=sys.executable, config=config, workdir=workdir, scope=args.scope,
                     run_args=run_args, user=user)
    if args.action == "unit":
        sys.stdout.write(text)
        return 0
    folder = Path(args.unit_dir) if args.unit_dir else unit_dir(args.scope)
    path = folder / f"{args.name}.service"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        hint = " (run it with sudo, or use --user)" if args.scope == "system" else ""
        raise DtmsError(f"service: cannot write {path}: {exc.strerror or exc}{hint}") from None
    print(f"wrote {path}")
    print("now run:")
    for line in next_steps(args.scope, args.name):
        print(f"  {line}")
    return 0
