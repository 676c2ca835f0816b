"""One stress run, from an empty work folder to the verdict.

The order of things matters, because the trader's client may not talk to the broker while dtms
does (see ``dtms.stress.world``):

1. the simulated account starts in its own process (with a ``--shock`` market loaded);
2. an idle dtms runs for a few seconds against it, for the memory baseline;
3. the trader's EA opens the book; the hand closes are scheduled inside the server;
4. dtms starts; every ``sample_seconds`` the observer samples it; at each planned kill it is
   SIGKILLed, the broker's stops are read while it is down, and it is started again;
5. after ``--minutes`` of broker time dtms is stopped with SIGTERM; the broker is read once more,
   the journal too, and the checks and figures are computed.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dtms.broker.mt5linux import Mt5LinuxBroker
from dtms.config import Settings
from dtms.stress import measure, runconfig
from dtms.stress.checks import Limits, verdict
from dtms.stress.evidence import Evidence, Uptime, lives_of, read_journal
from dtms.stress.market import ShockTimes, run_start, write_shock_market
from dtms.stress.observe import Observer
from dtms.stress.options import Options
from dtms.stress.plan import Plan, kill_times, make_plan
from dtms.stress.profiles import load_faults, load_quirks, order_latency_seconds
from dtms.stress.report import ProgressLine, as_dicts, table, write_json
from dtms.stress.runs import DtmsUnderTest
from dtms.stress.world import BrokerFacts, Opened, SimServer, Trader, read_facts, stops_of

BASELINE_SECONDS = 3.0
"""Real seconds an idle dtms runs (after its first heartbeat) for the memory baseline."""


@dataclass(slots=True)
class Session:
    """What a run accumulates while it goes."""

    opts: Options
    settings: Settings
    work: Path
    plan: Plan
    progress: ProgressLine
    stop_samples: list[tuple[float, dict[int, tuple[float, int]]]] = field(default_factory=list)
    kills_done: int = 0
    baseline_rss: int | None = None
    shock: ShockTimes | None = None
    link_down: tuple[tuple[float, float], ...] = ()
    """The terminal link's outages (lost, restored), broker time; none known on a terminal."""


