"""What the API shows of the running system, read from memory (cheap, always current).

Views are plain dicts ready for JSON. They read the supervisor, the actors, the feeds and the
gateway of the running :class:`~dtms.runtime.app.App` without changing anything; the history
(transitions, actions, scores) comes from the journal (``dtms.ops.reads``).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict
from typing import Any

from dtms.core.trade import TradeState
from dtms.ops.context import Ops


def trade_summary(ops: Ops, trade: TradeState, *, quarantined: bool = False) -> dict[str, Any]:
    """One row of the trades table."""
    now = ops.app.supervisor.ctx.broker_now()
    actor = ops.app.supervisor.actors.get(trade.ticket)
    main = actor.last_input.main if actor is not None and actor.last_input else None
    hedge = None
    if trade.hedge is not None:
        h = trade.hedge
        hedge = {"ticket": h.ticket, "volume": h.volume, "sl": h.sl, "opened_at": h.opened_at}
    return {
        "ticket": trade.ticket,
        "symbol": trade.symbol,
        "side": trade.side.value,
        "state": trade.state.value,
        "pending": trade.pending.transition if trade.pending else None,
        "since": trade.since,
        "volume": trade.volume,
        "entry": trade.entry,
        "sl": trade.sl,
        "tp": trade.tp,
        "initial_sl": trade.initial_sl,
        "price": main.price_current if main else None,
        "profit": main.profit if main else None,
        "score": trade.score,
        "hedge": hedge,
        "hedges_opened": trade.hedges_opened,
        "partial_closes": trade.partial_closes,
        "flat_timer_remaining": _remaining(trade.flat_deadline, now),
        "recovery_timer_remaining": _remaining(trade.recovery_deadline, now),
        "opened_at": trade.opened_at,
        "closed_at": trade.closed_at,
        "close_reason": trade.close_reason,
        "quarantined": quarantined or trade.ticket in ops.app.supervisor.quarantined,
    }


def _remaining(deadline: float | None, now: float) -> float | None:
    return None if deadline is None else round(max(deadline - now, 0.0), 1)


def trades(ops: Ops) -> list[dict[str, Any]]:
    """Every trade an actor manages right now, by ticket."""
    actors = ops.app.supervisor.actors
    return [trade_summary(ops, actors[t].trade) for t in sorted(actors)]


def gateway_view(ops: Ops) -> dict[str, Any]:
    """The gateway's statistics with plain keys (latencies in real seconds)."""
    s = ops.app.gateway.statistics()
    out: dict[str, Any] = {}
    for key, value in asdict(s).items():
        if isinstance(value, dict):
            value = {getattr(k, "name", str(k)): v for k, v in value.items()}
        out[key] = value
    for key in ("latency_p50", "latency_p90", "latency_p99"):
        if out[key] is not None:
            out[key] = ops.real_seconds(out[key])
    out["unknown_outcomes"] = s.unknown_outcomes
    return out


def data_health(ops: Ops) -> dict[str, dict[str, Any]]:
    """Per symbol: stale or not, why, newest closed bars, staleness in broker seconds."""
    sup = ops.app.supervisor
    now = sup.ctx.broker_now()
    out: dict[str, dict[str, Any]] = {}
    for sym in sorted(sup.feeds):
        feed = sup.feeds[sym]
        view = feed.view(now)
        m5 = view.m5_time if view else 0
        out[sym] = {
            "stale": view.stale if view else True,
            "reason": (view.stale_reason if view else feed.error) or "",
            "m5_time": m5,
            "m15_close": view.m15_close if view else 0,
            "age_seconds": round(now - (m5 + 300), 1) if m5 else None,
            "active": sym in sup.active_symbols,
        }
    return out


def status(ops: Ops, started_wall: float) -> dict[str, Any]:
    """The whole system at a glance (what ``dtms status`` shows, live)."""
    sup = ops.app.supervisor
    c = sup.ctx.counters
    by_state: dict[str, int] = {}
    for actor in sup.actors.values():
        by_state[actor.trade.state.value] = by_state.get(actor.trade.state.value, 0) + 1
    acc = sup.account
    cycles = {k: (None if v is None else ops.real_seconds(v))
              for k, v in sup.cycle_times.summary().items()}
    report = sup.last_report
    return {
        "monitoring_active": not ops.app.stop.is_set(),
        "pid": os.getpid(),
        "uptime_seconds": round(time.time() - started_wall, 1),
        "broker_time": sup.ctx.broker_now(),
        "health": ops.health().as_dict(),
        "account": {"hedging": acc.hedging, "trade_allowed": acc.trade_allowed,
                    "margin_free": acc.margin_free, "currency": acc.currency},
        "broker_link": {"connected": ops.app.gateway.connected,
                        "reconnects": ops.app.gateway.statistics().reconnects},
        "active_trades": len(sup.actors),
        "trades_by_state": by_state,
        "quarantined": {str(k): v for k, v in sup.quarantined.items()},
        "cycles": {"count": sup.cycles, "seconds": cycles,
                   "last_at": report.at if report else None,
                   "last_ok": report.ok if report else None},
        "checks": {"deep": c.deep_checks, "early": c.early_checks,
                   "last_at": c.last_check_at or None},
        "actions": {"succeeded": c.actions_done, "failed": c.actions_failed,
                    "unknown": c.actions_unknown,
                    "by_action": {k: {"done": v[0], "failed": v[1]}
                                  for k, v in c.by_action.items()}},
        "data_health": data_health(ops),
        "gateway": gateway_view(ops),
        "journal": {"path": ops.journal_path, "commits": ops.app.journal.commits,
                    "failure": str(ops.app.journal.failure) if ops.app.journal.failure
                    else None},
        "events": {"published": ops.app.events.published, "dropped": ops.app.events.dropped},
        "guard": sup.guard.status(),
    }
