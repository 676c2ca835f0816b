"""The world of a stress run: the simulated account in its own process, and the trader on it.

Theory of operation. :class:`SimServer` runs ``dtms sim-server`` as a child process, exactly as a
user would, and learns its port from the ready line. :class:`Trader` is the trader's side of the
account: an EA that opens positions with ``order_send`` through the same mt5linux bridge dtms
uses (retrying what a real EA retries: requotes, missing prices, a lost link), and, on the
simulator, the trader's hands, scheduled on the broker's own timeline (``scenario.at``).

While dtms runs, the trader makes no API call at all: every client of an mt5linux server shares
one ``MetaTrader5`` module and so one ``last_error()``, and a call of ours between dtms's call and
its ``last_error()`` would change what dtms reads. Hand closes are therefore scheduled inside the
server beforehand, and the broker is read only while dtms is down (between a kill and the
restart) and after its final stop.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from dtms.broker import constants as C
from dtms.errors import DtmsError
from dtms.stress.plan import Plan, PlannedPosition, Side

READY = re.compile(r"listening on (\S+):(\d+)")
SEND_ATTEMPTS = 8
"""How often the EA tries one order (requotes, a missing price, a lost link) before giving up."""
LINK_WAIT = 1.0
"""Real seconds the EA waits before re-initializing a lost link."""
FOREVER = 2**31 - 1


class SimServer:
    """``dtms sim-server`` in its own process."""

    def __init__(self, work: Path, config: Path, *, start: float, speed: float, seed: int
                 ) -> None:
        self.work = work
        self.config = config
        self.start_time = start
        self.speed = speed
        self.seed = seed
        self.port = 0
        self.log = work / "sim-server.log"
        self._proc: subprocess.Popen[str] | None = None
        self._conn: Any = None

    def start(self, timeout: float = 60.0) -> int:
        """Start the server; return its port once it accepts connections.

        Raises:
            DtmsError: the server did not come up (its own line says why).
        """
        cmd = [sys.executable, "-m", "dtms.cli", "sim-server", "--config", str(self.config),
               "--port", "0", "--start", repr(self.start_time), "--speed", repr(self.speed),
               "--seed", str(self.seed)]
        out = open(self.log, "w", encoding="utf-8")  # noqa: SIM115 (the drain thread owns it)
        self._proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True, encoding="utf-8")
        assert self._proc.stdout is not None
        deadline = time.monotonic() + timeout
        line = ""
        while time.monotonic() < deadline:
            line = self._proc.stdout.readline()
            out.write(line)
            found = READY.search(line)
            if found:
                self.port = int(found.group(2))
                break
            if not line and self._proc.poll() is not None:
                break
        if not self.port:
            out.close()
            self.stop()
            raise DtmsError(f"dtms sim-server did not start: {line.strip() or 'no output'} "
                            f"(see {self.log})")
        threading.Thread(target=_drain, args=(self._proc.stdout, out), daemon=True).start()
        return self.port

    def control(self) -> Any:
        """The served ``MetaTrader5`` module as an rpyc classic client sees it (``scenario``,
        ``market``): the world's hands on the simulated account."""
        if self._conn is None:
            import rpyc

            self._conn = rpyc.classic.connect("127.0.0.1", self.port)
            self._conn._config["sync_request_timeout"] = 600
        return self._conn.modules.MetaTrader5

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL after 30 s)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _drain(stream: Any, out: Any) -> None:
    """Copy a child's output to its log until it ends (so the child never blocks on a pipe)."""
    with out:
        for line in stream:
            out.write(line)
            out.flush()


@dataclass(slots=True)
class Opened:
    """What the EA opened: plan index -> position ticket, and what it could not open."""

    tickets: dict[int, int] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)


