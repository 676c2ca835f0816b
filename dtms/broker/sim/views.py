"""What the simulated terminal shows: the read-only structs built from the server's state."""

from __future__ import annotations

from dtms.broker import constants as c
from dtms.broker.sim.account import Money, Snapshot, side_sign
from dtms.broker.sim.ledger import Position
from dtms.broker.sim.quotes import DayRange, Quote
from dtms.broker.sim.settings import ACCOUNT_CURRENCY, SimSettings
from dtms.broker.sim.symbols import SimSymbol
from dtms.broker.sim.trading import offered_order_mode
from dtms.broker.structs import AccountInfo, SymbolInfo, TerminalInfo, Tick, TradePosition

TERMINAL_BUILD = 5836
TERMINAL_DATE = "15 Jan 2026"
TERMINAL_PATH = "C:\\Program Files\\dtms Simulated Terminal"
"""A Windows-style install path, as a real terminal reports one (nothing lives there)."""
PING_LAST_US = 28_000
LIMIT_ORDERS = 200


def tick(quote: Quote) -> Tick:
    """A ``Tick`` from a (time_msc, bid, ask) quote."""
    t, bid, ask = quote
    return Tick(
        time=t // 1000, bid=bid, ask=ask, last=0.0, volume=0, time_msc=t,
        flags=c.TICK_FLAG_BID | c.TICK_FLAG_ASK, volume_real=0.0,
    )


def position(pos: Position, quote: Quote | None, profit: float) -> TradePosition:
    """A ``TradePosition`` with its current price and rounded floating profit."""
    current = 0.0
    if quote is not None:
        current = quote[1] if side_sign(pos.type) > 0 else quote[2]
    return TradePosition(
        ticket=pos.ticket, time=pos.time_msc // 1000, time_msc=pos.time_msc,
        time_update=pos.time_update_msc // 1000, time_update_msc=pos.time_update_msc,
        type=pos.type, magic=pos.magic, identifier=pos.ticket, reason=pos.reason,
        volume=pos.volume, price_open=pos.price_open, sl=pos.sl, tp=pos.tp,
        price_current=current, swap=pos.swap, profit=profit, symbol=pos.symbol,
        comment=pos.comment, external_id="",
    )


def account(settings: SimSettings, margin_mode: int, trade_allowed: bool,
            snap: Snapshot) -> AccountInfo:
    """``AccountInfo`` of the simulated account at ``snap``."""
    return AccountInfo(
        login=settings.login, trade_mode=c.ACCOUNT_TRADE_MODE_DEMO, leverage=settings.leverage,
        limit_orders=LIMIT_ORDERS, margin_so_mode=c.ACCOUNT_STOPOUT_MODE_PERCENT,
        trade_allowed=trade_allowed, trade_expert=True, margin_mode=margin_mode,
        currency_digits=2, fifo_close=False, balance=snap.balance, credit=snap.credit,
        profit=snap.profit, equity=snap.equity, margin=snap.margin,
        margin_free=snap.margin_free, margin_level=snap.margin_level,
        margin_so_call=settings.margin_call, margin_so_so=settings.stop_out,
        margin_initial=0.0, margin_maintenance=0.0, assets=0.0, liabilities=0.0,
        commission_blocked=0.0, name=settings.name, server=settings.server,
        currency=ACCOUNT_CURRENCY, company=settings.company,
    )


def terminal(settings: SimSettings, *, connected: bool, autotrading: bool,
             tradeapi_disabled: bool) -> TerminalInfo:
    """``TerminalInfo`` of the simulated terminal."""
    return TerminalInfo(
        community_account=False, community_connection=False, connected=connected,
        dlls_allowed=False, trade_allowed=autotrading, tradeapi_disabled=tradeapi_disabled,
        email_enabled=False, ftp_enabled=False, notifications_enabled=False, mqid=False,
        build=TERMINAL_BUILD, maxbars=settings.maxbars, codepage=0,
        ping_last=PING_LAST_US if connected else 0, community_balance=0.0,
        retransmission=0.0, company=settings.company, name="MetaTrader 5", language="English",
        path=TERMINAL_PATH, data_path=TERMINAL_PATH,
        commondata_path=TERMINAL_PATH + "\\Common",
    )


def symbol(
    sym: SimSymbol, quote: Quote | None, day: DayRange | None, money: Money, *,
    selected: bool, swaps: bool,
) -> SymbolInfo:
    """All 96 ``SymbolInfo`` fields of ``sym`` with its live quote."""
    t, bid, ask = quote if quote is not None else (0, 0.0, 0.0)
    spread = round((ask - bid) / sym.point) if quote is not None else sym.spread
    try:
        tick_value = money.tick_value(sym, (bid + ask) / 2.0) if quote is not None else 0.0
    except LookupError:
        tick_value = 0.0
    return SymbolInfo(
        custom=False, chart_mode=c.SYMBOL_CHART_MODE_BID, select=selected, visible=selected,
        time=t // 1000, digits=sym.digits, spread=spread, spread_float=sym.spread_float,
        ticks_bookdepth=0, trade_calc_mode=sym.trade_calc_mode, trade_mode=sym.trade_mode,
        trade_stops_level=sym.stops_level, trade_freeze_level=sym.freeze_level,
        trade_exemode=sym.trade_exemode,
        swap_mode=c.SYMBOL_SWAP_MODE_POINTS if swaps else c.SYMBOL_SWAP_MODE_DISABLED,
        swap_rollover3days=c.DAY_OF_WEEK_WEDNESDAY,
        margin_hedged_use_leg=sym.margin_hedged_use_leg, expiration_mode=sym.expiration_mode,
        filling_mode=sym.filling_mode, order_mode=offered_order_mode(sym),
        order_gtc_mode=c.SYMBOL_ORDERS_GTC,
        bid=bid, bidhigh=day.bidhigh if day else bid, bidlow=day.bidlow if day else bid,
        ask=ask, askhigh=day.askhigh if day else ask, asklow=day.asklow if day else ask,
        point=sym.point, trade_tick_value=tick_value, trade_tick_value_profit=tick_value,
        trade_tick_value_loss=tick_value, trade_tick_size=sym.point,
        trade_contract_size=sym.contract_size, volume_min=sym.volume_min,
        volume_max=sym.volume_max, volume_step=sym.volume_step, volume_limit=sym.volume_limit,
        swap_long=sym.swap_long, swap_short=sym.swap_short, margin_hedged=sym.hedged_contract,
        currency_base=sym.currency_base, currency_profit=sym.currency_profit,
        currency_margin=sym.currency_margin, description=sym.description, name=sym.name,
        path=sym.path,
    )
