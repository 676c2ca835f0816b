"""``dtms stress`` against a terminal the run does not own: a demo account, asked for explicitly.

A stress run opens hundreds of positions and kills the manager of an account. Against a real
terminal (``--broker mt5linux`` pointing at a server, or ``--broker mt5``) it runs only when the
account's ``trade_mode`` is DEMO *and* the user passed ``--on-demo-account``; anything else is
one line and exit 2, before a single order. The terminal's own prices and faults are what they
are (no shock, no profiles); the trader's hand closes happen while dtms is down (between a kill
and the restart), when no call of ours can meet one of dtms's; at the end every position the run
opened, and every hedge dtms opened during it, is closed.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from dtms.broker import constants as C
from dtms.config import BrokerKind, Settings
from dtms.errors import DtmsError
from dtms.stress import runconfig
from dtms.stress.evidence import lives_of
from dtms.stress.options import Options
from dtms.stress.plan import SYMBOLS, kill_times, make_plan
from dtms.stress.report import ProgressLine
from dtms.stress.run import Session, result_of
from dtms.stress.runs import DtmsUnderTest
from dtms.stress.world import Opened, Trader, read_facts, stops_of

_KINDS = {C.ACCOUNT_TRADE_MODE_CONTEST: "a contest", C.ACCOUNT_TRADE_MODE_REAL: "a REAL"}


def check_account(info: Any, allowed: bool, trades: int) -> None:
    """Refuse anything but a demo account the user agreed to trade on.

    Raises:
        DtmsError: not a demo account, or no ``--on-demo-account`` (one line).
    """
    if info is None:
        raise DtmsError("cannot read the terminal's account; refusing to trade on it")
    mode = int(info.trade_mode)
    where = f"account {info.login} on {info.server}"
    if mode != C.ACCOUNT_TRADE_MODE_DEMO:
        kind = _KINDS.get(mode, f"a trade mode {mode}")
        raise DtmsError(f"refusing: {where} is {kind} account; dtms stress opens, closes and "
                        "kills on the account it runs on, so it runs only on demo accounts")
    if not allowed:
        raise DtmsError(f"{where} is a demo account; dtms stress would open {trades} positions "
                        "on it and close them at the end: pass --on-demo-account to allow it")


def connect(opts: Options, settings: Settings) -> Any:
    """The terminal, attached (mt5linux at ``--host``/``--port``, or the local package)."""
    if opts.broker == "mt5":
        from dtms.broker.mt5 import connect_mt5

        broker: Any = connect_mt5(settings.broker.mt5)
        where = "the local terminal"
    else:
        from dtms.broker.mt5linux import Mt5LinuxBroker

        m = settings.broker.mt5linux
        broker = Mt5LinuxBroker(opts.host, opts.port, m.timeout,
                                connect_timeout=m.connect_timeout)
        where = f"{opts.host}:{opts.port}"
    if not broker.initialize():
        raise DtmsError(f"cannot attach to {where}: {broker.last_error()}")
    return broker


def execute_live(opts: Options, settings: Settings, progress: ProgressLine) -> dict[str, Any]:
    """Run the stress test on a demo account of a real terminal."""
    broker = connect(opts, settings)
    check_account(broker.account_info(), opts.on_demo_account, opts.trades)
    trader = Trader(broker)
    known = [s for s in SYMBOLS if broker.symbol_info(s) is not None][: opts.symbols]
    if len(known) < opts.symbols:
        raise DtmsError(f"the terminal knows only {len(known)} of the symbols a run trades "
                        f"({', '.join(SYMBOLS[:opts.symbols])}); use --symbols {len(known)}")
    work = Path(opts.work or tempfile.mkdtemp(prefix="dtms-stress-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    plan = make_plan(trades=opts.trades, symbols=opts.symbols, minutes=opts.minutes,
                     seed=opts.seed, settings=settings.stress)
    s = Session(opts, settings, work, plan, progress)
    kind = BrokerKind.MT5 if opts.broker == "mt5" else BrokerKind.MT5LINUX
    cfg = runconfig.write(
        runconfig.dtms_settings(settings, work, port=opts.port, host=opts.host,
                                stress=settings.stress, shock=False, kind=kind),
        work / "dtms.toml", "The dtms under test in a dtms stress run on a demo account.")
    progress.say(f"dtms stress: work folder {work}")
    opened = trader.open(plan, settings.stress.stop_distance,
                         lambda k: progress.show(f"opening positions {k}/{len(plan.positions)}"))
    t0 = trader.now()
    s.stop_samples.append((t0, stops_of(broker) or {}))
    args = ["--broker", kind.value, "--config", str(cfg), "--journal",
            str(work / "dtms.sqlite3")]
    try:
        dut, obs = _run(s, trader, opened, args)
    finally:
        _clean_up(trader, opened, t0, settings.actions.magic, progress)
    facts = read_facts(broker, plan.symbols, t0 - 60, trader.now(), deals_since=t0 - 60)
    return result_of(s, facts, obs, dut, opened, order_latency=0.0, faults="the terminal's")


def _run(s: Session, trader: Trader, opened: Opened, args: list[str]) -> tuple[Any, Any]:
    from dtms.stress.observe import Observer
    from dtms.stress.run import show

    stress = s.settings.stress
    hand = sorted((p.hand_close_at, opened.tickets[p.index]) for p in s.plan.positions
                  if p.hand_close_at is not None and p.index in opened.tickets)
    dut = DtmsUnderTest(s.work, args)
    obs = Observer(s.work / "dtms.sqlite3", [s.work / "logs", s.work])
    wall0 = time.time()
    kills = [wall0 + k for k in kill_times(s.plan, s.opts.kills)]
    end = wall0 + s.plan.run_seconds
    dut.start()
    while time.time() < end:
        time.sleep(stress.sample_seconds)
        obs.sample(dut.pid)
        if dut.poll() is not None:
            dut.start()
        if kills and time.time() >= kills[0]:
            kills.pop(0)
            dut.kill()
            s.kills_done += 1
            while hand and wall0 + hand[0][0] <= time.time():
                trader.close_by_hand(hand.pop(0)[1])
            s.stop_samples.append((trader.now(), stops_of(trader.broker) or {}))
            time.sleep(stress.restart_pause_seconds)
            dut.start()
        show(s, obs, end)
    dut.stop(stress.stop_timeout_seconds)
    trader.broker.initialize()
    s.stop_samples.append((trader.now(), stops_of(trader.broker) or {}))
    obs.finish()
    return dut, obs


def _clean_up(trader: Trader, opened: Opened, t0: float, magic: int,
              progress: ProgressLine) -> None:
    """Close what the run opened: the EA's positions and the hedges dtms opened meanwhile."""
    trader.broker.initialize()
    deals = trader.broker.history_deals_get(int(t0) - 60, int(time.time()) + 86_400) or ()
    mine = set(opened.tickets.values())
    mine |= {t for t, life in lives_of(deals).items() if life.magic == magic}
    open_now = {int(p.ticket) for p in trader.broker.positions_get() or ()}
    left = sorted(mine & open_now)
    closed = sum(trader.close_by_hand(t) for t in left)
    progress.say(f"closed {closed} of the {len(left)} positions the run left open")

