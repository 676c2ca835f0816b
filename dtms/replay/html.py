"""The replay report as one offline HTML page: tables and hand-drawn SVG plots.

Theory of operation: the page needs nothing but a browser (no script, no network). Every plot
is an inline SVG drawn here: per variant the equity curves of both copies, their drawdowns and
the distribution of per-trade differences; then, for the trades whose copies differ most, a
price chart of the trade's life with its entry, stops, hedges, exits and state changes.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import numpy as np

from dtms.replay.outcome import TradeOutcome
from dtms.replay.report import Report, render_table, verdict, when
from dtms.replay.stats import F64, equity_curve

W, H, PAD = 760, 220, 44
MANAGED, UNMANAGED, PRICE = "#1f6feb", "#999999", "#333333"
STATE_COLOURS = {"HEALTHY": "#2da44e", "WARNING_L1": "#d4a72c", "WARNING_L2": "#e16f24",
                 "HEDGED": "#cf222e", "RECOVERING": "#8250df", "CLOSED": "#57606a"}
_CSS = """body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
pre{background:#f6f8fa;padding:12px;overflow-x:auto;font-size:12px}
svg{background:#fff;border:1px solid #ddd;margin:6px 0}h2{margin-top:36px}
.legend span{margin-right:14px}.small{font-size:12px;color:#555}"""


class _Plot:
    """Maps data to an SVG box and collects its elements."""

    def __init__(self, xs: Sequence[float] | F64, ys: Sequence[float] | F64, title: str,
                 height: int = H) -> None:
        finite_x = [x for x in xs if math.isfinite(x)] or [0.0, 1.0]
        finite_y = [y for y in ys if math.isfinite(y)] or [0.0, 1.0]
        self.x0, self.x1 = min(finite_x), max(finite_x)
        self.y0, self.y1 = min(finite_y), max(finite_y)
        if self.x1 == self.x0:
            self.x1 += 1.0
        if self.y1 == self.y0:
            self.y0, self.y1 = self.y0 - 1.0, self.y1 + 1.0
        pad = (self.y1 - self.y0) * 0.06
        self.y0, self.y1 = self.y0 - pad, self.y1 + pad
        self.h = height
        self.parts = [f'<text x="{PAD}" y="14" font-size="12">{html.escape(title)}</text>']
        for k in range(5):
            y = self.y0 + (self.y1 - self.y0) * k / 4
            self.parts.append(
                f'<line x1="{PAD}" x2="{W - 8}" y1="{self.sy(y):.1f}" y2="{self.sy(y):.1f}" '
                f'stroke="#eee"/><text x="2" y="{self.sy(y) + 4:.1f}" font-size="10">'
                f"{_short(y)}</text>")

    def sx(self, x: float) -> float:
        return PAD + (x - self.x0) / (self.x1 - self.x0) * (W - PAD - 8)

    def sy(self, y: float) -> float:
        return self.h - 18 - (y - self.y0) / (self.y1 - self.y0) * (self.h - 40)

    def line(self, xs: Sequence[float] | F64, ys: Sequence[float] | F64, colour: str,
             width: float = 1.5, step: bool = False) -> None:
        pts = []
        prev_y = None
        for x, y in zip(xs, ys, strict=True):
            if step and prev_y is not None:
                pts.append(f"{self.sx(x):.1f},{self.sy(prev_y):.1f}")
            pts.append(f"{self.sx(x):.1f},{self.sy(y):.1f}")
            prev_y = y
        if pts:
            self.parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="{width}" '
                              f'points="{" ".join(pts)}"/>')

    def mark(self, x: float, y: float, colour: str, label: str, shape: str = "circle") -> None:
        cx, cy = self.sx(x), self.sy(y)
        tip = f"<title>{html.escape(label)}</title>"
        if shape == "circle":
            self.parts.append(f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="4" fill="{colour}">'
                              f"{tip}</circle>")
        else:
            self.parts.append(f'<rect x="{cx - 4:.1f}" y="{cy - 4:.1f}" width="8" height="8" '
                              f'fill="{colour}">{tip}</rect>')

    def vline(self, x: float, colour: str, label: str) -> None:
        cx = self.sx(x)
        self.parts.append(f'<line x1="{cx:.1f}" x2="{cx:.1f}" y1="20" y2="{self.h - 18}" '
                          f'stroke="{colour}" stroke-dasharray="3,3"><title>'
                          f"{html.escape(label)}</title></line>"
                          f'<text x="{cx + 2:.1f}" y="30" font-size="9" fill="{colour}">'
                          f"{html.escape(label.split(' ')[0])}</text>")

    def svg(self) -> str:
        return f'<svg width="{W}" height="{self.h}">{"".join(self.parts)}</svg>'


def _short(v: float) -> str:
    return f"{v:,.5g}" if abs(v) < 100 else f"{v:,.0f}"


def _equity_plots(trades: Sequence[TradeOutcome], name: str) -> str:
    mt, me = equity_curve([t.managed for t in trades if t.managed])
    ut, ue = equity_curve([t.unmanaged for t in trades if t.unmanaged])
    eq = _Plot([*mt, *ut], [0.0, *me, *ue], f"{name}: realised equity (managed blue, unmanaged "
               "grey)")
    eq.line(mt, me, MANAGED)
    eq.line(ut, ue, UNMANAGED)
    md = np.maximum.accumulate(np.concatenate(([0.0], me)))[1:] - me if len(me) else me
    ud = np.maximum.accumulate(np.concatenate(([0.0], ue)))[1:] - ue if len(ue) else ue
    dd = _Plot([*mt, *ut], [0.0, *(-md), *(-ud)], f"{name}: drawdown from the running peak")
    dd.line(mt, -md, MANAGED)
    dd.line(ut, -ud, UNMANAGED)
    return eq.svg() + dd.svg()


def _histogram(trades: Sequence[TradeOutcome], name: str) -> str:
    diffs = np.array([t.diff for t in trades if t.managed and t.unmanaged])
    if not len(diffs):
        return ""
    lo, hi = float(diffs.min()), float(diffs.max())
    if hi == lo:
        hi = lo + 1.0
    counts, edges = np.histogram(diffs, bins=41, range=(lo, hi))
    p = _Plot([lo, hi], [0.0, float(counts.max())],
              f"{name}: per-trade difference, managed minus unmanaged ({len(diffs)} trades, "
              f"{np.mean(diffs > 0):.0%} better, {np.mean(diffs < 0):.0%} worse)")
    for c, a, b in zip(counts, edges[:-1], edges[1:], strict=True):
        if c:
            x0, x1 = p.sx(a), p.sx(b)
            y = p.sy(float(c))
            colour = MANAGED if (a + b) / 2 >= 0 else "#cf222e"
            p.parts.append(f'<rect x="{x0:.1f}" y="{y:.1f}" width="{max(x1 - x0 - 1, 1):.1f}" '
                           f'height="{p.sy(0.0) - y:.1f}" fill="{colour}"/>')
    zero = p.sx(0.0)
    p.parts.append(f'<line x1="{zero:.1f}" x2="{zero:.1f}" y1="20" y2="{p.h - 18}" '
                   'stroke="#000"/>')
    return p.svg()


def _trade_chart(r: Report, t: TradeOutcome) -> str:
    f = next(f for f in r.files if f.symbol == t.spec.symbol)
    arms = [a for a in (t.managed, t.unmanaged) if a is not None]
    end = max((a.closed_at for a in arms if math.isfinite(a.closed_at)), default=t.spec.opened_at)
    lo, hi = t.spec.opened_at - 3600, end + 1800
    b = f.bars
    sel = (b.time >= lo) & (b.time <= hi)
    xs, closes = b.time[sel].astype(float), b.close[sel]
    if len(xs) > 600:  # keep the page light: one point per few bars
        step = math.ceil(len(xs) / 600)
        xs, closes = xs[::step], closes[::step]
    levels = [v for v in (t.entry, t.sl, t.tp) if v]
    p = _Plot([lo, hi], [*closes, *levels],
              f"{t.spec.key}: {t.spec.side.value} {t.spec.volume:g} {t.spec.symbol} @ "
              f"{t.entry:g}, managed {t.managed.pnl if t.managed else 0:+,.2f} vs unmanaged "
              f"{t.unmanaged.pnl if t.unmanaged else 0:+,.2f}", height=260)
    p.line(xs, closes, PRICE, 1.0)
    sl_times, sl_values = [float(t.spec.opened_at)], [t.sl]
    for ts, kind, status, detail in t.actions:
        if status == "done" and detail.startswith("sl ") and kind in ("tighten_sl",
                                                                      "move_sl_breakeven"):
            sl_times.append(ts)
            sl_values.append(float(detail[3:]))
    if t.sl:
        sl_times.append(end)
        sl_values.append(sl_values[-1])
        p.line(sl_times, sl_values, "#cf222e", 1.0, step=True)
    if t.tp:
        p.line([t.spec.opened_at, end], [t.tp, t.tp], "#2da44e", 1.0)
    p.mark(t.spec.opened_at, t.entry, PRICE, f"entry {t.entry:g}")
    for arm, colour, who in ((t.unmanaged, UNMANAGED, "unmanaged"), (t.managed, MANAGED,
                                                                     "managed")):
        for ts, price, volume, _, entry, role in arm.deals if arm else ():
            if role == "hedge":
                p.mark(ts, price, "#cf222e", f"hedge {'open' if entry == 0 else 'close'} "
                       f"{volume:g} @ {price:g}", "rect")
            elif entry != 0:
                p.mark(ts, price, colour, f"{who} close {volume:g} @ {price:g}")
    for ts, _, to, rule, reason in t.transitions:
        p.vline(ts, STATE_COLOURS.get(to, "#555"), f"{to} {when(ts)}: {rule} ({reason})")
    return p.svg()


def render_html(r: Report) -> str:
    """The whole page."""
    tail_pct = f"{r.tail_share:.0%}"
    out = [f"<!doctype html><html><head><meta charset='utf-8'><title>dtms replay</title>"
           f"<style>{_CSS}</style></head><body><h1>dtms replay</h1>"
           f"<pre>{html.escape(render_table(r))}</pre>"]
    for v, c in zip(r.results, r.comparisons, strict=True):
        out.append(f"<h2>{html.escape(v.variant.name)}</h2><p>"
                   f"{html.escape(verdict(c, r.confidence, tail_pct))}</p>")
        out.append(_equity_plots(v.trades, v.variant.name))
        out.append(_histogram(v.trades, v.variant.name))
    first = r.results[0]
    shown = sorted((t for t in first.trades if t.managed and t.unmanaged),
                   key=lambda t: -abs(t.diff))[: first.variant.settings.replay.chart_trades]
    if shown:
        out.append(f"<h2>Trades where the copies differ most ({first.variant.name})</h2>"
                   "<p class='legend small'><span style='color:#1f6feb'>● managed exit</span>"
                   "<span style='color:#999'>● unmanaged exit</span><span style='color:"
                   "#cf222e'>■ hedge · red line: stop</span><span style='color:#2da44e'>"
                   "green line: target</span> · dashed lines: state changes (hover for the "
                   "rule and its reason)</p>")
        out += [_trade_chart(r, t) for t in shown]
    out.append("</body></html>")
    return "\n".join(out)
