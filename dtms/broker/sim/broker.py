"""``SimBroker``: an embedded MT5 account that speaks the ``MetaTrader5`` module's API.

Every function of the real package used by dtms is a method here with the real signature and
failure convention (``None``/``False`` plus ``last_error()``), and every module constant is an
attribute, so ``sim.TRADE_ACTION_DEAL`` works like ``mt5.TRADE_ACTION_DEAL``. Behind the
methods sits a lazily advanced trade server (``dtms.broker.sim.server``): each call first brings
it to the clock's time, processing stops, stop-outs and scheduled events on the way.

Controls that are not part of the MT5 API live apart: ``sim.scenario`` (hand trades, outages,
scripted answers, glitched snapshots) and ``sim.market`` (prices, trading hours). Faults and
broker quirks (``settings.faults``, ``settings.quirks``) shape the answers; all are off by
default (see ``docs/simulator.md``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dtms.broker import constants as c
from dtms.broker.sim import views
from dtms.broker.sim.account import money
from dtms.broker.sim.data import DataCalls
from dtms.broker.sim.market import Market, MarketSettings
from dtms.broker.sim.requests import parse_request
from dtms.broker.sim.scenario import Scenario
from dtms.broker.sim.server import Clock, Server, Sleep
from dtms.broker.sim.settings import SimSettings
from dtms.broker.sim.symbols import SimSymbol
from dtms.broker.sim.terminal import match_group
from dtms.broker.structs import (
    AccountInfo,
    BookInfo,
    OrderCheckResult,
    OrderSendResult,
    SymbolInfo,
    TerminalInfo,
    Tick,
    TradeOrder,
    TradePosition,
)

_INIT_FAILED = "IPC initialize failed, terminal is not responding"


class SimBroker(DataCalls):
    """A simulated MT5 terminal logged into a simulated account.

    Args:
        settings: the account, terminal and fault knobs.
        clock: returns broker time (epoch seconds); default a ``WallClock`` from
            ``settings.start_time`` at ``settings.speed``.
        sleep: spends call latency, in broker seconds; default ``time.sleep(s / speed)``.
            Tests pass ``trio.testing.MockClock.jump`` so latency advances virtual time.
        market: the price source; default a new ``Market`` at the clock's time.
        symbols: the symbol table of a default market (ignored when ``market`` is given).
        market_settings: the knobs of a default market (``[broker.market]`` in config.toml;
            ignored when ``market`` is given).
    """

    if TYPE_CHECKING:
        def __getattr__(self, name: str) -> int: ...  # the module constants, set below

    def __init__(
        self,
        settings: SimSettings = SimSettings(),  # noqa: B008 (frozen, immutable)
        *,
        clock: Clock | None = None,
        sleep: Sleep | None = None,
        market: Market | None = None,
        symbols: Mapping[str, SimSymbol] | None = None,
        market_settings: MarketSettings | None = None,
    ) -> None:
        """Build the account at the clock's time; call ``initialize()`` before anything else."""
        server = Server(settings, clock=clock, sleep=sleep, market=market, symbols=symbols,
                        market_settings=market_settings)
        super().__init__(server)
        self.settings = settings
        self.market = server.market
        self.scenario = Scenario(server)

    def __repr__(self) -> str:
        return f"<SimBroker login={self.settings.login} server={self.settings.server!r}>"

    # --- session ---------------------------------------------------------------------------
    def initialize(
        self, path: str | None = None, *, login: int | None = None,
        password: str | None = None, server: str | None = None, timeout: int | None = None,
        portable: bool = False,
    ) -> bool:
        """Attach to the terminal; fails while the link is down or for another account."""
        with self._server.lock:
            if not self._begin("initialize", needs_link=False):
                return False
            bad = _bad_arg(path=(path, str), login=(login, int), password=(password, str),
                           server=(server, str), timeout=(timeout, int))
            if bad:
                self._fail(c.RES_E_INVALID_PARAMS, c.invalid_argument(bad))
                return False
            if not self._server.link.reachable(self._server.engine.now):
                self._fail(c.RES_E_INTERNAL_FAIL_INIT, _INIT_FAILED)
                return False
            if not self._credentials_ok(login, server):
                self._fail(c.RES_E_AUTH_FAILED)
                return False
            self._server.link.restored(self._server.engine.now)
            return self._ok(True)

    def login(
        self, login: int, password: str | None = None, server: str | None = None,
        timeout: int | None = None,
    ) -> bool:
        """Log the attached terminal into ``login`` (only the simulated account exists)."""
        with self._server.lock:
            if not self._begin("login"):
                return False
            if not isinstance(login, int) or not self._credentials_ok(login, server):
                self._fail(c.RES_E_AUTH_FAILED)
                return False
            return self._ok(True)

    def shutdown(self) -> None:
        """Detach from the terminal; every call but ``initialize`` then fails with -10004."""
        with self._server.lock:
            self._server.link.initialized = False
            self._ok(None)

    def version(self) -> tuple[int, int, str] | None:
        """``(500, build, date)`` of the simulated terminal."""
        with self._server.lock:
            if not self._begin("version"):
                return None
            return self._ok((500, views.TERMINAL_BUILD, views.TERMINAL_DATE))

    def _credentials_ok(self, login: int | None, server: str | None) -> bool:
        s = self.settings
        return (login is None or login == s.login) and (server is None or server == s.server)

    # --- account and terminal --------------------------------------------------------------
    def account_info(self) -> AccountInfo | None:
        """The simulated account's balance, equity, margin and settings."""
        with self._server.lock:
            if not self._begin("account_info"):
                return None
            srv = self._server
            return self._ok(views.account(
                self.settings, srv.margin_mode.mt5_value, True, srv.trading.snapshot()
            ))

    def terminal_info(self) -> TerminalInfo | None:
        """The simulated terminal's state (``trade_allowed`` is the AutoTrading button)."""
        with self._server.lock:
            if not self._begin("terminal_info"):
                return None
            srv = self._server
            return self._ok(views.terminal(
                self.settings, connected=True, autotrading=srv.trading.autotrading,
                tradeapi_disabled=srv.tradeapi_disabled,
            ))

    # --- symbols ---------------------------------------------------------------------------
    def symbols_total(self) -> int | None:
        """How many symbols the server offers."""
        with self._server.lock:
            if not self._begin("symbols_total"):
                return None
            return self._ok(len(self._server.symbols))

    def symbols_get(self, group: str | None = None) -> tuple[SymbolInfo, ...] | None:
        """Every symbol, or those whose name passes the group mask."""
        with self._server.lock:
            if not self._begin("symbols_get"):
                return None
            if group is not None and not isinstance(group, str):
                self._fail(c.RES_E_INVALID_PARAMS, c.invalid_argument("group"))
                return None
            names = [n for n in self._server.symbols if group is None or match_group(n, group)]
            return self._ok(tuple(self._symbol_view(n) for n in names))

    def symbol_info(self, symbol: str) -> SymbolInfo | None:
        """All 96 properties of ``symbol`` with its live quote."""
        with self._server.lock:
            if not self._begin("symbol_info"):
                return None
            if not isinstance(symbol, str):
                self._fail(c.RES_E_INVALID_PARAMS, c.MSG_INVALID_ARGUMENTS)
                return None
            if symbol not in self._server.symbols:
                self._fail(c.RES_E_NOT_FOUND)
                return None
            return self._ok(self._symbol_view(symbol))

    def symbol_info_tick(self, symbol: str) -> Tick | None:
        """The last tick of ``symbol``."""
        with self._server.lock:
            if not self._begin("symbol_info_tick"):
                return None
            if not isinstance(symbol, str):
                self._fail(c.RES_E_INVALID_PARAMS, c.MSG_INVALID_ARGUMENTS)
                return None
            if symbol not in self._server.symbols:
                self._fail(c.RES_E_NOT_FOUND)
                return None
            q = self._server.engine.quote(symbol)
            if q is None:
                self._fail(c.RES_E_FAIL)
                return None
            return self._ok(views.tick(q))

    def symbol_select(self, symbol: str, enable: bool = True) -> bool:
        """Show or hide ``symbol`` in Market Watch (not while it has open positions)."""
        with self._server.lock:
            if not self._begin("symbol_select"):
                return False
            srv = self._server
            if not isinstance(symbol, str) or symbol not in srv.symbols:
                self._fail(c.RES_E_NOT_FOUND)
                return False
            if enable:
                srv.selected.add(symbol)
            elif srv.book.on_symbol(symbol):
                self._fail(c.RES_E_FAIL)
                return False
            else:
                srv.selected.discard(symbol)
            return self._ok(True)

    def market_book_add(self, symbol: str) -> bool:
        """Subscribe to market depth (the simulator has none to show)."""
        with self._server.lock:
            if not self._begin("market_book_add"):
                return False
            return self._ok(symbol in self._server.symbols)

    def market_book_get(self, symbol: str) -> tuple[BookInfo, ...] | None:
        """Market depth: always empty in the simulator."""
        with self._server.lock:
            if not self._begin("market_book_get"):
                return None
            return self._ok(())

    def market_book_release(self, symbol: str) -> bool:
        """Unsubscribe from market depth."""
        with self._server.lock:
            if not self._begin("market_book_release"):
                return False
            return self._ok(True)

    def _symbol_view(self, name: str) -> SymbolInfo:
        srv = self._server
        return views.symbol(
            srv.symbols[name], srv.engine.quote(name), srv.quotes.day_range(name), srv.money,
            selected=name in srv.selected, swaps=self.settings.swaps,
        )

    # --- positions and orders --------------------------------------------------------------
    def positions_total(self) -> int | None:
        """How many positions are open."""
        with self._server.lock:
            if not self._begin("positions_total"):
                return None
            return self._ok(len(self._server.book.positions))

    def positions_get(
        self, *args: Any, symbol: str | None = None, group: str | None = None,
        ticket: int | None = None,
    ) -> tuple[TradePosition, ...] | None:
        """Open positions; filters are keyword-only and ``symbol`` wins over ``ticket``.

        With the snapshot quirks (or ``scenario.glitch_next_snapshot``) an unfiltered call may
        leave positions out, as a glitching terminal does; filtered calls answer truthfully.
        """
        with self._server.lock:
            if not self._begin("positions_get"):
                return None
            if args:
                self._fail(c.RES_E_INVALID_PARAMS, c.MSG_UNNAMED_ARGUMENTS)
                return None
            bad = _bad_arg(symbol=(symbol, str), group=(group, str), ticket=(ticket, int))
            if bad:
                self._fail(c.RES_E_INVALID_PARAMS, c.invalid_argument(bad))
                return None
            srv = self._server
            chosen = [
                p for p in srv.book.positions.values()
                if (symbol is None or p.symbol == symbol)
                and (group is None or symbol is not None or match_group(p.symbol, group))
                and (ticket is None or symbol is not None or group is not None
                     or p.ticket == ticket)
            ]
            if srv.snapshots.active and symbol is None and group is None and ticket is None:
                hidden = srv.snapshots.hidden([p.ticket for p in chosen])
                if hidden:
                    chosen = [p for p in chosen if p.ticket not in hidden]
            out = []
            for p in chosen:
                q = srv.engine.quote(p.symbol)
                profit = 0.0 if q is None else srv.book.floating(p, q[1], q[2])
                out.append(views.position(p, q, profit))
            return self._ok(tuple(out))

    def orders_total(self) -> int | None:
        """How many pending orders are active (always 0: none are offered)."""
        with self._server.lock:
            if not self._begin("orders_total"):
                return None
            return self._ok(0)

    def orders_get(
        self, *args: Any, symbol: str | None = None, group: str | None = None,
        ticket: int | None = None,
    ) -> tuple[TradeOrder, ...] | None:
        """Active pending orders: always ``()``, the simulator offers none."""
        with self._server.lock:
            if not self._begin("orders_get"):
                return None
            if args:
                self._fail(c.RES_E_INVALID_PARAMS, c.MSG_UNNAMED_ARGUMENTS)
                return None
            return self._ok(())

    # --- trading ---------------------------------------------------------------------------
    def order_calc_margin(
        self, action: int, symbol: str, volume: float, price: float
    ) -> float | None:
        """Margin of an order in USD, ignoring what is already open."""
        with self._server.lock:
            if not self._begin("order_calc_margin"):
                return None
            sym = self._calc_args(action, symbol, volume, price)
            if sym is None:
                return None
            return self._ok(money(self._server.money.margin(sym, action, volume, price)))

    def order_calc_profit(
        self, action: int, symbol: str, volume: float, price_open: float, price_close: float
    ) -> float | None:
        """Profit of a BUY/SELL between two prices, in USD."""
        with self._server.lock:
            if not self._begin("order_calc_profit"):
                return None
            sym = self._calc_args(action, symbol, volume, price_open, price_close)
            if sym is None:
                return None
            srv = self._server
            return self._ok(money(srv.money.profit(sym, action, volume, price_open, price_close)))

    def _calc_args(self, action: object, symbol: object, *numbers: object) -> SimSymbol | None:
        if action not in (c.ORDER_TYPE_BUY, c.ORDER_TYPE_SELL) or not all(
            isinstance(n, int | float) and not isinstance(n, bool) for n in numbers
        ):
            self._fail(c.RES_E_INVALID_PARAMS, c.MSG_INVALID_ARGUMENTS)
            return None
        if not isinstance(symbol, str) or symbol not in self._server.symbols:
            self._fail(c.RES_E_NOT_FOUND)
            return None
        return self._server.symbols[symbol]

    def _accept(self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any | None:
        """The terminal's checks before a request reaches the trade server, in their order:
        Python-level arguments (-2), the link (-10004), the API trading switch (-8)."""
        req = parse_request(args, kwargs, self.settings.comment_max_length)
        if isinstance(req, str):
            self._fail(c.RES_E_INVALID_PARAMS, req)
            return None
        if not self._begin(name):
            return None
        if self._server.tradeapi_disabled:
            self._fail(c.RES_E_AUTO_TRADING_DISABLED)
            return None
        return req

    def order_check(self, *args: Any, **kwargs: Any) -> OrderCheckResult | None:
        """Validate one request dict and project the account (retcode 0 'Done' if fine)."""
        with self._server.lock:
            req = self._accept("order_check", args, kwargs)
            return None if req is None else self._ok(self._server.answers.check(req))

    def order_send(self, *args: Any, **kwargs: Any) -> OrderSendResult | None:
        """Send one request dict to the simulated trade server."""
        with self._server.lock:
            req = self._accept("order_send", args, kwargs)
            if req is None:
                return None
            result, lost = self._server.answers.send(req)
            if lost:
                self._fail(c.RES_E_INTERNAL_FAIL_TIMEOUT)
                return None
            return self._ok(result)


def _bad_arg(**checks: tuple[object, type]) -> str | None:
    """The first argument whose value is neither None nor of its type."""
    for name, (value, kind) in checks.items():
        if value is not None and not isinstance(value, kind):
            return name
    return None


for _name, _value in c.MODULE_CONSTANTS.items():
    setattr(SimBroker, _name, _value)
del _name, _value
