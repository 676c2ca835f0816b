"""``dtms run --http`` as a trader runs it: a real process on the simulator, its API read over
a real socket, its dashboard loaded in a real headless Chromium (Debian's, never downloaded)."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
def own_machine(cwd: Path) -> None:
    """A config whose account lock lives in ``cwd``: another dtms on this machine (a developer's
    demo, another test) never makes this one refuse to start."""
    (cwd / "config.toml").write_text(f'[supervisor]\naccount_lock_dir = "{cwd}"\n')


DTMS = [sys.executable, "-m", "dtms.cli"]
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = ROOT / "artifacts"


@dataclass
class Running:
    proc: subprocess.Popen[str]
    cwd: Path
    base: str

    def get(self, path: str) -> Any:
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            if path == "/health" and e.code == 503:  # not healthy yet: the body says why
                return json.loads(e.read())
            raise

    def wait(self, predicate: Any, timeout: float, what: str) -> Any:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            assert self.proc.poll() is None, (self.cwd / "run.log").read_text()[-2000:]
            found = predicate()
            if found:
                return found
            time.sleep(0.5)
        raise AssertionError(f"timed out waiting for {what}")

    def hedged(self) -> int:
        """A trade that has a hedge open (waits for the demo to hedge one)."""
        def find() -> int | None:
            rows = [t for t in self.get("/api/trades") if t["hedge"]]
            return rows[0]["ticket"] if rows else None

        ticket: int = self.wait(find, 120, "a hedged trade")
        return ticket


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    cwd = tmp_path_factory.mktemp("dtms-http")
    own_machine(cwd)
    log = open(cwd / "run.log", "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen([*DTMS, "run", "--http", "127.0.0.1:0", "--duration", "300"],
                            cwd=cwd, stdout=log, stderr=subprocess.STDOUT, text=True)
    try:
        end = time.monotonic() + 60
        found = None
        while found is None and time.monotonic() < end and proc.poll() is None:
            time.sleep(0.2)
            found = re.search(r"HTTP API and dashboard on (http://\S+)/",
                              (cwd / "run.log").read_text())
        assert found, (cwd / "run.log").read_text()[-2000:]
        yield Running(proc, cwd, found.group(1))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()


@pytest.mark.slow
def test_the_api_answers_over_a_real_socket_and_streams_a_trades_log(running: Running) -> None:
    health = running.wait(lambda: running.get("/health").get("status") == "ok", 30, "healthy")
    assert health
    ticket = running.hedged()
    trade = running.get(f"/api/trades/{ticket}")
    assert trade["trade"]["state"] in ("HEDGED", "WARNING_L2", "RECOVERING")
    with urllib.request.urlopen(running.base + "/metrics", timeout=10) as r:
        metrics = r.read().decode()
    assert re.search(r'^dtms_actions_total\{action="open_hedge",result="done"\} [1-9]',
                     metrics, re.M)
    with httpx.Client(timeout=30) as client, client.stream(
            "GET", f"{running.base}/api/logs/{ticket}/stream?lines=3") as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        data = []
        for line in r.iter_lines():
            if line.startswith("data: "):
                data.append(line)
            if len(data) >= 5:  # three from the tail, then live lines as the actor logs
                break
    assert all(f"#{ticket}" in line for line in data)


@pytest.mark.slow
def test_the_dashboard_shows_the_trades_and_a_hedge_marker_in_chromium(
    running: Running,
) -> None:
    if not CHROMIUM.exists():
        pytest.skip("no /usr/bin/chromium: `apt-get install chromium` (Debian) runs this test")
    sync_api = pytest.importorskip("playwright.sync_api")
    ticket = running.hedged()
    trades = running.get("/api/trades")
    ARTIFACTS.mkdir(exist_ok=True)
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM),
                                    args=["--no-sandbox", "--disable-gpu"])
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1200})
            page.on("pageerror", lambda e: errors.append(str(e)))
            outside: list[str] = []  # offline: nothing may come from anywhere but dtms

            def refuse(route: Any) -> None:
                outside.append(route.request.url)
                route.abort()

            page.route(re.compile(r"^(?!http://127\.0\.0\.1)"), refuse)
            page.goto(running.base + "/")
            page.wait_for_selector("#trades tbody tr", timeout=15_000)
            shown = page.locator("#trades tbody tr").count()
            assert shown >= len(trades) - 2 and shown >= 2
            page.locator(f'#trades tbody tr[data-ticket="{ticket}"]').click()
            marker = page.wait_for_selector('svg.chart [data-marker="hedge_open"]',
                                            timeout=15_000)
            assert marker is not None and marker.is_visible()
            assert page.locator("svg.chart rect.candle").count() >= 100
            assert page.locator("svg.chart polyline.vwap").count() == 1
            assert page.locator("#layers tbody tr").count() == 6
            page.wait_for_function("document.querySelector('#log').textContent.length > 0",
                                   timeout=15_000)
            # rendered from /health (on the accelerated simulator a snapshot may time out)
            assert page.locator("#health").inner_text() in ("healthy", "UNHEALTHY")
            page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)
        finally:
            browser.close()
    assert errors == [] and outside == []


@pytest.mark.slow
def test_sigterm_stops_the_api_with_dtms_and_exits_0(running: Running) -> None:
    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(timeout=60) == 0
    log = (running.cwd / "run.log").read_text()
    assert "dtms stopped; positions stay open at the broker with their stops" in log
    assert "Traceback" not in log
    with pytest.raises(OSError):  # the port is closed with it
        urllib.request.urlopen(running.base + "/health", timeout=5)


def test_a_public_address_without_a_token_is_refused_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DTMS_HTTP_TOKEN"}
    out = subprocess.run([*DTMS, "run", "--http", "0.0.0.0:8765", "--duration", "1"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "dtms: http: listening on 0.0.0.0 needs a token: set [http] token or the "
        "DTMS_HTTP_TOKEN environment variable (or listen on 127.0.0.1)"]
    assert not (tmp_path / "dtms.sqlite3").exists()  # refused before anything started


def test_a_busy_port_is_refused_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = subprocess.run([*DTMS, "run", "--http", f"127.0.0.1:{port}", "--duration", "1"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        f"dtms: http: cannot listen on 127.0.0.1:{port}: "), lines


def test_a_malformed_http_option_is_refused_in_one_line(tmp_path: Path) -> None:
    out = subprocess.run([*DTMS, "run", "--http", "localhost:http"], cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "dtms: --http expects HOST:PORT or PORT (port 0..65535), got 'localhost:http'"]


