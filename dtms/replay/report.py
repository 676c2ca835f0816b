"""The replay report: a terminal table, a JSON document and (``dtms.replay.html``) a page.

Theory of operation: one ``Comparison`` per variant (``dtms.replay.stats``). The table has
one column for the unmanaged copies and one per variant for the managed copies, the
difference rows with their confidence intervals, then what dtms did. The verdict says in
one sentence whether dtms cut the tail and what it cost, with the intervals that decide
whether a difference is more than noise.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from dtms.replay.bars import BarFile, ServerClock
from dtms.replay.run import VariantResult
from dtms.replay.stats import ArmStats, Comparison, Interval, compare, equity_curve

STATE_ORDER = ("HEALTHY", "WARNING_L1", "WARNING_L2", "HEDGED", "RECOVERING", "CLOSED")


@dataclass(frozen=True, slots=True)
class Report:
    """Everything the three renderings show."""

    files: tuple[BarFile, ...]
    clock: ServerClock
    trades_source: str
    results: tuple[VariantResult, ...]
    comparisons: tuple[Comparison, ...]
    confidence: float
    tail_share: float


def build_report(files: Sequence[BarFile], clock: ServerClock, source: str,
                 results: Sequence[VariantResult], tail_share: float, resamples: int,
                 confidence: float, seed: int) -> Report:
    """Compute every variant's comparison."""
    comps = tuple(compare(r.trades, tail_share, resamples, confidence, seed) for r in results)
    return Report(tuple(files), clock, source, tuple(results), comps, confidence, tail_share)


def when(t: float) -> str:
    """Server time as ``2022-01-04 18:00``."""
    if not math.isfinite(t):
        return "-"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M")


def _money(x: float) -> str:
    return f"{x:+,.2f}"


def _ci(i: Interval) -> str:
    return f"{i.point:+.2f} [{i.low:+.2f}, {i.high:+.2f}]"


def _rows(u: ArmStats, ms: Sequence[ArmStats], tail_pct: str) -> list[tuple[str, list[str]]]:
    cols = [u, *ms]
    return [
        ("trades", [str(a.trades) for a in cols]),
        ("P&L", [_money(a.pnl) for a in cols]),
        ("expectancy per trade", [_money(a.expectancy) for a in cols]),
        ("win rate", [f"{a.win_rate:.1%}" for a in cols]),
        ("worst trade", [_money(a.worst) for a in cols]),
        (f"worst {tail_pct} mean", [_money(a.tail_mean) for a in cols]),
        ("max drawdown", [f"{a.max_drawdown:,.2f}" for a in cols]),
        ("spread paid", [f"{a.spread:,.2f}" for a in cols]),
        ("commission", [_money(a.commission) for a in cols]),
        ("swap", [_money(a.swap) for a in cols]),
    ]


def verdict(c: Comparison, confidence: float, tail_pct: str) -> str:
    """One sentence: did the managed copies lose less in the tail, and at what cost."""
    u, m = c.unmanaged, c.managed
    if not u.trades:
        return "no trade was replayed"
    dd = (u.max_drawdown - m.max_drawdown) / u.max_drawdown if u.max_drawdown > 0 else 0.0
    tail = c.diff_tail
    level = f"{confidence:.0%}"
    if tail.low > 0:
        tail_text = (f"dtms cut the worst-{tail_pct} mean loss by {tail.point:,.2f} "
                     f"({level} CI {tail.low:+,.2f} .. {tail.high:+,.2f})")
    elif tail.high < 0:
        tail_text = (f"dtms made the worst-{tail_pct} mean loss WORSE by {-tail.point:,.2f} "
                     f"({level} CI {tail.low:+,.2f} .. {tail.high:+,.2f})")
    else:
        tail_text = (f"no clear change of the worst-{tail_pct} mean loss ({tail.point:+,.2f}, "
                     f"{level} CI {tail.low:+,.2f} .. {tail.high:+,.2f})")
    dd_text = f"max drawdown {'-' if dd >= 0 else '+'}{abs(dd):.0%}"
    d = c.diff_expectancy
    if d.excludes_zero:
        cost = (f"expectancy {'better' if d.point > 0 else 'WORSE'} by {abs(d.point):,.2f} per "
                f"trade, beyond noise ({level} CI {d.low:+,.2f} .. {d.high:+,.2f})")
    else:
        cost = (f"expectancy {d.point:+,.2f} per trade, within noise ({level} CI "
                f"{d.low:+,.2f} .. {d.high:+,.2f})")
    return f"{tail_text}; {dd_text}; {cost}"


