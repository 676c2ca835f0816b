"""Bar files of a replay: symbol, timeframe and the server's UTC offset."""

from __future__ import annotations

from pathlib import Path

import pytest

from dtms.replay.bars import ReplayInputError, infer_clock, load_bar_files, parse_bar_argument
from tests.replay.conftest import write_bars


@pytest.mark.parametrize(
    ("arg", "symbol", "how"),
    [
        ("data/EURUSD_M5_202201040000_202202221525.csv", "EURUSD", "file name"),
        ("EURUSD.m_M1.csv.gz", "EURUSD.m", "file name"),
        ("XAUUSD.csv", "XAUUSD", "file name"),
        ("GBPUSD=exports/bars.csv", "GBPUSD", "SYMBOL=path"),
    ],
)
def test_the_symbol_comes_from_the_file_name_or_is_given(arg, symbol, how):
    assert parse_bar_argument(arg)[0::2] == (symbol, how)


def test_the_real_slice_is_m5_on_a_server_at_utc_minus_3_5(real_bars):
    clock = infer_clock([real_bars])
    assert (real_bars.symbol, real_bars.timeframe) == ("EURUSD", "M5")
    assert clock.utc_offset_hours == -3.5
    assert "7 weekend gap(s)" in clock.source
    assert (clock.week_close_utc_hour, clock.week_open_utc_hour) == (22.0, 22.0)


def _week(path: Path, friday: str, sunday: str, last: str, first: str) -> Path:
    rows = [(friday, f"{h:02d}:{m:02d}:00", 1.1) for h in range(20, 24) for m in range(0, 60, 5)
            if f"{h:02d}:{m:02d}" <= last]
    rows += [(sunday, f"{h:02d}:{m:02d}:00", 1.1) for h in range(20, 24) for m in range(0, 60, 5)
             if f"{h:02d}:{m:02d}" >= first]
    return write_bars(path, rows)


@pytest.mark.parametrize(
    ("friday", "sunday", "last", "first", "offset"),
    [
        ("2024.01.05", "2024.01.07", "23:55", "00:00", 2.0),  # winter: the week ends at 22:00 UTC
        ("2024.07.05", "2024.07.07", "23:55", "00:00", 3.0),  # US summer time: at 21:00 UTC
        ("2024.01.05", "2024.01.07", "21:55", "22:00", 0.0),
    ],
)
def test_the_offset_is_read_from_new_york_s_weekly_close(tmp_path, friday, sunday, last, first,
                                                         offset):
    """A server stamping the week's last bar 23:55 and the next week's first 00:00 (Monday)
    runs at UTC+2 in winter and UTC+3 in US summer time, as 'New York close' servers do."""
    if first == "00:00":  # the week reopens at midnight: the bars are Monday's
        monday = sunday[:-2] + f"{int(sunday[-2:]) + 1:02d}"
        rows = [(friday, f"{h:02d}:{m:02d}:00", 1.1) for h in range(22, 24)
                for m in range(0, 60, 5)]
        rows += [(monday, f"00:{m:02d}:00", 1.1) for m in range(0, 60, 5)]
        path = write_bars(tmp_path / "EURUSD.csv", rows)
    else:
        path = _week(tmp_path / "EURUSD.csv", friday, sunday, last, first)
    assert infer_clock(load_bar_files([str(path)])).utc_offset_hours == offset


def test_without_a_weekend_the_offset_must_be_given(tmp_path):
    path = write_bars(tmp_path / "EURUSD.csv", [("2024.01.03", "10:00:00", 1.1),
                                                ("2024.01.03", "10:05:00", 1.1)])
    files = load_bar_files([str(path)])
    with pytest.raises(ReplayInputError, match="--utc-offset"):
        infer_clock(files)
    assert infer_clock(files, 2.0).utc_offset_hours == 2.0


def test_coarser_bars_than_m15_are_refused(tmp_path):
    path = write_bars(tmp_path / "EURUSD_H1.csv", [("2024.01.03", "10:00:00", 1.1),
                                                   ("2024.01.03", "11:00:00", 1.1)])
    with pytest.raises(ReplayInputError, match=r"EURUSD_H1\.csv: bars are 3600 s apart.*M1 to M15"):
        load_bar_files([str(path)])


def test_one_file_per_symbol(tmp_path):
    path = write_bars(tmp_path / "EURUSD.csv", [("2024.01.03", "10:00:00", 1.1)])
    with pytest.raises(ReplayInputError, match="a second bar file for EURUSD"):
        load_bar_files([str(path), f"EURUSD={path}"])


def test_a_malformed_bars_file_names_its_line(tmp_path):
    path = tmp_path / "EURUSD.csv"
    path.write_text("<DATE>\t<TIME>\t<OPEN>\t<HIGH>\t<LOW>\t<CLOSE>\n2024.01.03\t10:00\t1.1\tx\t1\t1\n")
    with pytest.raises(ReplayInputError, match=r"EURUSD\.csv: line 2: unparsable number 'x'"):
        load_bar_files([str(path)])
