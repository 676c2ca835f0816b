"""Broker time estimated from the freshest tick of each cycle, never from one quiet symbol."""

from __future__ import annotations

import trio
import trio.testing

from dtms.runtime.brokertime import BrokerTime

BROKER = 1_772_438_400.0  # the broker's clock, far from this machine's
CYCLE = 2.0


async def test_a_tick_calibrates_and_the_estimate_runs_with_trio_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bt = BrokerTime()
    assert not bt.calibrated
    bt.observe(BROKER - 1e6, exact=False)  # a bar's open time: a lower bound only
    assert not bt.calibrated
    bt.observe_ticks({"EURUSD": BROKER})
    assert bt.calibrated and abs(bt() - BROKER) < 1e-6
    await trio.sleep(90)
    assert abs(bt() - (BROKER + 90)) < 1e-6


async def test_the_first_cycle_calibrates_from_the_freshest_symbol_not_the_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bt = BrokerTime()
    bt.observe_ticks({"US500": BROKER - 2400, "EURUSD": BROKER, "NZDCHF": BROKER - 300})
    assert abs(bt() - BROKER) < 1e-6


async def test_a_quiet_symbols_old_tick_never_winds_the_clock_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bt = BrokerTime()
    bt.observe_ticks({"US500": BROKER})
    quiet = BROKER  # its last tick; then the index goes into its daily break
    for _ in range(1, 1800):  # an hour of cycles in which only its frozen tick is seen
        await trio.sleep(CYCLE)
        bt.observe_ticks({"US500": quiet})
    assert abs(bt() - (BROKER + 1799 * CYCLE)) < 1e-6
    assert bt.jumps == 0
    # with other symbols fresh, a 40-minute-old tick of one of them changes nothing either
    bt.observe_ticks({"US500": quiet, "EURUSD": bt() - 0.5})
    assert bt.jumps == 0 and abs(bt() - (BROKER + 1799 * CYCLE)) < 1e-6


async def test_a_server_clock_going_back_is_believed_when_a_later_freshest_tick_agrees(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bt = BrokerTime()
    bt.observe_ticks({"EURUSD": BROKER, "GBPUSD": BROKER - 1})
    await trio.sleep(CYCLE)
    shifted = BROKER + CYCLE - 3600  # daylight saving ended: every symbol an hour back
    bt.observe_ticks({"EURUSD": shifted, "GBPUSD": shifted - 0.5})
    assert abs(bt() - (BROKER + CYCLE)) < 1e-6  # one cycle is not proof
    await trio.sleep(CYCLE)
    bt.observe_ticks({"EURUSD": shifted + CYCLE, "GBPUSD": shifted + CYCLE - 0.3})
    assert abs(bt() - (shifted + CYCLE)) < 1e-6 and bt.jumps == 1


async def test_a_spring_forward_jump_needs_agreement_and_one_wrong_tick_is_ignored(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bt = BrokerTime()
    bt.observe_ticks({"EURUSD": BROKER})
    await trio.sleep(CYCLE)
    bt.observe_ticks({"EURUSD": BROKER + CYCLE + 7200})  # one tick from the future
    await trio.sleep(CYCLE)
    bt.observe_ticks({"EURUSD": BROKER + 2 * CYCLE})  # back to normal: it was wrong
    assert abs(bt() - (BROKER + 2 * CYCLE)) < 1e-6 and bt.jumps == 0
    for i in (3, 4):  # the clock really moved forward an hour: two cycles agree
        await trio.sleep(CYCLE)
        bt.observe_ticks({"EURUSD": BROKER + i * CYCLE + 3600})
    assert abs(bt() - (BROKER + 4 * CYCLE + 3600)) < 1e-6 and bt.jumps == 1


async def test_a_lower_bound_moves_it_forward_but_never_by_a_jump(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bt = BrokerTime()
    bt.observe_ticks({"EURUSD": BROKER})
    bt.observe(BROKER + 5, exact=False)
    assert abs(bt() - (BROKER + 5)) < 1e-6
    bt.observe(BROKER + 86_400, exact=False)  # a bar time a day ahead: not believed
    assert abs(bt() - (BROKER + 5)) < 1e-6
