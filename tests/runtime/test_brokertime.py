"""Broker time estimated from what the broker reports."""

from __future__ import annotations

import trio
import trio.testing

from dtms.runtime.brokertime import BrokerTime

BROKER = 1_772_438_400.0  # the broker's clock, far from this machine's


async def test_a_tick_calibrates_and_the_estimate_runs_with_trio_time(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bt = BrokerTime()
    assert not bt.calibrated
    bt.observe(BROKER - 1e6, exact=False)  # a bar's open time: a lower bound only
    assert not bt.calibrated
    bt.observe(BROKER)
    assert bt.calibrated and abs(bt() - BROKER) < 1e-6
    await trio.sleep(90)
    assert abs(bt() - (BROKER + 90)) < 1e-6


async def test_reports_move_it_forward_and_a_tick_an_hour_back_resets_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    bt = BrokerTime()
    bt.observe(BROKER)
    bt.observe(BROKER - 30)  # an older tick (a quiet symbol): the estimate stays
    assert abs(bt() - BROKER) < 1e-6
    bt.observe(BROKER + 5, exact=False)
    assert abs(bt() - (BROKER + 5)) < 1e-6
    bt.observe(BROKER - 3600)  # the server clock went back an hour
    assert abs(bt() - (BROKER - 3600)) < 1e-6
