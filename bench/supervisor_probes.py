"""Instruments of ``bench/supervisor.py``: actors that count handled cycles, a timed broker."""

from __future__ import annotations

import gc
import time
from typing import Any

import trio

from dtms.broker.sim import SimBroker
from dtms.core.trade import TradeState
from dtms.runtime.actor import ActorContext, CycleInput, TradeActor


class Probe:
    """Counts deliveries and handled cycles of every actor."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.delivered = self.handled = 0
        self.done = trio.Event()
        self.done_at = 0.0  # perf_counter when the last delivered cycle was handled

    def check(self) -> None:
        if self.handled >= self.delivered and not self.done.is_set():
            self.done_at = time.perf_counter()
            self.done.set()


class CountingActor(TradeActor):
    """A ``TradeActor`` that reports each delivered and each handled cycle to a probe."""

    def __init__(self, trade: TradeState, ctx: ActorContext, probe: Probe) -> None:
        super().__init__(trade, ctx)
        self.probe = probe

    def deliver(self, inp: CycleInput) -> None:
        super().deliver(inp)
        self.probe.delivered += 1

    async def handle(self, inp: CycleInput) -> None:
        try:
            await super().handle(inp)
        finally:
            self.probe.handled += 1
            self.probe.check()


class TimedBroker:
    """The simulator, adding up the wall time spent inside its API calls."""

    def __init__(self, sim: SimBroker) -> None:
        self.sim, self.seconds = sim, 0.0

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.sim, name)
        if not callable(target):
            return target

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return target(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t0

        return timed


class GcTimer:
    """Adds up the wall time of the cyclic garbage collector (``gc.callbacks``)."""

    def __init__(self) -> None:
        self.seconds, self._start = 0.0, 0.0
        gc.callbacks.append(self._callback)

    def _callback(self, phase: str, _info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._start
