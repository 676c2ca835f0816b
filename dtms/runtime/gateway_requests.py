"""The gateway's requests, their results, and the priority queue they wait in.

A :class:`Request` is one call waiting for the broker (or several callers' calls, once
coalesced). The :class:`RequestQueue` serves the highest :class:`Priority` first and FIFO within
a class; a request pushed with the ``coalesce_key`` of one still queued replaces it, keeps its
place in line, and inherits its callers. The queue also knows which queued request's deadline
comes first (:meth:`RequestQueue.expired`): the gateway ends those waits itself, where a cancel
scope per waiting caller would cost some 0.8 KB each, 1,500 times over in a burst.

Requests leave both heaps lazily: taking one out of line empties its entries, and empty entries
are skipped when they reach the top. An emptied entry holds nothing: a request taken out of
order (a starved read in a burst of orders, a stop change superseded, a caller gone) must not
keep its arguments and the broker's answer alive until the orders in front of it drain, and a
heap is rebuilt once most of it is empty.
"""

from __future__ import annotations

import collections
import dataclasses
import enum
import heapq
import itertools
import math
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any

import trio

from dtms.broker.outcomes import Classified
from dtms.core.types import Outcome
from dtms.wakeup import Wakeup


class Priority(enum.IntEnum):
    """Request classes, served highest first (FIFO within a class)."""

    READ = 0
    MODIFY = 1
    HEDGE = 2
    CLOSE = 3


@dataclass(frozen=True, slots=True)
class CallResult:
    """What became of one gateway call."""

    outcome: Outcome
    value: Any
    """The broker's return value (None when not sent or unknown)."""
    retcode: int | None
    """The result's retcode for order_send/order_check, else None."""
    last_error: tuple[int, str] | None
    """``last_error()`` read right after a None/False answer."""
    reason: str
    latency: float
    """Seconds the broker call took (0 when never sent)."""
    coalesced: bool = False
    """True when this caller's request was replaced by a newer one with the same key."""
    sent: bool = True
    """False when the request never reached the broker (then the outcome is DEFINITIVE)."""

    @property
    def ok(self) -> bool:
        """Whether the outcome is DONE."""
        return self.outcome is Outcome.DONE


def unsent(how: Classified) -> CallResult:
    """The result of a request that never reached the broker."""
    return CallResult(how.outcome, None, None, None, how.reason, 0.0, sent=False)


class State(enum.Enum):
    """Where a request is."""

    QUEUED = "queued"
    IN_FLIGHT = "in flight"
    FINISHED = "finished"
    DROPPED = "dropped"


@dataclasses.dataclass(eq=False, slots=True)
class Request:
    """One broker call waiting in the queue, and the callers waiting for it."""

    fn_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    priority: Priority
    deadline: float
    """Absolute Trio time; the latest deadline of its callers once coalesced."""
    coalesce_key: Hashable | None = None
    seq: int = 0
    waiters: int = 1
    state: State = State.QUEUED
    done: Wakeup = dataclasses.field(default_factory=Wakeup)
    """Set once it is finished or replaced (a trio.Event per waiting caller would cost 0.6 KB)."""
    result: CallResult | None = None
    replaced_by: Request | None = None
    started: float = 0.0
    queued_at: float = 0.0
    """Trio time the (first) caller queued it."""
    entry: list[Any] | None = dataclasses.field(default=None, repr=False)
    """Its entry in the line while it is queued."""
    deadline_entry: list[Any] | None = dataclasses.field(default=None, repr=False)
    """Its entry among the queued deadlines while it is queued."""

    @property
    def trade_request(self) -> Any:
        """The request dict of an order_send/order_check (its first argument)."""
        return self.args[0] if self.args else self.kwargs.get("request")

    def finish(self, result: CallResult) -> None:
        """Hand ``result`` to every caller waiting for this request."""
        self.result = result
        if self.state is not State.DROPPED:
            self.state = State.FINISHED
        self.done.set()


class _LazyHeap:
    """A heap of entries ``[*key, request]``; removing one empties it (it then holds nothing),
    it is skipped when it reaches the top, and the heap is rebuilt once most of it is empty."""

    __slots__ = ("_empty", "entries")

    def __init__(self) -> None:
        self.entries: list[list[Any]] = []
        self._empty = 0

    def push(self, *entry: Any) -> list[Any]:
        item = list(entry)
        heapq.heappush(self.entries, item)
        return item

    def remove(self, entry: list[Any]) -> None:
        entry[-1] = None
        self._empty += 1
        if self._empty > 64 and 2 * self._empty > len(self.entries):
            self.entries = [e for e in self.entries if e[-1] is not None]
            heapq.heapify(self.entries)
            self._empty = 0

    def top(self) -> list[Any] | None:
        entries = self.entries
        while entries and entries[0][-1] is None:
            heapq.heappop(entries)
            self._empty -= 1
        return entries[0] if entries else None

    def live(self) -> Iterator[Any]:
        return (e[-1] for e in self.entries if e[-1] is not None)


