"""Reading a trader's CSV export: columns matched by meaning, cells parsed with the line named.

Column names are matched without case, spaces or punctuation (``S / L`` is ``sl``), through a
table of the names MT5's reports and its Python package use. A positions table names Time and
Price twice (open, then close): the second of each is the close.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from dtms.core.types import Side
from dtms.replay.bars import ReplayInputError

__all__ = ["Table", "cell", "number", "parse_time", "read_table", "side_of"]


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


_ALIASES = {
    "time": "time", "opentime": "open_time", "timeopen": "open_time",
    "closetime": "close_time", "timeclose": "close_time", "position": "position",
    "positionid": "position", "ticket": "ticket", "symbol": "symbol", "type": "type",
    "side": "type", "direction": "direction", "entry": "entry", "volume": "volume",
    "lots": "volume", "size": "volume", "price": "price", "openprice": "open_price",
    "priceopen": "open_price", "closeprice": "close_price", "priceclose": "close_price",
    "sl": "sl", "stoploss": "sl", "tp": "tp", "takeprofit": "tp", "profit": "profit",
    "commission": "commission", "swap": "swap", "fee": "fee", "reason": "reason",
}


def parse_time(cell: str) -> int:
    """Server time of a cell: ``2022.01.10 09:15[:32]``, ISO, or epoch seconds."""
    text = cell.strip()
    if re.fullmatch(r"\d{9,11}(\.\d*)?", text):
        return int(float(text))
    norm = text.replace(".", "-", 2).replace("/", "-").replace("T", " ")
    for fmt in ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"):
        try:
            return int(datetime.strptime(norm.split("+")[0].strip(), fmt)
                       .replace(tzinfo=UTC).timestamp())
        except ValueError:
            continue
    raise ValueError(f"unparsable time {cell!r}")


def side_of(cell: str) -> Side:
    """BUY or SELL from 0/1, buy/sell or long/short."""
    text = cell.strip().lower()
    if text in ("0", "buy", "long"):
        return Side.BUY
    if text in ("1", "sell", "short"):
        return Side.SELL
    raise ValueError(f"type {cell!r} is neither buy nor sell")


def number(cell: str, what: str) -> float:
    """A number; an empty cell or a dash is 0."""
    text = cell.strip().replace(" ", "")
    if text in ("", "-"):
        return 0.0
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"unparsable {what} {cell!r}") from None


@dataclass(frozen=True, slots=True)
class Table:
    """A CSV file's rows with its canonical column positions."""

    path: str
    columns: dict[str, int]
    """Canonical name -> index (the second Time/Price of a positions table: close_*)."""
    rows: list[tuple[int, list[str]]]


def read_table(path: str) -> Table:
    """Read a CSV export; one clear error for an unreadable or empty file."""
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ReplayInputError(f"{path}: cannot read the file ({exc.strerror or exc})") from None
    for codec in ("utf-8-sig", "utf-16"):
        try:
            text = raw.decode(codec)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise ReplayInputError(f"{path}: line 1: the file is not UTF-8 or UTF-16 text")
    lines = text.splitlines()
    numbered = [(i + 1, ln) for i, ln in enumerate(lines) if ln.strip()]
    if not numbered:
        raise ReplayInputError(f"{path}: line 1: the file is empty (expected a header row)")
    head_line, header = numbered[0]
    sep = max((",", ";", "\t"), key=header.count)
    names = next(csv.reader(io.StringIO(header), delimiter=sep))
    columns: dict[str, int] = {}
    for i, name in enumerate(names):
        canon = _ALIASES.get(_key(name))
        if canon is None:
            continue
        if canon in columns:  # a positions table names the close Time and Price again
            if canon in ("time", "price"):
                canon = f"close_{canon}"
            else:
                continue
        if canon == "time" and "open_time" in columns:
            canon = "close_time"
        columns.setdefault(canon, i)
    rows = []
    for line, text_row in numbered[1:]:
        rows.append((line, next(csv.reader(io.StringIO(text_row), delimiter=sep))))
    if not rows:
        raise ReplayInputError(f"{path}: line {head_line + 1}: no trades after the header")
    return Table(path, columns, rows)


def cell(table: Table, row: list[str], name: str, line: int, required: bool = True) -> str:
    """The row's value of column ``name`` (empty if absent and not required)."""
    idx = table.columns.get(name)
    if idx is None or idx >= len(row):
        if required:
            raise ReplayInputError(f"{table.path}: line {line}: no {name} value")
        return ""
    return row[idx]
