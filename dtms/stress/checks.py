"""The verdict: everything a trader would call a failure, found in the evidence.

Each check is a function of the :class:`~dtms.stress.evidence.Evidence` that returns the
violations it found, one per position or action, each naming it. The list is the one of the
specification's promises that a market shock, faults and SIGKILLs put to the test: one hedge per
trade, no orphan left, nothing forgotten or disagreeing after restarts, every unknown resolved,
no stop loosened, no new defensive action on stale data, one partial close, other EAs' positions
untouched, no traceback, every process stopped cleanly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

from dtms.stress.evidence import INF, Evidence, by_ticket

NEW_DEFENSIVE = ("tighten_sl", "move_sl_breakeven", "partial_close", "open_hedge", "re_add")
"""Actions that must not start on stale data (closes that fell due still run)."""
MODIFIES = ("tighten_sl", "move_sl_breakeven")
UNRESOLVED = ("intent", "sent", "unknown")
CLOCK_SLACK = 2.0
"""Seconds by which dtms's learned broker clock may differ from the server's."""
SPLIT_SECONDS = 5.0
"""Deals of one close split by volume_max follow each other within this long."""


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken promise."""

    kind: str
    ticket: int | None
    detail: str


@dataclass(frozen=True, slots=True)
class Limits:
    """The numbers the checks judge by (from dtms's own settings)."""

    cycle_seconds: float
    orphan_grace_cycles: float
    stale_tick_seconds: float
    partial_close_max: int
    partial_close_ratio: float
    volume_step: float = 0.01
    route_slack: float = 0.0
    """Broker seconds the route's round trips take (real seconds times the run's speed)."""

    @property
    def orphan_grace(self) -> float:
        """Running seconds an orphan hedge may outlive its main."""
        return self.orphan_grace_cycles * self.cycle_seconds + self.route_slack


Check = Callable[[Evidence, Limits], list[Violation]]


def duplicate_hedges(ev: Evidence, lim: Limits) -> list[Violation]:
    """Two of dtms's positions open at once for one trade, or one it cannot account for."""
    out = []
    parents = ev.parents()
    spans: dict[int, list[tuple[float, float, int]]] = {}
    for ticket, life in ev.own_positions().items():
        parent = parents.get(ticket)
        if parent is None:
            out.append(Violation("unexplained position", ticket,
                                 f"#{ticket} carries dtms's magic but no action of the journal "
                                 "opened it (a duplicate hedge or an orphan of a lost answer)"))
            continue
        spans.setdefault(parent, []).append((life.opened, life.closed, ticket))
    for parent, items in spans.items():
        items.sort()
        for (_, end, first), (start, _, second) in pairwise(items):
            if start < end:
                out.append(Violation("duplicate hedge", parent,
                                     f"#{parent} had hedges #{first} and #{second} open at once"))
    return out


def orphan_hedges(ev: Evidence, lim: Limits) -> list[Violation]:
    """A hedge that outlived its main trade by more than the grace, counted in dtms's running
    time (a hedge cannot be closed while no dtms runs)."""
    out = []
    parents = ev.parents()
    end_of_run = ev.uptime.spans[-1][1] if ev.uptime.spans else ev.broker.at
    for ticket, life in ev.own_positions().items():
        main = ev.lives.get(parents.get(ticket, -1))
        if main is None or main.closed == INF or life.closed <= main.closed:
            continue
        until = min(life.closed, end_of_run)
        alive = ev.uptime.running(main.closed, until)
        if alive > lim.orphan_grace:
            out.append(Violation("orphan hedge", ticket,
                                 f"hedge #{ticket} stayed open {alive:.0f} s of dtms's running "
                                 f"time after its main #{main.ticket} closed"))
    return out


def forgotten_trades(ev: Evidence, lim: Limits) -> list[Violation]:
    """A managed position dtms ran beside for a few cycles without ever journaling it."""
    out = []
    for ticket in sorted(ev.managed):
        life = ev.lives.get(ticket)
        if life is None or ticket in ev.journal.trades:
            continue
        seen = ev.uptime.running(life.opened, min(life.closed, ev.broker.at))
        if seen > lim.orphan_grace:
            out.append(Violation("forgotten trade", ticket,
                                 f"#{ticket} was open for {seen:.0f} s of dtms's running time "
                                 "and never entered the journal"))
    return out


