"""Controls for test authors and demos: the world around the account, not the MT5 API.

Theory of operation: a real account is touched by more than one program. A human opens and
closes trades by hand (and on a netting account reverses or adds to a position), another EA
closes one, the terminal loses its link or answers one glitched snapshot, the broker answers
something odd. :class:`Scenario` (``sim.scenario``) does these things to the simulated account,
either now or at a broker time (:meth:`Scenario.at`), in which case the engine runs the action
when it reaches that instant while advancing, with the quotes of that instant. Prices are
steered through the market itself (``sim.market.set_regime``, ``script_path``, ``set_mid``),
which can also be scheduled: ``sim.scenario.at(t, sim.market.set_regime, "EURUSD", regime)``.

Every method takes the server lock and first brings the server to the clock's time, so it acts
"now" like any API call would.
"""

from __future__ import annotations

import dataclasses
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from dtms.broker import constants as c
from dtms.broker.sim.faults import ForcedAnswer
from dtms.broker.sim.ledger import Origin, Position
from dtms.broker.sim.server import Server
from dtms.broker.sim.settings import MarginMode
from dtms.broker.sim.symbols import SimSymbol


def _origin(manual: bool, magic: int, comment: str) -> Origin:
    reason = c.DEAL_REASON_CLIENT if manual else c.DEAL_REASON_EXPERT
    return Origin(reason=reason, magic=int(magic), comment=comment)


def order_type_of(side: object) -> int:
    """ORDER_TYPE_BUY/SELL from 'buy'/'sell', a ``Side``-like enum, or 0/1."""
    value = getattr(side, "value", side)
    if isinstance(value, str) and value.lower() in ("buy", "sell"):
        return c.ORDER_TYPE_BUY if value.lower() == "buy" else c.ORDER_TYPE_SELL
    if isinstance(value, int) and value in (c.ORDER_TYPE_BUY, c.ORDER_TYPE_SELL):
        return value
    raise ValueError(f"side must be 'buy', 'sell', Side.BUY/SELL or 0/1, got {side!r}")


