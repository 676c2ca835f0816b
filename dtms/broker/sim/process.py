"""The price process of a simulated symbol: regimes, tick arrival and the log-mid path.

Theory of operation. Time is cut into fixed slices (``slice_minutes``, aligned to the epoch).
All randomness of one symbol in one slice comes from a generator keyed by (seed, symbol, slice
index): tick arrival times (Poisson, ``ticks_per_minute``), one normal per tick for the path,
one per tick for the spread, and two uniforms per minute for regime switching. A slice is always
drawn whole, so how a caller chunks its advances cannot change a single tick.

The log-mid follows the active regime: TREND_UP / TREND_DOWN drift by ``trend_drift`` daily_vols
a day, RANGE is an Ornstein-Uhlenbeck pull back to the level where the range began, SPIKE
multiplies volatility. Under AUTO a regime ends with a constant hazard per minute (mean lengths
are knobs) and the next one is drawn from the minute's uniform. A forced regime holds until its
``until`` (honoured at the next minute boundary) and then AUTO picks the next one.

A script (``Script``) overrides the path with a piecewise-linear mid through waypoints; after the
last waypoint the regime process resumes from there. Interventions recompute the unemitted rest
of the current slice from the same draws, so they change prices, never the random stream.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from dtms.broker.sim.market_settings import MarketSettings
from dtms.broker.sim.symbols import SimSymbol

I64 = npt.NDArray[np.int64]
I32 = npt.NDArray[np.int32]
I8 = npt.NDArray[np.int8]
F64 = npt.NDArray[np.float64]

FOREVER_MS = 1 << 62
_SECONDS_PER_DAY = 86_400.0


class MarketRegime(enum.Enum):
    """What drives a simulated symbol's price."""

    AUTO = "auto"
    TREND_UP = "trend_up"
    TREND_DOWN = "trend_down"
    RANGE = "range"
    SPIKE = "spike"


TREND_UP, TREND_DOWN, RANGE, SPIKE = 1, 2, 3, 4
REGIME_OF_CODE: tuple[MarketRegime, ...] = (
    MarketRegime.AUTO, MarketRegime.TREND_UP, MarketRegime.TREND_DOWN, MarketRegime.RANGE,
    MarketRegime.SPIKE,
)
CODE_OF_REGIME = {r: i for i, r in enumerate(REGIME_OF_CODE) if i}


@dataclass(frozen=True, slots=True)
class SymbolModel:
    """Per-symbol constants of the process, derived from the symbol and the settings."""

    mu: tuple[float, ...]
    """Log drift per second, indexed by regime code."""
    sigma: tuple[float, ...]
    """Log volatility per square-root second, indexed by regime code."""
    kappa: tuple[float, ...]
    """Mean-reversion rate per second, indexed by regime code."""
    hazard: tuple[float, ...]
    """Probability per minute that an AUTO regime ends, indexed by regime code."""
    spread_mult: tuple[float, ...]
    spike_share: float
    typical_spread: int
    spread_float: bool
    jitter: float
    point: float
    digits: int
    ticks_per_minute: float
    gap_cap_s: float

    @classmethod
    def build(cls, sym: SimSymbol, s: MarketSettings) -> SymbolModel:
        """Derive the model of ``sym`` under settings ``s``."""
        unit = sym.daily_vol / math.sqrt(_SECONDS_PER_DAY)
        drift = s.trend_drift * sym.daily_vol / _SECONDS_PER_DAY
        kappa = math.log(2.0) / (s.range_half_life_minutes * 60.0)
        minutes = (1.0, s.trend_minutes, s.trend_minutes, s.range_minutes, s.spike_minutes)
        return cls(
            mu=(0.0, drift, -drift, 0.0, 0.0),
            sigma=(0.0, s.trend_vol * unit, s.trend_vol * unit, s.range_vol * unit,
                   s.spike_vol * unit),
            kappa=(0.0, 0.0, 0.0, kappa, 0.0),
            hazard=tuple(-math.expm1(-1.0 / m) for m in minutes),
            spread_mult=(1.0, 1.0, 1.0, 1.0, s.spike_spread),
            spike_share=s.spike_share,
            typical_spread=max(1, sym.spread),
            spread_float=sym.spread_float,
            jitter=s.spread_jitter,
            point=sym.point,
            digits=sym.digits,
            ticks_per_minute=sym.ticks_per_minute,
            gap_cap_s=s.gap_cap_minutes * 60.0,
        )

    def next_regime(self, current: int, u: float) -> int:
        """Pick the regime that follows ``current`` from a uniform draw ``u``."""
        if current == SPIKE:
            return (TREND_UP, TREND_DOWN, RANGE)[min(2, int(u * 3.0))]
        if u < self.spike_share:
            return SPIKE
        others = [c for c in (TREND_UP, TREND_DOWN, RANGE) if c != current]
        v = (u - self.spike_share) / (1.0 - self.spike_share)
        return others[min(1, int(v * 2.0))]


