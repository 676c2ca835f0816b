"""``GET /metrics``: the running system in the Prometheus text format.

Theory of operation. Nothing in the runtime counts for Prometheus; this module reads what the
runtime keeps anyway (counters, the gateway's statistics, the bounded windows of recent cycle
durations and journal commit latencies) at scrape time, through a custom collector of
``prometheus_client`` (which owns the text format). Histograms need every observation, but the
runtime keeps only a bounded window: :class:`Folded` folds the new entries of a window into
cumulative buckets, from the window's total count, often enough (:meth:`MetricsSource.fold`,
called every second and at each scrape) that the window never overflows in between.
Durations are real seconds (on the accelerated simulator, Trio seconds / speed).
"""

from __future__ import annotations

import bisect
import math
import os
import sys
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry

from dtms.core.types import State
from dtms.ops.context import Ops
from dtms.ops.health import cycle_age

CYCLE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Folded:
    """A cumulative histogram fed from a bounded window of recent values and a total count."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(bounds)
        self.counts = [0] * (len(self.bounds) + 1)
        self.sum = 0.0
        self.count = 0
        self.missed = 0
        """Values that left the window before they were folded (not in the buckets)."""
        self._seen = 0

    def fold(self, total: int, recent: Iterable[float], scale: float = 1.0) -> None:
        """Take in the values added since the last fold (``total`` counts every value ever)."""
        new = total - self._seen
        if new <= 0:
            return
        window = list(recent)
        take = window[-new:] if new <= len(window) else window
        self.missed += new - len(take)
        for value in take:
            v = value / scale
            self.counts[bisect.bisect_left(self.bounds, v)] += 1
            self.sum += v
            self.count += 1
        self._seen = total

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative ``(le, count)`` pairs, ending with ``+Inf``."""
        out, running = [], 0
        for bound, n in zip((*self.bounds, math.inf), self.counts, strict=True):
            running += n
            out.append(("+Inf" if math.isinf(bound) else repr(bound), float(running)))
        return out


def rss_bytes() -> int | None:
    """Resident memory of this process (None where it cannot be read)."""
    try:
        if sys.platform.startswith("linux"):
            with open("/proc/self/statm", encoding="ascii") as fh:
                return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        if sys.platform == "win32":
            return _windows_rss()
    except (OSError, ValueError):
        return None
    return None


def _windows_rss() -> int | None:
    import ctypes
    from ctypes import wintypes

    class Counters(ctypes.Structure):
        _fields_ = [("cb", wintypes.DWORD), ("PageFaultCount", wintypes.DWORD),
                    ("PeakWorkingSetSize", ctypes.c_size_t), ("WorkingSetSize", ctypes.c_size_t),
                    ("QuotaPeakPagedPoolUsage", ctypes.c_size_t),
                    ("QuotaPagedPoolUsage", ctypes.c_size_t),
                    ("QuotaPeakNonPagedPoolUsage", ctypes.c_size_t),
                    ("QuotaNonPagedPoolUsage", ctypes.c_size_t),
                    ("PagefileUsage", ctypes.c_size_t), ("PeakPagefileUsage", ctypes.c_size_t)]

    c = Counters()
    c.cb = ctypes.sizeof(c)
    windll: Any = getattr(ctypes, "windll")  # noqa: B009 (Windows only)
    handle = windll.kernel32.GetCurrentProcess()
    if not windll.psapi.GetProcessMemoryInfo(handle, ctypes.byref(c), c.cb):
        return None
    return int(c.WorkingSetSize)


def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, value=value)