def disagreements(ev: Evidence, lim: Limits) -> list[Violation]:
    """The journal and the broker disagree about what is open, as of dtms's last snapshot."""
    seen_at = ev.journal.last_snapshot_at
    if seen_at is None:
        return [Violation("journal/broker", None, "dtms never took a snapshot")]
    margin = lim.cycle_seconds + CLOCK_SLACK
    out = []
    for ticket, trade in ev.journal.trades.items():
        life = ev.lives.get(ticket)
        if trade["closed_at"] is None and life is not None and life.closed < seen_at - margin:
            out.append(Violation("journal/broker", ticket,
                                 f"#{ticket} is open in the journal ({trade['state']}) but closed "
                                 f"at the broker {seen_at - life.closed:.0f} s before dtms's "
                                 "last snapshot"))
    for ticket in ev.managed:
        life = ev.lives.get(ticket)
        row = ev.journal.trades.get(ticket)
        if life is None or not life.open_at(seen_at) or life.opened > seen_at - margin:
            continue
        if row is None or row["closed_at"] is not None:
            state = "missing" if row is None else f"CLOSED ({row['close_reason']})"
            out.append(Violation("journal/broker", ticket,
                                 f"#{ticket} is open at the broker but {state} in the journal"))
    parents = ev.parents()
    for ticket, life in ev.own_positions().items():
        parent = parents.get(ticket)
        holder = ev.journal.trades.get(parent) if parent is not None else None
        if holder is None or holder["closed_at"] is not None:
            continue
        if not (life.open_at(seen_at - margin) and life.open_at(seen_at)):
            continue
        if holder["hedge_ticket"] != ticket:
            out.append(Violation("journal/broker", parent,
                                 f"hedge #{ticket} of #{parent} is open at the broker but the "
                                 f"journal holds hedge {holder['hedge_ticket']}"))
    return out


def unresolved_outcomes(ev: Evidence, lim: Limits) -> list[Violation]:
    """An action whose outcome dtms still does not know at the end."""
    return [Violation("unresolved outcome", int(a["ticket"]),
                      f"{a['type']} {a['id']} of #{a['ticket']} is still '{a['status']}'")
            for a in ev.journal.actions if a["status"] in UNRESOLVED]


def loosened_stops(ev: Evidence, lim: Limits) -> list[Violation]:
    """A stop moved away from the price: in what dtms sent, or between two readings."""
    out = []
    for ticket, rows in by_ticket(ev.journal.actions).items():
        trade = ev.journal.trades.get(ticket)
        if trade is None:
            continue
        buy = trade["side"] == "BUY"
        sl = float(trade["initial_sl"] or 0.0)
        for a in rows:
            if a["type"] not in MODIFIES or a["status"] != "done":
                continue
            new = float(a["params"].get("sl", 0.0))
            if _looser(sl, new, buy):
                out.append(Violation("stop loosened", ticket,
                                     f"{a['type']} moved #{ticket}'s SL from {sl} to {new}"))
            sl = new
    for (_, before), (at, after) in pairwise(ev.stop_samples):
        for ticket, (sl_after, kind) in after.items():
            if ticket in before and _looser(before[ticket][0], sl_after, kind == 0):
                out.append(Violation("stop loosened", ticket,
                                     f"#{ticket}'s SL went from {before[ticket][0]} to "
                                     f"{sl_after} (read at {at:.0f})"))
    return out


def _looser(old: float, new: float, buy: bool) -> bool:
    if old <= 0:
        return False
    if new <= 0:
        return True
    return new < old - 1e-9 if buy else new > old + 1e-9


