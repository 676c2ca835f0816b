"""The core's view of a position, from one snapshot to the next."""

from __future__ import annotations

from dataclasses import fields

from dtms.broker.structs import TradePosition
from dtms.runtime.positions import position_view

BASE = TradePosition(ticket=557_416_507, time=1_700_000_000, type=0, magic=234_000, volume=0.1,
                     price_open=1.08, sl=1.07, tp=0.0, price_current=1.081, profit=10.0,
                     symbol="EURUSD", comment="ea")


def _fresh(p: TradePosition) -> TradePosition:
    """The same position as a new snapshot decodes it: equal values, new objects."""
    return TradePosition._make(float(str(v)) if isinstance(v, float) else
                               int(str(v)) if isinstance(v, int) else "".join(list(v))
                               for v in p)


def test_a_view_built_on_the_previous_one_equals_one_built_alone() -> None:
    prev = position_view(BASE)
    for change in ({}, {"price_current": 1.0815, "profit": 15.0}, {"sl": 1.075},
                   {"volume": 0.05}, {"comment": "ea2"}, {"type": 1}, {"ticket": 557_416_508}):
        p = _fresh(BASE._replace(**change))
        assert position_view(p, prev) == position_view(p), change


def test_values_that_did_not_move_are_the_previous_views_objects() -> None:
    prev = position_view(BASE)
    moved = position_view(_fresh(BASE._replace(price_current=1.0815, profit=15.0)), prev)
    for f in fields(moved):
        same = getattr(moved, f.name) is getattr(prev, f.name)
        assert same is (f.name not in ("price_current", "profit")), f.name
    assert position_view(_fresh(BASE), prev) is prev  # nothing moved: the view itself
