"""The simulated trade server and terminal as one object: the state every API call works on.

Theory of operation: one :class:`Server` holds the market, the quotes, the books, the engine,
the trade validation, the terminal's switches and the other people on the account, behind one
re-entrant lock. The broker quirks are applied here, once: the symbols' trading rules
(``volume_max``, levels), their quoting (breaks, quiet symbols; also on a market built by the
caller), the comment rules, the snapshot glitches and the random actions of others. Both the MT5
facade (``SimBroker``) and the scenario API reach the state only through :meth:`Server.synced`,
which takes the lock and first brings the server to the clock's time. The lock makes the
simulator safe to share across threads (the rpyc sim-server is threaded), and mirrors the real
package, whose calls are serialised by the GIL. It is re-entrant so a scenario action that runs
inside the engine may call scenario methods; the engine ignores a nested advance.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager

from dtms.broker.sim.account import Money
from dtms.broker.sim.answers import Answers
from dtms.broker.sim.clock import WallClock
from dtms.broker.sim.engine import Engine
from dtms.broker.sim.faults import Faults, Link
from dtms.broker.sim.ledger import Book
from dtms.broker.sim.market import Market, MarketSettings
from dtms.broker.sim.others import Hands, Others
from dtms.broker.sim.quirks import Comments, Snapshots
from dtms.broker.sim.quotes import Quotes
from dtms.broker.sim.settings import MarginMode, SimSettings
from dtms.broker.sim.symbols import SimSymbol, default_symbols
from dtms.broker.sim.trading import Trading

Clock = Callable[[], float]
Sleep = Callable[[float], object]


class Server:
    """Everything the simulated account is made of."""

    def __init__(
        self,
        settings: SimSettings,
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        market: Market | None = None,
        symbols: Mapping[str, SimSymbol] | None = None,
        market_settings: MarketSettings | None = None,
    ) -> None:
        """Build the server at the clock's current time; see ``SimBroker`` for the arguments.

        Raises:
            ValueError: a quirk names a symbol the market does not list, or is inconsistent
                with a symbol (``volume_max`` below its ``volume_min``).
        """
        self.settings = settings
        quirks = settings.quirks
        self.clock: Clock = clock or WallClock(settings.start_time, settings.speed)
        self.sleep: Sleep = sleep or _real_sleep(settings.speed)
        self.lock = threading.RLock()
        if market is None:
            table = dict(symbols or default_symbols())
            market = Market(
                table, self.clock(), market_settings or MarketSettings(), seed=settings.seed,
                quoting=quirks.quoting(table),
            )
        else:
            for name, quoting in quirks.quoting(market.symbols).items():
                market.set_quoting(name, quoting)
        self.market = market
        self.symbols: dict[str, SimSymbol] = {
            name: quirks.rules(sym) for name, sym in market.symbols.items()
        }
        self.selected = set(self.symbols)
        self.quotes = Quotes()
        self.money = Money(self.symbols, self.quotes.current, settings.leverage)
        self.book = Book(self.symbols, self.money, commission_per_lot=settings.commission_per_lot,
                         stop_tags=quirks.comment_replace_on_stops)
        if settings.first_ticket:
            self.book.start_tickets_after(settings.first_ticket - 1)
        self.faults = Faults(settings.faults, settings.seed)
        self.link = Link()
        self.engine = Engine(
            market, self.book, self.quotes, self.symbols, settings, self.faults, self.link
        )
        self.trading = Trading(self.engine, settings.margin_mode, settings.limit_positions,
                               Comments.of(quirks))
        self.trading.autotrading = settings.autotrading
        self.snapshots = Snapshots(quirks, settings.seed)
        self.hands = Hands(self.engine, self.trading)
        self.others = Others(self.engine, self.trading, self.hands, quirks, settings.seed)
        self.answers = Answers(self.trading, self.faults)
        self.tradeapi_disabled = False
        self.book.deposit(settings.balance, self.engine.time_msc)
        self.book.credit = settings.credit

    @property
    def margin_mode(self) -> MarginMode:
        """The account's margin mode."""
        return self.trading.margin_mode

    @contextmanager
    def synced(self) -> Iterator[None]:
        """Hold the lock with the server brought to the clock's time."""
        with self.lock:
            self.engine.advance(self.clock())
            yield


def _real_sleep(speed: float) -> Sleep:
    def sleep(seconds: float) -> None:
        time.sleep(seconds / speed)

    return sleep
