"""The ``[stress]`` table: how ``dtms stress`` builds its world and judges what dtms did.

The command line says how big the run is (trades, symbols, minutes, speed, kills); these knobs
say what the trader's book looks like (sides, stops, other EAs' positions, hand closes), how the
shock moves prices, and the tolerances of the checks.
"""

from __future__ import annotations

from dataclasses import dataclass

from dtms.core.params import knob


@dataclass(frozen=True, slots=True)
class StressSettings:
    """How ``dtms stress`` builds its world and judges what dtms did."""

    exposed_share: float = knob(
        0.8, "share of the positions on the side the shock goes against", ge=0, le=1
    )
    no_sl_share: float = knob(0.1, "share of the positions opened without a stop loss", ge=0,
                              le=1)
    ignored_share: float = knob(
        0.05, "share of the positions another EA opens with an ignored magic (dtms must leave "
        "them alone)", ge=0, le=1,
    )
    hand_close_share: float = knob(
        0.05, "share of the managed positions the trader closes by hand while dtms runs", ge=0,
        le=1,
    )
    ea_magic: int = knob(1001, "magic of the trader's EA whose positions dtms manages", ge=0)
    ignored_magics: tuple[int, ...] = knob(
        (777, 778), "magics of other EAs' positions, passed to dtms as [supervisor] "
        "ignore_magics", ge=0,
    )
    min_volume: float = knob(
        0.04, "smallest position the EA opens, lots (a half of it still hedges)", gt=0
    )
    max_volume: float = knob(0.2, "largest position the EA opens, lots", gt=0)
    stop_distance: float = knob(
        0.02, "stop loss of a position that has one, as a fraction of its price", gt=0, lt=0.5
    )
    drift: float = knob(
        0.001, "--shock: steady move against the exposed side over the 30 minutes before the "
        "shock, fraction of price", ge=0, lt=0.1,
    )
    shock: float = knob(
        0.003, "--shock: sudden move against the exposed side in the minute before the deciding "
        "bar closes, fraction of price", gt=0, lt=0.2,
    )
    balance: float = knob(
        100_000_000.0, "deposit of the simulated account (margin for every position and hedge)",
        gt=0,
    )
    restart_pause_seconds: float = knob(
        1.0, "real seconds between a SIGKILL of dtms and its restart", ge=0, le=600
    )
    orphan_grace_cycles: float = knob(
        3.0, "an orphan hedge closed within this many dtms cycles of its main is no violation",
        gt=0,
    )
    orphan_grace_real_seconds: float = knob(
        1.0, "real seconds added to that grace: confirming a vanish and sending the close are "
        "round trips over the route, which take real time however fast the broker's clock runs",
        ge=0, le=60,
    )
    sample_seconds: float = knob(
        0.5, "real seconds between two samples of dtms's status and memory", gt=0, le=60
    )
    stop_timeout_seconds: float = knob(
        60.0, "real seconds dtms may take to stop after SIGTERM", gt=0, le=3600
    )

    def __post_init__(self) -> None:
        if self.max_volume < self.min_volume:
            raise ValueError("max_volume must be >= min_volume")
