"""What became of each replayed trade: both copies' money, and what dtms did to the managed one.

Theory of operation: the simulated broker's deal history is the truth about money. Every
position of the account belongs to one trade: its managed copy, its unmanaged copy, or a hedge
or re-add dtms opened for the managed copy (their opening deal carries dtms's magic and the
``DTMS_HEDGE_{ticket}`` / ``DTMS_READD_{ticket}`` comment). A copy's P&L is the sum of profit,
commission, swap and fee over the deals of its positions. The spread it paid is estimated per
deal as half the bar's spread times the volume (a round trip crosses one spread; a close-by
crosses none), valued with the broker's own ``order_calc_profit``.

The journal is the truth about decisions: the states each trade went through, the rules that
fired and the actions dtms sent, with their results.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from dtms.broker import constants as C
from dtms.broker.sim import SimBroker
from dtms.journal.store import open_readonly
from dtms.replay.job import Job
from dtms.replay.trades import TradeSpec

Deal = tuple[float, float, float, int, int, str]
"""(time, price, volume, deal type, entry, role: main / hedge / readd)."""
_REASONS = {C.DEAL_REASON_SL: "sl", C.DEAL_REASON_TP: "tp", C.DEAL_REASON_SO: "stop-out",
            C.DEAL_REASON_EXPERT: "dtms"}


@dataclass(frozen=True, slots=True)
class Arm:
    """One copy of a trade, as the broker booked it (account currency)."""

    pnl: float
    commission: float
    swap: float
    spread: float
    closed_at: float
    exit: str
    """How its main position ended: sl, tp, dtms, hand, stop-out or end of data."""
    deals: tuple[Deal, ...]


@dataclass(frozen=True, slots=True)
class TradeOutcome:
    """Both copies of one trade and the managed copy's story."""

    index: int
    spec: TradeSpec
    entry: float
    """The replayed fill (both copies filled at it)."""
    sl: float
    tp: float
    managed: Arm | None
    unmanaged: Arm | None
    transitions: tuple[tuple[float, str, str, str, str], ...] = ()
    """(time, from, to, rule, reason) in order."""
    actions: tuple[tuple[float, str, str, str], ...] = ()
    """(time, action, status, detail: the new SL, the volume, or the error)."""
    skipped: str = ""

    @property
    def diff(self) -> float:
        """Managed minus unmanaged P&L."""
        if self.managed is None or self.unmanaged is None:
            return 0.0
        return self.managed.pnl - self.unmanaged.pnl

    @property
    def states(self) -> tuple[str, ...]:
        """Every state the managed copy was in, HEALTHY first."""
        seen = ["HEALTHY"]
        for _, _, to, _, _ in self.transitions:
            if to not in seen:
                seen.append(to)
        return tuple(seen)


@dataclass(frozen=True, slots=True)
class JobResult:
    """The outcome of one job."""

    variant: str
    trades: tuple[TradeOutcome, ...]
    wall_seconds: float = 0.0
    cycles: int = 0
    simulated_days: float = 0.0


def _spread_at(job: Job, symbol: str, t: float) -> int:
    for f in job.files:
        if f.symbol == symbol:
            i = int(np.searchsorted(f.bars.time, t, side="right")) - 1
            return int(f.bars.spread[max(i, 0)])
    return 0


def _arm(job: Job, sim: SimBroker, deals: list[tuple[Any, str]], symbol: str) -> Arm | None:
    if not deals:
        return None
    pnl = commission = swap = spread = 0.0
    info = sim.symbol_info(symbol)
    out: list[Deal] = []
    for d, role in deals:
        pnl += d.profit + d.commission + d.swap + d.fee
        commission += d.commission + d.fee
        swap += d.swap
        t = d.time_msc / 1000
        if d.entry != C.DEAL_ENTRY_OUT_BY and info is not None:
            half = 0.5 * _spread_at(job, symbol, t) * info.point
            value = sim.order_calc_profit(C.ORDER_TYPE_BUY, symbol, d.volume, d.price,
                                          d.price + half)
            spread += abs(value or 0.0)
        out.append((t, d.price, d.volume, d.type, d.entry, role))
    mains = [d for d, role in deals if role == "main" and d.entry != C.DEAL_ENTRY_IN]
    last = max(mains, key=lambda d: d.time_msc) if mains else None
    closed = (last.time_msc / 1000) if last is not None else math.nan
    how = "open" if last is None else _REASONS.get(last.reason, "hand")
    if how == "hand" and closed >= job.end_time - 1:
        how = "end of data"
    return Arm(pnl, commission, swap, spread, closed, how, tuple(sorted(out)))


