"""The economic calendar a user supplies (``[news] calendar``): CSV or iCalendar, read safely.

Theory of operation. The file is read once at start — a file that cannot be read is one clear
line naming the file, the line and what is wrong, and dtms does not start — and again whenever
it changes on disk (a weekly calendar is replaced while dtms runs; a bad new version is said
once and the previous events stay in force). Times are converted to broker time with
``[indicators] broker_utc_offset_hours``. Each cycle the supervisor asks which events are near
for a symbol; the core decides what they block.

CSV: a header row naming the columns (any order, any case): ``time`` (ISO 8601: ``2026-03-06
13:30``, ``2026-03-06T13:30:00Z``, ``...+01:00``; without an offset it is UTC) or ``date`` and
``time``; ``currency`` (a 3-letter code; ``ALL`` or empty: every symbol); ``impact`` (high,
medium, low; holiday or none never count); optionally ``title`` (or ``event``). Other columns
are ignored.

iCalendar: each ``VEVENT``'s ``DTSTART`` (UTC ``...Z``, ``TZID=``, or floating = UTC; all-day
events are skipped), ``SUMMARY``; the currency from ``X-CURRENCY``, ``CATEGORIES`` or a 3-letter
code in the summary (``USD Non-Farm Payrolls``, ``[USD] ...``); the impact from ``X-IMPACT``,
``CATEGORIES``, ``PRIORITY`` (1-4 high, 5 medium, 6-9 low) or ``Impact: High`` / ``High
Impact`` in the summary or description — an event that states none is taken as high.
"""

from __future__ import annotations

import bisect
import csv
import io
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loguru import logger

from dtms.core.news import NewsEvent, NewsPolicy, affects
from dtms.errors import ConfigError

_IMPACT_WORDS = {
    "high": "high", "h": "high", "3": "high", "red": "high",
    "medium": "medium", "med": "medium", "moderate": "medium", "m": "medium", "2": "medium",
    "orange": "medium",
    "low": "low", "l": "low", "1": "low", "yellow": "low",
    "holiday": "none", "none": "none", "non-economic": "none", "0": "none",
}
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_IN_TEXT = re.compile(r"(?:^|[\s\[(:|-])([A-Z]{3})(?=$|[\s\]):|-])")
KNOWN_CURRENCIES = frozenset((
    "USD", "EUR", "GBP", "JPY", "CHF", "CAD", "AUD", "NZD", "CNY", "CNH", "HKD", "SGD", "SEK",
    "NOK", "DKK", "ZAR", "MXN", "TRY", "PLN", "HUF", "CZK", "RUB", "INR", "BRL", "KRW", "XAU",
    "XAG"))
"""Codes recognised inside an iCalendar summary (a CSV column may name any 3-letter code)."""
_IMPACT_IN_TEXT = re.compile(r"impact\s*[:=]?\s*(high|medium|low)|(high|medium|low)\s+impact",
                             re.IGNORECASE)


class CalendarError(ConfigError):
    """The calendar file cannot be used."""


def _impact(raw: str, where: str) -> str:
    word = raw.strip().lower()
    for key in (word, word.split(" ")[0] if word else word):
        if key in _IMPACT_WORDS:
            return _IMPACT_WORDS[key]
    raise CalendarError(f"{where}: impact {raw!r} is not high, medium or low")


def _currency(raw: str, where: str) -> str:
    code = raw.strip().upper()
    if code in ("", "ALL", "*"):
        return ""
    if not _CURRENCY.match(code):
        raise CalendarError(f"{where}: currency {raw!r} is not a 3-letter code (or ALL)")
    return code


