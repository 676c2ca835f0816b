"""The news calendar a user supplies: CSV and iCalendar read right, a bad file is one line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dtms.core.news import NewsPolicy
from dtms.runtime.calendar import Calendar, CalendarError, read_calendar

DTMS = [sys.executable, "-m", "dtms.cli"]


def _utc(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


CSV = """Date,Time,Currency,Impact,Event,Actual
2026-03-06,13:30,USD,High Impact Expected,Non-Farm Payrolls,
2026-03-06,15:00,eur,Low,German Factory Orders,
,,,,,
2026-03-06,16:00,ALL,Holiday,Bank Holiday,
"""

ICS = """BEGIN:VCALENDAR\r
VERSION:2.0\r
BEGIN:VEVENT\r
DTSTART:20260306T133000Z\r
SUMMARY:USD Non-Farm\r
  Payrolls\r
DESCRIPTION:Impact: High\r
END:VEVENT\r
BEGIN:VEVENT\r
DTSTART;TZID=Europe/London:20260706T090000\r
SUMMARY:[GBP] CPI y/y\r
CATEGORIES:GBP,Medium\r
END:VEVENT\r
BEGIN:VEVENT\r
DTSTART;VALUE=DATE:20260307\r
SUMMARY:Holiday\r
END:VEVENT\r
BEGIN:VEVENT\r
DTSTART:20260306T100000\r
SUMMARY:ECB President Speaks\r
PRIORITY:7\r
END:VEVENT\r
END:VCALENDAR\r
"""


def test_a_csv_calendar_with_date_and_time_columns(tmp_path: Path) -> None:
    path = tmp_path / "week.csv"
    path.write_text(CSV)
    events = read_calendar(str(path), 2.0)  # a broker at UTC+2
    assert [(e.at, e.currency, e.impact, e.title) for e in events] == [
        (_utc("2026-03-06 15:30"), "USD", "high", "Non-Farm Payrolls"),
        (_utc("2026-03-06 17:00"), "EUR", "low", "German Factory Orders"),
        (_utc("2026-03-06 18:00"), "", "none", "Bank Holiday"),
    ]


def test_a_csv_calendar_with_iso_times_and_offsets(tmp_path: Path) -> None:
    path = tmp_path / "week.csv"
    path.write_text("time,currency,impact,title\n2026-03-06T08:30:00-05:00,USD,high,NFP\n"
                    "2026-03-06T12:00:00Z,JPY,medium,\n")
    events = read_calendar(str(path), 0.0)
    assert [(e.at, e.currency) for e in events] == [(_utc("2026-03-06 12:00"), "JPY"),
                                                    (_utc("2026-03-06 13:30"), "USD")]


def test_an_icalendar_file(tmp_path: Path) -> None:
    path = tmp_path / "week.ics"
    path.write_text(ICS)
    events = read_calendar(str(path), 0.0)
    assert [(e.at, e.currency, e.impact, e.title) for e in events] == [
        (_utc("2026-03-06 10:00"), "", "low", "ECB President Speaks"),  # floating = UTC
        (_utc("2026-03-06 13:30"), "USD", "high", "USD Non-Farm Payrolls"),
        (_utc("2026-07-06 08:00"), "GBP", "medium", "[GBP] CPI y/y"),  # BST is UTC+1
    ]


BAD = [
    ("week.csv", "", "empty file"),
    ("week.csv", "time,currency,title\n2026-03-06 13:30,USD,NFP\n", "no 'impact' column"),
    ("week.csv", "time,currency,impact\nFriday,USD,high\n", "line 2: cannot read the time"),
    ("week.csv", "time,currency,impact\n2026-03-06 13:30,US,high\n",
     "line 2: currency 'US' is not a 3-letter code"),
    ("week.csv", "time,currency,impact\n2026-03-06 13:30,USD,huge\n",
     "line 2: impact 'huge' is not high, medium or low"),
    ("week.ics", "BEGIN:VEVENT\nEND:VEVENT\n", "not an iCalendar file"),
    ("week.ics", "BEGIN:VCALENDAR\nBEGIN:VEVENT\nSUMMARY:x\nEND:VEVENT\nEND:VCALENDAR\n",
     "no DTSTART"),
    ("week.ics", "BEGIN:VCALENDAR\nBEGIN:VEVENT\nDTSTART;TZID=Mars/Olympus:20260306T100000\n"
     "END:VEVENT\nEND:VCALENDAR\n", "unknown time zone"),
]


@pytest.mark.parametrize(("name", "text", "message"), BAD)
def test_a_bad_calendar_is_one_line_naming_the_file_and_the_problem(
        tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(CalendarError) as info:
        read_calendar(str(path), 0.0)
    assert message in str(info.value) and str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_a_missing_calendar_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CalendarError, match="does not exist"):
        Calendar(NewsPolicy(calendar=str(tmp_path / "none.csv")))
    with pytest.raises(CalendarError, match="is a directory"):
        Calendar(NewsPolicy(calendar=str(tmp_path)))


def test_near_picks_the_symbols_events_and_a_changed_file_is_reloaded(tmp_path: Path) -> None:
    path = tmp_path / "week.csv"
    path.write_text(CSV)
    cal = Calendar(NewsPolicy(calendar=str(path), impacts=("high", "low"),
                              reload_seconds=1e-6))
    nfp = _utc("2026-03-06 13:30")
    assert [e.title for e in cal.near("EURUSD.m", nfp - 600)] == ["Non-Farm Payrolls"]
    assert [e.title for e in cal.near("EURJPY", nfp + 5400)] == ["German Factory Orders"]
    assert cal.near("GBPJPY", nfp) == () and cal.near("EURUSD", nfp - 7200) == ()
    path.write_text("time,currency,impact\n2026-03-06 13:30,GBP,high\n")
    os.utime(path, (1, 1))  # a new modification time
    time.sleep(1e-3)
    cal.refresh()
    assert [e.currency for e in cal.near("GBPJPY", nfp)] == ["GBP"]
    path.write_text("time,currency,impact\nsoon,GBP,high\n")  # a bad new version
    os.utime(path, (2, 2))
    time.sleep(1e-3)
    cal.refresh()
    assert [e.currency for e in cal.near("GBPJPY", nfp)] == ["GBP"]  # the old events stay


def test_dtms_run_with_a_bad_calendar_stops_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "week.csv").write_text("time,currency,impact\n2026-03-06 13:30,USD,huge\n")
    (tmp_path / "c.toml").write_text('[news]\ncalendar = "week.csv"\n')
    out = subprocess.run([*DTMS, "run", "--config", "c.toml", "--duration", "5"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, out.stderr
    assert "news calendar week.csv line 2: impact 'huge' is not high, medium or low" in lines[0]
    assert not (tmp_path / "dtms.sqlite3").exists()  # nothing started