def _journal(
    path: Path, tickets: Iterable[int]
) -> tuple[dict[int, list[Any]], dict[int, list[Any]]]:
    wanted = set(tickets)
    transitions: dict[int, list[Any]] = {t: [] for t in wanted}
    actions: dict[int, list[Any]] = {t: [] for t in wanted}
    if not path.exists():
        return transitions, actions
    with closing(open_readonly(path)) as conn:
        for ts, ticket, a, b, rule, reason in conn.execute(
                "SELECT ts, ticket, from_state, to_state, rule, reason FROM transitions "
                "ORDER BY id"):
            if ticket in wanted:
                transitions[ticket].append((ts, a, b, rule, reason))
        for ts, ticket, kind, status, params, error in conn.execute(
                "SELECT ts, ticket, type, status, params, error FROM actions ORDER BY ts, id"):
            if ticket in wanted:
                actions[ticket].append((ts, kind, status, _detail(params, error)))
    return transitions, actions


def _detail(params: str, error: str) -> str:
    if error:
        return error
    try:
        p = json.loads(params)
    except ValueError:
        return ""
    for name in ("sl", "volume"):
        if isinstance(p, dict) and p.get(name):
            return f"{name} {p[name]}"
    return ""


def collect(job: Job, sim: SimBroker, journal: Path, tickets: dict[int, tuple[int, int]],
            skipped: dict[int, str]) -> JobResult:
    """Read both copies of every trade of ``job`` from the broker and the journal."""
    deals = sim.history_deals_get(0, 2**40)
    if deals is None:
        raise RuntimeError(f"the simulated broker gave no deal history: {sim.last_error()}")
    by_position: dict[int, list[Any]] = {}
    for d in deals:
        if d.type in (C.DEAL_TYPE_BUY, C.DEAL_TYPE_SELL):
            by_position.setdefault(int(d.position_id), []).append(d)
    actions = job.settings.actions
    owner: dict[int, tuple[int, str]] = {}
    for pid, ds in by_position.items():
        first = min(ds, key=lambda d: d.time_msc)
        for prefix, role in ((actions.hedge_comment_prefix, "hedge"),
                             (actions.readd_comment_prefix, "readd")):
            tail = first.comment[len(prefix):]
            if first.magic == actions.magic and first.comment.startswith(prefix) and tail.isdigit():
                owner[pid] = (int(tail), role)
    children: dict[int, list[tuple[Any, str]]] = {}
    for pid, (parent, role) in owner.items():
        children.setdefault(parent, []).extend((d, role) for d in by_position[pid])
    managed_tickets = [m for m, _ in tickets.values()]
    transitions, acts = _journal(journal, managed_tickets)
    out = []
    for i, spec in enumerate(job.trades):
        index = job.first_index + i
        if i not in tickets:
            out.append(TradeOutcome(index, spec, math.nan, 0.0, 0.0, None, None,
                                    skipped=skipped.get(i, "not opened (after the bars end)")))
            continue
        m, u = tickets[i]
        opening = min(by_position[m], key=lambda d: d.time_msc)
        pos_sl, pos_tp = _initial_stops(spec, opening.price)
        managed = [(d, "main") for d in by_position.get(m, [])] + children.get(m, [])
        unmanaged = [(d, "main") for d in by_position.get(u, [])]
        out.append(TradeOutcome(
            index, spec, opening.price, pos_sl, pos_tp,
            _arm(job, sim, managed, spec.symbol), _arm(job, sim, unmanaged, spec.symbol),
            tuple(transitions.get(m, ())), tuple(acts.get(m, ()))))
    return JobResult(job.variant, tuple(out))


def _initial_stops(spec: TradeSpec, fill: float) -> tuple[float, float]:
    s = spec.side.sign
    sl = fill - s * spec.sl_distance if spec.sl_distance else 0.0
    tp = fill + s * spec.tp_distance if spec.tp_distance else 0.0
    return sl, tp
