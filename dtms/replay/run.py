"""Running a replay: variants of the settings, trades cut into groups, groups run in processes.

Theory of operation: the trades are sorted by entry time and cut into as many consecutive
groups as there are workers; each (variant, group) is one ``Job`` with its own simulated
account, runtime and journal, in its own process. Trades do not interact (each copy is sized
on its own, the account is deep enough that margin never binds), so cutting them into groups
changes nothing but the wall time. The results are put back in trade order.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

from dtms.config import Settings
from dtms.replay.bars import BarFile, ServerClock
from dtms.replay.engine import run_job, sim_symbols
from dtms.replay.job import Job
from dtms.replay.outcome import JobResult, TradeOutcome
from dtms.replay.settings import ReplaySettings
from dtms.replay.trades import TradeSpec


@dataclass(frozen=True, slots=True)
class Variant:
    """One column of the report: a name and the settings it runs with."""

    name: str
    settings: Settings
    changes: tuple[str, ...] = ()
    """The ``key=value`` overrides that make it (empty for the configuration as loaded)."""


@dataclass(frozen=True, slots=True)
class VariantResult:
    """Every trade of one variant, in entry order, with what the run cost."""

    variant: Variant
    trades: tuple[TradeOutcome, ...]
    wall_seconds: float
    cycles: int


def worker_count(replay: ReplaySettings, jobs_per_variant: int) -> int:
    """Processes to use: the knob, or one per CPU core."""
    cores = os.cpu_count() or 1
    return max(1, min(replay.workers or cores, jobs_per_variant))


def split(trades: Sequence[TradeSpec], groups: int) -> list[tuple[int, tuple[TradeSpec, ...]]]:
    """Consecutive groups of nearly equal size, as (index of the first, trades)."""
    n = len(trades)
    groups = max(1, min(groups, n))
    bounds = [round(k * n / groups) for k in range(groups + 1)]
    return [(a, tuple(trades[a:b])) for a, b in itertools.pairwise(bounds) if b > a]


def run_replay(
    variants: Sequence[Variant],
    files: Sequence[BarFile],
    clock: ServerClock,
    trades: Sequence[TradeSpec],
    replay: ReplaySettings,
    *,
    workdir: str | None = None,
    progress: Callable[[str], None] = lambda _line: None,
) -> list[VariantResult]:
    """Run every trade of every variant; results in the order of ``variants``."""
    sim_symbols(list(files))  # an unknown symbol stops here, before any process starts
    ordered = sorted(trades, key=lambda t: (t.opened_at, t.key))
    end = min(f.end_time for f in files) - 1
    own_dir = None
    if workdir is None:
        own_dir = tempfile.TemporaryDirectory(prefix="dtms-replay-")
        workdir = own_dir.name
    try:
        groups = worker_count(replay, len(ordered))
        jobs = [Job(v.name, v.settings, v.settings.replay, tuple(files), clock, chunk, first, end,
                    workdir)
                for v in variants for first, chunk in split(ordered, groups)]
        results = _run_all(jobs, groups, progress)
    finally:
        if own_dir is not None:
            own_dir.cleanup()
    out = []
    for v in variants:
        mine = sorted((r for r in results if r.variant == v.name),
                      key=lambda r: r.trades[0].index if r.trades else 0)
        outcomes = tuple(o for r in mine for o in r.trades)
        out.append(VariantResult(v, outcomes, sum(r.wall_seconds for r in mine),
                                 sum(r.cycles for r in mine)))
    return out


def _run_all(jobs: list[Job], processes: int, progress: Callable[[str], None]) -> list[JobResult]:
    procs = min(processes, os.cpu_count() or 1, len(jobs))
    if procs <= 1:
        results = []
        for k, job in enumerate(jobs, 1):
            results.append(run_job(job))
            progress(f"job {k}/{len(jobs)} done ({job.variant}, {len(job.trades)} trades, "
                     f"{results[-1].wall_seconds:.1f} s)")
        return results
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=procs, mp_context=ctx) as pool:
        futures = [pool.submit(run_job, job) for job in jobs]
        results = []
        for k, future in enumerate(futures, 1):
            results.append(future.result())
            job = jobs[k - 1]
            progress(f"job {k}/{len(jobs)} done ({job.variant}, {len(job.trades)} trades, "
                     f"{results[-1].wall_seconds:.1f} s)")
        return results
