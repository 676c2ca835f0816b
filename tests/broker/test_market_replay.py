"""Replaying MT5 "Export bars" files through the simulated market."""

from __future__ import annotations

import calendar
import gzip
from pathlib import Path

import numpy as np
import pytest

from dtms.broker.rates import (
    RATES_DTYPE,
    TIMEFRAME_D1,
    TIMEFRAME_H1,
    TIMEFRAME_M1,
    TIMEFRAME_M5,
    TIMEFRAME_M15,
)
from dtms.broker.sim.market import Market, MarketRegime, MarketSettings, TickBlock
from dtms.broker.sim.replay import read_mt5_csv
from dtms.broker.sim.symbols import default_symbols

DATA = Path(__file__).resolve().parent.parent / "data" / "sim"
M1_FILE, M5_FILE, D1_FILE = DATA / "EURUSD_M1.csv", DATA / "EURUSD_M5.csv", DATA / "EURUSD_D1.csv"
SYMS = {"EURUSD": default_symbols()["EURUSD"], "GBPUSD": default_symbols()["GBPUSD"]}
POINT = SYMS["EURUSD"].point
HOUR = 3600.0
SETTINGS = MarketSettings(history_days=1)
HEADER = "<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\t<TICKVOL>\t<VOL>\t<SPREAD>"


def some(rates: np.ndarray | None) -> np.ndarray:
    assert rates is not None
    return rates


def epoch(y: int, mo: int, d: int, h: int = 0, mi: int = 0) -> float:
    return float(calendar.timegm((y, mo, d, h, mi, 0)))


def read_file(path: Path) -> np.ndarray:
    lines = path.read_text().splitlines()
    sep = "\t" if "\t" in lines[0] else ","
    has_time = "<TIME>" in lines[0]
    out = np.zeros(len(lines) - 1, dtype=RATES_DTYPE)
    for k, line in enumerate(lines[1:]):
        cells = line.split(sep)
        y, mo, d = (int(v) for v in cells[0].split("."))
        h, mi = (int(v) for v in cells[1].split(":")[:2]) if has_time else (0, 0)
        rest = cells[2:] if has_time else cells[1:]
        out[k] = (
            epoch(y, mo, d, h, mi), float(rest[0]), float(rest[1]), float(rest[2]),
            float(rest[3]), max(int(rest[4]), 4), int(rest[6]), 0,
        )
    return out


def collect(blocks: list[TickBlock], symbol: str) -> tuple[np.ndarray, ...]:
    mine = [b for b in blocks if b.symbol == symbol]
    return tuple(np.concatenate([getattr(b, f) for b in mine]) for f in ("time_msc", "bid", "ask"))


def test_m1_file_replays_bar_for_bar() -> None:
    expected = read_file(M1_FILE)
    start = float(expected["time"][0]) - 30.0
    market = Market(SYMS, start, SETTINGS)
    market.load_csv("EURUSD", M1_FILE)
    end = float(expected["time"][-1]) + 60
    blocks = []
    t = start
    while t < end:
        t = min(end, t + 7.5)
        blocks.extend(market.advance_to(t))
    got = market.rates_range("EURUSD", TIMEFRAME_M1, start, end - 1)
    assert got is not None
    assert np.array_equal(got, expected)
    t_ms, bid, ask = collect(blocks, "EURUSD")
    assert t_ms.shape[0] == int(expected["tick_volume"].sum())
    assert np.all(np.diff(t_ms) > 0)
    spread = np.repeat(expected["spread"], expected["tick_volume"].astype(np.int64))
    assert np.allclose(ask - bid, spread * POINT, atol=POINT / 10)
    assert "GBPUSD" in {b.symbol for b in blocks}  # the other symbols keep simulating


def test_ticks_walk_open_nearer_extreme_farther_extreme_close() -> None:
    expected = read_file(M1_FILE)
    start = float(expected["time"][0])
    market = Market(SYMS, start, SETTINGS)
    market.load_csv("EURUSD", M1_FILE)
    t_ms, bid, _ = collect(market.advance_to(start + 3 * HOUR), "EURUSD")
    for bar in expected:
        inside = (t_ms >= bar["time"] * 1000) & (t_ms < (bar["time"] + 60) * 1000)
        path = bid[inside]
        assert (path[0], path[-1]) == (bar["open"], bar["close"])
        assert path.min() >= bar["low"] and path.max() <= bar["high"]
        if bar["high"] == bar["low"]:
            continue
        i_high, i_low = int(np.argmax(path)), int(np.argmin(path))
        if bar["high"] - bar["open"] < bar["open"] - bar["low"]:
            assert i_high < i_low
        elif bar["high"] - bar["open"] > bar["open"] - bar["low"]:
            assert i_low < i_high


