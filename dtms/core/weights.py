"""One number per score layer: base weights and the regime's weight rows.

Theory of operation: the health score has six layers, named once here (``LAYERS``). A
``Weights`` value holds one number per layer and is used three ways: the base weights of the
score (``BaseWeights``), the rows the regime multiplies them by (``RangeWeights`` in a range,
``HighVolatilityWeights`` in high volatility) and the resulting per-layer multipliers of an
adaptation. Each use is its own subclass so that its defaults are the class defaults: the
configuration loader fills a partly written TOML table from the class, and a range row whose
missing keys silently became 1.0 would be a wrong row.

Rules for this module: values only, no behaviour beyond arithmetic on them.
"""

from __future__ import annotations

from dataclasses import dataclass

from dtms.core.params import knob

__all__ = ["LAYERS", "BaseWeights", "HighVolatilityWeights", "RangeWeights", "Weights"]

LAYERS: tuple[str, ...] = (
    "structure",
    "vwap_volume",
    "momentum",
    "ema_alignment",
    "delta_pressure",
    "candle_conviction",
)
"""Score layer names, in the order layers are reported (ties for 'key layer' go to the first)."""

_LIMIT = 100.0


@dataclass(frozen=True, slots=True)
class Weights:
    """A number per score layer (a multiplier of 1 unless a subclass says otherwise)."""

    structure: float = knob(1.0, "structure layer", ge=0, le=_LIMIT)
    vwap_volume: float = knob(1.0, "VWAP and volume layer", ge=0, le=_LIMIT)
    momentum: float = knob(1.0, "momentum (RSI, MACD) layer", ge=0, le=_LIMIT)
    ema_alignment: float = knob(1.0, "EMA alignment layer", ge=0, le=_LIMIT)
    delta_pressure: float = knob(1.0, "delta pressure layer", ge=0, le=_LIMIT)
    candle_conviction: float = knob(1.0, "candle conviction layer", ge=0, le=_LIMIT)

    def times(self, other: Weights) -> Weights:
        """Layer-by-layer product."""
        return Weights(
            self.structure * other.structure,
            self.vwap_volume * other.vwap_volume,
            self.momentum * other.momentum,
            self.ema_alignment * other.ema_alignment,
            self.delta_pressure * other.delta_pressure,
            self.candle_conviction * other.candle_conviction,
        )

    def scaled(self, factor: float) -> Weights:
        """Every layer multiplied by ``factor``."""
        return self.times(Weights(factor, factor, factor, factor, factor, factor))

    def values(self) -> tuple[float, ...]:
        """The numbers in ``LAYERS`` order."""
        return (
            self.structure,
            self.vwap_volume,
            self.momentum,
            self.ema_alignment,
            self.delta_pressure,
            self.candle_conviction,
        )


@dataclass(frozen=True, slots=True)
class BaseWeights(Weights):
    """Base weight of each layer; the score lies in about plus or minus their sum (10.5)."""

    structure: float = knob(3.0, "base weight of the structure layer", ge=0, le=_LIMIT)
    vwap_volume: float = knob(2.0, "base weight of the VWAP and volume layer", ge=0, le=_LIMIT)
    momentum: float = knob(2.0, "base weight of the momentum layer", ge=0, le=_LIMIT)
    ema_alignment: float = knob(1.5, "base weight of the EMA alignment layer", ge=0, le=_LIMIT)
    delta_pressure: float = knob(1.0, "base weight of the delta pressure layer", ge=0, le=_LIMIT)
    candle_conviction: float = knob(1.0, "base weight of the candle layer", ge=0, le=_LIMIT)


@dataclass(frozen=True, slots=True)
class RangeWeights(Weights):
    """Multipliers of the base weights when the structure regime is RANGE."""

    structure: float = knob(0.7, "structure weight multiplier in a range", ge=0, le=_LIMIT)
    vwap_volume: float = knob(1.3, "VWAP/volume weight multiplier in a range", ge=0, le=_LIMIT)
    momentum: float = knob(1.0, "momentum weight multiplier in a range", ge=0, le=_LIMIT)
    ema_alignment: float = knob(0.8, "EMA weight multiplier in a range", ge=0, le=_LIMIT)
    delta_pressure: float = knob(1.2, "delta weight multiplier in a range", ge=0, le=_LIMIT)
    candle_conviction: float = knob(1.1, "candle weight multiplier in a range", ge=0, le=_LIMIT)


@dataclass(frozen=True, slots=True)
class HighVolatilityWeights(Weights):
    """Multipliers of the base weights when the volatility regime is HIGH."""

    structure: float = knob(1.2, "structure weight multiplier in high vol", ge=0, le=_LIMIT)
    vwap_volume: float = knob(0.9, "VWAP/volume weight multiplier in high vol", ge=0, le=_LIMIT)
    momentum: float = knob(0.8, "momentum weight multiplier in high vol", ge=0, le=_LIMIT)
    ema_alignment: float = knob(1.0, "EMA weight multiplier in high vol", ge=0, le=_LIMIT)
    delta_pressure: float = knob(1.1, "delta weight multiplier in high vol", ge=0, le=_LIMIT)
    candle_conviction: float = knob(0.9, "candle weight multiplier in high vol", ge=0, le=_LIMIT)
