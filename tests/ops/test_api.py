"""The HTTP API against a running dtms on the simulator (virtual time, the ASGI app in-process)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
import trio.testing
from prometheus_client.parser import text_string_to_metric_families

from dtms.config import Settings
from dtms.ops.context import Ops

from ..runtime.harness import Harness, open_trade, simulated
from .kit import api_client, hedged_trade


def _ops(h: Harness, **http: object) -> Ops:
    s = replace(h.settings, logging=replace(h.settings.logging, dir=str(h.log_dir)),
                http=replace(h.settings.http, **http))
    return Ops(h.app, s)


async def test_health_is_503_with_its_reasons_until_link_and_autotrading_are_back(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock) as h, api_client(_ops(h)) as client:
        await h.settle()
        r = await client.get("/health")
        assert r.status_code == 200 and r.json()["status"] == "ok"
        h.sim.scenario.set_autotrading(False)
        h.sim.scenario.ipc_outage(60)
        await h.until(lambda: not h.app.gateway.connected, within=30, what="link down")
        r = await client.get("/health")
        assert r.status_code == 503
        assert r.json()["reasons"] == ["the broker link is down (reconnecting)"]
        await trio.sleep(40)  # no good cycle for longer than max_cycle_age_seconds (30)
        reasons = (await client.get("/health")).json()["reasons"]
        # the cycles fail, or one waits on the link; either way it is said first
        assert reasons[0].startswith(("no successful monitoring cycle for ",
                                      "the last monitoring cycle started "))
        assert reasons[1:] == ["the broker link is down (reconnecting)"]
        await h.until(lambda: h.app.gateway.connected, within=120, what="reconnected")
        await h.settle()
        r = await client.get("/health")
        assert r.status_code == 503
        assert r.json()["reasons"] == [
            "trading is not allowed (AutoTrading off, or an investor login)"]
        h.sim.scenario.set_autotrading(True)
        h.sim.scenario.ipc_outage(2)  # the account is re-read on reconnection
        await h.until(lambda: h.app.supervisor.account.trade_allowed, within=120,
                      what="trading allowed")
        await h.settle()
        assert (await client.get("/health")).status_code == 200


async def test_health_fails_when_cycles_stop(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock) as h:
        ops = _ops(h, max_cycle_age_seconds=10.0)
        async with api_client(ops) as client:
            await h.settle()
            assert (await client.get("/health")).status_code == 200
            h.app.stop.set()  # the supervisor stops cycling while the process winds down
            await trio.sleep(30)
            body = (await client.get("/health")).json()
            assert "dtms is stopping" in body["reasons"]


async def test_status_trades_and_a_hedged_trades_detail_and_chart(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock, symbols=("EURUSD", "GBPUSD")) as h:
        ops = _ops(h)
        async with api_client(ops) as client:
            quiet, _ = open_trade(h.sim, "GBPUSD", "SELL", 0.5, stop_pips=80)
            ticket = await hedged_trade(h)
            status = (await client.get("/api/status")).json()
            assert status["monitoring_active"] and status["active_trades"] == 2
            assert status["trades_by_state"]["HEDGED"] == 1
            assert status["broker_link"]["connected"] and status["account"]["trade_allowed"]
            assert status["actions"]["by_action"]["open_hedge"]["done"] == 1
            assert set(status["data_health"]) == {"EURUSD", "GBPUSD"}
            assert status["closed_trades"] == 0

            rows = {t["ticket"]: t for t in (await client.get("/api/trades")).json()}
            assert set(rows) == {ticket, quiet}
            hedged = rows[ticket]
            assert hedged["state"] == "HEDGED" and hedged["hedge"]["ticket"] == \
                h.hedges_of(ticket)[0].ticket
            assert 0 < hedged["flat_timer_remaining"] <= 75 * 60

            d = (await client.get(f"/api/trades/{ticket}")).json()
            assert [(t["from_state"], t["to_state"]) for t in d["transitions"]] == [
                ("HEALTHY", "WARNING_L1"), ("WARNING_L1", "WARNING_L2"),
                ("WARNING_L2", "HEDGED")]
            assert {a["type"] for a in d["actions"] if a["status"] == "done"} >= {
                "tighten_sl", "partial_close", "open_hedge"}
            assert len(d["layers"]) == 6 and d["analysis"]
            assert d["score_history"] and set(d["score_history"][-1]["layers"]) == {
                x["name"] for x in d["layers"]}
            assert d["trade"]["state"] == "HEDGED"

            chart = (await client.get(f"/api/trades/{ticket}/chart?tf=M5")).json()
            assert len(chart["bars"]) == ops.settings.http.chart_bars
            assert len(chart["vwap"]) == len(chart["bars"])
            opened = next(a for a in d["actions"] if a["type"] == "open_hedge")
            (hedge_mark,) = [m for m in chart["markers"] if m["kind"] == "hedge_open"]
            assert hedge_mark["at"] == opened["ts"] and hedge_mark["price"] > 0
            assert chart["bands"][-1]["state"] == "HEDGED"
            tighten = next(a for a in d["actions"] if a["type"] == "tighten_sl")
            assert [tighten["ts"], tighten["params"]["sl"]] in chart["stops"]
            m15 = (await client.get(f"/api/trades/{ticket}/chart?tf=m15")).json()
            assert m15["timeframe"] == "M15" and m15["bars"][1][0] - m15["bars"][0][0] == 900


async def test_history_logs_and_bad_requests(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock) as h, api_client(_ops(h)) as client:
        ticket = await hedged_trade(h)
        rows = (await client.get(f"/api/history?ticket={ticket}&limit=2")).json()
        assert len(rows) == 2 and rows[0]["ts"] >= rows[1]["ts"]
        lines = (await client.get(f"/api/logs/{ticket}?lines=5")).json()["lines"]
        assert len(lines) == 5 and all(str(ticket) in line for line in lines)
        for url, status, message in [
            ("/api/history?limit=lots", 400, "limit must be a whole number, got 'lots'"),
            ("/api/history?limit=0", 400, "limit must be between 1 and 10000, got 0"),
            (f"/api/trades/{ticket}/chart?tf=H1", 400, "tf must be M5 or M15, got 'H1'"),
            ("/api/trades/42", 404, "ticket 42 is not known to dtms"),
            ("/api/logs/42", 404, "no log for ticket 42"),
            ("/api/nothing", 404, "no such route: /api/nothing"),
        ]:
            r = await client.get(url)
            assert (r.status_code, r.json()["error"]) == (status, message), url
        r = await client.post("/api/status")
        assert r.status_code == 405


@pytest.mark.parametrize("where", ["header", "query"])
async def test_a_token_guards_every_data_route_but_health_and_the_page(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, where: str
) -> None:
    async with simulated(tmp_path, autojump_clock) as h:
        ops = _ops(h, token="s3cret")
        async with api_client(ops) as anonymous:
            await h.settle()
            for url in ("/api/status", "/api/trades", "/metrics", "/api/history"):
                assert (await anonymous.get(url)).status_code == 401, url
                assert (await anonymous.get(url + "?token=wrong")).status_code == 401, url
            assert (await anonymous.get("/health")).status_code == 200
            page = await anonymous.get("/")
            assert page.status_code == 200 and b"<title>dtms</title>" in page.content
            assert (await anonymous.get("/static/chart.js")).status_code == 200
        token = "s3cret" if where == "header" else ""
        async with api_client(ops, token) as client:
            url = "/api/status" if where == "header" else "/api/status?token=s3cret"
            assert (await client.get(url)).status_code == 200


async def test_metrics_are_prometheus_text_with_the_systems_figures(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock) as h, api_client(_ops(h)) as client:
        await hedged_trade(h)
        r = await client.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for family in text_string_to_metric_families(r.text)
                   for s in family.samples}

        def value(name: str, **labels: str) -> float:
            return samples[(name, tuple(sorted(labels.items())))]

        assert value("dtms_trades", state="HEDGED") == 1
        assert value("dtms_trades", state="HEALTHY") == 0
        assert value("dtms_actions_total", action="open_hedge", result="done") == 1
        assert value("dtms_actions_total", action="tighten_sl", result="failed") == 0
        cycles = value("dtms_cycles_total")
        assert value("dtms_cycle_duration_seconds_count") == cycles > 100
        assert value("dtms_cycle_duration_seconds_bucket", le="+Inf") == cycles
        assert value("dtms_healthy") == 1 and value("dtms_broker_connected") == 1
        for prio in ("read", "modify", "hedge", "close"):
            assert value("dtms_gateway_queue_depth", priority=prio) >= 0
        assert value("dtms_data_stale", symbol="EURUSD") == 0
        assert value("dtms_data_age_seconds", symbol="EURUSD") < 600
        assert value("dtms_journal_commit_seconds_count") > 0
        assert value("process_resident_memory_bytes") > 10e6
        assert value("dtms_gateway_latency_seconds", quantile="0.5") >= 0
        assert value("dtms_events_total") >= 2  # process started, hedge opened


def test_settings_hold_the_http_defaults() -> None:
    http = Settings().http
    assert (http.enabled, http.host, http.port) == (False, "127.0.0.1", 8765)


async def test_a_view_that_breaks_answers_500_and_the_rest_goes_on(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with simulated(tmp_path, autojump_clock) as h, api_client(_ops(h)) as client:
        open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
        await h.settle()
        journal = tmp_path / "dtms.sqlite3"
        journal.rename(tmp_path / "moved.sqlite3")  # the history can no longer be read
        try:
            r = await client.get("/api/history")
            assert r.status_code == 500 and r.json()["error"].startswith("internal error: ")
            assert (await client.get("/api/trades")).status_code == 200
            assert (await client.get("/health")).status_code == 200
        finally:
            (tmp_path / "moved.sqlite3").rename(journal)
        assert (await client.get("/api/history")).status_code == 200