def stale_actions(ev: Evidence, lim: Limits) -> list[Violation]:
    """A new defensive action decided while its symbol had not ticked for longer than dtms
    calls stale."""
    import numpy as np

    out = []
    for a in ev.journal.actions:
        if a["type"] not in NEW_DEFENSIVE or a["status"] != "done":
            continue
        times = ev.broker.tick_times.get(a["symbol"])
        if times is None or not len(times):
            continue
        at = float(a["ts"])
        i = int(np.searchsorted(times, at + CLOCK_SLACK, side="right"))
        last = times[i - 1] if i else -INF
        if at - last > lim.stale_tick_seconds + CLOCK_SLACK:
            out.append(Violation("action on stale data", int(a["ticket"]),
                                 f"{a['type']} of #{a['ticket']} decided {at - last:.0f} s after "
                                 f"{a['symbol']}'s last tick"))
    return out


def second_partials(ev: Evidence, lim: Limits) -> list[Violation]:
    """dtms took more off a position than its partial closes allow."""
    out = []
    for ticket in ev.managed:
        life = ev.lives.get(ticket)
        if life is None:
            continue
        initial = life.initial
        allowance = lim.partial_close_max * lim.partial_close_ratio * initial + lim.volume_step
        taken = 0.0
        changes = life.changes
        before = initial
        for i, (t, left, magic, _) in enumerate(changes):
            final_soon = any(m == ev.dtms_magic and v <= 1e-9 and u - t <= SPLIT_SECONDS
                             for u, v, m, _ in changes[i + 1:])
            if magic == ev.dtms_magic and left > 1e-9 and not final_soon:
                taken += before - left
            before = left
        if taken > allowance + 1e-9:
            out.append(Violation("second partial close", ticket,
                                 f"dtms closed {taken:g} of #{ticket}'s {initial:g} lots in "
                                 f"partial closes (at most {allowance - lim.volume_step:g})"))
    return out


def ignored_touched(ev: Evidence, lim: Limits) -> list[Violation]:
    """dtms acted on, or journaled, a position of an ignored magic."""
    out = []
    for ticket, life in ev.lives.items():
        if life.magic not in ev.ignored_magics:
            continue
        if ticket in ev.journal.trades:
            out.append(Violation("ignored magic touched", ticket,
                                 f"#{ticket} (magic {life.magic}) is in dtms's journal"))
        if any(m == ev.dtms_magic for _, _, m, _ in life.changes):
            out.append(Violation("ignored magic touched", ticket,
                                 f"dtms closed (part of) #{ticket} (magic {life.magic})"))
        first = next((s[ticket][0] for _, s in ev.stop_samples if ticket in s), None)
        for at, sample in ev.stop_samples:
            if ticket in sample and first is not None and sample[ticket][0] != first:
                out.append(Violation("ignored magic touched", ticket,
                                     f"#{ticket}'s SL changed from {first} to "
                                     f"{sample[ticket][0]} (magic {life.magic}, read at {at:.0f})"))
                break
    return out


def tracebacks(ev: Evidence, lim: Limits) -> list[Violation]:
    """A traceback in a log or a console output."""
    return [Violation("traceback", None, line) for line in ev.tracebacks]


def process_ends(ev: Evidence, lim: Limits) -> list[Violation]:
    """A dtms process that ended by itself, or did not stop cleanly when asked."""
    out = []
    for pid, how, code in ev.exits:
        if how == "exited":
            out.append(Violation("process ended", None, f"dtms (pid {pid}) exited by itself "
                                 f"with code {code}"))
        elif how == "hung" or (how == "stopped" and code != 0):
            out.append(Violation("unclean stop", None, f"dtms (pid {pid}) did not stop cleanly "
                                 f"on SIGTERM ({'no exit' if code is None else f'code {code}'})"))
    return out


CHECKS: tuple[Check, ...] = (
    duplicate_hedges, orphan_hedges, forgotten_trades, disagreements, unresolved_outcomes,
    loosened_stops, stale_actions, second_partials, ignored_touched, tracebacks, process_ends,
)


def verdict(ev: Evidence, lim: Limits) -> list[Violation]:
    """Every violation the checks find."""
    return [v for check in CHECKS for v in check(ev, lim)]
