"""The gateway's link to the broker: initialize, call, detect IPC loss, reconnect, shut down.

Only the gateway task (and, before and after it, ``open_gateway``/``Gateway.aclose``) uses a
:class:`BrokerLink`, so there is never more than one broker call at a time. Every call runs on
the gateway's executor, and ``last_error()`` is read on the same thread right after a
``None``/``False`` answer: it is process-global in the real package, so reading it later could
return another call's error.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import trio

from dtms.broker.outcomes import (
    Classified,
    classify_answer,
    classify_exception,
    is_ipc_loss,
    is_link_error,
    retcode_of,
)
from dtms.core.types import Outcome
from dtms.errors import BrokerTimeout, BrokerUnavailable, GatewayClosed
from dtms.runtime.executor import Executor
from dtms.runtime.gateway_settings import GatewaySettings
from dtms.runtime.gateway_stats import StatsRecorder

T = TypeVar("T")
_RETCODE_FUNCTIONS = frozenset({"order_send", "order_check"})


@dataclass(frozen=True, slots=True)
class Answer:
    """One broker call's answer, classified."""

    value: Any
    last_error: tuple[int, str] | None
    retcode: int | None
    classified: Classified
    latency: float


def _last_error(broker: Any) -> tuple[int, str] | None:
    try:
        code, text = broker.last_error()
    except Exception:
        return None
    return int(code), str(text)


