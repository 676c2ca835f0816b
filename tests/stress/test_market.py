"""The market of a shock run: a simulator replaying it drifts, then jumps, against the exposed
side before the deciding bar closes, on every symbol in its own direction."""

from __future__ import annotations

from pathlib import Path

from dtms.broker.sim import ManualClock, SimBroker, SimSettings
from dtms.stress.market import ShockTimes, run_start, write_shock_market

SYMBOLS = ("EURUSD", "GBPUSD")
FALLS = (True, False)


def test_a_replayed_shock_market_moves_against_each_symbols_exposed_side(tmp_path: Path
                                                                         ) -> None:
    times = ShockTimes(run_start())
    paths = write_shock_market(tmp_path, SYMBOLS, FALLS, seed=5, drift=0.001, shock=0.003,
                               times=times)
    clock = ManualClock(times.first_close + 1.0)
    sim = SimBroker(SimSettings(seed=5, start_time=clock()), clock=clock)
    sim.initialize()
    for sym in SYMBOLS:
        sim.market.load_csv(sym, paths[sym])
    start = {s: sim.symbol_info_tick(s).bid for s in SYMBOLS}
    m15 = sim.copy_rates_from_pos("EURUSD", sim.TIMEFRAME_M15, 0, 301)
    assert len(m15) == 301  # enough history for every indicator
    assert int(m15[-2]["time"]) + 900 == times.first_close  # the bar dtms judges first
    clock.set(times.shock_start - 120.0)  # (a replayed M1 bar smears a move over its minute)
    drifted = {s: sim.symbol_info_tick(s).bid for s in SYMBOLS}
    clock.set(times.deciding_close + 1.0)  # replayed from M1 bars: the shock is in by then
    shocked = {s: sim.symbol_info_tick(s).bid for s in SYMBOLS}
    for sym, falls in zip(SYMBOLS, FALLS, strict=True):
        sign = -1 if falls else 1
        assert sign * (shocked[sym] - drifted[sym]) / start[sym] > 0.0025
        assert sign * (shocked[sym] - start[sym]) / start[sym] > 0.003
    other = sim.symbol_info_tick("USDJPY")
    assert other is not None and other.bid > 0  # symbols outside the run keep their market