class RequestQueue:
    """Priority queue of requests with coalescing and lazy removal."""

    def __init__(self) -> None:
        self._line = _LazyHeap()
        """Entries ``[-priority, seq, tiebreak, request]``, the best first."""
        self._deadlines = _LazyHeap()
        """Entries ``[deadline, tiebreak, request]``, the soonest first."""
        self._seq = itertools.count()
        self._tiebreak = itertools.count()
        self._by_key: dict[Hashable, Request] = {}
        self._reads: collections.deque[Request] = collections.deque()
        """READ requests in arrival order (the oldest may not wait forever behind orders)."""
        self._work = trio.Event()
        self.depth: dict[Priority, int] = dict.fromkeys(Priority, 0)
        """Queued requests per class."""

    def __len__(self) -> int:
        return sum(self.depth.values())

    def push(self, request: Request) -> Request | None:
        """Queue ``request``; return the queued request it replaced (same coalesce key)."""
        request.seq = next(self._seq)
        request.queued_at = trio.current_time()
        replaced = None
        key = request.coalesce_key
        if key is not None:
            old = self._by_key.get(key)
            if old is not None and old.state is State.QUEUED:
                self.drop(old)
                old.replaced_by = request
                request.waiters += old.waiters
                request.seq = old.seq
                request.priority = max(request.priority, old.priority)
                request.deadline = max(request.deadline, old.deadline)
                request.queued_at = old.queued_at
                old.done.set()
                replaced = old
        self.requeue(request)
        return replaced

    def requeue(self, request: Request) -> None:
        """Put a request (back) in line at its priority and sequence number."""
        request.state = State.QUEUED
        key = request.coalesce_key
        if key is not None and key not in self._by_key:
            self._by_key[key] = request
        request.entry = self._line.push(-request.priority, request.seq, next(self._tiebreak),
                                        request)
        request.deadline_entry = self._deadlines.push(request.deadline, next(self._tiebreak),
                                                      request)
        self.depth[request.priority] += 1
        if request.priority is Priority.READ:
            self._reads.append(request)
        self._work.set()

    def peek(self) -> Request | None:
        """The request that would go next, or None when the queue is empty."""
        top = self._line.top()
        return top[-1] if top is not None else None

    def next_deadline(self) -> float:
        """The soonest deadline of a queued request (infinity when none is queued)."""
        top = self._deadlines.top()
        return top[0] if top is not None else math.inf

    def expired(self, now: float) -> list[Request]:
        """Take out of line for good, and return, the queued requests whose deadline passed."""
        out = []
        while (top := self._deadlines.top()) is not None and top[0] <= now:
            request = top[-1]
            self.drop(request)
            out.append(request)
        return out

    def oldest_read(self) -> Request | None:
        """The READ request that has waited longest, if any is queued."""
        self._prune_reads()
        return self._reads[0] if self._reads else None

    def _prune_reads(self) -> None:
        """Forget the reads at the head of the line that left it. Every read passes through
        here once it is taken, so the line holds only reads still waiting (and the few served
        out of order behind one): a finished request, and the broker's answer it carries, is
        never kept alive by the queue."""
        reads = self._reads
        while reads and (reads[0].state is not State.QUEUED or reads[0].priority
                         is not Priority.READ):
            reads.popleft()

    def supersede(self, key: Hashable) -> Request | None:
        """Take out of line the queued request with ``key`` (its callers learn it was not
        sent): a close or a hedge makes a queued stop change of the same position moot."""
        old = self._by_key.get(key)
        if old is None or old.state is not State.QUEUED:
            return None
        self.drop(old)
        return old

    def first_other_than(self, fn_name: str) -> Request | None:
        """The best queued request that does not call ``fn_name``."""
        entries = (e for e in self._line.entries
                   if e[-1] is not None and e[-1].fn_name != fn_name)
        best = min(entries, default=None)
        return best[-1] if best is not None else None

    def take(self, request: Request) -> None:
        """Take a queued request out of line (the caller sets its next state)."""
        self.depth[request.priority] -= 1
        if request.entry is not None:
            self._line.remove(request.entry)
            request.entry = None
        if request.deadline_entry is not None:
            self._deadlines.remove(request.deadline_entry)
            request.deadline_entry = None
        key = request.coalesce_key
        if key is not None and self._by_key.get(key) is request:
            del self._by_key[key]
        request.state = State.IN_FLIGHT
        self._prune_reads()

    def drop(self, request: Request) -> None:
        """Take a queued request out of line for good (nobody will send it)."""
        self.take(request)
        request.state = State.DROPPED

    def oldest(self, now: float) -> dict[Priority, float]:
        """Seconds the oldest queued request of each class has waited (classes with any)."""
        out: dict[Priority, float] = {}
        for request in self._line.live():
            waited = now - request.queued_at
            out[request.priority] = max(out.get(request.priority, 0.0), waited)
        return out

    def drain(self) -> list[Request]:
        """Drop and return every queued request."""
        drained = []
        while (request := self.peek()) is not None:
            self.drop(request)
            drained.append(request)
        return drained

    async def wait_for_work(self) -> None:
        """Wait for the next push (call it right after finding nothing to do)."""
        self._work = trio.Event()
        await self._work.wait()
