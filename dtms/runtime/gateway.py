"""The gateway actor: the only code that calls the broker.

Theory of operation. One task owns the broker object and serves a priority queue of requests
(close > hedge > modify > read, FIFO within a class) through one
:class:`~dtms.runtime.executor.Executor`, one broker call at a time. Callers hold a
:class:`Gateway` handle and ``await gateway.call(...)``; each gets a frozen :class:`CallResult`
whose ``outcome`` says what to do next (``dtms.broker.outcomes``). Deadlines are absolute Trio
times: passing one while queued means the request was never sent (DEFINITIVE). A call already
sent is awaited ``answer_wait`` past its start whatever its deadline (an order sent a moment
before its deadline answers in milliseconds, with the ticket that links its position); only
then nobody knows (UNKNOWN) — the call still completes in the background and the next one waits
for it. One task of the gateway ends these waits for every caller
(:meth:`Gateway.watch_deadlines`). A queued request with the same ``coalesce_key`` as a newer
one is replaced by it, and both callers get the newer one's result (by the later of their
deadlines). ``order_send`` calls are spaced by a throttle.

Consecutive reads at the head of the queue go to the executor as one batch (``read_batch``):
the thread runs them back to back, still one at a time and in queue order, and a single
thread hand-off serves them all. An ``order_send`` is always sent alone.

On IPC loss (an IPC ``last_error`` or an exception from the link) the call in flight is
UNKNOWN, the gateway re-initializes with exponential backoff (queued requests wait, their
deadlines still apply), then bumps :attr:`Gateway.connection_epoch` so the supervisor
reconciles: ``await gateway.wait_reconnected(seen_epoch)`` returns once the epoch moved past
``seen_epoch`` (or poll ``connection_epoch``).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import AsyncIterator, Callable, Coroutine, Hashable, Mapping
from contextlib import asynccontextmanager
from typing import Any, NoReturn

import trio

from dtms.broker import outcomes
from dtms.errors import GatewayClosed
from dtms.runtime.executor import Executor, InlineExecutor, WorkerThreadExecutor
from dtms.runtime.gateway_link import BrokerLink, Call
from dtms.runtime.gateway_requests import (
    CallResult,
    Priority,
    Request,
    RequestQueue,
    State,
    unsent,
)
from dtms.runtime.gateway_settings import GatewaySettings
from dtms.runtime.gateway_stats import GatewayStatistics, StatsRecorder
from dtms.wakeup import Wakeup

__all__ = [
    "CallResult",
    "Gateway",
    "GatewaySettings",
    "GatewayStatistics",
    "InlineExecutor",
    "Priority",
    "WorkerThreadExecutor",
    "open_gateway",
]

TRADE_ACTION_SLTP = 6
SEND = "order_send"
_OWNED_BY_GATEWAY = frozenset({"initialize", "shutdown", "login", "last_error"})


class Gateway:
    """Handle of the gateway actor; obtain one with :func:`open_gateway`."""

    def __init__(self, link: BrokerLink, settings: GatewaySettings, stats: StatsRecorder) -> None:
        self._link = link
        self._settings = settings
        self._stats = stats
        self._queue = RequestQueue()
        self._in_flight: list[Request] = []
        self._last_send_done = -float("inf")
        self._next_expiry = math.inf
        """When :meth:`watch_deadlines` wakes next (unless poked)."""
        self._expiry_moved = Wakeup()
        self._closing = False
        self._closed = trio.Event()

    @property
    def connection_epoch(self) -> int:
        """1 after the first connect, +1 per successful reconnect."""
        return self._link.epoch

    @property
    def connected(self) -> bool:
        """Whether the broker link is up (False between an IPC loss and the reconnect)."""
        return self._link.connected

    async def wait_reconnected(self, epoch: int) -> int:
        """Wait until :attr:`connection_epoch` is past ``epoch``; return the new epoch.

        Raises:
            GatewayClosed: the gateway closed while waiting.
        """
        return await self._link.wait_epoch_after(epoch)

    def call(
        self,
        fn_name: str,
        *args: Any,
        priority: Priority = Priority.READ,
        deadline: float | None = None,
        coalesce_key: Hashable | None = None,
        **kwargs: Any,
    ) -> Coroutine[Any, Any, CallResult]:
        """Call broker function ``fn_name(*args, **kwargs)`` through the queue: ``await`` it.

        The request is queued when this is called, and the awaitable is its result. (Not a
        coroutine function itself, nor is :meth:`send`: in a burst every trade waits here at
        once, and each keeps the one frame that waits for the answer, not three.)

        Args:
            priority: the request class (CLOSE > HEDGE > MODIFY > READ).
            deadline: absolute Trio time; default now + the class's deadline from settings.
            coalesce_key: a queued request with the same key is replaced by this one.

        Raises:
            GatewayClosed: the gateway is closing or closed.
            ValueError: ``fn_name`` is not a broker function callers may use.
        """
        if self._closing:
            raise GatewayClosed(f"gateway closed: {fn_name} not accepted")
        if fn_name in _OWNED_BY_GATEWAY or not self._link.has_function(fn_name):
            raise ValueError(f"{fn_name!r} is not a broker function callers may use")
        if deadline is None:
            deadline = trio.current_time() + self._settings.deadline_for(priority)
        request = Request(fn_name, args, kwargs, priority, deadline, coalesce_key)
        if self._queue.push(request) is not None:
            self._stats.coalesced += 1
        if request.deadline < self._next_expiry:
            self._expiry_moved.set()
        return self._result_of(request)

    def send(
        self,
        request: Mapping[str, Any],
        *,
        priority: Priority | None = None,
        deadline: float | None = None,
        coalesce_key: Hashable | None = None,
        supersedes: tuple[int, ...] = (),
    ) -> Coroutine[Any, Any, CallResult]:
        """Send a trade request (``order_send``), classified by ``dtms.broker.outcomes``:
        ``await`` it. A ``dict`` is kept as given (a copy would be a second one per waiting
        order): do not change it afterwards.

        ``priority`` defaults to CLOSE for a close (DEAL with ``position``, or CLOSE_BY),
        MODIFY for an SLTP, else HEDGE. An SLTP coalesces by ``("sltp", position)`` unless
        another ``coalesce_key`` is given: the newest stops for a ticket win. A close names the
        positions it closes, and a hedge the position it protects, in ``supersedes``: a stop
        change still queued for one of them is dropped, not sent after it (its caller learns it
        was not sent).
        """
        for position in supersedes:
            dropped = self._queue.supersede(("sltp", position))
            if dropped is not None:
                self._stats.superseded += 1
                dropped.finish(unsent(outcomes.NOT_SENT_SUPERSEDED))
        req = request if type(request) is dict else dict(request)
        is_sltp = req.get("action") == TRADE_ACTION_SLTP
        if priority is None:
            if outcomes.is_close_request(req):
                priority = Priority.CLOSE
            else:
                priority = Priority.MODIFY if is_sltp else Priority.HEDGE
        if coalesce_key is None and is_sltp and req.get("position"):
            coalesce_key = ("sltp", req["position"])
        return self.call(
            SEND, req, priority=priority, deadline=deadline, coalesce_key=coalesce_key
        )

    def statistics(self) -> GatewayStatistics:
        """A frozen snapshot of queue depths, counters, latencies and connection state."""
        flight = self._in_flight[0].fn_name if self._in_flight else self._link.busy_with
        return self._stats.snapshot(
            queue_depth=self._queue.depth,
            in_flight=flight,
            connection_epoch=self._link.epoch,
            connected=self._link.connected,
            oldest_queued=self._queue.oldest(trio.current_time()),
        )

    async def aclose(self) -> None:
        """Stop accepting calls, fail the queued ones as not sent, let the call in flight
        finish (shielded, bounded by ``close_timeout``), then shut the broker down."""
        if self._closing:
            with trio.CancelScope(shield=True):
                await self._closed.wait()
            return
        self._closing = True
        self._link.begin_close()
        for request in self._queue.drain():
            request.finish(unsent(outcomes.NOT_SENT_CLOSING))
        with trio.CancelScope(shield=True):
            await self._link.wait_idle(self._settings.close_timeout)
            await self._link.close(self._settings.close_timeout)
        self._closed.set()

    # ----------------------------------------------------------------------- the actor

    async def serve(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> NoReturn:
        """Serve the queue until cancelled; idle once :meth:`aclose` has begun."""
        task_status.started()
        try:
            while True:
                if not self._link.connected:
                    await self._link.reconnect()
                    continue
                await self._execute(await self._next_batch())
        except GatewayClosed:  # closing: the link refuses to start another call
            await trio.sleep_forever()

    async def watch_deadlines(self) -> NoReturn:
        """End the waits that deadlines end, for every caller (one task here rather than a
        cancel scope per waiting caller: some 0.8 KB each, and a burst has 1,500 of them).

        A queued request whose deadline passed leaves the line: it was never sent. A request in
        flight is given until its deadline or ``answer_wait`` past its start, whichever is
        later; then its callers learn that nobody knows, and it is marked as waited for by
        nobody (should it come back into line from a cut batch, it is not sent).
        """
        while True:
            self._next_expiry = self._expire(trio.current_time())
            with trio.move_on_at(self._next_expiry):
                await self._expiry_moved.wait()
            self._expiry_moved.clear()

    def _expire(self, now: float) -> float:
        """End the waits due by ``now``; return when the next one is due. (A function of its
        own: the waiting loop keeps no request, nor the answer it carries.)"""
        for request in self._queue.expired(now):
            down = not self._link.connected
            request.finish(unsent(outcomes.NOT_SENT_BROKER_DOWN if down
                                  else outcomes.NOT_SENT_DEADLINE))
        wake = self._queue.next_deadline()
        for request in self._in_flight:
            if request.done.is_set():
                continue
            give_up = max(request.deadline, request.started + self._settings.answer_wait)
            if give_up <= now:
                request.waiters = 0
                request.done.set()
            else:
                wake = min(wake, give_up)
        return wake

    async def _next_batch(self) -> list[Request]:
        """The next request, plus the requests of its kind right behind it in the queue: up to
        read_batch reads, or up to send_batch orders (in a burst the broker thread goes from
        one order to the next without waiting for this task; a read that has waited
        read_max_wait ends the batch, so it goes next)."""
        first = await self._next_request()
        batch = [first]
        sends = first.fn_name == SEND
        most = self._settings.send_batch if sends else self._settings.read_batch
        if sends and self._settings.send_interval > 0:
            most = 1
        while len(batch) < most:
            request = self._queue.peek()
            if request is None or (request.fn_name == SEND) != sends:
                break
            if sends and self._read_starved():
                break
            if self._take(request):
                batch.append(request)
        return batch

    def _read_starved(self) -> bool:
        starved = self._queue.oldest_read()
        return starved is not None and \
            trio.current_time() - starved.queued_at >= self._settings.read_max_wait

    async def _next_request(self) -> Request:
        """Highest priority first; while the send throttle holds back an ``order_send``, the
        best other request goes first (reads need no throttle). A read that has waited
        ``read_max_wait`` goes before the next order: in a burst of hedges the cycle's snapshot
        must not wait for all of them (closes and hedges first, nothing starved)."""
        while True:
            request = self._queue.peek()
            if request is None:
                await self._queue.wait_for_work()
                continue
            if request.fn_name == SEND and self._read_starved():
                request = self._queue.oldest_read() or request
            if request.fn_name == SEND:
                ready_at = self._last_send_done + self._settings.send_interval
                if trio.current_time() < ready_at:
                    request = self._queue.first_other_than(SEND)
                    if request is None:
                        with trio.move_on_at(ready_at):
                            await self._queue.wait_for_work()
                        continue
            if self._take(request):
                return request

    def _take(self, request: Request) -> bool:
        """Take ``request`` out of line; False (and finished) when its deadline has passed."""
        self._queue.take(request)
        if trio.current_time() < request.deadline:
            return True
        request.state = State.DROPPED
        request.finish(unsent(outcomes.NOT_SENT_DEADLINE))
        return False

    async def _execute(self, batch: list[Request]) -> None:
        now = trio.current_time()
        for request in batch:
            request.started = now
        self._in_flight = batch
        self._expiry_moved.set()  # their answers are awaited until a time of their own
        calls = [Call(r.fn_name, r.args, r.kwargs, r.trade_request, r.deadline) for r in batch]
        try:
            answers = await self._link.call_batch(calls)
        except GatewayClosed:
            for request in batch:
                request.finish(unsent(outcomes.NOT_SENT_CLOSING))
            raise
        finally:
            self._in_flight = []
        if batch[0].fn_name == SEND:
            self._last_send_done = trio.current_time()
        for request, answer in zip(batch, answers, strict=False):
            how = answer.classified
            request.finish(
                CallResult(
                    how.outcome,
                    answer.value,
                    answer.retcode,
                    answer.last_error,
                    how.reason,
                    answer.latency,
                )
            )
        for request in batch[len(answers) :]:  # the link went down, or a deadline passed,
            # before these were sent: back in line (an expired one is dropped when taken),
            # unless nobody waits for it any more: an order nobody will record is never sent
            if request.waiters > 0:
                self._queue.requeue(request)
            else:
                request.state = State.DROPPED
                request.finish(unsent(outcomes.NOT_SENT_DEADLINE))

    async def _result_of(self, request: Request) -> CallResult:
        """The caller's wait: until its request is finished, or replaced by a newer one (then
        that one's result), or given up in flight by :meth:`watch_deadlines`."""
        current, coalesced = request, False
        try:
            while True:
                await current.done.wait()
                if current.replaced_by is None:
                    break
                current, coalesced = current.replaced_by, True
        except BaseException:
            if current.result is None:
                self._leave(current)
            raise
        if current.result is not None:
            result = current.result
        else:  # in flight past its deadline and answer_wait: nobody knows what happened
            how, latency = outcomes.IN_FLIGHT_DEADLINE, trio.current_time() - current.started
            result = CallResult(how.outcome, None, None, None, how.reason, latency)
        if coalesced:
            result = dataclasses.replace(result, coalesced=True)
        self._stats.record_outcome(result.outcome, sent=result.sent)
        return result

    def _leave(self, request: Request) -> None:
        """One caller stops waiting; a queued request nobody waits for leaves the queue."""
        request.waiters -= 1
        if request.waiters <= 0 and request.state is State.QUEUED:
            self._queue.drop(request)


