"""Is dtms doing its job right now? One verdict for /health, the dead-man ping and systemd.

Two questions, two answers:

* **healthy** (``GET /health``, the dead-man heartbeat): the last monitoring cycle is recent and
  succeeded, the broker link is up, trading is allowed (AutoTrading on) and the journal is
  writable. Anything else is a reason a trader must hear about.
* **alive** (the systemd watchdog): cycles keep completing and the journal is writable. A broker
  outage or AutoTrading switched off are *not* reasons to restart dtms (a restart fixes neither;
  the gateway reconnects by itself), so they do not starve the watchdog; a hung supervisor or a
  dead journal do.
"""

from __future__ import annotations

from dataclasses import dataclass

from dtms.runtime.app import App


@dataclass(frozen=True, slots=True)
class Health:
    """A verdict and the reasons against it (empty when healthy)."""

    ok: bool
    reasons: tuple[str, ...]
    cycle_age_seconds: float | None
    """Real seconds since the last cycle started (None before the first)."""

    def as_dict(self) -> dict[str, object]:
        """Plain values for JSON."""
        age = None if self.cycle_age_seconds is None else round(self.cycle_age_seconds, 3)
        return {"status": "ok" if self.ok else "unhealthy", "reasons": list(self.reasons),
                "cycle_age_seconds": age}


def cycle_age(app: App, scale: float) -> float | None:
    """Real seconds since the last cycle started, on the broker clock (None before one)."""
    report = app.supervisor.last_report
    if report is None:
        return None
    return max(app.supervisor.ctx.broker_now() - report.at, 0.0) / scale


def check_health(app: App, max_cycle_age: float, scale: float = 1.0,
                 last_ok_at: float | None = None) -> Health:
    """The /health verdict (``max_cycle_age`` in real seconds).

    ``last_ok_at`` is the broker time of the newest successful cycle seen (see
    :meth:`dtms.ops.context.Ops.observe`): one failed snapshot between good ones (a busy
    terminal) is not a reason, a snapshot that keeps failing is.
    """
    reasons: list[str] = []
    report = app.supervisor.last_report
    if report is not None and report.ok:
        last_ok_at = max(report.at, last_ok_at or report.at)
    age = cycle_age(app, scale)
    if report is None or age is None:
        reasons.append("no monitoring cycle has completed yet")
    elif age > max_cycle_age:
        reasons.append(f"the last monitoring cycle started {age:.0f} s ago "
                       f"(limit {max_cycle_age:g} s)")
    elif last_ok_at is None:
        reasons.append("no monitoring cycle has succeeded yet (no positions snapshot, or the "
                       "broker clock is not known yet)")
    else:
        ok_age = max(app.supervisor.ctx.broker_now() - last_ok_at, 0.0) / scale
        if ok_age > max_cycle_age:
            reasons.append(f"no successful monitoring cycle for {ok_age:.0f} s (the positions "
                           "snapshot fails)")
    if not app.gateway.connected:
        reasons.append("the broker link is down (reconnecting)")
    if not app.supervisor.account.trade_allowed:
        reasons.append("trading is not allowed (AutoTrading off, or an investor login)")
    if app.journal.failure is not None:
        reasons.append(f"the journal is not writable ({app.journal.failure})")
    if app.stop.is_set():
        reasons.append("dtms is stopping")
    return Health(not reasons, tuple(reasons), age)


def check_alive(app: App, max_cycle_age: float, scale: float = 1.0) -> Health:
    """The watchdog's verdict: cycles complete and the journal takes writes."""
    reasons: list[str] = []
    age = cycle_age(app, scale)
    if age is None:
        reasons.append("no monitoring cycle has completed yet")
    elif age > max_cycle_age:
        reasons.append(f"no monitoring cycle for {age:.0f} s")
    if app.journal.failure is not None:
        reasons.append(f"the journal is not writable ({app.journal.failure})")
    return Health(not reasons, tuple(reasons), age)
