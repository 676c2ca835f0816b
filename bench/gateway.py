"""Benchmark of the gateway: calls per second and overhead per call over a zero-latency simulator.

Run: ``python bench/gateway.py`` (options: ``--calls``, ``--callers``). A mix of reads
(``positions_get``, ``symbol_info_tick``, ``account_info``) goes through the gateway with the
worker-thread executor (as used live) and with the inline executor (tests), from one caller and
from many concurrent callers, and the same mix is timed calling the simulator directly. The
difference is the gateway's overhead per call. Target: at least 5,000 gateway calls per second in
the live configuration (worker thread, many concurrent callers such as the trade actors).
"""

from __future__ import annotations

import argparse
import itertools
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import trio

from dtms.broker.sim import SimBroker, SimSettings
from dtms.runtime.executor import Executor, InlineExecutor, WorkerThreadExecutor
from dtms.runtime.gateway import GatewaySettings, Priority, open_gateway

TARGET_CALLS_PER_S = 5_000
MIX: tuple[tuple[str, tuple[Any, ...], dict[str, Any]], ...] = (
    ("positions_get", (), {}),
    ("symbol_info_tick", ("EURUSD",), {}),
    ("positions_get", (), {"symbol": "EURUSD"}),
    ("account_info", (), {}),
)
PRIORITIES = (Priority.READ, Priority.READ, Priority.MODIFY, Priority.READ)


def new_sim() -> SimBroker:
    sim = SimBroker(SimSettings())
    sim.initialize()
    tick = sim.symbol_info_tick("EURUSD")
    assert tick is not None, sim.last_error()
    for _ in range(5):  # a few open positions, so positions_get has something to copy
        sim.order_send(
            {
                "action": sim.TRADE_ACTION_DEAL,
                "symbol": "EURUSD",
                "volume": 0.01,
                "type": sim.ORDER_TYPE_BUY,
                "price": tick.ask,
                "type_filling": sim.ORDER_FILLING_IOC,
                "deviation": 50,
            }
        )
    return sim


def direct(calls: int) -> float:
    """Seconds per call of the mix, calling the simulator directly."""
    sim = new_sim()
    mix = itertools.cycle(MIX)
    start = time.perf_counter()
    for _ in range(calls):
        name, args, kwargs = next(mix)
        getattr(sim, name)(*args, **kwargs)
    return (time.perf_counter() - start) / calls


async def through_gateway(make_executor: Callable[[], Executor], calls: int, callers: int) -> float:
    """Seconds per call of the mix through the gateway, shared by ``callers`` tasks."""
    sim = new_sim()
    settings = GatewaySettings(latency_window=1000)
    per_caller = calls // callers
    async with open_gateway(lambda: sim, settings, executor=make_executor()) as gateway:

        async def caller(offset: int) -> None:
            for i in range(per_caller):
                name, args, kwargs = MIX[(i + offset) % len(MIX)]
                result = await gateway.call(
                    name, *args, priority=PRIORITIES[i % len(PRIORITIES)], **kwargs
                )
                assert result.ok, result.reason

        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for k in range(callers):
                nursery.start_soon(caller, k)
        elapsed = time.perf_counter() - start
    return elapsed / (per_caller * callers)


def best_of(runs: int, measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(runs))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--callers", type=int, default=16)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    base = best_of(args.runs, partial(direct, args.calls))
    print(f"direct SimBroker calls        {1 / base:>10,.0f} calls/s  {base * 1e6:7.1f} µs/call")
    rates: dict[tuple[str, int], float] = {}
    executors: tuple[tuple[str, Callable[[], Executor]], ...] = (
        ("worker thread", WorkerThreadExecutor),
        ("inline", InlineExecutor),
    )
    for label, make in executors:
        for callers in (1, args.callers):
            per_call = best_of(
                args.runs, partial(trio.run, through_gateway, make, args.calls, callers)
            )
            rates[label, callers] = 1 / per_call
            print(
                f"gateway {label:<13} ×{callers:<3}  {1 / per_call:>10,.0f} calls/s  "
                f"{per_call * 1e6:7.1f} µs/call  overhead {(per_call - base) * 1e6:6.1f} µs/call"
            )
    live = rates["worker thread", args.callers]
    verdict = "meets" if live >= TARGET_CALLS_PER_S else "MISSES"
    print(
        f"live configuration (worker thread, {args.callers} concurrent callers): {live:,.0f} "
        f"calls/s — {verdict} the target of {TARGET_CALLS_PER_S:,} calls/s; one caller at a "
        f"time pays a full thread hand-off per call: {rates['worker thread', 1]:,.0f} calls/s"
    )
    return 0 if live >= TARGET_CALLS_PER_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
