"""The figures of a run: how fast protection reached the broker, and what it cost.

* Trigger to protection: a hedge is triggered when dtms first decides it (the first intent of
  the episode in the journal; a request that expired in the queue and was planned again keeps
  its first trigger) and protects when its opening deal is in the broker's history. A stop
  change protects when the broker accepted it (the journal's outcome).
* The shock's burst: every hedge triggered within :data:`BURST_WINDOW` seconds of the deciding
  bar's close, from the first trigger to the last hedge at the broker, against the target
  1.2 x hedges x order_send latency + 2 s (issue 8).
* Broker calls per action, cycle durations (every cycle the heartbeats saw), and memory: each
  dtms process's RSS above the idle baseline, per managed trade, and its drift after the burst.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from dtms.stress.evidence import Evidence, by_ticket
from dtms.stress.observe import Beat, Observer

BURST_WINDOW = 60.0
"""Hedges triggered within this many seconds of the deciding close belong to the burst."""
TARGET_FACTOR = 1.2
TARGET_SLACK = 2.0
SETTLED_AFTER = 30.0
"""Real seconds after the burst before memory counts as settled."""


def percentiles(values: Iterable[float]) -> dict[str, float | None]:
    """p50, p95 and max (nearest rank) of ``values``; None when there are none."""
    v = sorted(values)
    if not v:
        return {"n": 0, "p50": None, "p95": None, "max": None}

    def rank(q: float) -> float:
        return v[min(max(math.ceil(q / 100 * len(v)), 1), len(v)) - 1]

    return {"n": len(v), "p50": rank(50), "p95": rank(95), "max": v[-1]}


@dataclass(frozen=True, slots=True)
class Episode:
    """One decision of one trade to act, and what became of it."""

    ticket: int
    kind: str
    trigger: float
    status: str
    """Status of its last attempt (done, failed, blocked...)."""
    done_at: float | None
    result_ticket: int | None
    superseded: bool
    attempts: int


def episodes(rows: Sequence[dict[str, Any]], kinds: tuple[str, ...]) -> list[Episode]:
    """Group a journal's actions into episodes: attempts of one action of one trade up to the
    one that was done (or the last)."""
    out = []
    for ticket, items in by_ticket(a for a in rows if a["type"] in kinds).items():
        current: list[dict[str, Any]] = []
        for a in items:
            current.append(a)
            if a["status"] == "done":
                out.append(_episode(ticket, current))
                current = []
        if current:
            out.append(_episode(ticket, current))
    return out


def _episode(ticket: int, attempts: list[dict[str, Any]]) -> Episode:
    last = attempts[-1]
    done = last["status"] == "done"
    superseded = any("superseded" in (a.get("error") or "") or "went first" in
                     (a.get("error") or "") for a in attempts)
    return Episode(ticket, last["type"], float(attempts[0]["ts"]), last["status"],
                   float(last["updated_at"]) if done else None,
                   int(last["result_ticket"]) if done and last["result_ticket"] else None,
                   superseded, len(attempts))


def hedge_latencies(ev: Evidence) -> list[tuple[Episode, float]]:
    """(episode, seconds from trigger to the hedge's deal at the broker) of every placed hedge."""
    out = []
    for e in episodes(ev.journal.actions, ("open_hedge",)):
        life = ev.lives.get(e.result_ticket or -1)
        if e.done_at is not None and life is not None:
            out.append((e, life.opened - e.trigger))
    return out


def burst(ev: Evidence, deciding_close: float | None, order_latency: float) -> dict[str, Any]:
    """The shock's hedge burst: triggers, placements, span and its target."""
    if deciding_close is None:
        return {}
    hedges = [e for e in episodes(ev.journal.actions, ("open_hedge",))
              if deciding_close - 5 <= e.trigger <= deciding_close + BURST_WINDOW]
    placed = {e.ticket: ev.lives[e.result_ticket].opened for e in hedges
              if e.result_ticket is not None and e.result_ticket in ev.lives}
    if not hedges:
        return {"due": 0}
    first = min(e.trigger for e in hedges)
    last = max(placed.values(), default=None)
    target = TARGET_FACTOR * len(hedges) * order_latency + TARGET_SLACK
    span = None if last is None else last - first
    return {
        "due": len(hedges), "placed": len(placed), "first_trigger": first,
        "triggers_within": max(e.trigger for e in hedges) - first,
        "last_placed": last, "span_seconds": span, "target_seconds": target,
        "within_target": span is not None and span <= target and len(placed) == len(hedges),
        "expired_in_queue": sum(e.attempts - 1 for e in hedges),
    }


def stops(ev: Evidence) -> dict[str, Any]:
    """Stop changes decided, sent, superseded, and never sent; trigger to broker acceptance."""
    eps = episodes(ev.journal.actions, ("tighten_sl", "move_sl_breakeven"))
    done = [e for e in eps if e.done_at is not None]
    superseded = [e for e in eps if e.done_at is None and e.superseded]
    skipped = [e for e in eps if e.done_at is None and not e.superseded]
    return {
        "decided": len(eps), "sent": len(done), "superseded": len(superseded),
        "not_sent": len(skipped),
        "not_sent_reasons": _count(e.status for e in skipped),
        "trigger_to_broker": percentiles(e.done_at - e.trigger for e in done
                                         if e.done_at is not None),
    }


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for item in items:
        out[item] += 1
    return dict(out)


def last_beats(beats: Sequence[Beat]) -> dict[int, dict[str, Any]]:
    """The last status each dtms process wrote."""
    out: dict[int, dict[str, Any]] = {}
    for b in beats:
        out[b.pid] = b.status
    return out


def calls(beats: Sequence[Beat]) -> dict[str, Any]:
    """Broker calls and actions over every process (each counts from its own start)."""
    by_fn: dict[str, int] = defaultdict(int)
    actions = superseded = not_sent = 0
    for status in last_beats(beats).values():
        gw = status.get("gateway") or {}
        for fn, n in (gw.get("calls_by_function") or {}).items():
            by_fn[fn] += int(n)
        c = status.get("counters") or {}
        actions += int(c.get("actions_done", 0)) + int(c.get("actions_failed", 0)) + \
            int(c.get("actions_unknown", 0))
        superseded += int(gw.get("superseded", 0))
        not_sent += int(gw.get("not_sent", 0))
    total = sum(by_fn.values())
    return {
        "total": total, "by_function": dict(sorted(by_fn.items())), "actions": actions,
        "per_action": total / actions if actions else None,
        "order_sends_per_action": by_fn.get("order_send", 0) / actions if actions else None,
        "superseded": superseded, "not_sent": not_sent,
    }


def cycles(beats: Sequence[Beat], window: tuple[float, float] | None = None) -> dict[str, Any]:
    """Durations of the cycles the heartbeats saw (each cycle once), in broker seconds."""
    seen: dict[tuple[int, int], float] = {}
    for b in beats:
        s = b.status
        last = (s.get("cycle_seconds") or {}).get("last")
        at = float(s.get("broker_time") or 0.0)
        if last is None or (window is not None and not window[0] <= at <= window[1]):
            continue
        seen[(b.pid, int(s.get("cycles", 0)))] = float(last)
    return percentiles(seen.values())


def memory(obs: Observer, baseline: int | None, trades: int,
           burst_end_wall: float | None) -> dict[str, Any]:
    """RSS of the dtms processes above the idle baseline, per trade, and after the burst."""
    if not obs.rss:
        return {}
    peak = max(r for _, _, r in obs.rss)
    out: dict[str, Any] = {"peak_rss_mb": peak / 1e6,
                           "baseline_rss_mb": baseline / 1e6 if baseline else None}
    if baseline and trades:
        out["per_trade_kb"] = (peak - baseline) / trades / 1e3
    if burst_end_wall is not None:
        settled = burst_end_wall + SETTLED_AFTER
        pid = next((p for w, p, _ in obs.rss if w >= burst_end_wall), None)
        after = [(w, r) for w, p, r in obs.rss if p == pid and w >= settled]
        if len(after) >= 2:
            out["after_burst_mb"] = after[0][1] / 1e6
            out["at_end_mb"] = after[-1][1] / 1e6
            out["drift_after_burst_mb"] = (after[-1][1] - after[0][1]) / 1e6
            out["drift_minutes"] = (after[-1][0] - after[0][0]) / 60
    return out


def wall_of(beats: Sequence[Beat], broker_time: float) -> float | None:
    """The real time at which the broker clock read ``broker_time`` (from the heartbeats)."""
    best = None
    for b in beats:
        at = float(b.status.get("broker_time") or 0.0)
        wall = float(b.status.get("heartbeat_wall") or b.wall)
        scale = float(b.status.get("time_scale") or 1.0)
        if best is None or abs(at - broker_time) < best[0]:
            best = (abs(at - broker_time), wall + (broker_time - at) / scale)
    return None if best is None else best[1]
