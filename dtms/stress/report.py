"""What a run shows: a live progress line, one final table, and the JSON report.

The progress line is rewritten in place on a terminal and printed every few seconds otherwise
(a CI log). The table is the verdict first (violations by kind, then each one up to a limit),
then the figures; the JSON report holds all of it, every violation included, with the run's
parameters so it can be repeated.
"""

from __future__ import annotations

import json
import sys
import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

from dtms.stress.checks import Violation

SHOWN_VIOLATIONS = 20
PLAIN_EVERY = 10.0
"""Seconds between two progress lines when the output is not a terminal."""


class ProgressLine:
    """The live progress display."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.out = out or sys.stdout
        self.tty = bool(getattr(self.out, "isatty", lambda: False)())
        self._last = 0.0
        self._width = 0

    def show(self, text: str, *, force: bool = False) -> None:
        """Show ``text`` as the current progress."""
        now = time.monotonic()
        if self.tty:
            pad = max(self._width - len(text), 0)
            self.out.write("\r" + text + " " * pad)
            self.out.flush()
            self._width = len(text)
        elif force or now - self._last >= PLAIN_EVERY:
            self.out.write(text + "\n")
            self.out.flush()
            self._last = now

    def say(self, text: str) -> None:
        """A line of its own (the progress line continues below it)."""
        if self.tty and self._width:
            self.out.write("\r" + " " * self._width + "\r")
            self._width = 0
        self.out.write(text + "\n")
        self.out.flush()


def _fmt(value: Any, unit: str = "", digits: int = 2) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def _dist(d: dict[str, Any] | None, unit: str = " s") -> str:
    if not d or not d.get("n"):
        return "-"
    return (f"p50 {_fmt(d['p50'], unit)}, p95 {_fmt(d['p95'], unit)}, max {_fmt(d['max'], unit)}"
            f" (n={d['n']})")


def table(result: dict[str, Any]) -> str:
    """The final table of a run."""
    f = result["figures"]
    v: list[dict[str, Any]] = result["violations"]
    rows: list[tuple[str, str]] = []
    kinds = Counter(x["kind"] for x in v)
    verdict = "PASS: no violation" if not v else f"FAIL: {len(v)} violation(s)"
    rows.append(("verdict", verdict))
    for kind, n in sorted(kinds.items()):
        rows.append((f"  {kind}", str(n)))
    run = result["run"]
    rows.append(("run", f"{run['trades']} positions ({f['book']['managed']} managed) on "
                        f"{len(run['symbols'])} symbols, {run['minutes']:g} min at x"
                        f"{run['speed']:g}, faults {run['faults']}, quirks {run['quirks']}, "
                        f"{run['kills']} kill(s), shock {'yes' if run['shock'] else 'no'}, "
                        f"seed {run['seed']}"))
    b = f["book"]
    rows.append(("book", f"{b['hedges_placed']} hedges placed, {b['hand_closes']} hand closes "
                         f"scheduled, {b['give_ups']} give-ups, {b['closed_at_end']} trades "
                         "closed at the end"))
    rows.append(("trigger -> hedge at broker", _dist(f["hedge_latency"])))
    s = f["stops"]
    rows.append(("stop changes", f"{s['decided']} decided: {s['sent']} sent, "
                                 f"{s['superseded']} superseded, {s['not_sent']} not sent; "
                                 f"trigger -> broker {_dist(s['trigger_to_broker'])}"))
    burst = f.get("burst") or {}
    if burst.get("due"):
        ok = "within" if burst["within_target"] else "OVER"
        rows.append(("shock burst", f"{burst['placed']}/{burst['due']} hedges, triggers within "
                                    f"{_fmt(burst['triggers_within'], ' s')}, all placed "
                                    f"{_fmt(burst['span_seconds'], ' s')} after the first "
                                    f"trigger ({ok} target {_fmt(burst['target_seconds'], ' s')})"
                     ))
    c = f["calls"]
    rows.append(("broker calls", f"{c['total']} ({_fmt(c['per_action'])} per action, "
                                 f"{_fmt(c['order_sends_per_action'])} order_send per action), "
                                 f"{c['superseded']} stop changes superseded, {c['not_sent']} "
                                 "requests not sent"))
    rows.append(("cycle (broker s)", _dist(f["cycles"])))
    if f.get("burst_cycles", {}).get("n"):
        rows.append(("cycle during the burst", _dist(f["burst_cycles"])))
    m = f["memory"]
    if m:
        mem = f"peak RSS {_fmt(m.get('peak_rss_mb'), ' MB', 1)}"
        if m.get("per_trade_kb") is not None:
            mem += (f", {_fmt(m['per_trade_kb'], ' KB', 1)} per trade above the idle "
                    f"{_fmt(m.get('baseline_rss_mb'), ' MB', 1)}")
        if m.get("drift_after_burst_mb") is not None:
            mem += (f", {m['drift_after_burst_mb']:+.1f} MB over the {m['drift_minutes']:.1f} "
                    "min after the burst")
        rows.append(("memory", mem))
    rows.append(("work folder", result["work"]))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k:<{width}}  {val}" for k, val in rows]
    for x in v[:SHOWN_VIOLATIONS]:
        lines.append(f"  ! {x['kind']}: {x['detail']}")
    if len(v) > SHOWN_VIOLATIONS:
        lines.append(f"  ... and {len(v) - SHOWN_VIOLATIONS} more in the JSON report")
    return "\n".join(lines)


def as_dicts(violations: list[Violation]) -> list[dict[str, Any]]:
    """Violations as JSON-ready dicts."""
    return [{"kind": v.kind, "ticket": v.ticket, "detail": v.detail} for v in violations]


def write_json(result: dict[str, Any], path: Path) -> None:
    """Write the report."""
    path.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
