"""The terminal link: initialize, last_error, shutdown, outages, latency, threads."""

from __future__ import annotations

import threading

import trio
import trio.testing

from dtms.broker import constants as c
from dtms.broker.sim import FaultSettings, SimBroker, SimSettings
from dtms.broker.sim.clock import ManualClock
from tests.broker.conftest import START, Orders, make_sim

NO_IPC = (-10004, "No IPC connection")
SUCCESS = (1, "Success")


def test_calls_before_initialize_fail_with_no_ipc(clock: ManualClock) -> None:
    sim = make_sim(clock, initialize=False)
    assert sim.last_error() == NO_IPC
    assert sim.account_info() is None
    assert sim.last_error() == NO_IPC
    assert sim.positions_get() is None
    assert sim.order_send({"action": 1, "symbol": "EURUSD", "volume": 0.1, "type": 0}) is None
    assert sim.last_error() == NO_IPC
    assert sim.initialize() is True
    assert sim.last_error() == SUCCESS


def test_last_error_is_success_after_each_successful_call(sim: SimBroker) -> None:
    assert sim.symbol_info("NOPE") is None
    assert sim.last_error() == (-4, "Terminal: Not found")
    assert sim.account_info() is not None
    assert sim.last_error() == SUCCESS
    assert sim.copy_rates_from_pos("NOPE", sim.TIMEFRAME_M5, 0, 10) is None
    assert sim.last_error() == (-1, "Terminal: Call failed")
    assert sim.positions_get() == ()
    assert sim.last_error() == SUCCESS


def test_shutdown_detaches_until_initialize(sim: SimBroker) -> None:
    sim.shutdown()
    assert sim.account_info() is None
    assert sim.last_error() == NO_IPC
    assert sim.initialize() is True
    assert sim.account_info() is not None


def test_the_link_s_outages_are_kept_until_a_client_brings_it_back(
    sim: SimBroker, clock: ManualClock
) -> None:
    t0 = clock()
    sim.scenario.ipc_outage(30)
    clock.advance(40)
    assert sim.scenario.link_outages() == [(t0, float("inf"))]  # nobody reconnected yet
    assert sim.initialize() is True
    clock.advance(5)
    sim.scenario.ipc_outage(10)
    clock.advance(12)
    assert sim.initialize() is True
    assert sim.scenario.link_outages() == [(t0, t0 + 40), (t0 + 45, t0 + 57)]


def test_initialize_checks_the_account_and_argument_types(clock: ManualClock) -> None:
    sim = make_sim(clock, initialize=False)
    assert sim.initialize(login=123, password="x", server="dtms-Sim") is False
    assert sim.last_error() == (-6, "Terminal: Authorization failed")
    assert sim.initialize(login="5012345") is False  # type: ignore[arg-type]
    assert sim.last_error() == (-2, 'Invalid "login" argument')
    assert sim.initialize(login=sim.settings.login, server=sim.settings.server) is True
    assert sim.login(sim.settings.login) is True
    assert sim.login(1) is False


def test_version_and_terminal_info(sim: SimBroker) -> None:
    version = sim.version()
    assert version is not None and version[0] == 500 and version[1] > 0
    term = sim.terminal_info()
    assert term is not None
    assert term.connected and term.trade_allowed and not term.tradeapi_disabled
    assert term.maxbars == sim.settings.maxbars


def test_ipc_outage_needs_a_new_initialize_after_it_ends(
    sim: SimBroker, clock: ManualClock
) -> None:
    sim.scenario.ipc_outage(30)
    assert sim.account_info() is None
    assert sim.last_error() == NO_IPC
    clock.advance(10)
    assert sim.initialize() is False
    assert sim.last_error()[0] == c.RES_E_INTERNAL_FAIL_INIT
    clock.advance(25)
    assert sim.account_info() is None, "the link stays down until initialize()"
    assert sim.initialize() is True
    assert sim.account_info() is not None


def test_the_server_keeps_running_while_the_link_is_down(
    sim: SimBroker, orders: Orders, clock: ManualClock
) -> None:
    pos = orders.opened("EURUSD", 0.1)
    sim.scenario.ipc_outage(60)
    sim.scenario.at(clock() + 30, sim.scenario.close_position, pos.ticket)
    clock.advance(90)
    assert sim.positions_get() is None
    assert sim.initialize() is True
    assert sim.positions_get() == ()


def test_scheduled_outage_from_fault_rates(clock: ManualClock) -> None:
    sim = make_sim(clock, faults=FaultSettings(ipc_outages_per_hour=60.0,
                                               ipc_outage_seconds=5.0))
    losses = 0
    for _ in range(120):
        clock.advance(10)
        if sim.account_info() is None:
            losses += 1
            assert sim.last_error() == NO_IPC
            clock.advance(6)
            assert sim.initialize() is True
    assert 5 <= losses <= 40


def test_fail_next_fails_exactly_one_call(sim: SimBroker) -> None:
    sim.scenario.fail_next("positions_get", last_error=(-10001, "IPC send failed"))
    assert sim.positions_get() is None
    assert sim.last_error() == (-10001, "IPC send failed")
    assert sim.positions_get() == ()
    sim.scenario.fail_next("symbol_select")
    assert sim.symbol_select("EURUSD", True) is False
    assert sim.last_error() == (-10005, "IPC timeout")


def test_latency_is_spent_through_sleep(clock: ManualClock) -> None:
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    faults = FaultSettings(call_latency_ms=20.0, order_latency_ms=100.0)
    sim = SimBroker(SimSettings(faults=faults), clock=clock, sleep=sleep)
    assert sim.initialize() is True
    assert slept == [0.02]
    Orders(sim).buy()
    assert slept[-1] == 0.12
    assert abs(clock() - (START + 0.14)) < 1e-6


def test_no_latency_means_no_sleep(clock: ManualClock) -> None:
    def sleep(seconds: float) -> None:
        raise AssertionError("sleep called without latency")

    sim = SimBroker(clock=clock, sleep=sleep)
    assert sim.initialize() and sim.account_info() is not None


async def test_latency_advances_trio_virtual_time(mock_clock: trio.testing.MockClock) -> None:
    faults = FaultSettings(call_latency_ms=50.0, latency_jitter_ms=10.0)
    sim = SimBroker(
        SimSettings(faults=faults),
        clock=lambda: START + mock_clock.current_time(), sleep=mock_clock.jump,
    )
    before = trio.current_time()
    assert sim.initialize() is True
    spent = trio.current_time() - before
    assert 0.05 <= spent <= 0.06


def test_calls_from_many_threads_are_serialised(sim: SimBroker) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            r = Orders(sim).buy("EURUSD", 0.01)
            with lock:
                results.append(r.order)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 80
    positions = sim.positions_get()
    assert positions is not None and len(positions) == 80


def test_default_time_source_starts_at_settings_start_time() -> None:
    sim = SimBroker()
    assert sim.initialize() is True
    tick = sim.symbol_info_tick("EURUSD")
    assert tick is not None and abs(tick.time - sim.settings.start_time) < 60
