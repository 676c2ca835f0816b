"""The gateway's queue on virtual time: priorities, coalescing, deadlines, throttle, close."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import pytest
import trio
import trio.testing
from trio.testing import wait_all_tasks_blocked

from dtms.core.types import Outcome
from dtms.errors import GatewayClosed
from dtms.runtime.gateway import CallResult, Gateway, GatewaySettings, Priority, open_gateway
from tests.runtime.conftest import FakeTerminal, HoldingExecutor

SETTINGS = GatewaySettings(send_interval=0.0)
OPEN = {"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 0, "type_filling": 1}


def sltp(ticket: int, sl: float) -> dict[str, Any]:
    return {"action": 6, "position": ticket, "sl": sl, "tp": 0.0}


@asynccontextmanager
async def held_gateway(
    mock: trio.testing.MockClock, settings: GatewaySettings = SETTINGS
) -> AsyncIterator[tuple[Gateway, FakeTerminal, HoldingExecutor]]:
    terminal = FakeTerminal(mock.current_time, mock.jump)
    executor = HoldingExecutor()
    async with open_gateway(lambda: terminal, settings, executor=executor) as gateway:
        yield gateway, terminal, executor


async def release_after(executor: HoldingExecutor, seconds: float) -> None:
    """Let the held broker call go after ``seconds`` (virtual time)."""
    await trio.sleep(seconds)
    executor.release()


async def test_call_returns_a_classified_result(autojump_clock: trio.testing.MockClock) -> None:
    async with held_gateway(autojump_clock) as (gateway, terminal, _):
        terminal.latency["positions_get"] = 0.25
        result = await gateway.call("positions_get")
    assert result.outcome is Outcome.DONE and result.ok and result.sent
    assert result.value == ()
    assert result.latency == pytest.approx(0.25)
    assert (result.retcode, result.last_error, result.coalesced) == (None, None, False)


async def test_priority_order_under_contention(autojump_clock: trio.testing.MockClock) -> None:
    order = [
        ("read-a", Priority.READ),
        ("modify-b", Priority.MODIFY),
        ("read-c", Priority.READ),
        ("hedge-d", Priority.HEDGE),
        ("close-e", Priority.CLOSE),
        ("modify-f", Priority.MODIFY),
        ("close-g", Priority.CLOSE),
    ]
    async with held_gateway(autojump_clock) as (gateway, terminal, executor):
        executor.hold()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gateway.call, "positions_get")
            await wait_all_tasks_blocked()
            assert executor.held_calls == 1
            for label, priority in order:
                nursery.start_soon(
                    partial(gateway.call, "symbol_info_tick", label, priority=priority)
                )
                await wait_all_tasks_blocked()
            depth = gateway.statistics().queue_depth
            assert depth == {
                Priority.READ: 2,
                Priority.MODIFY: 2,
                Priority.HEDGE: 1,
                Priority.CLOSE: 2,
            }
            executor.release()
    served = [arg for _, _, arg in terminal.calls("symbol_info_tick")]
    assert served == ["close-e", "close-g", "hedge-d", "modify-b", "modify-f", "read-a", "read-c"]


async def test_sltp_for_one_ticket_coalesces(autojump_clock: trio.testing.MockClock) -> None:
    results: dict[str, CallResult] = {}
    async with held_gateway(autojump_clock) as (gateway, terminal, executor):
        executor.hold()

        async def send(label: str, request: dict[str, Any]) -> None:
            results[label] = await gateway.send(request)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(gateway.call, "positions_get")
            await wait_all_tasks_blocked()
            nursery.start_soon(send, "old", sltp(7, 1.0))
            await wait_all_tasks_blocked()
            nursery.start_soon(send, "other-ticket", sltp(8, 2.0))
            await wait_all_tasks_blocked()
            nursery.start_soon(send, "new", sltp(7, 1.1))
            await wait_all_tasks_blocked()
            assert gateway.statistics().queue_depth[Priority.MODIFY] == 2
            executor.release()
        stats = gateway.statistics()
    sent = [arg for _, _, arg in terminal.calls("order_send")]
    assert sent == [sltp(7, 1.1), sltp(8, 2.0)], "the newer SLTP keeps the older one's place"
    assert results["old"].coalesced and not results["new"].coalesced
    assert results["old"].outcome is results["new"].outcome is Outcome.DONE
    assert results["old"].value is results["new"].value
    assert stats.coalesced == 1


async def test_explicit_coalesce_key_and_sent_requests_do_not_coalesce(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with held_gateway(autojump_clock) as (gateway, terminal, executor):
        executor.hold()
        async with trio.open_nursery() as nursery:
            # the first one is already in flight: a newer one with its key must not replace it
            nursery.start_soon(lambda: gateway.call("symbol_info_tick", "a", coalesce_key="k"))
            await wait_all_tasks_blocked()
            nursery.start_soon(lambda: gateway.call("symbol_info_tick", "b", coalesce_key="k"))
            await wait_all_tasks_blocked()
            nursery.start_soon(lambda: gateway.call("symbol_info_tick", "c", coalesce_key="k"))
            await wait_all_tasks_blocked()
            executor.release()
    assert [arg for _, _, arg in terminal.calls("symbol_info_tick")] == ["a", "c"]


async def test_deadline_while_queued_is_not_sent(autojump_clock: trio.testing.MockClock) -> None:
    async with held_gateway(autojump_clock) as (gateway, terminal, executor):
        executor.hold()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: gateway.call("positions_get", deadline=100.0))
            await wait_all_tasks_blocked()
            result = await gateway.send(OPEN, deadline=trio.current_time() + 5.0)
            assert trio.current_time() == pytest.approx(5.0)
            executor.release()
        assert result.outcome is Outcome.BLOCKED and not result.sent  # a wait, not a failure
        assert "not sent" in result.reason
        assert terminal.calls("order_send") == []
        assert gateway.statistics().queue_depth[Priority.HEDGE] == 0
        assert gateway.statistics().not_sent == 1


async def test_deadline_in_flight_is_unknown_and_the_call_still_serialises(
    autojump_clock: trio.testing.MockClock,
) -> None:
    settings = GatewaySettings(send_interval=0.0, answer_wait=8.0)
    async with held_gateway(autojump_clock, settings) as (gateway, terminal, executor):
        executor.hold()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(release_after, executor, 20.0)
            result = await gateway.send(OPEN, deadline=5.0)
            # past its deadline a sent call is still awaited answer_wait from its start
            assert trio.current_time() == pytest.approx(8.0)
            assert result.outcome is Outcome.UNKNOWN and result.sent
            assert "in flight" in result.reason
            later = await gateway.call("positions_get", deadline=100.0)
        assert trio.current_time() == pytest.approx(20.0)
        assert [fn for fn, _, _ in terminal.log] == ["initialize", "order_send", "positions_get"]
        assert later.value and len(later.value) == 1, "the unknown send did execute"
        assert gateway.statistics().unknown_outcomes == 1


async def test_default_deadline_comes_from_settings(autojump_clock: trio.testing.MockClock) -> None:
    settings = GatewaySettings(send_interval=0.0, read_deadline=3.0, close_deadline=60.0)
    async with held_gateway(autojump_clock, settings) as (gateway, _, executor):
        executor.hold()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(gateway.call, "positions_get", symbol="EURUSD"))
            await wait_all_tasks_blocked()  # one read in flight, positions_get queued
            result = await gateway.call("positions_get")
            assert trio.current_time() == pytest.approx(3.0)
            assert result.outcome is Outcome.BLOCKED and not result.sent
            executor.release()


async def test_an_order_sent_just_before_its_deadline_keeps_its_answer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with held_gateway(autojump_clock) as (gateway, _terminal, executor):
        executor.hold()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(release_after, executor, 6.0)
            result = await gateway.send(OPEN, deadline=5.0)
        # sent at once, answered at 6 s: one second past its deadline, the answer still counts
        assert trio.current_time() == pytest.approx(6.0)
        assert result.outcome is Outcome.DONE and result.value is not None
        assert result.value.order > 0
        assert gateway.statistics().unknown_outcomes == 0


async def test_send_throttle_spaces_order_sends_but_not_reads(
    autojump_clock: trio.testing.MockClock,
) -> None:
    settings = GatewaySettings(send_interval=2.0)
    async with (
        held_gateway(autojump_clock, settings) as (gateway, terminal, _),
        trio.open_nursery() as nursery,
    ):
        for _ in range(3):
            nursery.start_soon(gateway.send, OPEN)
        await trio.sleep(0.5)
        read = await gateway.call("positions_get")
        assert trio.current_time() == pytest.approx(0.5), "a read is not throttled"
        assert read.ok
    times = [t for _, t, _ in terminal.calls("order_send")]
    assert times == pytest.approx([0.0, 2.0, 4.0])


@pytest.mark.parametrize(
    ("request_", "retcode", "outcome"),
    [
        (OPEN, 10009, Outcome.DONE),
        (OPEN, 10019, Outcome.DEFINITIVE),
        ({**OPEN, "type": 1, "position": 5}, 10019, Outcome.UNKNOWN),
        (OPEN, 10004, Outcome.FIXABLE),
        (sltp(5, 1.0), 10016, Outcome.DEFINITIVE),
    ],
)
async def test_send_classifies_by_retcode(
    autojump_clock: trio.testing.MockClock,
    request_: dict[str, Any],
    retcode: int,
    outcome: Outcome,
) -> None:
    async with held_gateway(autojump_clock) as (gateway, terminal, _):
        terminal.retcodes.append(retcode)
        result = await gateway.send(request_)
        assert gateway.statistics().retcodes == {retcode: 1}
    assert result.outcome is outcome
    assert result.retcode == retcode


async def test_send_infers_priority(autojump_clock: trio.testing.MockClock) -> None:
    close = {**OPEN, "type": 1, "position": 5}
    async with held_gateway(autojump_clock) as (gateway, terminal, executor):
        executor.hold()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gateway.call, "positions_get")
            await wait_all_tasks_blocked()
            for request in (
                OPEN,
                sltp(5, 1.0),
                close,
                {"action": 10, "position": 5, "position_by": 6},
            ):
                nursery.start_soon(gateway.send, request)
                await wait_all_tasks_blocked()
            executor.release()
    actions = [(a["action"], a.get("position_by", 0)) for _, _, a in terminal.calls("order_send")]
    assert actions == [(1, 0), (10, 6), (1, 0), (6, 0)]
    assert terminal.calls("order_send")[0][2] == close


async def test_broker_answers_none_with_last_error(autojump_clock: trio.testing.MockClock) -> None:
    async with held_gateway(autojump_clock) as (gateway, _, _):
        result = await gateway.call("positions_get", "EURUSD")  # positional: the fake refuses
    assert result.outcome is Outcome.DEFINITIVE
    assert "TypeError" in result.reason


async def test_callers_may_not_manage_the_connection(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with held_gateway(autojump_clock) as (gateway, _, _):
        for name in ("initialize", "shutdown", "last_error", "no_such_function", "_enter"):
            with pytest.raises(ValueError, match=name):
                await gateway.call(name)


async def test_close_fails_queued_lets_in_flight_finish_and_shuts_down(
    autojump_clock: trio.testing.MockClock,
) -> None:
    results: dict[str, CallResult] = {}
    async with held_gateway(autojump_clock) as (gateway, terminal, executor):
        executor.hold()

        async def call(label: str, fn: str, *args: Any) -> None:
            results[label] = await gateway.call(fn, *args, deadline=1000.0)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(call, "in-flight", "positions_get")
            await wait_all_tasks_blocked()
            nursery.start_soon(call, "queued", "symbol_info_tick", "EURUSD")
            await wait_all_tasks_blocked()
            nursery.start_soon(release_after, executor, 3.0)
            await gateway.aclose()
            assert trio.current_time() == pytest.approx(3.0)
        with pytest.raises(GatewayClosed):
            await gateway.call("positions_get")
        with pytest.raises(GatewayClosed):
            await gateway.wait_reconnected(gateway.connection_epoch)
    assert results["queued"].outcome is Outcome.BLOCKED
    assert results["queued"].reason == "not sent: gateway closing"
    assert results["in-flight"].outcome is Outcome.DONE
    assert [fn for fn, _, _ in terminal.log] == ["initialize", "positions_get", "shutdown"]


async def test_close_gives_up_on_a_stuck_call_after_close_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    settings = GatewaySettings(send_interval=0.0, close_timeout=2.0)
    async with held_gateway(autojump_clock, settings) as (gateway, terminal, executor):
        executor.hold()
        async with trio.open_nursery() as nursery:
            results: list[CallResult] = []

            async def stuck() -> None:
                results.append(await gateway.send(OPEN, deadline=1000.0))

            nursery.start_soon(stuck)
            await wait_all_tasks_blocked()
            await gateway.aclose()
        assert trio.current_time() == pytest.approx(2.0)
    assert terminal.calls("shutdown") == [], "no shutdown queued behind a stuck call"
    assert results[0].outcome is Outcome.UNKNOWN
    assert "abandoned" in results[0].reason


async def test_caller_cancelled_while_queued_leaves_the_queue(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with held_gateway(autojump_clock) as (gateway, terminal, executor):
        executor.hold()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gateway.call, "positions_get")
            await wait_all_tasks_blocked()
            with trio.move_on_after(1.0):
                await gateway.send(OPEN)
            assert gateway.statistics().queued == 0
            executor.release()
    assert terminal.calls("order_send") == []


async def test_reads_behind_each_other_go_in_one_batch_in_queue_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    settings = GatewaySettings(send_interval=0.0, read_batch=3)
    async with held_gateway(autojump_clock, settings) as (gateway, terminal, executor):
        executor.hold()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(gateway.call, "positions_get")
            await wait_all_tasks_blocked()
            for label in ("r1", "r2", "r3", "r4"):
                nursery.start_soon(gateway.call, "symbol_info_tick", label)
                await wait_all_tasks_blocked()
            nursery.start_soon(gateway.send, OPEN)
            await wait_all_tasks_blocked()
            runs_before = executor.runs
            executor.release()
        runs = executor.runs - runs_before
        stats = gateway.statistics()
    assert runs == 3, "order_send alone, then r1-r3 in one hand-off, then r4"
    served = [fn if fn != "symbol_info_tick" else arg for fn, _, arg in terminal.log[1:]]
    assert served == ["positions_get", "order_send", "r1", "r2", "r3", "r4", "shutdown"]
    assert stats.calls_by_function["symbol_info_tick"] == 4


async def test_ipc_loss_mid_batch_requeues_the_reads_not_sent(
    autojump_clock: trio.testing.MockClock,
) -> None:
    class BlipTerminal(FakeTerminal):
        def symbol_info_tick(self, symbol: str) -> Any:
            if symbol == "blip":
                self.initialized = False  # the session drops; the terminal stays up
            return super().symbol_info_tick(symbol)

    terminal = BlipTerminal(autojump_clock.current_time, autojump_clock.jump)
    executor = HoldingExecutor()
    results: dict[str, CallResult] = {}
    async with open_gateway(lambda: terminal, SETTINGS, executor=executor) as gateway:
        executor.hold()

        async def tick(label: str) -> None:
            results[label] = await gateway.call("symbol_info_tick", label)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(gateway.call, "positions_get")
            await wait_all_tasks_blocked()
            for label in ("a", "blip", "c", "d"):
                nursery.start_soon(tick, label)
                await wait_all_tasks_blocked()
            executor.release()
        assert gateway.connection_epoch == 2
    assert results["a"].ok and results["c"].ok and results["d"].ok
    assert results["blip"].outcome is Outcome.UNKNOWN
    assert not results["c"].coalesced
    order = [arg if fn == "symbol_info_tick" else fn for fn, _, arg in terminal.log]
    assert order == [
        "initialize",
        "positions_get",
        "a",
        "blip",
        "shutdown",
        "initialize",
        "c",
        "d",
        "shutdown",
    ]


async def test_a_close_or_hedge_drops_a_stop_change_still_queued_for_its_position(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with held_gateway(autojump_clock) as (gateway, terminal, executor):
        executor.hold()
        results: dict[str, CallResult] = {}

        async def call(label: str, coro: Any) -> None:
            results[label] = await coro

        async with trio.open_nursery() as nursery:
            nursery.start_soon(gateway.call, "positions_get")
            await wait_all_tasks_blocked()
            nursery.start_soon(call, "sltp-5", gateway.send(sltp(5, 1.1)))
            nursery.start_soon(call, "sltp-6", gateway.send(sltp(6, 1.2)))
            await wait_all_tasks_blocked()
            close = {"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 1, "position": 5}
            nursery.start_soon(call, "close-5", gateway.send(close, supersedes=(5,)))
            await wait_all_tasks_blocked()
            executor.release()
    assert results["sltp-5"].outcome is Outcome.BLOCKED and not results["sltp-5"].sent
    assert "went first" in results["sltp-5"].reason
    assert results["sltp-6"].ok and results["close-5"].ok
    sent = [arg["position"] for _, _, arg in terminal.calls("order_send")]
    assert sent == [5, 6]  # the close, then the other position's stop change
    assert gateway.statistics().superseded == 1


def test_on_an_accelerated_clock_the_gateways_waits_stay_real_seconds() -> None:
    base = GatewaySettings()
    fast = base.in_real_seconds(240.0)
    assert fast.read_deadline == base.read_deadline * 240  # still 10 real seconds
    assert fast.reconnect_initial_backoff == base.reconnect_initial_backoff * 240
    assert fast.deadline_for(Priority.CLOSE) == base.close_deadline * 240
    assert base.in_real_seconds(1.0) is base
