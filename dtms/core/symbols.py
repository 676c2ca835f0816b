"""Symbol names: broker spellings to base names, and the per-symbol VWAP-slope base.

Theory of operation: brokers decorate symbol names (``XAUUSDc``, ``EURUSD.m``, ``EURUSDpro``,
``GBPJPY#``), and a per-symbol table keyed by the decorated name would silently fall back to
its default on every such broker. Names are therefore normalised to a base name before any
lookup. The table itself is a frozen dataclass whose field names are the base names, so
``config.toml`` writes ``[regime.vwap_base] XAUUSD = 0.001``.

Rules for this module: pure (stdlib only); every number is a knob.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, fields

from dtms.core.params import knob

__all__ = ["VwapBase", "normalise_symbol"]


@dataclass(frozen=True, slots=True)
class VwapBase:
    """Base VWAP-slope threshold per (normalised) symbol name."""

    XAUUSD: float = knob(0.001, "base VWAP-slope threshold, gold", gt=0, lt=1)
    BTCUSD: float = knob(0.002, "base VWAP-slope threshold, bitcoin", gt=0, lt=1)
    EURUSD: float = knob(0.0005, "base VWAP-slope threshold, EURUSD", gt=0, lt=1)
    GBPUSD: float = knob(0.0005, "base VWAP-slope threshold, GBPUSD", gt=0, lt=1)
    USDJPY: float = knob(0.0007, "base VWAP-slope threshold, USDJPY", gt=0, lt=1)
    GBPJPY: float = knob(0.0007, "base VWAP-slope threshold, GBPJPY", gt=0, lt=1)
    EURJPY: float = knob(0.0007, "base VWAP-slope threshold, EURJPY", gt=0, lt=1)
    default: float = knob(0.001, "base VWAP-slope threshold, any other symbol", gt=0, lt=1)

    def for_symbol(self, name: str) -> float:
        """The base for a normalised symbol name (``default`` when it has no entry)."""
        return float(getattr(self, name)) if name in _KNOWN_SYMBOLS else self.default


_KNOWN_SYMBOLS = frozenset(f.name for f in fields(VwapBase) if f.name != "default")
# Longest first, so a name is matched by its most specific entry.
_KNOWN_BY_LENGTH = sorted(_KNOWN_SYMBOLS, key=lambda s: (-len(s), s))


@functools.lru_cache(maxsize=1024)
def normalise_symbol(name: str) -> str:
    """Map a broker's symbol name to its base name.

    Brokers decorate names with suffixes (``XAUUSDc``, ``EURUSD.m``, ``EURUSDpro``,
    ``GBPJPY#``, ``EURUSD.ecn``) and sometimes prefixes (``m.EURUSD``). The longest
    alphanumeric piece is kept; if it starts with a known name (case-insensitive) that name is
    the answer, else trailing lower-case letters are taken for a suffix and dropped.

    Args:
        name: the symbol as the broker spells it.

    Returns:
        The upper-case base name (``XAUUSD``, ``EURUSD``, ``GER40``...).
    """
    pieces = [p for p in re.split(r"[^A-Za-z0-9]+", name) if p]
    if not pieces:
        return name.strip().upper()
    piece = max(pieces, key=len)
    upper = piece.upper()
    for known in _KNOWN_BY_LENGTH:
        if upper.startswith(known):
            return known
    head = re.match(r"[A-Z0-9]+", piece)
    return head.group(0) if head else upper