@asynccontextmanager
async def open_gateway(
    connect: Callable[[], Any],
    settings: GatewaySettings | None = None,
    *,
    executor: Executor | None = None,
) -> AsyncIterator[Gateway]:
    """Connect to the broker and run the gateway actor for the duration of the block.

    Args:
        connect: returns an object with the MT5 surface (``dtms.broker.protocol.Mt5Api``);
            called once, on the executor. The gateway calls its ``initialize()`` (up to
            ``settings.connect_attempts`` times) and ``shutdown()`` on exit.
        settings: deadlines, throttle, backoff; defaults when None.
        executor: where broker calls run; default one dedicated worker thread.

    Raises:
        BrokerUnavailable: the broker could not be initialized at start (one clear line).
    """
    settings = settings or GatewaySettings()
    executor = executor if executor is not None else WorkerThreadExecutor()
    stats = StatsRecorder(settings.latency_window)
    await executor.start()
    try:
        link = await BrokerLink.open(connect, settings, executor, stats)
    except BaseException:
        with trio.CancelScope(shield=True):
            await executor.aclose()
        raise
    gateway = Gateway(link, settings, stats)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(gateway.watch_deadlines)
        await nursery.start(gateway.serve)
        try:
            yield gateway
        finally:
            with trio.CancelScope(shield=True):
                await gateway.aclose()
            nursery.cancel_scope.cancel()
