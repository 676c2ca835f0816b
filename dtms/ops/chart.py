"""A trade's chart: candles of its symbol with VWAP, entry, stop history, markers, state bands.

Candles come from the symbol's live feed (the closed bars dtms scores on); the VWAP is the
session VWAP of the M5 bars (``dtms.core.vwap``), shown at each candle's close. Everything
the trade lived through comes from the journal: transitions become state bands, confirmed
actions become markers (hedge opened / closed, partial close, close) and stop steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from dtms.core.types import Bars
from dtms.core.vwap import session_vwap
from dtms.ops.context import Ops
from dtms.runtime.market_data import M5, M15, TIMEFRAME_M5, TIMEFRAME_M15

TIMEFRAMES = {"M5": (TIMEFRAME_M5, M5), "M15": (TIMEFRAME_M15, M15)}
_SL_ACTIONS = ("tighten_sl", "move_sl_breakeven")


def candles(ops: Ops, symbol: str, timeframe: str, count: int
            ) -> tuple[list[list[float]], list[list[float]]]:
    """The last ``count`` closed candles ``[time, open, high, low, close]`` and the VWAP
    ``[time, value]`` at each candle's close (empty when dtms has no feed for the symbol)."""
    feed = ops.app.supervisor.feeds.get(symbol)
    if feed is None:
        return [], []
    tf, period = TIMEFRAMES[timeframe]
    rows = feed.closed_bars(tf)[-count:]
    m5 = feed.closed_bars(TIMEFRAME_M5)
    bars = [[int(r["time"]), float(r["open"]), float(r["high"]), float(r["low"]),
             float(r["close"])] for r in rows]
    if not len(m5) or not len(rows):
        return bars, []
    p = ops.settings.indicators
    vwap = session_vwap(Bars.from_rates(m5), p.session_anchor_utc_hour,
                        p.broker_utc_offset_hours)
    # the VWAP known when each candle closed: that of the last M5 bar inside it
    ends = np.asarray(rows["time"], dtype=np.int64) + period
    idx = np.searchsorted(np.asarray(m5["time"], dtype=np.int64), ends - M5, side="right") - 1
    line = [[int(t), float(vwap[i])] for t, i in zip(rows["time"], idx, strict=True)
            if i >= 0 and np.isfinite(vwap[i])]
    return bars, line


def _price_at(bars: list[list[float]], at: float) -> float | None:
    """Close of the candle that contains ``at`` (or the nearest one)."""
    if not bars:
        return None
    best = bars[0]
    for b in bars:
        if b[0] <= at:
            best = b
        else:
            break
    return best[4]


def marks(detail: dict[str, Any], bars: list[list[float]], now: float) -> dict[str, Any]:
    """Stops, markers and state bands from a trade's journal history."""
    trade = detail["trade"]
    stops: list[list[float]] = []
    if trade["initial_sl"]:
        stops.append([trade["opened_at"], trade["initial_sl"]])
    markers: list[dict[str, Any]] = []

    def mark(kind: str, at: float, text: str, price: float | None = None) -> None:
        markers.append({"kind": kind, "at": at, "text": text,
                        "price": price if price is not None else _price_at(bars, at)})

    for a in detail["actions"]:
        if a["status"] != "done":
            continue
        kind, params, at = a["type"], a["params"], a["ts"]
        role = params.get("role")
        if kind in _SL_ACTIONS and params.get("sl"):
            stops.append([at, params["sl"]])
        elif kind == "open_hedge":
            mark("hedge_open", at, f"hedge #{a['result_ticket'] or '?'} "
                 f"{params.get('volume', '')} lots opened")
        elif kind == "close_hedge" or (kind == "close_all" and role == "hedge"):
            mark("hedge_close", at, f"hedge #{params.get('ticket', '?')} closed")
        elif kind == "close_all" and "by_ticket" in params:
            mark("hedge_close", at, f"closed by hedge #{params['by_ticket']}")
            mark("close", at, "trade closed")
        elif kind == "close_all" and role in ("main", None):
            mark("close", at, "trade closed")
        elif kind == "partial_close":
            mark("partial_close", at, f"closed {params.get('volume', '')} lots")
        elif kind == "re_add":
            mark("re_add", at, f"re-added {params.get('volume', '')} lots")
    bands: list[dict[str, Any]] = []
    start, state = trade["opened_at"], "HEALTHY"
    for t in detail["transitions"]:
        bands.append({"from": start, "to": t["ts"], "state": state})
        start, state = t["ts"], t["to_state"]
        if t["rule"] == "hedge_vanished":
            mark("hedge_close", t["ts"], "hedge vanished (stop hit or closed by hand)")
    end = trade["closed_at"] or now
    bands.append({"from": start, "to": end, "state": state})
    if trade.get("sl"):
        stops.append([end, trade["sl"]])
    markers.sort(key=lambda m: m["at"])
    return {"stops": stops, "markers": markers, "bands": bands,
            "entry": {"price": trade["entry"], "at": trade["opened_at"]}}


def chart(ops: Ops, detail: dict[str, Any], timeframe: str) -> dict[str, Any]:
    """Everything the dashboard draws for one trade."""
    trade = detail["trade"]
    bars, vwap = candles(ops, trade["symbol"], timeframe, ops.settings.http.chart_bars)
    now = ops.app.supervisor.ctx.broker_now()
    return {"ticket": trade["ticket"], "symbol": trade["symbol"], "side": trade["side"],
            "timeframe": timeframe, "bars": bars, "vwap": vwap, "now": now,
            **marks(detail, bars, now)}