def test_m5_file_gives_m5_bars_and_aggregated_m15() -> None:
    expected = read_file(M5_FILE)
    start = float(expected["time"][0])
    market = Market(SYMS, start, SETTINGS)
    market.load_csv("EURUSD", M5_FILE)
    end = float(expected["time"][-1]) + 300
    market.advance_to(end + 1)
    m5 = market.rates_range("EURUSD", TIMEFRAME_M5, start, end - 1)
    assert m5 is not None and np.array_equal(m5, expected)
    m15 = market.rates_range("EURUSD", TIMEFRAME_M15, start, end - 1)
    assert m15 is not None and len(m15) == len(expected) // 3
    assert np.array_equal(m15["open"], expected["open"][::3])
    assert np.array_equal(m15["close"], expected["close"][2::3])
    assert np.array_equal(m15["high"], expected["high"].reshape(-1, 3).max(axis=1))
    m1 = market.rates_range("EURUSD", TIMEFRAME_M1, start, end - 1)
    assert m1 is not None and len(m1) >= 4 * len(expected)


@pytest.mark.parametrize(("minutes", "frame"), [(2, 120), (10, 600), (12, 720), (30, 1800)])
def test_every_mt5_timeframe_is_recognised(tmp_path: Path, minutes: int, frame: int) -> None:
    """An M10 export is ten-minute bars, not M5 bars with five-minute holes."""
    rows = [HEADER]
    for k in range(6):
        t = 9 * 60 + k * minutes
        rows.append(f"2024.01.02\t{t // 60:02d}:{t % 60:02d}:00\t1.1\t1.2\t1.0\t1.1\t8\t0\t10")
    path = tmp_path / "bars.csv"
    path.write_text("\n".join(rows) + "\n")
    assert read_mt5_csv(path, 10).tf_s == frame


def test_bars_before_now_become_history_and_the_rest_replays() -> None:
    expected = read_file(M1_FILE)
    start = float(expected["time"][100]) + 20.0  # in the middle of the file and of a bar
    market = Market(SYMS, start, SETTINGS)
    market.load_csv("EURUSD", M1_FILE)
    history = market.rates_from_pos("EURUSD", TIMEFRAME_M1, 0, 1000)
    assert history is not None
    assert np.array_equal(history[:-1], expected[:100])
    assert history["time"][-1] == expected["time"][100]  # the forming bar
    tick = market.last_tick("EURUSD")
    assert tick is not None and tick[0] <= start * 1000
    (ticks,) = [b for b in market.advance_to(start + 3 * HOUR) if b.symbol == "EURUSD"]
    assert int(ticks.time_msc[0]) > start * 1000
    got = market.rates_range("EURUSD", TIMEFRAME_M1, expected["time"][0], expected["time"][-1])
    assert got is not None and np.array_equal(got, expected)


def test_replay_far_ahead_generates_everything_between_then_resumes() -> None:
    expected = read_file(M5_FILE)
    start = float(expected["time"][0]) - 2 * HOUR
    market = Market(SYMS, start, SETTINGS)
    market.load_csv("EURUSD", M5_FILE)
    assert market.rates_from_pos("EURUSD", TIMEFRAME_M1, 0, 10) is not None
    assert len(some(market.rates_from_pos("EURUSD", TIMEFRAME_M1, 0, 10))) == 0
    assert market.last_tick("EURUSD") is None
    file_end = float(expected["time"][-1]) + 300
    t_ms, bid, ask = collect(market.advance_to(file_end + 2 * HOUR), "EURUSD")
    assert int(t_ms[0]) == expected["time"][0] * 1000
    replayed = t_ms < file_end * 1000
    assert replayed.sum() == int(expected["tick_volume"].sum())
    resumed = (bid + ask)[~replayed] / 2
    assert resumed.shape[0] > 60 * 60  # the process took over after the file
    last_close = float(expected["close"][-1]) + float(expected["spread"][-1]) * POINT / 2
    assert abs(resumed[0] - last_close) < 10 * POINT
    market.set_regime("EURUSD", MarketRegime.RANGE)  # allowed again once the file is done