@dataclass(slots=True)
class ProcState:
    """Where a symbol's process stands: log-mid ``x`` at ``t_ms`` and the regime."""

    x: float
    t_ms: int
    regime: int
    forced_until: int | None
    """Forced regime ends at this time (ms); None under AUTO switching."""
    anchor: float
    """Log-mid a RANGE regime is pulled back to."""

    def copy(self) -> ProcState:
        """Return an independent copy."""
        return ProcState(self.x, self.t_ms, self.regime, self.forced_until, self.anchor)


@dataclass(frozen=True, slots=True)
class Script:
    """A piecewise-linear mid path: waypoint times (ms) and mids, plus relative tick noise."""

    t_ms: I64
    mid: F64
    noise: float

    @property
    def end_ms(self) -> int:
        """Time of the last waypoint."""
        return int(self.t_ms[-1])


@dataclass(frozen=True, slots=True)
class Draws:
    """The random numbers of one symbol in one slice."""

    t_ms: I64
    z: F64
    zs: F64
    u_switch: F64
    u_choice: F64


def slice_rng(seed: int, symkey: int, index: int) -> np.random.Generator:
    """Return the generator of one symbol's slice ``index``."""
    return np.random.default_rng([seed, symkey, 0, index % (1 << 63)])


def draw_slice(
    rng: np.random.Generator, start_ms: int, open_minutes: npt.NDArray[np.bool_], tpm: float
) -> Draws:
    """Draw a slice's arrivals and normals; minutes not in ``open_minutes`` get no ticks."""
    n_min = open_minutes.shape[0]
    counts = np.asarray(rng.poisson(tpm, n_min), dtype=np.int64)
    counts[~open_minutes] = 0
    total = int(counts.sum())
    offsets = rng.integers(0, 60_000, total, dtype=np.int64)
    keys = np.repeat(np.arange(n_min, dtype=np.int64) * 60_000, counts) + offsets
    keys.sort()
    return Draws(
        t_ms=keys + start_ms,
        z=rng.standard_normal(total),
        zs=rng.standard_normal(total),
        u_switch=np.asarray(rng.random(n_min), dtype=np.float64),
        u_choice=np.asarray(rng.random(n_min), dtype=np.float64),
    )


def with_extra_ticks(d: Draws, times: I64, after_ms: int, before_ms: int) -> Draws:
    """Return ``d`` with noiseless ticks added at ``times`` in (after_ms, before_ms)."""
    if times.shape[0] == 0:
        return d
    times = times[(times > after_ms) & (times < before_ms)]
    times = np.setdiff1d(times, d.t_ms)
    if times.shape[0] == 0:
        return d
    at = np.searchsorted(d.t_ms, times)
    return Draws(
        np.insert(d.t_ms, at, times), np.insert(d.z, at, 0.0), np.insert(d.zs, at, 0.0),
        d.u_switch, d.u_choice,
    )


def thin(d: Draws, every_ms: int) -> Draws:
    """Return ``d`` with only the last tick of each ``every_ms`` interval (epoch-aligned).

    A quiet symbol's quote then changes once per interval, just before its end; the path is
    computed over the kept ticks, so its volatility per unit of time is unchanged.
    """
    n = d.t_ms.shape[0]
    if every_ms <= 0 or n == 0:
        return d
    bucket = d.t_ms // every_ms
    keep = np.empty(n, dtype=bool)
    keep[:-1] = bucket[1:] != bucket[:-1]
    keep[-1] = True
    return Draws(d.t_ms[keep], d.z[keep], d.zs[keep], d.u_switch, d.u_choice)


