"""Benchmark of protection under load through the real route: the shock burst of issue 8.

Run: ``python bench/burst.py`` (the headline, about 40 minutes) or ``python bench/burst.py
--soak`` (the same with faults and 10 SIGKILLs); ``--trades``, ``--symbols``, ``--speed``,
``--seed``, ``--work``. It is not part of ``make bench`` (it runs in real time).

How it is measured. It runs ``dtms stress`` exactly as a user would: ``dtms sim-server`` in its
own process at speed 1 with a realistic terminal (order_send 47.5-52.5 ms, reads 2.5-7.5 ms:
50 and 5 ms on average, the ``latency`` faults profile), 1,500 positions on 3 symbols opened by
a trader's EA, ``dtms run --broker mt5linux`` against it. The headline book is all exposed, all
with a stop, no other EA and no hand close (``[stress]`` below), and ``--shock`` lowers dtms's
thresholds so the shock's bar decides every hedge at once (docs/stress.md). The soak uses the
``realistic`` faults profile (requotes, missing prices, lost answers, link outages, external
closes) and the default book (other EAs, trades without a stop, hand closes) with 10 kills. The
figures come from the JSON report; the targets are issue 8's.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HEADLINE_BOOK = """\
[stress]
exposed_share = 1.0
no_sl_share = 0.0
ignored_share = 0.0
hand_close_share = 0.0
"""
PER_TRADE_KB = 20.0
FLAT_MB = 2.0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--soak", action="store_true", help="faults and 10 kills instead")
    p.add_argument("--trades", type=int, default=1500)
    p.add_argument("--symbols", type=int, default=3)
    p.add_argument("--minutes", type=float, default=40.0)
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--work", help="work folder (default: a new temporary folder)")
    a = p.parse_args()
    work = Path(a.work or tempfile.mkdtemp(prefix="dtms-burst-"))
    work.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "dtms.cli", "stress", "--trades", str(a.trades), "--symbols",
           str(a.symbols), "--minutes", str(a.minutes), "--speed", str(a.speed), "--shock",
           "--seed", str(a.seed), "--work", str(work / "run"), "--report",
           str(work / "report.json")]
    if a.soak:
        cmd += ["--faults", "realistic", "--kills", "10"]
    else:
        (work / "headline.toml").write_text(HEADLINE_BOOK, encoding="utf-8")
        cmd += ["--faults", "latency", "--config", str(work / "headline.toml")]
    print("$ " + " ".join(cmd[2:]).replace("dtms.cli", "dtms"), flush=True)
    code = subprocess.run(cmd, check=False).returncode
    report = work / "report.json"
    if not report.exists():
        print(f"no report (dtms stress exited {code})", file=sys.stderr)
        return 1
    print_figures(json.loads(report.read_text()), a.soak)
    return 0


def _mark(ok: bool) -> str:
    return "ok  " if ok else "MISS"


def print_figures(r: dict[str, Any], soak: bool) -> None:
    """The run's figures against issue 8's targets."""
    f = r["figures"]
    kinds: dict[str, int] = {}
    for v in r["violations"]:
        kinds[v["kind"]] = kinds.get(v["kind"], 0) + 1
    b = f["burst"]
    s = f["stops"]
    m = f["memory"]
    cyc = f.get("burst_cycles") or {}
    print("\nfigure                                   measured                       target")
    rows = [
        ("violations", f"{len(r['violations'])} {kinds or ''}", "0",
         not r["violations"]),
        ("give-ups", str(f["book"]["give_ups"]), "0", f["book"]["give_ups"] == 0),
        ("duplicate hedges", str(kinds.get("duplicate hedge", 0)), "0",
         not kinds.get("duplicate hedge")),
    ]
    if b.get("due"):
        rows.append(("hedges of the burst placed", f"{b['placed']}/{b['due']} (triggers within "
                     f"{b['triggers_within']:.1f} s)", "all", b["placed"] == b["due"]))
        span = b["span_seconds"]
        rows.append(("first trigger -> last hedge", f"{span:.1f} s" if span else "-",
                     f"<= {b['target_seconds']:.1f} s", bool(b["within_target"])))
    rows.append(("stop changes sent or superseded",
                 f"{s['sent']} + {s['superseded']} of {s['decided']}",
                 "all", s["not_sent"] == 0))
    cycle_target = 2 * 2.0
    if cyc.get("n"):
        rows.append(("cycle p95 during the burst", f"{cyc['p95']:.2f} s (max {cyc['max']:.2f},"
                     f" n={cyc['n']})", f"<= {cycle_target:.1f} s", cyc["p95"] <= cycle_target))
    if m.get("per_trade_kb") is not None:
        rows.append(("RSS per trade above idle", f"{m['per_trade_kb']:.1f} KB (peak "
                     f"{m['peak_rss_mb']:.1f} MB, idle {m['baseline_rss_mb']:.1f} MB)",
                     f"<= {PER_TRADE_KB:g} KB", m["per_trade_kb"] <= PER_TRADE_KB))
    if m.get("drift_after_burst_mb") is not None:
        drift = m["drift_after_burst_mb"]
        rows.append(("RSS after the burst", f"{drift:+.1f} MB over {m['drift_minutes']:.1f} min",
                     f"flat (within {FLAT_MB:g} MB)", abs(drift) <= FLAT_MB))
    lat = f["hedge_latency"]
    if lat.get("n"):
        rows.append(("trigger -> hedge at the broker", f"p50 {lat['p50']:.1f} s, p95 "
                     f"{lat['p95']:.1f} s, max {lat['max']:.1f} s", "", True))
    c = f["calls"]
    rows.append(("order_send per action", f"{c['order_sends_per_action']:.2f}"
                 if c["order_sends_per_action"] else "-", "", True))
    for name, measured, target, ok in rows:
        print(f"{_mark(ok)} {name:<36} {measured:<30} {target}")
    if soak:
        print(f"\nkills: {r['run']['kills']}, faults: {r['run']['faults']}")


if __name__ == "__main__":
    raise SystemExit(main())
