"""The trades a replay runs: a trader's MT5 history export, read into ``TradeSpec`` values.

Theory of operation: a replay needs, per trade, when it opened, on which symbol and side, how
big, its stop and target, and how the trader's own closes went. MT5 gives that two ways, and
both are accepted as CSV (comma, semicolon or tab separated; column names are matched without
case, spaces or punctuation, so ``S / L`` is ``sl``):

- **positions**: one row per position, as the Positions table of MT5's history report
  (``Time, Position, Symbol, Type, Volume, Price, S / L, T / P, Time, Price, Commission,
  Swap, Profit``: the first Time/Price pair is the open, the second the close), or with
  explicit ``open_time``/``close_time``/``open_price``/``close_price`` columns;
- **deals**: one row per deal, as ``mt5.history_deals_get()`` gives them (``time``,
  ``position_id``, ``symbol``, ``type`` 0/1 or buy/sell, ``entry`` 0 in / 1 out / 3 out by,
  ``volume``, ``price``, ``reason``, ``profit`` ...; ``sl`` and ``tp`` if you add them). Deals
  are grouped by position: the in-deals open it, each out-deal is one exit.

Times are the server's, like the bars (``2022.01.10 09:15:32``, ISO, or epoch seconds). Stops
are kept as distances from the recorded entry, so the replayed copies, which fill at the
replayed quote, carry the same risk. An exit is the trader's hand unless the deal's reason
says SL/TP/stop-out or, without a reason, its price sits at the SL or TP (within
``stop_tolerance_points``): those the simulated broker does by itself.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from dtms.core.types import Side
from dtms.replay.bars import ReplayInputError
from dtms.replay.table import Table, cell, number, parse_time, read_table, side_of

DEAL_REASON_SL, DEAL_REASON_TP, DEAL_REASON_SO = 4, 5, 6
_BROKER_REASONS = {DEAL_REASON_SL, DEAL_REASON_TP, DEAL_REASON_SO}


@dataclass(frozen=True, slots=True)
class Exit:
    """One of the trader's own closes, replayed on both copies."""

    at: int
    volume: float | None
    """Lots closed; None closes what is left."""


@dataclass(frozen=True, slots=True)
class TradeSpec:
    """One trade to replay: opened at ``opened_at`` on ``symbol``, managed and unmanaged."""

    key: str
    """Where it comes from: ``trades.csv:12`` or ``random#37``."""
    symbol: str
    side: Side
    volume: float
    opened_at: int
    """Server time, epoch seconds."""
    sl_distance: float
    """Price distance of the stop from the entry (0: no stop)."""
    tp_distance: float
    exits: tuple[Exit, ...] = ()
    price: float | None = None
    """The recorded entry price (None for rule entries)."""
    closed_at: int | None = None
    """When it really closed (None: unknown or still open)."""
    profit: float | None = None
    """What it really made, commission and swap included (None: unknown)."""


def read_trades(path: str, point_of: dict[str, float], tolerance_points: int) -> list[TradeSpec]:
    """Read a positions or deals export into trades (one clear error for the first bad row).

    Args:
        path: the CSV file.
        point_of: the point size of every symbol that has bars (others are refused).
        tolerance_points: a close this near the SL/TP counts as the broker's.
    """
    table = read_table(path)
    c = table.columns
    if "entry" in c or "direction" in c:
        return _from_deals(table, point_of)
    if "time" not in c and "open_time" not in c:
        raise ReplayInputError(f"{path}: line 1: no Time (or open_time) column in the header")
    return _from_positions(table, point_of, tolerance_points)


def _symbol(table: Table, row: list[str], line: int, point_of: dict[str, float]) -> str:
    symbol = cell(table, row, "symbol", line).strip()
    if symbol not in point_of:
        known = ", ".join(sorted(point_of)) or "none"
        raise ReplayInputError(f"{table.path}: line {line}: symbol {symbol!r} has no bars "
                               f"(--bars gave {known})")
    return symbol


def _from_positions(
    table: Table, point_of: dict[str, float], tolerance_points: int
) -> list[TradeSpec]:
    out = []
    open_col = "open_time" if "open_time" in table.columns else "time"
    for line, row in table.rows:
        try:
            if not any(cell.strip() for cell in row):
                continue
            symbol = _symbol(table, row, line, point_of)
            side = side_of(cell(table, row, "type", line))
            volume = number(cell(table, row, "volume", line), "volume")
            opened = parse_time(cell(table, row, open_col, line))
            price = number(cell(table, row, "open_price" if "open_price" in table.columns
                                  else "price", line), "price")
            sl = number(cell(table, row, "sl", line, required=False), "S / L")
            tp = number(cell(table, row, "tp", line, required=False), "T / P")
            close_cell = cell(table, row, "close_time", line, required=False).strip()
            closed = parse_time(close_cell) if close_cell else None
            close_price = number(cell(table, row, "close_price", line, required=False),
                                  "close price")
            profit = _profit(table, row, line)
        except ValueError as exc:
            raise ReplayInputError(f"{table.path}: line {line}: {exc}") from None
        _check(table.path, line, volume, price, sl, tp, side)
        tol = tolerance_points * point_of[symbol]
        by_broker = close_price > 0 and _at_stop(side, close_price, sl, tp, tol)
        exits = (Exit(closed, None),) if closed is not None and not by_broker else ()
        ticket = (cell(table, row, "position", line, required=False)
                  or cell(table, row, "ticket", line, required=False)).strip()
        out.append(TradeSpec(
            f"{Path(table.path).name}:{line}" + (f" #{ticket}" if ticket else ""), symbol,
            side, volume, opened, abs(price - sl) if sl else 0.0, abs(tp - price) if tp else 0.0,
            exits, price, closed, profit))
    return out