def render_table(r: Report) -> str:
    """The terminal report."""
    tail_pct = f"{r.tail_share:.0%}"
    lines = [_header(r), ""]
    names = [v.variant.name for v in r.results]
    head = ["", "unmanaged", *names]
    body = _rows(r.comparisons[0].unmanaged, [c.managed for c in r.comparisons], tail_pct)
    body.append((f"difference per trade [{r.confidence:.0%} CI]",
                 ["", *[_ci(c.diff_expectancy) for c in r.comparisons]]))
    body.append((f"difference worst {tail_pct} [{r.confidence:.0%} CI]",
                 ["", *[_ci(c.diff_tail) for c in r.comparisons]]))
    widths = [max(len(head[0]), *(len(n) for n, _ in body))]
    for k in range(1, len(head)):
        widths.append(max(len(head[k]), *(len(v[k - 1]) for _, v in body)))
    lines.append("  ".join(h.rjust(w) if k else h.ljust(w) for k, (h, w) in
                           enumerate(zip(head, widths, strict=True))))
    for name, values in body:
        cells = [name.ljust(widths[0])] + [v.rjust(w) for v, w in
                                           zip(values, widths[1:], strict=True)]
        lines.append("  ".join(cells))
    for v, c in zip(r.results, r.comparisons, strict=True):
        lines += ["", f"{v.variant.name}: " + verdict(c, r.confidence, tail_pct)]
        if c.unmanaged != r.comparisons[0].unmanaged:
            lines.append("  (its unmanaged copies differ: the variant changes the broker)")
        states = ", ".join(f"{s} {c.states.get(s, 0)}" for s in STATE_ORDER)
        lines.append(f"  trades reaching each state: {states}")
        rules = ", ".join(f"{k} {n}" for k, n in sorted(c.rules.items(), key=lambda kv: -kv[1]))
        lines.append(f"  rules fired: {rules or 'none'}")
        acts = ", ".join(f"{k} " + "/".join(f"{n} {s}" for s, n in sorted(st.items()))
                         for k, st in sorted(c.actions.items()))
        lines.append(f"  actions: {acts or 'none'}")
        exits = ", ".join(f"{k} {n}" for k, n in sorted(c.exits.items(), key=lambda kv: -kv[1]))
        lines.append(f"  managed copies ended by: {exits}")
        if c.skipped:
            lines.append(f"  {c.skipped} trade(s) not replayed (no quote at entry)")
    return "\n".join(lines)


def _header(r: Report) -> str:
    bars = "; ".join(f"{f.symbol} {f.timeframe} {when(f.first_time)} .. {when(f.end_time)} "
                     f"({f.symbol} from the {f.named_by})" for f in r.files)
    offset = r.clock.utc_offset_hours
    return (f"dtms replay: {r.comparisons[0].unmanaged.trades} trades from {r.trades_source}\n"
            f"bars: {bars}\nserver clock: UTC{offset:+g} h, {r.clock.source}")


def to_json(r: Report) -> dict[str, Any]:
    """The report as plain data."""
    variants = []
    for v, c in zip(r.results, r.comparisons, strict=True):
        times, m_eq = equity_curve([t.managed for t in v.trades if t.managed])
        u_times, u_eq = equity_curve([t.unmanaged for t in v.trades if t.unmanaged])
        variants.append({
            "name": v.variant.name, "changes": list(v.variant.changes),
            "verdict": verdict(c, r.confidence, f"{r.tail_share:.0%}"),
            "managed": asdict(c.managed), "unmanaged": asdict(c.unmanaged),
            "difference_per_trade": asdict(c.diff_expectancy),
            "difference_tail": asdict(c.diff_tail),
            "states": c.states, "rules": c.rules, "actions": c.actions, "exits": c.exits,
            "wall_seconds": v.wall_seconds, "cycles": v.cycles,
            "equity": {"managed": [times.tolist(), m_eq.tolist()],
                       "unmanaged": [u_times.tolist(), u_eq.tolist()]},
            "trades": [_trade_row(t) for t in v.trades],
        })
    return {
        "bars": [{"symbol": f.symbol, "path": f.path, "timeframe": f.timeframe,
                  "first": f.first_time, "end": f.end_time, "symbol_from": f.named_by}
                 for f in r.files],
        "server_utc_offset_hours": r.clock.utc_offset_hours, "clock_source": r.clock.source,
        "trades_source": r.trades_source, "confidence": r.confidence,
        "tail_share": r.tail_share, "variants": variants,
    }


def _trade_row(t: Any) -> dict[str, Any]:
    s = t.spec
    row: dict[str, Any] = {
        "trade": s.key, "symbol": s.symbol, "side": s.side.value, "volume": s.volume,
        "opened_at": s.opened_at, "entry": t.entry, "sl": t.sl, "tp": t.tp,
        "recorded_profit": s.profit, "skipped": t.skipped,
    }
    for name in ("managed", "unmanaged"):
        arm = getattr(t, name)
        row[name] = None if arm is None else {
            "pnl": arm.pnl, "closed_at": arm.closed_at if math.isfinite(arm.closed_at) else None,
            "exit": arm.exit, "spread": arm.spread, "commission": arm.commission,
            "swap": arm.swap}
    row["difference"] = t.diff
    row["states"] = list(t.states)
    row["transitions"] = [list(x) for x in t.transitions]
    row["actions"] = [list(x) for x in t.actions]
    return row
