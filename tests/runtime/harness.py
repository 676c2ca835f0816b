"""Run the whole of dtms against an embedded simulator on virtual time, for end-to-end tests.

Everything is real: the simulator, the gateway (inline executor, so virtual time cannot jump in
the middle of a broker call), the journal on disk, the supervisor and the actors. Tests drive
the market with the simulator's scenario API and look at the broker, not only at dtms's memory.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import trio
import trio.testing
from loguru import logger

from dtms.broker.sim import SimBroker, SimSettings
from dtms.broker.sim.symbols import default_symbols
from dtms.config import Settings
from dtms.core.trade import TradeState
from dtms.core.types import State
from dtms.journal.store import JournalFile
from dtms.runtime.actor import TradeActor
from dtms.runtime.app import App, serve
from dtms.runtime.brokertime import BrokerTime
from dtms.runtime.clock import broker_clock_from
from dtms.runtime.executor import InlineExecutor
from dtms.runtime.logs import TradeLogRouter

PIP = 0.0001
HOUR = 3600.0


@dataclass
class Harness:
    """A running dtms and its simulated broker."""

    sim: SimBroker
    app: App
    clock: trio.testing.MockClock
    epoch: float
    settings: Settings
    log_dir: Path

    def now(self) -> float:
        """Broker time."""
        return self.epoch + self.clock.current_time()

    def trade(self, ticket: int) -> TradeState:
        """The trade as its actor holds it (or as journaled once the actor retired)."""
        actor = self.app.supervisor.actors.get(ticket)
        if actor is not None:
            return actor.trade
        state = self.app.journal.file.load(ticket)
        assert state is not None, f"ticket {ticket} unknown to dtms"
        return state

    def state(self, ticket: int) -> State | None:
        """The trade's state (None while dtms has not seen the ticket yet)."""
        if ticket not in self.app.supervisor.actors and not self.app.journal.file.is_known(ticket):
            return None
        return self.trade(ticket).state

    def position(self, ticket: int) -> Any | None:
        """The broker's position with this ticket, or None."""
        found = self.sim.positions_get(ticket=ticket)
        assert found is not None, f"the broker did not answer: {self.sim.last_error()}"
        return found[0] if found else None

    def hedges_of(self, ticket: int) -> list[Any]:
        """Broker positions carrying ``ticket``'s hedge comment."""
        comment = f"{self.settings.actions.hedge_comment_prefix}{ticket}"
        return [p for p in self.sim.positions_get() or () if p.comment == comment]

    def deals_of(self, position: int) -> list[Any]:
        """Every deal of one position."""
        return list(self.sim.history_deals_get(position=position) or ())

    async def until(self, predicate: Callable[[], bool], *, within: float, what: str) -> None:
        """Let virtual time run until ``predicate()`` holds (fail after ``within`` seconds)."""
        deadline = trio.current_time() + within
        while not predicate():
            if trio.current_time() >= deadline:
                raise AssertionError(f"timed out after {within:g} s waiting for {what}")
            await trio.sleep(self.settings.supervisor.cycle_seconds)

    @asynccontextmanager
    async def most_hedges(self, ticket: int) -> AsyncIterator[list[int]]:
        """Watch the broker every virtual second; yields ``[most hedges seen at once]``."""
        most = [0]

        async def watch() -> None:
            while True:
                most[0] = max(most[0], len(self.hedges_of(ticket)))
                await trio.sleep(1)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            yield most
            nursery.cancel_scope.cancel()

    async def settle(self) -> None:
        """Let one more cycle run and every actor handle it."""
        await trio.sleep(self.settings.supervisor.cycle_seconds * 2)