def schedule(
    state: ProcState, from_ms: int, start_ms: int, d: Draws, model: SymbolModel,
    until_ms: int | None = None,
) -> tuple[list[int], list[int], int | None]:
    """Return the regime segments from ``from_ms`` to the end of the slice (or ``until_ms``).

    Returns segment start times, their regime codes, and the forced-until time left afterwards.
    """
    bounds = [from_ms]
    codes = [state.regime]
    current = state.regime
    forced = state.forced_until
    first = max(0, -((start_ms - from_ms) // 60_000))
    stop = d.u_switch.shape[0]
    if until_ms is not None:
        stop = min(stop, max(first, (until_ms - start_ms) // 60_000 + 1))
    for m in range(first, stop):
        tb = start_ms + m * 60_000
        if forced is not None:
            if tb < forced:
                continue
            forced = None
        elif d.u_switch[m] >= model.hazard[current]:
            continue
        current = model.next_regime(current, float(d.u_choice[m]))
        bounds.append(tb)
        codes.append(current)
    return bounds, codes, forced


def evolve(
    x0: float, t0_ms: int, t_ms: I64, z: F64, mu: float, sigma: float, kappa: float,
    anchor: float, gap_cap_s: float,
) -> F64:
    """Return the log-mid at each tick time, starting from ``x0`` at ``t0_ms``.

    Brownian motion with drift ``mu``, or, when ``kappa`` > 0, an exact Ornstein-Uhlenbeck
    step towards ``anchor``. A pause longer than ``gap_cap_s`` (a market closure) counts as
    ``gap_cap_s`` of trading.
    """
    n = t_ms.shape[0]
    if n == 0:
        return np.empty(0, dtype=np.float64)
    dt = np.diff(t_ms, prepend=t0_ms).astype(np.float64) / 1000.0
    np.clip(dt, 0.0, gap_cap_s, out=dt)
    if kappa <= 0.0:
        inc = sigma * np.sqrt(dt) * z
        if mu:
            inc += mu * dt
        return np.asarray(x0 + np.cumsum(inc), dtype=np.float64)
    k = kappa * dt
    c = sigma * np.sqrt(-np.expm1(-2.0 * k) / (2.0 * kappa)) * z
    cum = np.cumsum(k)
    out = np.empty(n, dtype=np.float64)
    y = x0 - anchor
    start = 0
    while start < n:
        base = float(cum[start - 1]) if start else 0.0
        # keep exp(cum) moderate so the closed form does not lose precision
        stop = max(start + 1, int(np.searchsorted(cum, base + 20.0, side="right")))
        rel = cum[start:stop] - base
        out[start:stop] = np.exp(-rel) * (y + np.cumsum(c[start:stop] * np.exp(rel)))
        y = float(out[stop - 1])
        start = stop
    return np.asarray(out + anchor, dtype=np.float64)


def compute_path(
    d: Draws, i0: int, state: ProcState, from_ms: int, start_ms: int, model: SymbolModel,
    script: Script | None,
) -> tuple[F64, I8, ProcState]:
    """Compute log-mids and regime codes of ticks ``i0:`` of a slice.

    ``state`` is the process at or before ``from_ms``; every tick from ``i0`` on is later than
    ``from_ms``. Returns the log-mids, the regime codes and the state at the slice's end.
    """
    t = d.t_ms[i0:]
    z = d.z[i0:]
    bounds, codes, forced = schedule(state, from_ms, start_ms, d, model)
    seg = np.searchsorted(np.asarray(bounds, dtype=np.int64), t, side="right") - 1
    np.maximum(seg, 0, out=seg)
    regime = np.asarray(codes, dtype=np.int8)[seg]
    x = np.empty(t.shape[0], dtype=np.float64)
    x_prev, t_prev, anchor = state.x, state.t_ms, state.anchor
    first_process = 0
    if script is not None and script.end_ms >= state.t_ms:
        s_end = script.end_ms
        first_process = int(np.searchsorted(t, s_end, side="right"))
        if first_process:
            mids = np.interp(t[:first_process], script.t_ms, script.mid)
            if script.noise:
                mids = mids * (1.0 + script.noise * z[:first_process])
            x[:first_process] = np.log(np.maximum(mids, model.point))
        x_prev, t_prev = math.log(float(script.mid[-1])), s_end
        anchor = x_prev
    cut = np.searchsorted(seg, np.arange(len(codes) + 1), side="left")
    for j, code in enumerate(codes):
        if j and bounds[j] > t_prev and code == RANGE:
            anchor = x_prev
        a, b = max(int(cut[j]), first_process), int(cut[j + 1])
        if b <= a:
            continue
        xs = evolve(
            x_prev, t_prev, t[a:b], z[a:b], model.mu[code], model.sigma[code],
            model.kappa[code], anchor, model.gap_cap_s,
        )
        x[a:b] = xs
        x_prev, t_prev = float(xs[-1]), int(t[b - 1])
    end = ProcState(x_prev, t_prev, codes[-1], forced, anchor)
    return x, regime, end


def quotes(x: F64, zs: F64, regime: I8, model: SymbolModel) -> tuple[F64, F64, I32]:
    """Turn log-mids into rounded bid/ask prices and integer spreads in points."""
    n = x.shape[0]
    if model.spread_float:
        mult = np.asarray(model.spread_mult, dtype=np.float64)[regime]
        raw = model.typical_spread * np.exp(model.jitter * zs) * mult
        spread = np.maximum(np.rint(raw), 1.0).astype(np.int32)
    else:
        spread = np.full(n, model.typical_spread, dtype=np.int32)
    half = spread * (model.point * 0.5)
    bid = np.round(np.exp(x) - half, model.digits)
    ask = np.round(bid + spread * model.point, model.digits)
    return bid, ask, spread