def _invoke(
    broker: Any, fn_name: str, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[Any, tuple[int, str] | None]:
    value = getattr(broker, fn_name)(*args, **kwargs)
    if value is None or value is False:
        return value, _last_error(broker)
    return value, None


@dataclass(frozen=True, slots=True)
class Call:
    """One broker call of a batch: the function, its arguments, the trade request if any."""

    fn_name: str
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    request: Any = None
    deadline: float = math.inf
    """Trio time after which the call is not started (checked for every call but the first)."""


_Raw = tuple[Any, tuple[int, str] | None, Exception | None, float]


def _invoke_batch(broker: Any, calls: Sequence[Call], now: Callable[[], float]) -> list[_Raw]:
    """Run calls back to back on the executor's thread; stop after one that lost the link, or
    before one whose deadline has passed (the calls behind it go back in line, unsent).

    ``now`` is the Trio clock's ``current_time`` (thread-safe), so latencies are Trio seconds.
    """
    done: list[_Raw] = []
    for call in calls:
        t0 = now()
        if done and t0 >= call.deadline:
            break
        try:
            value, error = _invoke(broker, call.fn_name, call.args, call.kwargs)
        except Exception as exc:
            done.append((None, None, exc, now() - t0))
            if is_link_error(exc):
                break
            continue
        done.append((value, error, None, now() - t0))
        if is_ipc_loss(error):
            break
    return done


def _initialize(broker: Any, shutdown_first: bool) -> tuple[int, str] | None:
    if shutdown_first:
        # the link may already be broken; initialize() will say more
        with contextlib.suppress(Exception):
            broker.shutdown()
    if broker.initialize():
        return None
    return _last_error(broker) or (-10003, "IPC initialize failed, no last_error")


class BrokerLink:
    """The broker object, its connection state and epoch, and the executor calls run on."""

    def __init__(
        self, broker: Any, settings: GatewaySettings, executor: Executor, stats: StatsRecorder
    ) -> None:
        self.broker = broker
        self.epoch = 0
        self.connected = False
        self.busy_with: str | None = None
        self.last_connect_error: tuple[int, str] | None = None
        self._settings = settings
        self._executor = executor
        self._stats = stats
        self._idle: trio.Event | None = None
        self._epoch_changed = trio.Event()
        self._closing = False
        self._stuck = False

    @classmethod
    async def open(
        cls,
        connect: Callable[[], Any],
        settings: GatewaySettings,
        executor: Executor,
        stats: StatsRecorder,
    ) -> BrokerLink:
        """Build the broker with ``connect()`` and initialize it (bounded attempts).

        Raises:
            BrokerUnavailable: every attempt failed; the message carries the last error.
        """
        broker = await executor.run_abandonable(connect)
        link = cls(broker, settings, executor, stats)
        delay = settings.reconnect_initial_backoff
        attempts = settings.connect_attempts
        for attempt in range(1, attempts + 1):
            error = await link._initialize(shutdown_first=False, abandonable=True)
            if error is None:
                link._up()
                return link
            link.last_connect_error = error
            if attempt < attempts:
                await trio.sleep(delay)
                delay = min(delay * 2, settings.reconnect_max_backoff)
        error = link.last_connect_error
        what = "MT5 login failed" if error and error[0] == -6 else "MT5 terminal not reachable"
        plural = "s" if attempts > 1 else ""
        raise BrokerUnavailable(f"{what}: {error!r} (after {attempts} initialize attempt{plural})")

    def has_function(self, fn_name: str) -> bool:
        """Whether the broker has a callable named ``fn_name``."""
        return not fn_name.startswith("_") and callable(getattr(self.broker, fn_name, None))

    async def call_batch(self, calls: Sequence[Call]) -> list[Answer]:
        """Run ``calls`` back to back in one executor job and classify each answer.

        The answers cover a prefix of ``calls``: after an IPC loss, or from the first call
        whose deadline passed while the ones before it ran, the rest were never sent.

        Raises:
            GatewayClosed: the link is closing; nothing was sent.
        """
        now = trio.lowlevel.current_clock().current_time
        t0 = now()
        try:
            raws = await self._run(calls[0].fn_name, _invoke_batch, self.broker, calls, now)
        except BrokerTimeout as exc:
            lost = Classified(Outcome.UNKNOWN, f"{calls[0].fn_name} abandoned at shutdown: {exc}")
            elapsed = now() - t0
            return [Answer(None, None, None, lost, elapsed) for _ in calls]
        answers = []
        for call, (value, error, raised, latency) in zip(calls, raws, strict=False):
            if raised is not None:
                classified = classify_exception(call.fn_name, raised)
                if is_link_error(raised):
                    self.connected = False
            else:
                classified = classify_answer(call.fn_name, value, error, call.request)
                if is_ipc_loss(error):
                    self.connected = False
            retcode = retcode_of(value) if call.fn_name in _RETCODE_FUNCTIONS else None
            self._stats.record_call(call.fn_name, latency, retcode)
            answers.append(Answer(value, error, retcode, classified, latency))
        return answers

    async def reconnect(self) -> None:
        """Re-initialize with backoff (initial, ×2 … capped) until it works; bump the epoch."""
        delay = self._settings.reconnect_initial_backoff
        while True:
            error = await self._initialize(shutdown_first=True)
            if error is None:
                self._stats.reconnects += 1
                self._up()
                return
            self.last_connect_error = error
            await trio.sleep(delay)
            delay = min(delay * 2, self._settings.reconnect_max_backoff)

    async def wait_epoch_after(self, epoch: int) -> int:
        """Wait until the epoch is past ``epoch`` and return it (GatewayClosed on close)."""
        while self.epoch <= epoch:
            if self._closing:
                raise GatewayClosed("gateway closed while waiting for a reconnect")
            await self._epoch_changed.wait()
        return self.epoch

    def begin_close(self) -> None:
        """Refuse to start any further call but the final shutdown; wake epoch waiters."""
        self._closing = True
        self._epoch_changed.set()

    async def wait_idle(self, timeout: float) -> None:
        """Let the call in progress finish; past ``timeout``, stop waiting for it."""
        if self.busy_with is None:
            return
        self._idle = idle = trio.Event()
        with trio.move_on_after(timeout):
            await idle.wait()
        if not idle.is_set():
            self._stuck = True  # a shutdown() would only queue behind the stuck call
            self._executor.abandon()

    async def close(self, timeout: float) -> None:
        """Call the broker's ``shutdown()`` (bounded by ``timeout``) and release the executor."""
        self._closing = True
        if self.connected and not self._stuck:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._abandon_after, timeout)
                with contextlib.suppress(Exception):  # already gone: nothing to shut down
                    await self._executor.run(self.broker.shutdown)
                nursery.cancel_scope.cancel()
            self.connected = False
        await self._executor.aclose()

    async def _abandon_after(self, timeout: float) -> None:
        await trio.sleep(timeout)
        self._executor.abandon()

    async def _initialize(self, *, shutdown_first: bool, abandonable: bool = False
                          ) -> tuple[int, str] | None:
        t0 = trio.current_time()
        try:
            if abandonable:  # at start: nothing was sent yet, a stop may leave it behind
                error = await self._executor.run_abandonable(_initialize, self.broker,
                                                             shutdown_first)
            else:
                error = await self._run("initialize", _initialize, self.broker, shutdown_first)
        except BrokerTimeout:
            raise
        except Exception as exc:
            error = (-10003, f"IPC initialize failed, {type(exc).__name__}: {exc}")
        self._stats.record_call("initialize", trio.current_time() - t0, None)
        return error

    async def _run(self, label: str, fn: Callable[..., T], *args: Any) -> T:
        if self._closing:
            raise GatewayClosed(f"gateway closing: {label} not started")
        self.busy_with = label
        try:
            return await self._executor.run(fn, *args)
        finally:
            self.busy_with = None
            if self._idle is not None:
                self._idle.set()

    def _up(self) -> None:
        self.connected = True
        self.epoch += 1
        changed, self._epoch_changed = self._epoch_changed, trio.Event()
        changed.set()
