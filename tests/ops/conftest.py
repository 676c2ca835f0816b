"""Fixtures of the operating surface's tests."""

from __future__ import annotations

import pytest
import trio.testing


@pytest.fixture
def wall_clock() -> trio.testing.MockClock:
    """A Trio clock that runs at wall-clock speed (for tests that talk to real sockets, where
    an autojumping clock would race the network); the surfaces' own waits are scaled down."""
    return trio.testing.MockClock(rate=1.0)
