"""Benchmark of the HTTP API: request latency, and what serving it costs the monitoring cycles.

Run: ``python bench/api.py`` (``--speed``, ``--seconds``). A real ``dtms run --http
127.0.0.1:0`` on the simulator with the demo scenario (at ``--speed``, so cycles come every
2 s / speed of real time) is read over a real socket. First the cycles run with nobody asking
(``--seconds``), then a client asks as fast as it can, one request after the other, cycling
through the dashboard's routes (health, status, trades, a trade, its chart, metrics) for as
long. Printed: per route, real-time latency (median, 95th percentile); the cycle durations dtms
reports in ``/api/status`` (last 600 cycles, real seconds) at the end of each phase; the
process's RSS.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def _get(base: str, path: str) -> bytes:
    with urllib.request.urlopen(base + path, timeout=30) as r:
        return bytes(r.read())


def _cycles(base: str) -> dict[str, float]:
    return dict(json.loads(_get(base, "/api/status"))["cycles"]["seconds"])


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.2f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", type=float, default=60.0)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        log = open(Path(tmp) / "run.log", "w")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "dtms.cli", "run", "--http",
                                 "127.0.0.1:0", "--speed", str(args.speed)],
                                cwd=tmp, stdout=log, stderr=subprocess.STDOUT)
        try:
            found = None
            while found is None:
                time.sleep(0.2)
                found = re.search(r"on (http://\S+)/", (Path(tmp) / "run.log").read_text())
            base = found.group(1)
            while len(json.loads(_get(base, "/api/trades"))) < 5:
                time.sleep(0.5)
            time.sleep(args.seconds)
            quiet = _cycles(base)
            ticket = json.loads(_get(base, "/api/trades"))[0]["ticket"]
            routes = ["/health", "/api/status", "/api/trades", f"/api/trades/{ticket}",
                      f"/api/trades/{ticket}/chart?tf=M5", "/metrics"]
            latencies: dict[str, list[float]] = {r: [] for r in routes}
            end = time.monotonic() + args.seconds
            i = 0
            while time.monotonic() < end:
                route = routes[i % len(routes)]
                t0 = time.perf_counter()
                _get(base, route)
                latencies[route].append(time.perf_counter() - t0)
                i += 1
            loaded = _cycles(base)
            metrics = _get(base, "/metrics").decode()
        finally:
            proc.terminate()
            proc.wait(timeout=60)
            log.close()
    rss = re.search(r"^process_resident_memory_bytes (\S+)$", metrics, re.M)
    print(f"dtms run --http on the simulator (demo, x{args.speed:g}); {i} requests in "
          f"{args.seconds:g} s from one sequential client ({i / args.seconds:.0f} /s)")
    print(f"{'route':<34} {'median':>10} {'p95':>10}")
    for route, values in latencies.items():
        values.sort()
        p95 = values[max(int(len(values) * 0.95) - 1, 0)]
        name = re.sub(r"\d{6,}", "{ticket}", route)
        print(f"{name:<34} {_ms(statistics.median(values)):>10} {_ms(p95):>10}")
    for label, c in (("cycles, nobody asking", quiet), ("cycles, under that load", loaded)):
        print(f"{label:<34} p50 {_ms(c['p50'])}, p95 {_ms(c['p95'])}, max {_ms(c['max'])}")
    if rss:
        print(f"RSS at the end: {float(rss.group(1)) / 2**20:.0f} MiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
