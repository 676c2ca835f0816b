"""Deciding that a position is gone: a snapshot that lacks it is not proof.

Theory of operation. A terminal can answer one empty or partial ``positions_get()``; taken at
its word, one glitch retired trades for good and left their hedges naked. So a position dtms
watches (a managed trade, a hedge, a re-add) that is missing from a snapshot is *carried*: its
last known view stands in for it, and it is confirmed gone only when the broker says so in two
other ways — ``positions_get(ticket=)`` does not list it, and its deals show it closed (an OUT,
INOUT or OUT_BY deal). When the history has no such deal yet (it can lag), absence from
``confirm_snapshots`` consecutive snapshots plus the ticket query is enough. A position listed
again after all is simply present.

Confirmations cost two reads each, so they are bounded per cycle. When a snapshot drops many
watched positions at once (more than ``mass_vanish``), that is most likely one glitching answer:
they are all carried and confirmed from the next snapshot on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import trio

from dtms.broker import constants as C
from dtms.core.types import PositionView
from dtms.runtime.gateway import Gateway
from dtms.runtime.positions import position_view

EXIT_ENTRIES = frozenset({C.DEAL_ENTRY_OUT, C.DEAL_ENTRY_INOUT, C.DEAL_ENTRY_OUT_BY})


@dataclass(frozen=True, slots=True)
class Reconciled:
    """A snapshot with carried positions filled in, and what is confirmed gone."""

    present: dict[int, PositionView]
    gone: frozenset[int]
    carried: frozenset[int]
    """Watched positions missing from the snapshot but not (yet) confirmed gone."""
    unresolved: frozenset[int]
    """Watched positions missing and never seen (e.g. after a restart), not yet confirmed
    either way: nothing may be concluded about them this cycle."""


class Presence:
    """Carries watched positions through glitching snapshots until their absence is proven."""

    def __init__(self, gateway: Gateway, *, confirm_snapshots: int = 3, per_cycle: int = 50,
                 mass_vanish: int = 20) -> None:
        self._gateway = gateway
        self._confirm_snapshots = confirm_snapshots
        self._per_cycle = per_cycle
        self._mass_vanish = mass_vanish
        self._last: dict[int, PositionView] = {}
        self._missing: dict[int, int] = {}
        self.glitches = 0
        """Watched positions a snapshot left out that turned out to be open."""

    async def reconcile(self, snapshot: Mapping[int, PositionView], watched: Iterable[int]
                        ) -> Reconciled:
        """Fill in the watched positions ``snapshot`` lacks; confirm the ones that are gone."""
        present = dict(snapshot)
        watched = set(watched)
        for ticket in watched & snapshot.keys():
            self._last[ticket] = snapshot[ticket]
            if self._missing.pop(ticket, 0):
                self.glitches += 1
        lacking = sorted(watched - snapshot.keys())
        for ticket in lacking:
            self._missing[ticket] = self._missing.get(ticket, 0) + 1
        new = [t for t in lacking if self._missing[t] == 1]
        check = [t for t in lacking if self._missing[t] > 1]
        if len(new) <= self._mass_vanish:
            check = new + check  # a few missing at once: most likely real, confirm now
        gone: set[int] = set()
        found: dict[int, PositionView] = {}
        async with trio.open_nursery() as nursery:
            for ticket in check[: self._per_cycle]:
                nursery.start_soon(self._confirm, ticket, gone, found)
        for ticket, pos in found.items():
            self._last[ticket] = pos
            self._missing.pop(ticket, None)
            self.glitches += 1
        carried, unresolved = set(), set()
        for ticket in lacking:
            if ticket in gone:
                continue
            view = found.get(ticket) or self._last.get(ticket)
            if view is None:
                unresolved.add(ticket)
                continue
            present[ticket] = view
            if ticket not in found:
                carried.add(ticket)
        self.forget(gone)
        self.forget((set(self._last) | set(self._missing)) - watched)
        return Reconciled(present, frozenset(gone), frozenset(carried), frozenset(unresolved))

    def forget(self, tickets: Iterable[int]) -> None:
        """Stop carrying these positions."""
        for ticket in tickets:
            self._last.pop(ticket, None)
            self._missing.pop(ticket, None)

    async def _confirm(self, ticket: int, gone: set[int], found: dict[int, PositionView]
                       ) -> None:
        listed = await self._gateway.call("positions_get", ticket=ticket)
        if not listed.ok or listed.value is None:
            return  # no answer: nothing is concluded from it
        match = [p for p in listed.value if int(p.ticket) == ticket]
        if match:
            found[ticket] = position_view(match[0])
            return
        deals = await self._gateway.call("history_deals_get", position=ticket)
        closed = deals.ok and any(int(d.entry) in EXIT_ENTRIES for d in deals.value or ())
        if closed or self._missing.get(ticket, 0) >= self._confirm_snapshots:
            gone.add(ticket)
