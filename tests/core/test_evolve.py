"""evolve is dataclasses.replace, faster."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dtms.core.evolve import evolve
from dtms.core.policy import MachinePolicy
from dtms.core.trade import new_trade

from .kit import T0, position


@given(score=st.floats(-10, 10), seq=st.integers(0, 10**6), at=st.floats(0, 2e9))
def test_evolve_equals_replace(score: float, seq: int, at: float) -> None:
    t = new_trade(position(), T0)
    changes = {"score": score, "seq": seq, "last_observed_at": at}
    assert evolve(t, **changes) == dataclasses.replace(t, **changes)


def test_evolve_keeps_the_copy_frozen_and_the_original_untouched() -> None:
    t = new_trade(position(), T0)
    u = evolve(t, score=1.5)
    assert t.score is None and u.score == 1.5
    with pytest.raises(dataclasses.FrozenInstanceError):
        u.score = 2.0  # type: ignore[misc]


def test_evolve_refuses_unknown_fields_and_types_that_validate() -> None:
    t = new_trade(position(), T0)
    with pytest.raises(TypeError, match="no field"):
        evolve(t, scroe=1.0)
    with pytest.raises(TypeError, match="__post_init__"):
        evolve(MachinePolicy(), hedge_score=-7.0)
