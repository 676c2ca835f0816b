"""Tunable numbers of the gateway: deadlines per priority, the send throttle, reconnects.

They live apart from the gateway so that everything the gateway is built from (its link to
the broker, its queue, its statistics) can read them without importing the gateway itself.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from dtms.core.params import knob
from dtms.runtime.gateway_requests import Priority


@dataclass(frozen=True, slots=True)
class GatewaySettings:
    """Tunable numbers of the gateway (config table ``[gateway]``); times in Trio seconds."""

    close_deadline: float = knob(30.0, "seconds a close may take, queue included", gt=0, le=3600)
    hedge_deadline: float = knob(30.0, "seconds a hedge may take, queue included", gt=0, le=3600)
    modify_deadline: float = knob(
        30.0, "seconds an SL/TP modify may take, queue included", gt=0, le=3600
    )
    read_deadline: float = knob(10.0, "seconds a read may take, queue included", gt=0, le=3600)
    send_interval: float = knob(
        0.0, "minimum seconds between the end of one order_send and the next (order_send is "
        "synchronous and one at a time already; a gap only delays a burst of hedges)", ge=0,
        le=10,
    )
    read_max_wait: float = knob(
        0.25, "a read that waited this long goes before the next order (a burst of orders "
        "never starves the cycle's snapshot)", ge=0, le=60,
    )
    reconnect_initial_backoff: float = knob(
        1.0, "first wait before re-initializing after an IPC loss, seconds", gt=0, le=60
    )
    reconnect_max_backoff: float = knob(
        30.0, "cap of the doubling reconnect wait, seconds", gt=0, le=600
    )
    connect_attempts: int = knob(3, "initialize() attempts at start before giving up", ge=1, le=100)
    read_batch: int = knob(
        16,
        "most queued reads handed to the broker thread at once (1: one per hand-off)",
        ge=1,
        le=256,
    )
    send_batch: int = knob(
        4,
        "most queued order_sends handed to the broker thread at once: there they go one after "
        "another, each checked against its deadline right before it is sent, without waiting "
        "for the Trio loop in between (1: one per hand-off)",
        ge=1,
        le=64,
    )
    latency_window: int = knob(1000, "broker calls kept for latency percentiles", ge=10, le=100_000)
    answer_wait: float = knob(
        10.0, "seconds a call already sent is still awaited after its deadline passed: a "
        "sent order's answer (its ticket) is worth more than the time, and only a call still "
        "unanswered after this is unknown", gt=0, le=600,
    )
    close_timeout: float = knob(
        10.0, "seconds to let the call in flight finish at shutdown", gt=0, le=600
    )

    def __post_init__(self) -> None:
        if self.reconnect_max_backoff < self.reconnect_initial_backoff:
            raise ValueError("reconnect_max_backoff must be >= reconnect_initial_backoff")

    def in_real_seconds(self, time_scale: float) -> GatewaySettings:
        """These settings on a clock that runs ``time_scale`` times faster than real time.

        Deadlines, waits and backoffs are real seconds to the terminal: a broker call takes
        milliseconds of real time whatever the simulator's speed, so on an accelerated clock
        (the demo at x240) they are stretched by the speed. Without this a 10 s read deadline was
        42 ms of real time, and a loaded machine missed it.
        """
        if time_scale <= 1.0:
            return self
        k = time_scale
        return dataclasses.replace(
            self, close_deadline=self.close_deadline * k, hedge_deadline=self.hedge_deadline * k,
            modify_deadline=self.modify_deadline * k, read_deadline=self.read_deadline * k,
            send_interval=self.send_interval * k, read_max_wait=self.read_max_wait * k,
            reconnect_initial_backoff=self.reconnect_initial_backoff * k,
            reconnect_max_backoff=self.reconnect_max_backoff * k,
            close_timeout=self.close_timeout * k, answer_wait=self.answer_wait * k,
        )

    def deadline_for(self, priority: Priority) -> float:
        """The default relative deadline (seconds) of a request of ``priority``."""
        if priority is Priority.CLOSE:
            return self.close_deadline
        if priority is Priority.HEDGE:
            return self.hedge_deadline
        if priority is Priority.MODIFY:
            return self.modify_deadline
        return self.read_deadline