def _profit(table: Table, row: list[str], line: int) -> float | None:
    if "profit" not in table.columns:
        return None
    total = 0.0
    for name in ("profit", "commission", "swap", "fee"):
        total += number(cell(table, row, name, line, required=False), name)
    return total


def _at_stop(side: Side, close: float, sl: float, tp: float, tol: float) -> bool:
    """Whether a close at ``close`` was the SL or the TP (at or beyond it, within ``tol``)."""
    s = side.sign
    hit_sl = sl > 0 and (close - sl) * s <= tol
    hit_tp = tp > 0 and (close - tp) * s >= -tol
    return hit_sl or hit_tp


def _check(path: str, line: int, volume: float, price: float, sl: float, tp: float,
           side: Side) -> None:
    if not volume > 0:
        raise ReplayInputError(f"{path}: line {line}: volume {volume:g} is not positive")
    if not price > 0:
        raise ReplayInputError(f"{path}: line {line}: entry price {price:g} is not positive")
    if sl and (price - sl) * side.sign <= 0:
        raise ReplayInputError(f"{path}: line {line}: S / L {sl:g} is not on the losing side "
                               f"of a {side.value} at {price:g}")
    if tp and (tp - price) * side.sign <= 0:
        raise ReplayInputError(f"{path}: line {line}: T / P {tp:g} is not on the winning side "
                               f"of a {side.value} at {price:g}")


@dataclass(slots=True)
class _Position:
    line: int
    symbol: str
    side: Side
    volume: float = 0.0
    notional: float = 0.0
    opened: int = 0
    sl: float = 0.0
    tp: float = 0.0
    exits: list[Exit] = field(default_factory=list)
    closed: int | None = None
    profit: float = 0.0


def _from_deals(table: Table, point_of: dict[str, float]) -> list[TradeSpec]:
    if "position" not in table.columns:
        raise ReplayInputError(
            f"{table.path}: line 1: deals need a position column (position_id, as "
            "history_deals_get gives it) to pair each close with its open; or export the "
            "Positions table instead")
    entry_col = "entry" if "entry" in table.columns else "direction"
    positions: dict[str, _Position] = {}
    for line, row in table.rows:
        try:
            symbol_cell = cell(table, row, "symbol", line, required=False).strip()
            type_cell = cell(table, row, "type", line).strip().lower()
            if not symbol_cell or type_cell not in ("0", "1", "buy", "sell"):
                continue  # balance, credit, commission rows
            symbol = _symbol(table, row, line, point_of)
            pid = cell(table, row, "position", line).strip()
            entry = cell(table, row, entry_col, line).strip().lower()
            side = side_of(type_cell)
            volume = number(cell(table, row, "volume", line), "volume")
            price = number(cell(table, row, "price", line), "price")
            at = parse_time(cell(table, row, "time", line))
            reason = cell(table, row, "reason", line, required=False).strip()
            profit = _profit(table, row, line) or 0.0
        except ValueError as exc:
            raise ReplayInputError(f"{table.path}: line {line}: {exc}") from None
        if entry in ("0", "in"):
            pos = positions.setdefault(pid, _Position(line, symbol, side, opened=at))
            pos.volume += volume
            pos.notional += volume * price
            sl = number(cell(table, row, "sl", line, required=False), "sl")
            tp = number(cell(table, row, "tp", line, required=False), "tp")
            pos.sl, pos.tp = sl or pos.sl, tp or pos.tp
            pos.profit += profit
        elif entry in ("1", "3", "out", "out by"):
            found = positions.get(pid)
            if found is None:
                raise ReplayInputError(f"{table.path}: line {line}: a close of position {pid} "
                                       "whose open is not in the file")
            pos = found
            by_broker = reason.isdigit() and int(reason) in _BROKER_REASONS and (
                pos.sl or pos.tp)
            if not by_broker:
                pos.exits.append(Exit(at, volume))
            pos.closed = at
            pos.profit += profit
        else:
            raise ReplayInputError(f"{table.path}: line {line}: entry {entry!r} is not in/out "
                                   "(reversals of netting accounts are not replayed)")
    out = []
    for pid, pos in positions.items():
        price = pos.notional / pos.volume
        _check(table.path, pos.line, pos.volume, price, pos.sl, pos.tp, pos.side)
        exits = list(pos.exits)
        if exits and pos.closed is not None and exits[-1].at == pos.closed:
            exits[-1] = Exit(exits[-1].at, None)  # the last close takes what is left
        out.append(TradeSpec(
            f"{Path(table.path).name}:{pos.line} #{pid}", pos.symbol, pos.side,
            round(pos.volume, 8), pos.opened, abs(price - pos.sl) if pos.sl else 0.0,
            abs(pos.tp - price) if pos.tp else 0.0, tuple(exits), price, pos.closed,
            pos.profit if "profit" in table.columns else None))
    return sorted(out, key=lambda t: t.opened_at)
