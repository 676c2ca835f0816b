"""Where the gateway's broker calls run: one dedicated worker thread, or inline.

The real ``MetaTrader5`` package is not thread-safe, holds the GIL during a call and keeps one
process-wide IPC session (reference §7), so every call of a gateway runs on **one** OS thread
for the gateway's whole life (:class:`WorkerThreadExecutor`). A call that has started is never
abandoned when the waiting task is cancelled: it finishes on its thread and the caller waits
for it, because an ``order_send`` in flight has effects nobody may forget. Only
:meth:`WorkerThreadExecutor.abandon` (the last step of a bounded shutdown) stops waiting.

:class:`InlineExecutor` runs the call synchronously in the Trio thread. Tests use it with the
simulator under ``MockClock(autojump_threshold=0)``: a call on another thread would leave the
Trio loop idle, and autojump would move virtual time in the middle of the call.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

import outcome
import trio

from dtms.errors import BrokerTimeout, GatewayClosed

T = TypeVar("T")


class Executor(Protocol):
    """Runs one synchronous call at a time on behalf of the gateway."""

    async def start(self) -> None:
        """Acquire what the executor needs (a thread); called once before the first run."""

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` to completion and return its result (or raise its exception)."""
        ...

    async def run_abandonable(self, fn: Callable[..., T], *args: Any) -> T:
        """Like ``run``, but a cancelled caller stops waiting (only for calls with no effect at
        the broker: connecting, initializing at start)."""
        ...

    def abandon(self) -> None:
        """Stop waiting for the call in progress (its result is dropped); shutdown only."""

    async def aclose(self) -> None:
        """Release the executor after the call in progress (if any) has finished."""


class InlineExecutor:
    """Run each call synchronously in the Trio thread (simulator under virtual time)."""

    async def start(self) -> None:
        """Nothing to acquire."""

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Call ``fn(*args)`` now, in this thread, then yield once without cancellation."""
        try:
            return fn(*args)
        finally:
            await trio.lowlevel.cancel_shielded_checkpoint()

    async def run_abandonable(self, fn: Callable[..., T], *args: Any) -> T:
        """Inline calls cannot be left behind: the same as ``run``."""
        return await self.run(fn, *args)

    def abandon(self) -> None:
        """Inline calls are never in progress while another task runs: nothing to do."""

    async def aclose(self) -> None:
        """Nothing to release."""


class _Job:
    __slots__ = ("args", "fn", "task", "token")

    def __init__(
        self, fn: Callable[..., Any], args: tuple[Any, ...], task: trio.lowlevel.Task, token: Any
    ) -> None:
        self.fn = fn
        self.args = args
        self.task = task
        self.token = token


_STOP = object()


class WorkerThreadExecutor:
    """Run every call on one dedicated OS thread, the same one for the executor's life.

    Args:
        name: the worker thread's name (shows in debuggers and thread dumps).
    """

    def __init__(self, name: str = "dtms-gateway-worker") -> None:
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._waiting: set[_Job] = set()
        self._closed = False

    @property
    def thread_ident(self) -> int | None:
        """The worker thread's ``threading.get_ident()``, once started."""
        return self._thread.ident if self._thread is not None else None

    async def start(self) -> None:
        """Start the worker thread (idempotent)."""
        self._start_thread()

    def _start_thread(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
            self._thread.start()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the worker thread; cancellation waits for it to finish.

        The waiting task cannot be cancelled out of the wait (like ``trio.to_thread.run_sync``
        with ``abandon_on_cancel=False``): a pending cancellation is delivered at its next
        checkpoint, after the result is in hand.

        Raises:
            GatewayClosed: the executor was closed.
            BrokerTimeout: :meth:`abandon` gave up on the call (its outcome is unknown).
        """
        return await self._submit(fn, args, abandonable=False)

    async def run_abandonable(self, fn: Callable[..., T], *args: Any) -> T:
        """Run ``fn(*args)`` on the worker thread; a cancelled caller stops waiting for it.

        Only for calls without effects at the broker (connecting, initializing at start): the
        call still finishes on the thread, and its result is dropped. A terminal that never
        answers must not make a starting dtms deaf to SIGTERM.
        """
        return await self._submit(fn, args, abandonable=True)

    async def _submit(self, fn: Callable[..., T], args: tuple[Any, ...], *,
                      abandonable: bool) -> T:
        if self._closed:
            raise GatewayClosed("the gateway's worker thread is closed")
        self._start_thread()
        job = _Job(fn, args, trio.lowlevel.current_task(), trio.lowlevel.current_trio_token())
        self._waiting.add(job)
        self._jobs.put(job)

        def abort(_raise_cancel: Any) -> trio.lowlevel.Abort:
            if not abandonable:
                return trio.lowlevel.Abort.FAILED
            self._waiting.discard(job)  # its result, when it comes, is dropped
            return trio.lowlevel.Abort.SUCCEEDED

        return await trio.lowlevel.wait_task_rescheduled(abort)  # type: ignore[no-any-return]

    def abandon(self) -> None:
        """Stop waiting for the calls submitted so far; they still finish on the thread."""
        waiting, self._waiting = self._waiting, set()
        for job in waiting:
            name = getattr(job.fn, "__name__", repr(job.fn))
            error = BrokerTimeout(f"gave up waiting for {name} (it may still complete)")
            trio.lowlevel.reschedule(job.task, outcome.Error(error))

    async def aclose(self) -> None:
        """Stop the thread once the call in progress (if any) has finished."""
        if self._closed:
            return
        self._closed = True
        thread = self._thread
        if thread is None:
            return
        self._jobs.put(_STOP)
        if thread.is_alive():
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(thread.join, 5.0)

    def _deliver(self, job: _Job, result: outcome.Outcome[Any]) -> None:
        """In the Trio thread: wake the waiting task, unless it was abandoned."""
        if job in self._waiting:
            self._waiting.discard(job)
            trio.lowlevel.reschedule(job.task, result)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            if not isinstance(job, _Job):
                return
            result = outcome.capture(job.fn, *job.args)
            with contextlib.suppress(trio.RunFinishedError):
                job.token.run_sync_soon(self._deliver, job, result)