class Scenario:
    """What happens to the simulated account besides the API calls of the program under test."""

    def __init__(self, server: Server) -> None:
        """Act on ``server``."""
        self._server = server

    # --- time ------------------------------------------------------------------------------
    def at(self, broker_time: float, action: Callable[..., object], *args: object) -> None:
        """Run ``action(*args)`` when the server reaches ``broker_time`` (now if past).

        Any callable works: a method of this object (``scenario.close_position``), of the
        market (``sim.market.set_regime``) or a function of your own.
        """
        with self._server.lock:
            self._server.engine.timeline.schedule(broker_time, lambda: action(*args))

    # --- the broker's answers --------------------------------------------------------------
    def next_order_send(self, retcode: int, *, execute: bool = False) -> None:
        """Answer the next ``order_send`` with ``retcode``.

        With ``execute=True`` the order executes anyway and only the answer says ``retcode``
        (e.g. 10012 TIMEOUT for an order that went through); the answer carries no tickets.
        """
        with self._server.lock:
            self._server.faults.forced_sends.append(ForcedAnswer(retcode, execute))

    def fail_next(
        self,
        fn_name: str,
        last_error: tuple[int, str] = (
            c.RES_E_INTERNAL_FAIL_TIMEOUT, c.ERROR_MESSAGES[c.RES_E_INTERNAL_FAIL_TIMEOUT]
        ),
    ) -> None:
        """Make the next call of API function ``fn_name`` fail with ``last_error``.

        It returns ``None`` (``False`` for ``initialize``/``login``/``symbol_select``) and does
        nothing else: an order_send failed this way does not execute.
        """
        with self._server.lock:
            self._server.faults.forced_errors.setdefault(fn_name, deque()).append(last_error)

    def ipc_outage(self, seconds: float) -> None:
        """Lose the terminal link now for ``seconds``; afterwards ``initialize()`` is needed."""
        with self._server.synced():
            self._server.link.lose(self._server.engine.now, self._server.engine.now + seconds)

    def link_outages(self) -> list[tuple[float, float]]:
        """(lost, restored) of every terminal link outage so far, in broker time; restored is
        +inf while no ``initialize()`` has brought the link back."""
        with self._server.lock:
            return [(a, b) for a, b in self._server.link.outages]

    def set_autotrading(self, enabled: bool) -> None:
        """Press the terminal's AutoTrading button (off: order_send answers 10027)."""
        with self._server.lock:
            self._server.trading.autotrading = enabled
            self._server.others.scripted_switch()

    def glitch_next_snapshot(self, missing: Iterable[int] | None = None) -> None:
        """Make the next unfiltered ``positions_get()`` leave out ``missing`` tickets.

        ``None`` leaves out every position: the answer is ``()`` although positions are open.
        Filtered calls (``ticket=``, ``symbol=``, ``group=``) stay truthful. Calls queue up.
        """
        with self._server.lock:
            self._server.snapshots.scripted.append(
                None if missing is None else frozenset(int(t) for t in missing)
            )

    def set_tradeapi_disabled(self, disabled: bool) -> None:
        """Tick "Disable automatic trading via external Python API" (order_send: None, -8)."""
        with self._server.lock:
            self._server.tradeapi_disabled = disabled

    # --- the account -----------------------------------------------------------------------
    def open_position(
        self, symbol: str, side: object, volume: float, *, sl: float = 0.0, tp: float = 0.0,
        magic: int = 0, comment: str = "", manual: bool = True,
    ) -> int:
        """Open a position as a human (reason CLIENT) or another EA (``manual=False``).

        No validation beyond a quote being there: this is the world, not the program under
        test. Returns the position ticket.
        """
        server = self._server
        kind = order_type_of(side)
        with server.synced():
            if symbol not in server.symbols:
                raise ValueError(f"unknown symbol {symbol!r}")
            fill = server.hands.open(symbol, kind, float(volume), sl=float(sl), tp=float(tp),
                                     origin=_origin(manual, magic, comment))
            return fill.position

    def close_position(
        self, ticket: int, volume: float | None = None, magic: int = 0, manual: bool = True,
        comment: str = "",
    ) -> bool:
        """Close a position (or ``volume`` of it) from outside; False if not open.

        By hand (reason CLIENT) by default; ``manual=False`` is another EA's close (reason
        EXPERT) and the closing deal carries ``magic`` and ``comment``.
        """
        server = self._server
        with server.synced():
            pos = server.book.positions.get(ticket)
            if pos is None:
                return False
            amount = pos.volume if volume is None else min(float(volume), pos.volume)
            return server.hands.close(pos, amount, _origin(manual, magic, comment)) is not None

    def reverse_position(self, ticket: int, *, magic: int = 0, manual: bool = True) -> int | None:
        """Reverse a netting position by hand: one opposite deal of twice its volume.

        The position keeps its ticket and identifier, switches side, opens at the deal's
        price without stops, and history gets one DEAL_ENTRY_INOUT deal. Returns that deal's
        ticket, or None if the position is not open.

        Raises:
            ValueError: the account is hedging, or the symbol has no quote.
        """
        server = self._server
        with server.synced():
            pos = self._position(ticket)
            if pos is None:
                return None
            return server.hands.reverse(pos, _origin(manual, magic, "")).deal

    def scale_in(
        self, ticket: int, volume: float, *, magic: int = 0, manual: bool = True
    ) -> int | None:
        """Add ``volume`` to a netting position by hand (same side).

        The volume grows, ``price_open`` becomes the volume-weighted average and history gets a
        DEAL_ENTRY_IN deal. Returns that deal's ticket, or None if the position is not open.

        Raises:
            ValueError: the account is hedging, or the symbol has no quote.
        """
        server = self._server
        with server.synced():
            pos = self._position(ticket)
            if pos is None:
                return None
            return server.hands.scale_in(pos, float(volume), _origin(manual, magic, "")).deal

    def _position(self, ticket: int) -> Position | None:
        return self._server.book.positions.get(ticket)

    def modify_position(self, ticket: int, *, sl: float, tp: float) -> bool:
        """Move a position's stops by hand (no validation); False if not open."""
        server = self._server
        with server.synced():
            pos = server.book.positions.get(ticket)
            if pos is None:
                return False
            server.book.modify(pos, float(sl), float(tp), server.engine.time_msc)
            return True

    def deposit(self, amount: float, comment: str = "Deposit") -> int:
        """Add money to the balance (negative: withdraw); returns the balance deal's ticket."""
        with self._server.synced():
            return self._server.book.deposit(float(amount), self._server.engine.time_msc, comment)

    def set_margin_mode(self, mode: MarginMode | str) -> None:
        """Make the account hedging or netting; only while no position is open."""
        new = mode if isinstance(mode, MarginMode) else MarginMode(str(mode).lower())
        with self._server.synced():
            if self._server.book.positions:
                raise ValueError("set_margin_mode needs an account without open positions")
            self._server.trading.margin_mode = new

    def set_symbol(self, name: str, **changes: Any) -> SimSymbol:
        """Change a symbol's trading rules (``trade_mode=3``, ``stops_level=50``, ...)."""
        with self._server.synced():
            if name not in self._server.symbols:
                raise ValueError(f"unknown symbol {name!r}")
            new = dataclasses.replace(self._server.symbols[name], **changes)
            self._server.symbols[name] = new
            return new
