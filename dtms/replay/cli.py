"""``dtms replay``: the command line.

Every unusable input (a malformed bars or trades file, an unknown symbol, a trade outside the
bars, a bad ``--set``) ends with one line naming the file and line or the option, and exit
status 2; never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import tomllib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from dtms.config import DEFAULT_PATH, Settings
from dtms.configload import build
from dtms.errors import ConfigError, DtmsError
from dtms.replay.bars import BarFile, ReplayInputError, infer_clock, load_bar_files
from dtms.replay.engine import sim_symbols
from dtms.replay.report import build_report, render_table, to_json, when
from dtms.replay.rules import entries, parse_rule
from dtms.replay.run import Variant, run_replay
from dtms.replay.trades import TradeSpec, read_trades

EXIT_USER_ERROR = 2


def parser() -> argparse.ArgumentParser:
    """The ``dtms replay`` options."""
    p = argparse.ArgumentParser(
        prog="dtms replay",
        description="Replay trades on recorded MT5 bars twice, managed by dtms and left "
        "alone, and report the difference (docs/replay.md).")
    p.add_argument("--bars", nargs="+", required=True, metavar="FILE",
                   help="MT5 'Export bars' files, M1 to M15 (SYMBOL=path, or the symbol is "
                   "read from the file name)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--trades", metavar="FILE",
                     help="your MT5 history export (positions or deals), as CSV")
    src.add_argument("--entries", metavar="RULE",
                     help="entries for exploration, e.g. random:1000,sl=1.5,tp=2 or every:240")
    p.add_argument("--config", help="config file (default: ./config.toml if present)")
    p.add_argument("--set", action="append", default=[], metavar="'KEY=VALUE ...'",
                   dest="variants",
                   help="a variant to run beside the configuration, e.g. "
                   "--set actions.sl_tighten_r=0.5 (repeat for more variants)")
    p.add_argument("--report", metavar="DIR",
                   help="write report.json and report.html into DIR")
    p.add_argument("--utc-offset", type=float, metavar="HOURS",
                   help="the server's offset to UTC (default: inferred from weekend gaps)")
    p.add_argument("--workers", type=int, metavar="N",
                   help="processes (default: [replay] workers, 0 = one per core)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p


def _table_of(path: str | None) -> tuple[dict[str, Any], str]:
    """The config file as a TOML table (empty without one) and its name."""
    p = Path(path if path is not None else DEFAULT_PATH)
    if not p.exists():
        if path is not None:
            raise ConfigError(f"config file {p} does not exist")
        return {}, "defaults"
    try:
        return tomllib.loads(p.read_text(encoding="utf-8")), str(p)
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {p}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML ({exc})") from exc


def _assign(table: dict[str, Any], assignment: str) -> None:
    key, sep, text = assignment.partition("=")
    key = key.strip()
    if not sep or not key:
        raise ConfigError(f"--set {assignment!r}: expected KEY=VALUE")
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    *path, leaf = key.split(".")
    node = table
    for part in path:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: {part} is a setting, not a table")
        node = child
    node[leaf] = value


def variants_of(config: str | None, sets: Sequence[str]) -> list[Variant]:
    """The configuration as loaded, then one variant per ``--set``."""
    base, name = _table_of(config)
    out = [Variant(Path(name).name if name != "defaults" else name, build(Settings, base, ""))]
    for text in sets:
        table = json.loads(json.dumps(base))  # a deep copy of plain TOML data
        changes = tuple(text.split())
        if not changes:
            raise ConfigError("--set: empty variant")
        for assignment in changes:
            _assign(table, assignment)
        out.append(Variant(" ".join(changes), build(Settings, table, ""), changes))
    return out


def _check_range(trades: list[TradeSpec], files: list[BarFile]) -> None:
    span = {f.symbol: (f.first_time, f.end_time) for f in files}
    for t in trades:
        first, end = span[t.symbol]
        if not first <= t.opened_at < end - 60:
            raise ReplayInputError(
                f"{t.key}: opened {when(t.opened_at)}, outside the bars of {t.symbol} "
                f"({when(first)} .. {when(end)})")
        for e in t.exits:
            if e.at < t.opened_at:
                raise ReplayInputError(f"{t.key}: a close at {when(e.at)} before the open")


def main(argv: Sequence[str]) -> int:
    """Run ``dtms replay``; 0 on success, 2 on bad input."""
    args = parser().parse_args(list(argv))
    try:
        return _run(args)
    except DtmsError as exc:
        print(f"dtms replay: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR


def _run(args: argparse.Namespace) -> int:
    started = time.perf_counter()

    def say(line: str) -> None:
        if not args.quiet:
            print(f"dtms replay: {line}", file=sys.stderr, flush=True)

    variants = variants_of(args.config, args.variants)
    replay = variants[0].settings.replay
    if args.workers is not None:
        if args.workers < 0:
            raise ConfigError("--workers: expected 0 or more")
        from dataclasses import replace

        replay = replace(replay, workers=args.workers)
    files = load_bar_files(args.bars)
    sim_symbols(files)  # an unknown symbol stops here
    clock = infer_clock(files, args.utc_offset)
    if args.trades:
        points = {f.symbol: 10.0 ** -_digits(f) for f in files}
        trades = read_trades(args.trades, points, replay.stop_tolerance_points)
        source = args.trades
    else:
        trades = entries(parse_rule(args.entries), files, replay.seed)
        source = f"--entries {args.entries}"
    _check_range(trades, files)
    say(f"{len(trades)} trades x {len(variants)} variant(s) on {len(files)} symbol(s); server "
        f"UTC{clock.utc_offset_hours:+g} h ({clock.source})")
    results = run_replay(variants, files, clock, trades, replay, progress=say)
    report = build_report(files, clock, source, results, replay.tail_share,
                          replay.bootstrap_resamples, replay.confidence, replay.seed)
    print(render_table(report))
    if args.report:
        from dtms.replay.html import render_html

        out = Path(args.report)
        try:
            out.mkdir(parents=True, exist_ok=True)
            (out / "report.json").write_text(json.dumps(to_json(report), indent=1),
                                             encoding="utf-8")
            (out / "report.html").write_text(render_html(report), encoding="utf-8")
        except OSError as exc:
            raise ReplayInputError(f"--report {out}: cannot write ({exc})") from None
        print(f"\nreport: {out / 'report.html'} and {out / 'report.json'}")
    say(f"done in {time.perf_counter() - started:.1f} s")
    return 0


def _digits(f: BarFile) -> int:
    """Decimal places of the file's prices (at least those of the quotes it holds)."""
    sample = f.bars.close[:200]
    for digits in range(0, 8):
        if (abs(sample * 10**digits - (sample * 10**digits).round()) < 1e-6).all():
            return digits
    return 8