def execute(opts: Options, settings: Settings, progress: ProgressLine) -> dict[str, Any]:
    """Run the stress test on a simulated account; return the result (see ``report``)."""
    work = Path(opts.work or tempfile.mkdtemp(prefix="dtms-stress-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    plan = make_plan(trades=opts.trades, symbols=opts.symbols, minutes=opts.minutes,
                     seed=opts.seed, settings=settings.stress)
    s = Session(opts, settings, work, plan, progress)
    fault_profile, faults = load_faults(opts.faults)
    _, quirks = load_quirks(opts.quirks)
    sim_cfg = runconfig.write(runconfig.sim_settings(settings, faults, quirks, settings.stress),
                              work / "sim.toml", "The simulated account of a dtms stress run.")
    c0 = run_start()
    if opts.shock:
        s.shock = ShockTimes(c0)
    progress.say(f"dtms stress: work folder {work}")
    server = SimServer(work, sim_cfg, start=c0 + 1.0, speed=opts.speed, seed=opts.seed)
    server.start()
    broker: Any = None
    try:
        control = server.control()
        if s.shock is not None:
            paths = write_shock_market(work / "market", plan.symbols, plan.falls, seed=opts.seed,
                                       drift=settings.stress.drift, shock=settings.stress.shock,
                                       times=s.shock, market=settings.broker.market)
            for sym, path in paths.items():
                control.market.load_csv(sym, str(path))
        dtms_cfg = runconfig.write(
            runconfig.dtms_settings(settings, work, port=server.port, stress=settings.stress,
                                    shock=opts.shock),
            work / "dtms.toml", "The dtms under test in a dtms stress run.")
        s.baseline_rss = _baseline(s, dtms_cfg, server.port)
        broker = Mt5LinuxBroker("127.0.0.1", server.port)
        if not broker.initialize():
            raise RuntimeError(f"the stress client could not attach: {broker.last_error()}")
        trader = Trader(broker, control)
        return _trade_and_judge(s, trader, dtms_cfg, server.port,
                                order_latency_seconds(faults), fault_profile.name)
    finally:
        if broker is not None:
            with contextlib.suppress(Exception):
                broker._close()  # never shutdown(): it would detach every client
        server.stop()


def _baseline(s: Session, config: Path, port: int) -> int | None:
    """RSS of a dtms that manages nothing (its own journal), for the per-trade figure."""
    s.progress.show("idle dtms for the memory baseline...", force=True)
    dut = DtmsUnderTest(s.work, _run_args(config, s.work / "baseline.sqlite3", port,
                                          s.opts.speed), name="baseline")
    obs = Observer(s.work / "baseline.sqlite3", [])
    dut.start()
    deadline = time.time() + 60.0
    first_beat = None
    while time.time() < deadline:
        time.sleep(s.settings.stress.sample_seconds)
        obs.sample(dut.pid)
        if dut.poll() is not None:
            break
        if obs.beats and first_beat is None:
            first_beat = time.time()
        if first_beat is not None and time.time() - first_beat >= BASELINE_SECONDS:
            break
    dut.stop(s.settings.stress.stop_timeout_seconds)
    obs.close()
    samples = [r for _, _, r in obs.rss]
    return samples[-1] if samples and first_beat is not None else None


def _run_args(config: Path, journal: Path, port: int, speed: float) -> list[str]:
    return ["--broker", "mt5linux", "--config", str(config), "--journal", str(journal),
            "--port", str(port), "--speed", repr(speed)]


def _trade_and_judge(s: Session, trader: Trader, config: Path, port: int, latency: float,
                     faults: str) -> dict[str, Any]:
    opts, stress = s.opts, s.settings.stress
    n = len(s.plan.positions)
    opened = trader.open(s.plan, stress.stop_distance,
                         lambda k: s.progress.show(f"opening positions {k}/{n}"))
    s.progress.say(f"opened {len(opened.tickets)}/{n} positions on {', '.join(s.plan.symbols)}"
                   + (f" ({len(opened.failed)} refused)" if opened.failed else ""))
    s.stop_samples.append((trader.now(), stops_of(trader.broker) or {}))
    t0 = trader.now()
    trader.schedule_hand_closes(s.plan, opened, t0)
    burst_at = s.shock.deciding_close - t0 if s.shock is not None else None
    kills = list(kill_times(s.plan, opts.kills, burst_at))
    dut = DtmsUnderTest(s.work, _run_args(config, s.work / "dtms.sqlite3", port, opts.speed))
    obs = Observer(s.work / "dtms.sqlite3", [s.work / "logs", s.work])
    wall0 = time.time()
    dut.start()
    end = wall0 + s.plan.run_seconds / opts.speed
    kill_walls = [wall0 + k / opts.speed for k in kills]
    while time.time() < end:
        time.sleep(stress.sample_seconds)
        obs.sample(dut.pid)
        if dut.poll() is not None:
            s.progress.say(f"dtms exited by itself (see {dut.lives[-1].output}); restarting")
            dut.start()
        if kill_walls and time.time() >= kill_walls[0]:
            kill_walls.pop(0)
            dut.kill()
            s.kills_done += 1
            s.stop_samples.append((trader.now(), stops_of(trader.broker) or {}))
            time.sleep(stress.restart_pause_seconds)
            dut.start()
        show(s, obs, end)
    dut.stop(stress.stop_timeout_seconds)
    s.progress.say(f"dtms stopped after {(time.time() - wall0) / 60:.1f} min; reading the "
                   "broker and the journal")
    trader.broker.initialize()  # dtms's graceful stop detached the terminal (shared by clients)
    now = trader.now()
    facts = read_facts(trader.broker, s.plan.symbols, t0 - 3600, now)
    s.stop_samples.append((now, stops_of(trader.broker) or {}))
    s.link_down = trader.link_outages()
    obs.finish()
    return result_of(s, facts, obs, dut, opened, order_latency=latency, faults=faults)


def result_of(s: Session, facts: BrokerFacts, obs: Observer, dut: DtmsUnderTest,
              opened: Opened, *, order_latency: float, faults: str) -> dict[str, Any]:
    """Judge a finished run and measure it."""
    managed = frozenset(t for i, t in opened.tickets.items() if not s.plan.positions[i].ignored)
    ev = _evidence(s, facts, obs, dut, managed)
    return _result(s, ev, obs, order_latency, faults, opened.failed)


def show(s: Session, obs: Observer, end: float) -> None:
    """Update the progress line."""
    p = obs.progress
    left = max(end - time.time(), 0.0)
    bad = p.tracebacks + p.quarantined
    s.progress.show(f"trades {p.trades} | hedges {p.hedges} | kills {s.kills_done}/"
                    f"{s.opts.kills} | give-ups {p.give_ups} | violations so far {bad} | "
                    f"{left / 60:.1f} min left")


def _evidence(s: Session, facts: BrokerFacts, obs: Observer, dut: DtmsUnderTest,
              managed: frozenset[int]) -> Evidence:
    spans = []
    for life in dut.lives:
        beats = [b for b in obs.beats if b.pid == life.pid]
        if not beats:
            continue
        first = float(beats[0].status["broker_time"])
        last = beats[-1].status
        ended = life.ended or time.time()
        scale = float(last.get("time_scale") or s.opts.speed)
        spans.append((first, float(last["broker_time"]) +
                      (ended - float(last["heartbeat_wall"])) * scale))
    journal = read_journal(s.work / "dtms.sqlite3")
    return Evidence(
        broker=facts, journal=journal, uptime=Uptime(tuple(spans), s.link_down),
        lives=lives_of(facts.deals),
        stop_samples=tuple(s.stop_samples), managed=managed,
        ignored_magics=frozenset(s.settings.stress.ignored_magics),
        dtms_magic=s.settings.actions.magic, tracebacks=tuple(obs.traceback_lines),
        exits=tuple((life.pid, life.how, life.exit_code) for life in dut.lives))


def _result(s: Session, ev: Evidence, obs: Observer, latency: float, faults: str,
            refused: dict[int, str]) -> dict[str, Any]:
    st = s.settings
    lim = Limits(st.supervisor.cycle_seconds, st.stress.orphan_grace_cycles,
                 st.market_data.stale_tick_seconds, st.actions.partial_close_max,
                 st.actions.partial_close_ratio,
                 route_slack=st.stress.orphan_grace_real_seconds * s.opts.speed)
    violations = verdict(ev, lim)
    hedges = measure.hedge_latencies(ev)
    burst = measure.burst(ev, s.shock.deciding_close if s.shock else None, latency)
    burst_end = None
    burst_window = None
    if burst.get("last_placed") is not None:
        burst_window = (burst["first_trigger"], burst["last_placed"])
        burst_end = measure.wall_of(obs.beats, burst["last_placed"])
    managed = len(ev.managed)
    figures = {
        "book": {
            "managed": managed, "ignored": sum(p.ignored for p in s.plan.positions),
            "refused_opens": len(refused), "hand_closes": s.plan.hand_closes,
            "hedges_placed": len(ev.own_positions()), "give_ups": len(ev.journal.give_ups),
            "closed_at_end": sum(1 for t in ev.journal.trades.values() if t["closed_at"]),
        },
        "hedge_latency": measure.percentiles(x for _, x in hedges),
        "stops": measure.stops(ev),
        "burst": burst,
        "calls": measure.calls(obs.beats),
        "cycles": measure.cycles(obs.beats),
        "burst_cycles": measure.cycles(obs.beats, burst_window) if burst_window else {},
        "memory": measure.memory(obs, s.baseline_rss, managed, burst_end),
        "order_latency_seconds": latency,
    }
    o = s.opts
    return {
        "run": {"trades": o.trades, "symbols": list(s.plan.symbols), "minutes": o.minutes,
                "speed": o.speed, "faults": faults, "quirks": o.quirks, "kills": s.kills_done,
                "shock": o.shock, "seed": o.seed},
        "work": str(s.work),
        "violations": as_dicts(violations),
        "figures": figures,
    }


def finish(result: dict[str, Any], opts: Options, progress: ProgressLine) -> int:
    """Print the table, write the JSON report; the exit code (0: no violation)."""
    path = Path(opts.report) if opts.report else Path(result["work"]) / "report.json"
    write_json(result, path)
    progress.say(table(result))
    progress.say(f"report: {path}")
    return 0 if not result["violations"] else 1