def test_d1_file_without_time_column() -> None:
    expected = read_file(D1_FILE)
    start = float(expected["time"][0])
    market = Market(SYMS, start, SETTINGS)
    market.load_csv("EURUSD", D1_FILE)
    end = float(expected["time"][-1]) + 86_400
    t = start
    while t < end:
        t = min(end, t + 6 * HOUR)
        market.advance_to(t)
    d1 = market.rates_range("EURUSD", TIMEFRAME_D1, start, end - 1)
    assert d1 is not None
    assert np.array_equal(d1[["time", "open", "high", "low", "close", "spread"]],
                          expected[["time", "open", "high", "low", "close", "spread"]])
    h1 = market.rates_range("EURUSD", TIMEFRAME_H1, start, end - 1)
    assert h1 is not None and len(h1) > len(expected) * 15  # ticks spread over each day


def test_interventions_are_refused_while_replaying() -> None:
    market = Market(SYMS, epoch(2024, 1, 2, 9), SETTINGS)
    market.load_csv("EURUSD", M1_FILE)
    with pytest.raises(ValueError, match="replays"):
        market.set_regime("EURUSD", MarketRegime.SPIKE)
    with pytest.raises(ValueError, match="replays"):
        market.set_mid("EURUSD", 1.2)
    with pytest.raises(ValueError, match="replays"):
        market.script_path("EURUSD", [(market.now + 60, 1.2)])


