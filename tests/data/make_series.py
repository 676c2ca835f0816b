"""Generate the recorded EURUSD-like M5/M15 series under tests/data (run once, output committed).

The tests only read the CSV files; this script documents how they were made and regenerates
them byte for byte (``python tests/data/make_series.py``). The process is a seeded random
walk with scheduled stretches (warm-up drift, a tight range, a breakout, an uptrend, volatile
chop, a breakdown, a downtrend and a base), intraday volatility by session, fat-tailed
returns, intrabar paths for high/low and tick volume that grows with the bar's move. Bar
times are broker-server time on a UTC+2 server, as MT5 stamps them; the market is closed from
Friday 22:00 to Sunday 22:00 UTC.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SEED = 20240304
BROKER_UTC_OFFSET_HOURS = 2
START_UTC = 1_709_503_200  # Sunday 2024-03-03 22:00 UTC, the weekly open
BARS = 2_880  # two trading weeks of M5 bars
BASE_SIGMA = 0.00022  # per-bar return standard deviation in an average hour
START_PRICE = 1.08400

# (name, first bar, end bar, drift per bar, volatility multiplier, mean reversion)
SEGMENTS = (
    ("warmup", 0, 700, 0.000004, 1.0, 0.0),
    ("range", 700, 1150, 0.0, 0.45, 0.04),
    ("breakout", 1150, 1162, 0.0008, 1.6, 0.0),
    ("uptrend", 1162, 1440, 0.000035, 1.0, 0.0),
    ("volatile", 1440, 1750, 0.0, 2.2, 0.01),
    ("breakdown", 1750, 1762, -0.0009, 1.6, 0.0),
    ("downtrend", 1762, 2350, -0.00004, 1.0, 0.0),
    ("base", 2350, 2880, 0.000006, 0.8, 0.01),
)


def _market_times(count: int) -> np.ndarray:
    """Open times (UTC) of ``count`` M5 bars while the FX market is open."""
    out = []
    t = START_UTC
    while len(out) < count:
        day = (t // 86_400 + 3) % 7  # Monday = 0
        hour = (t % 86_400) // 3_600
        closed = day == 5 or (day == 4 and hour >= 22) or (day == 6 and hour < 22)
        if not closed:
            out.append(t)
        t += 300
    return np.array(out, dtype=np.int64)


def _session_factor(utc: int) -> float:
    hour = (utc % 86_400) / 3_600
    if 13 <= hour < 16:
        return 1.5
    if 8 <= hour < 13:
        return 1.2
    if 16 <= hour < 21:
        return 1.0
    return 0.6


def generate() -> tuple[np.ndarray, np.ndarray]:
    """Return (m5, m15) as float arrays of rows time, open, high, low, close, tick_volume."""
    rng = np.random.default_rng(SEED)
    times = _market_times(BARS)
    rows = []
    close = START_PRICE
    anchor = START_PRICE
    for name, first, end, drift, vol, reversion in SEGMENTS:
        if name == "range":
            anchor = close
        for i in range(first, end):
            sigma = BASE_SIGMA * vol * _session_factor(int(times[i]))
            pull = reversion * (anchor - close) / close if reversion else 0.0
            steps = rng.standard_t(5, size=5) * sigma / np.sqrt(5 * 5 / 3)
            steps += (drift + pull) / 5
            path = close * np.exp(np.cumsum(steps))
            open_ = close
            new_close = float(path[-1])
            wick = np.abs(rng.normal(0, 0.25 * sigma, size=2)) * close
            high = max(open_, float(path.max())) + wick[0]
            low = min(open_, float(path.min())) - wick[1]
            move = abs(new_close - open_) / (sigma * close)
            trend_bias = 1.0 + 0.35 * np.sign(new_close - open_) * np.sign(drift)
            lam = 140 * _session_factor(int(times[i])) * (0.6 + 0.8 * move) * trend_bias
            volume = float(rng.poisson(max(lam, 1.0)))
            rows.append((times[i], open_, high, low, new_close, volume))
            close = new_close
            if name != "range":
                anchor = close
    m5 = np.array(rows, dtype=np.float64)
    m5[:, 1:5] = np.round(m5[:, 1:5], 5)
    m5[:, 0] += BROKER_UTC_OFFSET_HOURS * 3_600
    return m5, _aggregate(m5, 900)


def _aggregate(m5: np.ndarray, period: int) -> np.ndarray:
    keys = (m5[:, 0] // period) * period
    out = []
    for key in np.unique(keys):
        g = m5[keys == key]
        out.append((key, g[0, 1], g[:, 2].max(), g[:, 3].min(), g[-1, 4], g[:, 5].sum()))
    return np.array(out, dtype=np.float64)


def _write(path: Path, data: np.ndarray, timeframe: str) -> None:
    header = [
        f"# dtms recorded series: EURUSD-like {timeframe}, seed {SEED}, made by make_series.py",
        f"# broker_utc_offset_hours {BROKER_UTC_OFFSET_HOURS}",
        *(f"# segment {name} {first} {end}" for name, first, end, *_ in SEGMENTS),
        "time,open,high,low,close,tick_volume",
    ]
    lines = [f"{int(r[0])},{r[1]:.5f},{r[2]:.5f},{r[3]:.5f},{r[4]:.5f},{int(r[5])}" for r in data]
    path.write_text("\n".join(header + lines) + "\n")


def main() -> None:
    """Write eurusd_m5.csv and eurusd_m15.csv next to this file."""
    here = Path(__file__).parent
    m5, m15 = generate()
    _write(here / "eurusd_m5.csv", m5, "M5")
    _write(here / "eurusd_m15.csv", m15, "M15")


if __name__ == "__main__":
    main()