def _utc(text: str, where: str) -> float:
    try:
        moment = datetime.fromisoformat(text.strip().replace(" UTC", "Z"))
    except ValueError:
        raise CalendarError(f"{where}: cannot read the time {text!r} (expected ISO 8601, "
                            "e.g. 2026-03-06T13:30:00Z)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def parse_csv(text: str, source: str) -> list[tuple[float, str, str, str]]:
    """(UTC epoch, currency, impact, title) of each row of a CSV calendar."""
    reader = csv.DictReader(io.StringIO(text))
    if not reader.fieldnames:
        raise CalendarError(f"news calendar {source}: empty file (expected a header row: "
                            "time, currency, impact, title)")
    names = {n.strip().lower(): n for n in reader.fieldnames if n}
    for needed in ("currency", "impact"):
        if needed not in names:
            raise CalendarError(f"news calendar {source}: no {needed!r} column (expected "
                                "columns: time, currency, impact, title)")
    if "datetime" not in names and "time" not in names:
        raise CalendarError(f"news calendar {source}: no 'time' column (expected columns: "
                            "time, currency, impact, title)")
    title_key = names.get("title") or names.get("event") or names.get("name")
    out = []
    for row in reader:
        where = f"news calendar {source} line {reader.line_num}"
        if not any((v or "").strip() for v in row.values()):
            continue
        when = row.get(names.get("datetime", ""), "") or row.get(names.get("time", ""), "") or ""
        date = row.get(names["date"], "") if "date" in names else ""
        if date and "datetime" not in names and not re.match(r"\d{4}-\d\d-\d\d", when.strip()):
            when = f"{date.strip()} {when.strip()}"
        out.append((_utc(when, where), _currency(row[names["currency"]] or "", where),
                    _impact(row[names["impact"]] or "", where),
                    (row.get(title_key, "") if title_key else "").strip()))
    return out


def _unfold(text: str) -> list[str]:
    lines: list[str] = []
    for raw in text.splitlines():
        if raw[:1] in (" ", "\t") and lines:
            lines[-1] += raw[1:]
        else:
            lines.append(raw.rstrip("\r"))
    return lines


def _ics_time(name: str, value: str, where: str) -> float | None:
    params = dict(p.split("=", 1) for p in name.split(";")[1:] if "=" in p)
    if params.get("VALUE") == "DATE" or re.fullmatch(r"\d{8}", value):
        return None  # an all-day event: no moment to keep away from
    try:
        moment = datetime.strptime(value.rstrip("Z"), "%Y%m%dT%H%M%S")
    except ValueError:
        raise CalendarError(f"{where}: cannot read DTSTART {value!r}") from None
    if value.endswith("Z") or "TZID" not in params:
        return moment.replace(tzinfo=UTC).timestamp()
    try:
        return moment.replace(tzinfo=ZoneInfo(params["TZID"].strip('"'))).timestamp()
    except (ZoneInfoNotFoundError, ValueError):
        raise CalendarError(f"{where}: unknown time zone {params['TZID']!r}") from None


def parse_ics(text: str, source: str) -> list[tuple[float, str, str, str]]:
    """(UTC epoch, currency, impact, title) of each timed VEVENT of an iCalendar file."""
    lines = _unfold(text)
    if not any(line.strip().upper() == "BEGIN:VCALENDAR" for line in lines[:5]):
        raise CalendarError(f"news calendar {source}: not an iCalendar file (no BEGIN:VCALENDAR)")
    out = []
    event: dict[str, tuple[str, str]] | None = None
    for n, line in enumerate(lines, 1):
        upper = line.strip().upper()
        if upper == "BEGIN:VEVENT":
            event, start = {}, n
            continue
        if upper == "END:VEVENT" and event is not None:
            item = _ics_event(event, f"news calendar {source} event at line {start}")
            if item is not None:
                out.append(item)
            event = None
            continue
        if event is not None and ":" in line:
            name, value = line.split(":", 1)
            event.setdefault(name.split(";")[0].upper(), (name, value.strip()))
    return out


def _ics_event(ev: dict[str, tuple[str, str]], where: str
               ) -> tuple[float, str, str, str] | None:
    if "DTSTART" not in ev:
        raise CalendarError(f"{where}: no DTSTART")
    at = _ics_time(*ev["DTSTART"], where)
    if at is None:
        return None
    summary = ev.get("SUMMARY", ("", ""))[1].replace("\\,", ",")
    categories = ev.get("CATEGORIES", ("", ""))[1]
    text = " ".join((summary, ev.get("DESCRIPTION", ("", ""))[1], categories))
    currency = ev.get("X-CURRENCY", ("", ""))[1]
    if not currency:
        found = [c.strip().upper() for c in categories.split(",") if _CURRENCY.match(
            c.strip().upper())] or [c for c in _IN_TEXT.findall(summary)
                                    if c in KNOWN_CURRENCIES]
        currency = found[0] if found else ""
    impact = ev.get("X-IMPACT", ("", ""))[1]
    if not impact:
        words = [c.strip().lower() for c in categories.split(",")]
        impact = next((w for w in words if w in ("high", "medium", "low")), "")
    if not impact and "PRIORITY" in ev:
        p = ev["PRIORITY"][1].strip()
        impact = "high" if p in "1234" else "medium" if p == "5" else "low" if p else ""
    if not impact:
        m = _IMPACT_IN_TEXT.search(text)
        impact = (m.group(1) or m.group(2)) if m else "high"
    return at, _currency(currency, where), _impact(impact, where), summary.strip()


def read_calendar(path: str, utc_offset_hours: float) -> tuple[NewsEvent, ...]:
    """Every event of the file, in broker time, oldest first."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise CalendarError(f"news calendar {path} does not exist") from None
    except IsADirectoryError:
        raise CalendarError(f"news calendar {path} is a directory, not a file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CalendarError(f"cannot read news calendar {path}: {exc}") from exc
    head = text.lstrip()[:15].upper()
    if p.suffix.lower() in (".ics", ".ical", ".ifb") or head.startswith("BEGIN:VCALENDAR"):
        rows = parse_ics(text, path)
    else:
        rows = parse_csv(text, path)
    shift = utc_offset_hours * 3600.0
    return tuple(sorted((NewsEvent(at + shift, cur, imp, title) for at, cur, imp, title in rows),
                        key=lambda e: e.at))


class Calendar:
    """The calendar's events, reloaded when the file changes."""

    def __init__(self, policy: NewsPolicy, utc_offset_hours: float = 0.0) -> None:
        self._policy = policy
        self._offset = utc_offset_hours
        self.events: tuple[NewsEvent, ...] = ()
        self._times: list[float] = []
        self._mtime = 0.0
        self._checked = time.monotonic()
        self._log = logger.bind(component="news")
        if policy.calendar:
            self._load()

    def _load(self) -> None:
        path = self._policy.calendar
        mtime = Path(path).stat().st_mtime if Path(path).exists() else 0.0
        wanted = set(self._policy.impacts)
        events = tuple(e for e in read_calendar(path, self._offset) if e.impact in wanted)
        self.events, self._times, self._mtime = events, [e.at for e in events], mtime
        self._log.info(f"news calendar {path}: {len(events)} event(s) at impact "
                       f"{', '.join(self._policy.impacts)}")

    def refresh(self) -> None:
        """Reload the file if it changed (a bad new version: said once, the old events kept)."""
        path = self._policy.calendar
        if not path or time.monotonic() - self._checked < self._policy.reload_seconds:
            return
        self._checked = time.monotonic()
        try:
            mtime = Path(path).stat().st_mtime
        except OSError:
            return
        if mtime == self._mtime:
            return
        try:
            self._load()
        except CalendarError as exc:
            self._mtime = mtime
            self._log.error(f"{exc}; the previous events stay in force")

    def near(self, symbol: str, at: float) -> tuple[NewsEvent, ...]:
        """Events of ``symbol`` whose blackout or flatten window may hold ``at``."""
        if not self._times:
            return ()
        p = self._policy
        lo = bisect.bisect_left(self._times, at - p.blackout_minutes * 60.0)
        hi = bisect.bisect_right(self._times, at + p.horizon_seconds)
        return tuple(e for e in self.events[lo:hi] if affects(e, symbol))


__all__ = ["Calendar", "CalendarError", "parse_csv", "parse_ics", "read_calendar"]
