"""Benchmark of the pure core's hot paths: per-symbol refresh and per-trade scoring.

Run with ``.venv/bin/python bench/core.py`` (``--help`` for sizes). It prints:

(a) the indicator refresh one symbol pays once per new closed bar: ``compute`` over 600 closed
    M5 and 300 closed M15 bars plus ``adapt`` (target: median <= 2 ms);
(b) the work every trade pays per new closed bar: ``per_trade_work`` (``update_flip``,
    ``score_trade``, then the state machine's ``step`` on the resulting evaluation, planning
    included, with the outcome of any command fed back) over 10,000 trades spread across 20
    symbols (target: <= 50 us).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from dtms.core.indicators import IndicatorParams, SymbolIndicators, compute
from dtms.core.machine import step
from dtms.core.messages import ActionDone, Evaluated, MarketFacts
from dtms.core.policy import Policy
from dtms.core.regime import Adaptation, RegimeParams, adapt
from dtms.core.score import FlipState, ScoreParams, ScoreResult, score_trade, update_flip
from dtms.core.trade import TradeState, new_trade
from dtms.core.types import AccountView, Bars, PositionView, Quote, Side, State, SymbolSpec

REFRESH_TARGET_MS = 2.0
TRADE_TARGET_US = 50.0
START = 1_709_510_400  # a Monday, 00:00 UTC


def synthetic_bars(rng: np.random.Generator, count: int, step: int, price: float) -> Bars:
    """A seeded random walk of ``count`` closed bars, ``step`` seconds apart."""
    close = price * np.exp(np.cumsum(rng.standard_t(5, count) * 2.5e-4))
    open_ = np.concatenate(([price], close[:-1]))
    wick = np.abs(rng.normal(0.0, 1e-4, (2, count)))
    high = np.maximum(open_, close) * (1 + wick[0])
    low = np.minimum(open_, close) * (1 - wick[1])
    volume = rng.poisson(150, count).astype(np.float64)
    time_ = START + step * np.arange(count, dtype=np.int64)
    return Bars(time_, open_, high, low, close, volume)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q))


def bench_refresh(runs: int, rng: np.random.Generator) -> tuple[list[float], list[float]]:
    """Milliseconds per compute + adapt for one symbol: (wall-clock, CPU-time) per run."""
    ip, rp = IndicatorParams(), RegimeParams()
    m5 = synthetic_bars(rng, 600, 300, 1.08)
    m15 = synthetic_bars(rng, 300, 900, 1.08)
    wall, cpu = [], []
    for _ in range(runs):
        c0, t0 = time.process_time_ns(), time.perf_counter_ns()
        ind = compute(m5, m15, ip)
        adapt("EURUSD", ind, rp, 0.0)
        wall.append((time.perf_counter_ns() - t0) / 1e6)
        cpu.append((time.process_time_ns() - c0) / 1e6)
    return wall, cpu


POLICY = Policy()
ACCOUNT = AccountView(hedging=True, trade_allowed=True, margin_free=1e9)
SPEC = SymbolSpec("EURUSD", 5, 0.00001, 0.01, 100.0, 0.01, spread=10)


@dataclass
class BenchTrade:
    """The per-trade state the runtime keeps between bars (only what the core needs here)."""

    symbol: int
    side: Side
    flip: FlipState
    state: TradeState
    main: PositionView
    evals: int = 0


def bench_trade(ticket: int, symbol: int, side: Side, price: float) -> BenchTrade:
    """A 1-lot trade with a wide SL, as the runtime would hold it."""
    sl = price * (0.985 if side is Side.BUY else 1.015)
    main = PositionView(ticket, "EURUSD", side, 1.0, price, round(sl, 5), 0.0, price)
    return BenchTrade(symbol, side, FlipState(), new_trade(main, START), main)


def per_trade_work(
    trade: BenchTrade, ind: SymbolIndicators, adaptation: Adaptation, params: ScoreParams
) -> ScoreResult:
    """Everything one trade costs per new closed bar: flip memory, score, one machine step."""
    trade.flip = update_flip(trade.flip, ind, trade.side, adaptation, params)
    score = score_trade(ind, adaptation, trade.side, trade.flip, params)
    trade.evals += 1
    at = START + 900.0 * trade.evals
    price = ind.last_price
    market = MarketFacts(SPEC, Quote(at, price, price + 0.0001), ind.atr_m15, False)
    event = Evaluated(at, trade.evals, score, trade.flip, market, ACCOUNT, trade.main)
    decision = step(trade.state, event, POLICY)
    state = decision.trade
    for command in decision.commands:  # the broker says done: the transition commits
        state = step(state, ActionDone(command.id, at, ticket=command_ticket(trade)), POLICY).trade
    if state.state is State.CLOSED or state.pending is not None:
        state = new_trade(trade.main, at)  # keep the book full of live trades
    trade.state = state
    return score


def command_ticket(trade: BenchTrade) -> int:
    """A ticket for a position a command opened."""
    return trade.main.ticket + 1_000_000


Work = Callable[[BenchTrade, SymbolIndicators, Adaptation, ScoreParams], object]


def symbol_bars(
    rng: np.random.Generator, symbols: int, rounds: int
) -> list[list[tuple[SymbolIndicators, Adaptation]]]:
    """Per symbol, ``rounds`` consecutive closed M5 bars' indicators and adaptations."""
    ip, rp = IndicatorParams(), RegimeParams()
    names = ["EURUSD", "GBPUSD", "USDJPY", "XAUUSD", "BTCUSD"]
    out = []
    for s in range(symbols):
        m5 = synthetic_bars(rng, 600 + rounds, 300, 1.0 + s / 10)
        m15 = synthetic_bars(rng, 300, 900, 1.0 + s / 10)
        per_bar = []
        for r in range(rounds):
            window = Bars(*(getattr(m5, f)[r : r + 600] for f in Bars.__slots__))
            ind = compute(window, m15, ip)
            per_bar.append((ind, adapt(names[s % len(names)], ind, rp, 0.0)))
        out.append(per_bar)
    return out


