"""Declaring tunable numbers.

Every tunable number of dtms is a field of a frozen parameter dataclass declared with
:func:`knob`, which records its bounds and a one-line description next to its default. The
configuration loader (``dtms.config``) reads those records to validate ``config.toml``, and a
test checks that the file names every knob, so a number cannot hide in code.
"""

from __future__ import annotations

import dataclasses
from typing import Any

_BOUNDS = "dtms.bounds"
_DOC = "dtms.doc"


@dataclasses.dataclass(frozen=True, slots=True)
class Bounds:
    """Inclusive/exclusive limits a knob's value must respect."""

    ge: float | None = None
    le: float | None = None
    gt: float | None = None
    lt: float | None = None

    def violation(self, value: float) -> str | None:
        """Return why ``value`` is out of range, or None when it is in range."""
        if self.ge is not None and value < self.ge:
            return f"must be >= {self.ge:g}"
        if self.gt is not None and value <= self.gt:
            return f"must be > {self.gt:g}"
        if self.le is not None and value > self.le:
            return f"must be <= {self.le:g}"
        if self.lt is not None and value >= self.lt:
            return f"must be < {self.lt:g}"
        return None


def knob(
    default: Any,
    doc: str,
    *,
    ge: float | None = None,
    le: float | None = None,
    gt: float | None = None,
    lt: float | None = None,
) -> Any:
    """Declare a dataclass field that is a tunable number (or flag, or string).

    Args:
        default: the value used when ``config.toml`` does not set it. Mutable defaults
            (tuples are fine, lists are not) are rejected by dataclasses as usual.
        doc: one line saying what the number does, used in messages and docs.
        ge, le, gt, lt: bounds, checked for numbers and for each element of a tuple.
    """
    metadata = {_BOUNDS: Bounds(ge=ge, le=le, gt=gt, lt=lt), _DOC: doc}
    return dataclasses.field(default=default, metadata=metadata)


def bounds_of(field: dataclasses.Field[Any]) -> Bounds:
    """Return the bounds recorded for a field (no bounds if it was not declared by knob)."""
    bounds = field.metadata.get(_BOUNDS)
    return bounds if isinstance(bounds, Bounds) else Bounds()


def doc_of(field: dataclasses.Field[Any]) -> str:
    """Return the one-line description recorded for a field."""
    doc = field.metadata.get(_DOC)
    return doc if isinstance(doc, str) else ""
