"""What one replay process runs: one variant of the settings, one group of trades."""

from __future__ import annotations

from dataclasses import dataclass

from dtms.config import Settings
from dtms.replay.bars import BarFile, ServerClock
from dtms.replay.settings import ReplaySettings
from dtms.replay.trades import TradeSpec


@dataclass(frozen=True, slots=True)
class Job:
    """What one process replays: one variant of the settings, one group of trades."""

    variant: str
    settings: Settings
    replay: ReplaySettings
    files: tuple[BarFile, ...]
    clock: ServerClock
    trades: tuple[TradeSpec, ...]
    first_index: int
    """Index of ``trades[0]`` in the whole replay (results are keyed by it)."""
    end_time: int
    """Every position still open at this server time is closed (the end of the bars)."""
    workdir: str
