"""Which positions dtms manages, and when a symbol's spread is too wide to act on.

Theory of operation. Besides ``[supervisor] ignore_magics`` (positions left alone entirely),
``[scope]`` include lists narrow what dtms manages: only positions on these symbols (a broker's
decorated name or its base name: ``EURUSD`` matches ``EURUSD.m``), with these magic numbers
(0 is a hand trade), whose comment starts with one of these prefixes. Every non-empty list must
match. The scope decides only whether a *new* ticket gets an actor: a trade dtms manages already
(journaled) is managed until it closes even if a changed config leaves it outside, because
dropping it would read as "vanished" and close its hedge.

The spread filter keeps, per symbol, samples of the quoted spread (every
``spread_sample_seconds``, over ``spread_typical_minutes``); its median is the symbol's typical
spread. While the spread is above ``spread_filter_multiple`` times that, no new defensive order
is planned for the symbol (closes excepted): a stop placed in a spread spike is hit by the spike.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass

from dtms.core.params import knob
from dtms.core.symbols import normalise_symbol
from dtms.core.types import PositionView, Quote


@dataclass(frozen=True, slots=True)
class ScopeSettings:
    """Which positions dtms manages, and the spread filter."""

    include_symbols: tuple[str, ...] = knob(
        (), "manage only positions on these symbols (broker or base names; empty: all)")
    include_magics: tuple[int, ...] = knob(
        (), "manage only positions with these magic numbers (0: hand trades; empty: all)", ge=0)
    include_comment_prefixes: tuple[str, ...] = knob(
        (), "manage only positions whose comment starts with one of these (empty: all)")
    spread_filter_multiple: float = knob(
        0.0, "no new defensive order while the spread is above this many times its typical "
        "value, closes excepted (0: off)", ge=0)
    spread_typical_minutes: float = knob(
        60.0, "the typical spread is the median over this many minutes", gt=0)
    spread_sample_seconds: float = knob(10.0, "one spread sample per symbol this often", gt=0)
    spread_min_samples: int = knob(30, "the spread filter acts once this many samples exist",
                                   ge=1)

    def __post_init__(self) -> None:
        if 0 < self.spread_filter_multiple <= 1:
            raise ValueError("spread_filter_multiple must be above 1 (or 0: off): at or below "
                             "1 the typical spread itself would block every action")


class Scope:
    """Whether a position is dtms's to manage."""

    def __init__(self, settings: ScopeSettings) -> None:
        self._s = settings
        self._symbols = {normalise_symbol(s) for s in settings.include_symbols}
        self._names = {s.upper() for s in settings.include_symbols}

    def outside(self, pos: PositionView) -> str:
        """Why ``pos`` is outside the scope ("" when it is inside)."""
        s = self._s
        if s.include_symbols and pos.symbol.upper() not in self._names \
                and normalise_symbol(pos.symbol) not in self._symbols:
            return f"symbol {pos.symbol} is not in include_symbols"
        if s.include_magics and pos.magic not in s.include_magics:
            return f"magic {pos.magic} is not in include_magics"
        if s.include_comment_prefixes and not any(
                pos.comment.startswith(p) for p in s.include_comment_prefixes):
            return f"comment {pos.comment!r} starts with none of include_comment_prefixes"
        return ""


class SpreadWatch:
    """Each symbol's typical spread, and whether its spread now is far above it."""

    def __init__(self, settings: ScopeSettings) -> None:
        self._s = settings
        self._samples: dict[str, deque[tuple[float, float]]] = {}
        self._typical: dict[str, float] = {}

    def observe(self, symbol: str, quote: Quote, at: float) -> None:
        """Take a sample of the quote's spread when one is due."""
        s = self._s
        if s.spread_filter_multiple <= 0:
            return
        samples = self._samples.setdefault(symbol, deque())
        if samples and at - samples[-1][0] < s.spread_sample_seconds:
            return
        samples.append((at, quote.ask - quote.bid))
        while samples and samples[0][0] < at - s.spread_typical_minutes * 60.0:
            samples.popleft()
        self._typical[symbol] = statistics.median(x for _, x in samples)

    def typical(self, symbol: str) -> float | None:
        """The median spread (None before ``spread_min_samples`` samples)."""
        samples = self._samples.get(symbol)
        if not samples or len(samples) < self._s.spread_min_samples:
            return None
        return self._typical.get(symbol)

    def wide(self, symbol: str, quote: Quote | None) -> bool:
        """Whether the spread of ``quote`` is above the multiple of the typical spread."""
        typical = self.typical(symbol)
        if quote is None or typical is None or typical <= 0:
            return False
        return quote.ask - quote.bid > self._s.spread_filter_multiple * typical


__all__ = ["Scope", "ScopeSettings", "SpreadWatch"]