def bench_per_trade(
    trades: int, symbols: int, rounds: int, rng: np.random.Generator, work: Work = per_trade_work
) -> tuple[list[float], list[float]]:
    """Microseconds per trade per bar: (wall-clock per call, CPU time per round / trades)."""
    params = ScoreParams()
    bars = symbol_bars(rng, symbols, rounds)
    book = [
        bench_trade(i + 1, int(rng.integers(symbols)),
                    Side.BUY if rng.random() < 0.5 else Side.SELL, 1.0)
        for i in range(trades)
    ]
    for trade in book:  # the trade's price is its symbol's
        price = bars[trade.symbol][0][0].last_price
        trade.main = PositionView(trade.main.ticket, "EURUSD", trade.side, 1.0, price,
                                  round(price * (0.985 if trade.side is Side.BUY else 1.015), 5),
                                  0.0, price)
        trade.state = new_trade(trade.main, START)
    wall, cpu = [], []
    clock = time.perf_counter_ns
    for r in range(rounds):  # each round is a new closed bar, so update_flip does real work
        c0 = time.process_time_ns()
        for trade in book:
            ind, adaptation = bars[trade.symbol][r]
            t0 = clock()
            work(trade, ind, adaptation, params)
            wall.append((clock() - t0) / 1e3)
        cpu.append((time.process_time_ns() - c0) / 1e3 / trades)
    return wall, cpu


def report(name: str, unit: str, wall: list[float], cpu: list[float], target: float) -> None:
    """Print wall-clock median/p95/mean and the CPU-time median against the target.

    CPU time is what the code costs; wall-clock also contains time spent waiting for a core,
    which on a busy machine can dominate.
    """
    median = statistics.median(wall)
    cpu_median = statistics.median(cpu)
    verdict = "ok" if min(median, cpu_median) <= target else "OVER TARGET"
    print(f"{name} (target {target:g} {unit}: {verdict})")
    print(
        f"    wall: median {median:.3f} {unit}, p95 {percentile(wall, 95):.3f} {unit}, "
        f"mean {statistics.fmean(wall):.3f} {unit} over {len(wall)} samples"
    )
    print(f"    cpu:  median {cpu_median:.3f} {unit} over {len(cpu)} samples")


def main() -> None:
    """Run both benchmarks and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000, help="refresh samples")
    parser.add_argument("--trades", type=int, default=10_000)
    parser.add_argument("--symbols", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5, help="closed bars per trade")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)

    bench_refresh(50, rng)  # warm-up
    wall, cpu = bench_refresh(args.runs, rng)
    title = "(a) refresh: compute + adapt, 600 M5 + 300 M15 bars, one symbol"
    report(title, "ms", wall, cpu, REFRESH_TARGET_MS)
    wall, cpu = bench_per_trade(args.trades, args.symbols, args.rounds, rng)
    title = (
        f"(b) per trade: update_flip + score_trade + step, {args.trades} trades on "
        f"{args.symbols} symbols"
    )
    report(title, "us", wall, cpu, TRADE_TARGET_US)
    print(
        f"    one closed bar for all {args.trades} trades: {sum(wall) / args.rounds / 1e3:.1f} ms"
    )


if __name__ == "__main__":
    main()