def _gauge(name: str, doc: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


class MetricsSource(Collector):
    """Collects the running system's figures at each scrape."""

    def __init__(self, ops: Ops) -> None:
        self.ops = ops
        self.cycles = Folded(CYCLE_BUCKETS)
        self.commits = Folded(COMMIT_BUCKETS)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self)

    def fold(self) -> None:
        """Fold the runtime's recent cycle durations and commit latencies into histograms."""
        app = self.ops.app
        times = app.supervisor.cycle_times
        self.cycles.fold(times.count, times.recent, self.ops.scale)
        self.commits.fold(app.journal.commits, app.journal.commit_seconds)

    def collect(self) -> Iterator[Metric]:
        """Every metric, read now."""
        self.fold()
        ops, app = self.ops, self.ops.app
        sup = app.supervisor
        health = ops.health()
        yield _gauge("dtms_healthy", "1 when /health answers 200", float(health.ok))
        yield _gauge("dtms_trading_allowed", "1 when the account may trade (AutoTrading on)",
                     float(sup.account.trade_allowed))
        age = cycle_age(app, ops.scale)
        if age is not None:
            yield _gauge("dtms_cycle_age_seconds", "real seconds since the last cycle started",
                         age)
        yield _counter("dtms_cycles", "monitoring cycles run (failed snapshots included)",
                       sup.cycle_times.count)
        h = HistogramMetricFamily("dtms_cycle_duration_seconds",
                                  "monitoring cycle duration (snapshot to last actor woken)")
        h.add_metric([], self.cycles.buckets(), self.cycles.sum)
        yield h
        trades = GaugeMetricFamily("dtms_trades", "managed trades by state", labels=["state"])
        by_state = dict.fromkeys((s.value for s in State if s is not State.CLOSED), 0)
        for actor in sup.actors.values():
            by_state[actor.trade.state.value] = by_state.get(actor.trade.state.value, 0) + 1
        for state, n in sorted(by_state.items()):
            trades.add_metric([state], n)
        yield trades
        yield _gauge("dtms_trades_quarantined", "trades whose actor is quarantined",
                     len(sup.quarantined))
        yield from self._actions()
        yield from self._gateway()
        yield from self._data()
        c = HistogramMetricFamily("dtms_journal_commit_seconds", "journal commit latency")
        c.add_metric([], self.commits.buckets(), self.commits.sum)
        yield c
        yield _gauge("dtms_journal_writable", "0 once a journal write failed",
                     float(app.journal.failure is None))
        rss = rss_bytes()
        if rss is not None:
            yield _gauge("process_resident_memory_bytes", "resident memory of dtms", rss)
        yield from self._alerts()

    def _actions(self) -> Iterator[Metric]:
        c = self.ops.app.supervisor.ctx.counters
        actions = CounterMetricFamily("dtms_actions", "actions with a final outcome, by type "
                                      "and result", labels=["action", "result"])
        for name, (done, failed) in sorted(c.by_action.items()):
            actions.add_metric([name, "done"], done)
            actions.add_metric([name, "failed"], failed)
        yield actions
        yield _counter("dtms_actions_unknown", "actions whose outcome was unknown (resolved "
                       "from later snapshots)", c.actions_unknown)
        yield _counter("dtms_deep_checks", "deep checks (score + state machine)", c.deep_checks)
        yield _counter("dtms_early_checks", "deep checks brought forward by a fast check",
                       c.early_checks)

    def _gateway(self) -> Iterator[Metric]:
        ops = self.ops
        s = ops.app.gateway.statistics()
        yield _gauge("dtms_broker_connected", "1 while the broker link is up", float(s.connected))
        yield _counter("dtms_gateway_reconnects", "reconnections after a lost broker link",
                       s.reconnects)
        yield _counter("dtms_gateway_calls", "broker calls made", s.calls_total)
        yield _counter("dtms_gateway_unknown_outcomes", "broker calls whose outcome nobody knows",
                       s.unknown_outcomes)
        lat = GaugeMetricFamily("dtms_gateway_latency_seconds", "broker call latency over the "
                                "recent window", labels=["quantile"])
        for q, v in (("0.5", s.latency_p50), ("0.9", s.latency_p90), ("0.99", s.latency_p99)):
            if v is not None:
                lat.add_metric([q], ops.real_seconds(v))
        yield lat
        depth = GaugeMetricFamily("dtms_gateway_queue_depth", "requests waiting, per priority",
                                  labels=["priority"])
        for prio, n in sorted(s.queue_depth.items(), key=lambda kv: kv[0].name):
            depth.add_metric([prio.name.lower()], n)
        yield depth
        outcomes = CounterMetricFamily("dtms_gateway_outcomes", "broker call results by "
                                       "outcome", labels=["outcome"])
        for outcome, n in sorted(s.outcomes.items(), key=lambda kv: kv[0].name):
            outcomes.add_metric([outcome.name.lower()], n)
        yield outcomes

    def _data(self) -> Iterator[Metric]:
        sup = self.ops.app.supervisor
        now = sup.ctx.broker_now()
        stale = GaugeMetricFamily("dtms_data_stale", "1 while a symbol's data is stale",
                                  labels=["symbol"])
        age = GaugeMetricFamily("dtms_data_age_seconds", "broker seconds since the newest "
                                "closed M5 bar closed", labels=["symbol"])
        for sym in sorted(sup.feeds):
            view = sup.feeds[sym].view(now)
            stale.add_metric([sym], float(view.stale if view else True))
            if view is not None and view.m5_time:
                age.add_metric([sym], max(now - (view.m5_time + 300), 0.0))
        yield stale
        yield age

    def _alerts(self) -> Iterator[Metric]:
        counters = self.ops.counters
        for what, doc in (("sent", "alerts delivered"), ("failed", "alerts given up after "
                          "every retry"), ("dropped", "alerts dropped: the channel's queue "
                          "was full")):
            family = CounterMetricFamily(f"dtms_alerts_{what}", doc, labels=["channel"])
            for key, n in sorted(counters.items()):
                channel, _, name = key.rpartition(".")
                if key.startswith("alerts.") and name == what:
                    family.add_metric([channel.removeprefix("alerts.")], n)
            yield family
        queued = GaugeMetricFamily("dtms_alert_queue_depth", "alerts waiting per channel",
                                   labels=["channel"])
        for key, n in sorted(counters.items()):
            if key.startswith("alerts.") and key.endswith(".queued"):
                queued.add_metric([key.split(".")[1]], n)
        yield queued
        yield _counter("dtms_events_dropped", "operator events a full subscriber missed",
                       self.ops.app.events.dropped)
        yield _counter("dtms_events", "operator events published", self.ops.app.events.published)