class Trader:
    """The trader's EA and hands on the account.

    Args:
        broker: the MT5 surface (an initialized ``Mt5LinuxBroker``, or the real package).
        control: the simulator's served module (``scenario``, ``market``); None on a terminal
            the run does not own.
    """

    def __init__(self, broker: Any, control: Any = None) -> None:
        self.broker = broker
        self.control = control
        self._infos: dict[str, Any] = {}

    def now(self) -> float:
        """Broker time now (the simulator's clock, or the freshest tick of a live terminal)."""
        tick = self.broker.symbol_info_tick("EURUSD")
        if self.control is not None:
            return float(self.control.market.now)
        return float(getattr(tick, "time_msc", 0) / 1000.0 or getattr(tick, "time", 0.0))

    def link_outages(self) -> tuple[tuple[float, float], ...]:
        """The simulated terminal's link outages so far (lost, restored); () on a terminal."""
        if self.control is None:
            return ()
        return tuple((float(a), float(b)) for a, b in self.control.scenario.link_outages())

    def info(self, symbol: str) -> Any:
        """The symbol's properties (read once)."""
        if symbol not in self._infos:
            info = self.broker.symbol_info(symbol)
            if info is None:
                raise DtmsError(f"the broker does not know symbol {symbol} "
                                f"({self.broker.last_error()})")
            if not info.visible:
                self.broker.symbol_select(symbol, True)
            self._infos[symbol] = info
        return self._infos[symbol]

    def open(self, plan: Plan, stop_distance: float,
             progress: Callable[[int], None] = lambda n: None) -> Opened:
        """Open every planned position as the EA would (one ``order_send`` each)."""
        opened = Opened()
        for p in plan.positions:
            ticket, why = self._open_one(p, stop_distance, set(opened.tickets.values()))
            if ticket:
                opened.tickets[p.index] = ticket
            else:
                opened.failed[p.index] = why
            progress(len(opened.tickets))
        return opened

    def _open_one(self, p: PlannedPosition, stop_distance: float, known: set[int]
                  ) -> tuple[int, str]:
        info = self.info(p.symbol)
        buy = p.side is Side.BUY
        why = ""
        for _ in range(SEND_ATTEMPTS):
            tick = self.broker.symbol_info_tick(p.symbol)
            if tick is None:
                why = f"no quote ({self.broker.last_error()})"
                self._relink()
                continue
            price = float(tick.ask if buy else tick.bid)
            sl = 0.0
            if p.with_sl:
                sl = round(price * (1 - stop_distance if buy else 1 + stop_distance), info.digits)
            request = {
                "action": C.TRADE_ACTION_DEAL, "symbol": p.symbol, "volume": p.volume,
                "type": C.ORDER_TYPE_BUY if buy else C.ORDER_TYPE_SELL, "price": price,
                "sl": sl, "deviation": 50, "magic": p.magic, "comment": "stress EA",
                "type_time": C.ORDER_TIME_GTC, "type_filling": _filling(info),
            }
            sent_at = float(tick.time)
            r = self.broker.order_send(request)
            if r is not None and r.retcode in (C.TRADE_RETCODE_DONE, C.TRADE_RETCODE_PLACED):
                return int(r.order), ""
            if r is not None:
                why = f"retcode {r.retcode} {r.comment}"
                continue
            why = f"no answer {self.broker.last_error()}"
            found = self._find_lost(p, sent_at, known)
            if found:
                return found, ""
            self._relink()
        return 0, why

    def _find_lost(self, p: PlannedPosition, since: float, known: set[int]) -> int:
        """The position an order whose answer was lost made, if it executed."""
        positions = self.broker.positions_get(symbol=p.symbol) or ()
        for pos in positions:
            if (int(pos.magic) == p.magic and abs(float(pos.volume) - p.volume) < 1e-9
                    and float(pos.time) >= since - 1 and int(pos.ticket) not in known):
                return int(pos.ticket)
        return 0

    def _relink(self) -> None:
        code = self.broker.last_error()[0]
        if code in (C.RES_E_INTERNAL_FAIL_CONNECT, C.RES_E_INTERNAL_FAIL_TIMEOUT,
                    C.RES_E_INTERNAL_FAIL_INIT):
            time.sleep(LINK_WAIT)
            self.broker.initialize()

    def schedule_hand_closes(self, plan: Plan, opened: Opened, t0: float) -> int:
        """Have the trader close positions by hand at their planned broker times (simulator
        only: scheduled inside the server, so no call of ours meets one of dtms's)."""
        if self.control is None:
            return 0
        scenario = self.control.scenario
        count = 0
        for p in plan.positions:
            ticket = opened.tickets.get(p.index)
            if p.hand_close_at is None or not ticket:
                continue
            scenario.at(t0 + p.hand_close_at, scenario.close_position, ticket)
            count += 1
        return count

    def close_by_hand(self, ticket: int) -> bool:
        """Close a position now as the trader's EA would (a live terminal, while dtms is down)."""
        found = self.broker.positions_get(ticket=ticket) or ()
        if not found:
            return False
        pos = found[0]
        info = self.info(str(pos.symbol))
        tick = self.broker.symbol_info_tick(str(pos.symbol))
        if tick is None:
            return False
        buy = int(pos.type) == C.POSITION_TYPE_BUY
        request = {
            "action": C.TRADE_ACTION_DEAL, "symbol": str(pos.symbol), "volume": float(pos.volume),
            "type": C.ORDER_TYPE_SELL if buy else C.ORDER_TYPE_BUY, "position": int(ticket),
            "price": float(tick.bid if buy else tick.ask), "deviation": 50,
            "magic": int(pos.magic), "comment": "stress hand", "type_time": C.ORDER_TIME_GTC,
            "type_filling": _filling(info),
        }
        r = self.broker.order_send(request)
        return r is not None and r.retcode == C.TRADE_RETCODE_DONE


def _filling(info: Any) -> int:
    mode = int(info.filling_mode)
    if mode & 1:
        return C.ORDER_FILLING_FOK
    if mode & 2:
        return C.ORDER_FILLING_IOC
    return C.ORDER_FILLING_RETURN


@dataclass(frozen=True, slots=True)
class BrokerFacts:
    """What the broker holds and remembers, read while dtms was down."""

    at: float
    """Broker time of the reading."""
    positions: tuple[Any, ...]
    deals: tuple[Any, ...]
    tick_times: dict[str, Any]
    """Per symbol, the times (epoch seconds, ascending) of its ticks over the run."""


def read_facts(broker: Any, symbols: tuple[str, ...], since: float, now: float, *,
               deals_since: float = 0.0) -> BrokerFacts:
    """Positions, the deal history (from ``deals_since``) and the symbols' tick times since
    ``since``, from the broker.

    Raises:
        DtmsError: the broker did not answer.
    """
    positions = broker.positions_get()
    deals = broker.history_deals_get(int(deals_since), FOREVER)
    if positions is None or deals is None:
        raise DtmsError(f"the broker did not answer the final reading ({broker.last_error()})")
    ticks: dict[str, Any] = {}
    for sym in symbols:
        raw = broker.copy_ticks_range(sym, int(since) - 60, int(now) + 60, C.COPY_TICKS_ALL)
        times = np.asarray(raw["time_msc"], dtype=np.float64) / 1000.0 if raw is not None \
            else np.empty(0)
        ticks[sym] = times
    return BrokerFacts(now, tuple(positions), tuple(deals), ticks)


def stops_of(broker: Any) -> dict[int, tuple[float, int]] | None:
    """Each open position's SL and type (a sample for the never-loosened check)."""
    positions = broker.positions_get()
    if positions is None:
        return None
    return {int(p.ticket): (float(p.sl), int(p.type)) for p in positions}