def test_interventions_work_again_right_after_the_file_ends(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text("\n".join(M1_FILE.read_text().splitlines()[:101]))  # ends at 10:40
    expected = read_file(path)
    file_end = float(expected["time"][-1]) + 60
    assert file_end % HOUR != 0
    market = Market(SYMS, float(expected["time"][0]), SETTINGS)
    market.load_csv("EURUSD", path)
    market.advance_to(file_end + 30)  # same slice as the file's end
    market.set_mid("EURUSD", 1.5)
    (block,) = [b for b in market.advance_to(file_end + 31) if b.symbol == "EURUSD"]
    assert (block.bid[0] + block.ask[0]) / 2 == pytest.approx(1.5, abs=POINT)
    m1 = some(market.rates_range("EURUSD", TIMEFRAME_M1, expected["time"][0], file_end - 1))
    assert np.array_equal(m1, expected)


def test_utf16_and_semicolon_exports_are_read(tmp_path: Path) -> None:
    text = M1_FILE.read_text().replace("\t", ";")
    path = tmp_path / "EURUSD_M1_utf16.csv"
    path.write_bytes(text.encode("utf-16"))
    expected = read_file(M1_FILE)
    market = Market(SYMS, float(expected["time"][-1]) + 60, SETTINGS)
    market.load_csv("EURUSD", path)
    got = market.rates_from_pos("EURUSD", TIMEFRAME_M1, 0, 180)
    assert got is not None and np.array_equal(got, expected)


def test_gzip_exports_are_read_as_the_text_they_hold(tmp_path: Path) -> None:
    path = tmp_path / "EURUSD_M1.csv.gz"
    path.write_bytes(gzip.compress(M1_FILE.read_bytes()))
    expected = read_file(M1_FILE)
    market = Market(SYMS, float(expected["time"][-1]) + 60, SETTINGS)
    market.load_csv("EURUSD", path)
    got = market.rates_from_pos("EURUSD", TIMEFRAME_M1, 0, 180)
    assert got is not None and np.array_equal(got, expected)
    damaged = tmp_path / "damaged.csv.gz"
    damaged.write_bytes(path.read_bytes()[:40])
    with pytest.raises(ValueError, match=r"damaged\.csv\.gz: the gzip file is damaged"):
        market.load_csv("EURUSD", damaged)


def test_optional_columns_may_be_missing(tmp_path: Path) -> None:
    path = tmp_path / "bare.csv"
    path.write_text("<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\n"
                    "2024.01.02\t10:00\t1.1\t1.2\t1.0\t1.15\n"
                    "2024.01.02\t10:01\t1.15\t1.15\t1.15\t1.15\n")
    market = Market(SYMS, epoch(2024, 1, 2, 10, 5), SETTINGS)
    market.load_csv("EURUSD", path)
    got = market.rates_range("EURUSD", TIMEFRAME_M1, 0, epoch(2024, 1, 2, 10, 1))
    assert got is not None and len(got) == 2
    assert list(got["tick_volume"]) == [4, 4]
    assert list(got["spread"]) == [SYMS["EURUSD"].spread] * 2


GOOD = "2024.01.02\t00:00:00\t1.10000\t1.10010\t1.09990\t1.10005\t50\t0\t10"


@pytest.mark.parametrize(
    ("content", "line", "problem"),
    [
        ("", 1, "empty"),
        ("<DATE>\t<TIME>\t<OPEN>\t<LOW>\t<CLOSE>\n" + GOOD, 1, "missing column <HIGH>"),
        (f"{HEADER}\n{GOOD}\n2024.01.02\t00:01:00\t1.1\tabc\t1.0\t1.1\t5\t0\t1", 3,
         "unparsable number 'abc' in <HIGH>"),
        (f"{HEADER}\n{GOOD}\n2024.01.02\t00:01:00\t1.1\t1.0\t1.2\t1.1\t5\t0\t1", 3,
         "high 1.0 < low 1.2"),
        (f"{HEADER}\n{GOOD}\n2024.01.02\t00:00:00\t1.1\t1.2\t1.0\t1.1\t5\t0\t1", 3,
         "not after the previous"),
        (f"{HEADER}\n{GOOD}\n2024.01.01\t23:59:00\t1.1\t1.2\t1.0\t1.1\t5\t0\t1", 3,
         "not after the previous"),
        (f"{HEADER}\n{GOOD}\n2024.01.02\t00:01:00\t1.1\t1.2\t1.0", 3, "expected 9 fields"),
        (f"{HEADER}\n2024.13.02\t00:00:00\t1.1\t1.2\t1.0\t1.1\t5\t0\t1", 2,
         "unparsable date '2024.13.02'"),
        (f"{HEADER}\n2024.01.02\t25:00:00\t1.1\t1.2\t1.0\t1.1\t5\t0\t1", 2,
         "unparsable time '25:00:00'"),
        (f"{HEADER}\n2024.01.02\t00:00:00\t1.1\t1.2\t1.0\t1.3\t5\t0\t1", 2,
         "outside low..high"),
        (f"{HEADER}\n2024.01.02\t00:00:00\t-1\t1.2\t-1.0\t1.1\t5\t0\t1", 2, "positive"),
        (f"{HEADER}\n2024.01.02\t00:00:00\t1.1\t1.2\t1.0\t1.1\t2.5\t0\t1", 2, "tick volume"),
        (f"{HEADER}\n", 2, "no bars"),
        ("<DATE>\t<OPEN>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\n2024.01.02\t1\t1\t1\t1\t1", 1,
         "column <OPEN> appears twice"),
        ("2024.01.02\t00:00:00\t1.1\t1.2\t1.0\t1.1\t5\t0\t1", 1, "missing column <DATE>"),
    ],
)
def test_malformed_files_get_one_clear_message(
    tmp_path: Path, content: str, line: int, problem: str
) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(content)
    market = Market(SYMS, epoch(2024, 1, 2), SETTINGS)
    before = market.rates_from_pos("EURUSD", TIMEFRAME_M5, 0, 50)
    with pytest.raises(ValueError) as info:
        market.load_csv("EURUSD", path)
    message = str(info.value)
    assert message.startswith(f"{path}: line {line}: "), message
    assert problem in message
    assert "\n" not in message
    assert np.array_equal(some(market.rates_from_pos("EURUSD", TIMEFRAME_M5, 0, 50)), some(before))


def test_binary_garbage_is_refused_with_the_file_name(tmp_path: Path) -> None:
    path = tmp_path / "garbage.csv"
    path.write_bytes(b"\xff\xfe\x00\xd8" + bytes(range(256)))
    market = Market(SYMS, epoch(2024, 1, 2), SETTINGS)
    with pytest.raises(ValueError, match=r"garbage\.csv: line 1: "):
        market.load_csv("EURUSD", path)


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    market = Market(SYMS, epoch(2024, 1, 2), SETTINGS)
    with pytest.raises(ValueError, match=r"nope\.csv: cannot read"):
        market.load_csv("EURUSD", tmp_path / "nope.csv")