class OnSend:
    """A broker in front of the simulator that runs ``action`` just before one order_send.

    ``when(request)`` picks the request; the action then acts on the simulator (a hand close,
    a forced answer, an IPC outage) exactly between dtms's decision and the broker receiving
    the order. Everything else passes straight through.
    """

    def __init__(self, sim: SimBroker, when: Callable[[dict[str, Any]], bool],
                 action: Callable[[dict[str, Any]], None], times: int = 1) -> None:
        self._sim, self._when, self._action, self.left = sim, when, action, times
        self.fired: list[dict[str, Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sim, name)

    def order_send(self, request: dict[str, Any]) -> Any:
        if self.left > 0 and self._when(request):
            self.left -= 1
            self.fired.append(dict(request))
            self._action(request)
        return self._sim.order_send(request)


def open_trade(sim: SimBroker, symbol: str, side: str, volume: float, *, stop_pips: float,
               pip: float = PIP) -> tuple[int, float]:
    """Open a trade by hand with an SL ``stop_pips`` away; return (ticket, mid at open)."""
    tick = sim.symbol_info_tick(symbol)
    assert tick is not None
    sign = 1 if side == "BUY" else -1
    price = tick.ask if side == "BUY" else tick.bid
    digits = sim.symbol_info(symbol).digits
    sl = round(price - sign * stop_pips * pip, digits)
    ticket = sim.scenario.open_position(symbol, side, volume, sl=sl)
    return ticket, (tick.bid + tick.ask) / 2


def path(sim: SimBroker, symbol: str, start: float, mid: float,
         steps: Iterable[tuple[float, float]], *, pip: float = PIP, noise: float = 0.00002
         ) -> None:
    """Script ``symbol``'s mid through (minutes after ``start``, pips from ``mid``) waypoints."""
    points = [(start + max(m * 60.0, 1.0), mid + p * pip) for m, p in steps]
    sim.market.script_path(symbol, points, noise=noise)


@asynccontextmanager
async def simulated(
    tmp_path: Path,
    clock: trio.testing.MockClock,
    *,
    symbols: Iterable[str] = ("EURUSD",),
    sim_settings: SimSettings | None = None,
    settings: Settings | None = None,
    actor_factory: Any = TradeActor,
    sim_symbols: dict[str, Any] | None = None,
    wrap: Callable[[SimBroker], Any] | None = None,
    sim: SimBroker | None = None,
    live_clock: bool = False,
) -> AsyncIterator[Harness]:
    """Start dtms on a fresh simulated account; stop it gracefully at the end.

    ``live_clock``: dtms learns the broker's time from its ticks, as against a real terminal,
    instead of reading the simulator's clock.
    """
    sim_settings = sim_settings or SimSettings()
    settings = settings or Settings()
    settings = replace(settings, journal=replace(settings.journal,
                                                 path=str(tmp_path / "dtms.sqlite3")))
    if not settings.supervisor.account_lock_dir:  # each test is its own machine
        settings = replace(settings, supervisor=replace(settings.supervisor,
                                                        account_lock_dir=str(tmp_path)))
    if settings.supervisor.heartbeat_seconds == 5.0:  # real seconds; virtual time races on
        settings = replace(settings, supervisor=replace(settings.supervisor,
                                                        heartbeat_seconds=60.0))
    epoch = sim_settings.start_time
    broker_now = broker_clock_from(clock, epoch)
    table = sim_symbols or {k: v for k, v in default_symbols().items() if k in set(symbols)}
    if sim is None:  # a test restarting dtms passes the broker that outlived the first run
        sim = SimBroker(sim_settings, clock=broker_now, sleep=clock.jump, symbols=table)
        sim.initialize()
    broker = wrap(sim) if wrap is not None else sim
    log_dir = tmp_path / "logs"
    router = TradeLogRouter(log_dir, 64)
    sink = logger.add(router.write, level="DEBUG", format="{time} | {level} | {message}",
                      filter=lambda r: "ticket" in r["extra"])
    try:
        async with trio.open_nursery() as nursery:
            learned = BrokerTime() if live_clock else None
            app = await nursery.start(partial(
                serve, settings, lambda: broker, learned or broker_now,
                executor=InlineExecutor(), actor_factory=actor_factory, live_clock=learned))
            try:
                yield Harness(sim, app, clock, epoch, settings, log_dir)
            finally:
                app.stop.set()
    finally:
        logger.remove(sink)
        router.close()


def journal_rows(tmp_path: Path, query: str, *args: Any) -> list[Any]:
    """Rows from the journal of a finished run."""
    f = JournalFile.open(tmp_path / "dtms.sqlite3")
    try:
        return f.conn.execute(query, args).fetchall()
    finally:
        f.close()
