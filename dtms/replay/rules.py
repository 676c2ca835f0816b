"""Entry rules for exploring without a trade history: ``--entries RULE``.

A rule is ``KIND:N`` followed by comma-separated options:

- ``random:N`` opens N trades at instants drawn uniformly from the bars (without repeats);
- ``every:MINUTES`` opens one trade every MINUTES of bar time (weekends skipped).

Options: ``side=random|buy|sell|alternate|both`` (``both`` opens a BUY and a SELL at the same
instant), ``sl=1.5`` and ``tp=2`` (stop and target in ATR14 of the last closed M15 bar; 0: none),
``volume=0.1``, ``seed=N``, ``from=2022-01-10`` and ``to=2022-02-01`` (server dates),
``hold=HOURS`` (a hand close after that long; default: left to SL/TP). Every entry waits until
the symbol has 210 closed M15 bars, so every score layer is available from the first check;
with several bar files the symbol of each entry is drawn too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from dtms.core.ta import atr
from dtms.core.types import Side
from dtms.replay.bars import BarFile, ReplayInputError
from dtms.replay.table import parse_time
from dtms.replay.trades import Exit, TradeSpec

WARMUP_M15_BARS = 210
_SIDES = ("random", "buy", "sell", "alternate", "both")


@dataclass(frozen=True, slots=True)
class EntryRule:
    """A parsed ``--entries`` rule."""

    kind: str
    count: int
    """Trades (random) or minutes between trades (every)."""
    side: str = "random"
    sl_atr: float = 1.5
    tp_atr: float = 2.0
    volume: float = 0.1
    seed: int | None = None
    start: int | None = None
    end: int | None = None
    hold_hours: float | None = None


def parse_rule(text: str) -> EntryRule:
    """Parse ``random:1000,sl=1.5,tp=2``; one clear error naming the bad part."""
    head, *options = [p.strip() for p in text.split(",")]
    kind, _, n = head.partition(":")
    if kind not in ("random", "every") or not n.isdigit() or int(n) < 1:
        raise ReplayInputError(f"--entries {text!r}: expected random:N or every:MINUTES first")
    values: dict[str, object] = {"kind": kind, "count": int(n)}
    for option in options:
        name, sep, value = option.partition("=")
        try:
            if not sep:
                raise ValueError("expected name=value")
            if name == "side":
                if value not in _SIDES:
                    raise ValueError(f"side is one of {', '.join(_SIDES)}")
                values["side"] = value
            elif name in ("sl", "tp", "volume", "hold"):
                number = float(value)
                if not (math.isfinite(number) and number >= 0) or (
                        name in ("volume", "hold") and number == 0):
                    raise ValueError("out of range")
                key = {"sl": "sl_atr", "tp": "tp_atr", "hold": "hold_hours"}.get(name, name)
                values[key] = number
            elif name == "seed":
                values["seed"] = int(value)
            elif name in ("from", "to"):
                values["start" if name == "from" else "end"] = parse_time(value)
            else:
                raise ValueError("unknown option (side, sl, tp, volume, seed, from, to, hold)")
        except ValueError as exc:
            raise ReplayInputError(f"--entries {text!r}: {option!r}: {exc}") from None
    return EntryRule(**values)  # type: ignore[arg-type]


def _m15_atr(bf: BarFile) -> tuple[np.ndarray, np.ndarray]:
    """(close time, ATR14) of every M15 bar built from the file."""
    b = bf.bars
    key = b.time // 900
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    high = np.maximum.reduceat(b.high, starts)
    low = np.minimum.reduceat(b.low, starts)
    close = b.close[ends - 1]
    return key[starts] * 900 + 900, atr(high, low, close, 14)


def _instants(bf: BarFile, rule: EntryRule, rng: np.random.Generator, first: int) -> list[int]:
    t = bf.bars.time
    ok = t >= first
    if rule.start is not None:
        ok &= t >= rule.start
    if rule.end is not None:
        ok &= t < rule.end
    ok &= t + bf.bars.tf_s < bf.end_time  # never in the very last bar
    candidates = t[ok]
    if not len(candidates):
        return []
    inside = min(30, bf.bars.tf_s // 2)
    if rule.kind == "random":
        n = min(rule.count, len(candidates))
        picked = np.sort(rng.choice(candidates, size=n, replace=False))
        return [int(x) + int(rng.integers(1, max(inside, 2))) for x in picked]
    step = rule.count * 60
    out, next_at = [], int(candidates[0])
    for x in candidates.tolist():
        if x >= next_at:
            out.append(int(x) + inside)
            next_at = x - x % step + step if step <= 86_400 else x + step
    return out


def entries(rule: EntryRule, files: list[BarFile], default_seed: int) -> list[TradeSpec]:
    """The trades a rule opens on the bar files (deterministic for a seed)."""
    rng = np.random.default_rng(default_seed if rule.seed is None else rule.seed)
    trades: list[TradeSpec] = []
    per_file = {f.symbol: _m15_atr(f) for f in files}
    plan: list[tuple[int, BarFile]] = []
    for bf in files:
        closes, _ = per_file[bf.symbol]
        if len(closes) <= WARMUP_M15_BARS:
            raise ReplayInputError(f"{bf.path}: {len(closes)} M15 bars; entries need more than "
                                   f"{WARMUP_M15_BARS} of history first")
        first = int(closes[WARMUP_M15_BARS - 1])
        plan += [(at, bf) for at in _instants(bf, rule, rng, first)]
    plan.sort(key=lambda p: (p[0], p[1].symbol))
    if rule.kind == "random" and len(files) > 1:
        keep = np.sort(rng.choice(len(plan), size=min(rule.count, len(plan)), replace=False))
        plan = [plan[i] for i in keep]
    if not plan:
        raise ReplayInputError(f"--entries: no bar of the files lies in the rule's window "
                               f"(after {WARMUP_M15_BARS} M15 bars of history)")
    for n, (at, bf) in enumerate(plan):
        closes, atrs = per_file[bf.symbol]
        i = int(np.searchsorted(closes, at, side="right")) - 1
        unit = float(atrs[i]) if i >= 0 and math.isfinite(atrs[i]) else 0.0
        exits = (Exit(at + round(rule.hold_hours * 3600), None),) if rule.hold_hours else ()
        for side in _sides(rule.side, n, rng):
            trades.append(TradeSpec(
                f"{rule.kind}#{n + 1}{'' if rule.side != 'both' else side.value[0]}",
                bf.symbol, side, rule.volume, at, rule.sl_atr * unit, rule.tp_atr * unit,
                exits))
    return trades


def _sides(choice: str, n: int, rng: np.random.Generator) -> tuple[Side, ...]:
    if choice == "both":
        return (Side.BUY, Side.SELL)
    if choice == "buy":
        return (Side.BUY,)
    if choice == "sell":
        return (Side.SELL,)
    if choice == "alternate":
        return (Side.BUY if n % 2 == 0 else Side.SELL,)
    return (Side.BUY if rng.random() < 0.5 else Side.SELL,)
