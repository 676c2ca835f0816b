"""The HTTP API of a running dtms: health, status, trades, history, logs, metrics, dashboard.

Every route is a GET and reads only. ``/health``, the dashboard page and its static files are
open to anyone who can reach the port; every data route needs the token when one is set (it
must be, on any non-loopback address: ``dtms.ops.surfaces.prepare``). Live data comes from
memory; history from the journal in a worker thread; per-trade logs from their files.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import deque
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import trio
from loguru import logger
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from dtms.ops import chart, reads, views
from dtms.ops.asgi import (
    BadRequest,
    Receive,
    Request,
    Response,
    Scope,
    Send,
    dumps,
    error,
    json_response,
    sse,
    stream_events,
)
from dtms.ops.context import Ops
from dtms.ops.metrics import MetricsSource
from dtms.runtime.events import OperatorEvent
from dtms.runtime.logs import trade_log_path
from dtms.status import get_action_history

STATIC = {"index.html": "text/html; charset=utf-8", "app.js": "text/javascript; charset=utf-8",
          "chart.js": "text/javascript; charset=utf-8", "style.css": "text/css; charset=utf-8"}
RECENT_EVENTS = 100
_TRADE = re.compile(r"^/api/trades/(\d+)(/chart)?$")
_LOGS = re.compile(r"^/api/logs/(\d+)(/stream)?$")


def _static(name: str) -> bytes:
    return (resources.files("dtms.ops") / "static" / name).read_bytes()


class Api:
    """The ASGI application."""

    def __init__(self, ops: Ops) -> None:
        self.ops = ops
        self.token = ops.settings.http.resolved_token()
        self.metrics = MetricsSource(ops)
        self.started_wall = time.time()
        self._static = {name: _static(name) for name in STATIC}
        self.recent: deque[dict[str, Any]] = deque(maxlen=RECENT_EVENTS)
        """The newest operator events, oldest first (what the dashboard shows on load)."""

    async def background(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
                         ) -> None:
        """Until cancelled: remember the newest operator events, and fold the runtime's windows
        of recent figures into the metrics' histograms every second (so none overflows)."""

        async def fold() -> None:
            while True:
                self.ops.observe()
                self.metrics.fold()
                await self.ops.sleep(1.0)

        with self.ops.app.events.subscribe(RECENT_EVENTS) as events:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(fold)
                task_status.started()
                async for e in events:
                    self.recent.append(event_dict(e))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        request = Request.of(scope)
        try:
            await self._route(request, receive, send)
        except BadRequest as exc:
            await error(400, str(exc)).send(send)
        except Exception as exc:  # a broken view answers 500; dtms goes on
            logger.opt(exception=exc).error(f"HTTP {request.path} failed: {exc}")
            with contextlib.suppress(Exception):  # unless the response had already started
                await error(500, f"internal error: {type(exc).__name__}: {exc}").send(send)

    async def _route(self, req: Request, receive: Receive, send: Send) -> None:
        if req.method != "GET":
            await error(405, "read-only API: only GET").send(send)
            return
        path = req.path
        if path == "/health":
            await self._health().send(send)
            return
        if path == "/favicon.ico":
            await Response(204, b"", "image/x-icon").send(send)
            return
        if path in ("/", "/index.html") or path.startswith("/static/"):
            await self._file(path).send(send)
            return
        if self.token and not req.has_token(self.token):
            await Response(401, dumps({"error": "missing or wrong token"}),
                           headers=(("www-authenticate", "Bearer"),)).send(send)
            return
        if m := _LOGS.match(path):
            ticket = int(m.group(1))
            if m.group(2):
                await self._log_stream(ticket, req, receive, send)
            else:
                await (await self._log_tail(ticket, req)).send(send)
            return
        if path == "/api/events/stream":
            await self._events(receive, send)
            return
        await (await self._get(req)).send(send)

    async def _get(self, req: Request) -> Response:
        ops, path = self.ops, req.path
        if path == "/metrics":
            body = generate_latest(self.metrics.registry)
            return Response(200, body, CONTENT_TYPE_LATEST)
        if path == "/api/status":
            out = views.status(ops, self.started_wall)
            out["closed_trades"] = await ops.read(reads.closed_count, ops.journal_path)
            return json_response(out)
        if path == "/api/trades":
            return json_response(views.trades(ops))
        if path == "/api/events":
            return json_response(list(self.recent))
        if path == "/api/history":
            limit = req.int_arg("limit", 50, 1, 10_000)
            ticket = req.int_arg("ticket", 0, 0, 2**63 - 1) or None
            rows = await ops.read(get_action_history, ticket, limit, ops.journal_path)
            return json_response(rows)
        if m := _TRADE.match(path):
            detail = await self._detail(int(m.group(1)))
            if detail is None:
                return error(404, f"ticket {m.group(1)} is not known to dtms")
            if m.group(2):
                tf = req.query.get("tf", "M5").upper()
                if tf not in chart.TIMEFRAMES:
                    raise BadRequest(f"tf must be M5 or M15, got {tf!r}")
                return json_response(chart.chart(ops, detail, tf))
            return json_response(detail)
        return error(404, f"no such route: {path}")

    def _health(self) -> Response:
        h = self.ops.health()
        return json_response(h.as_dict(), 200 if h.ok else 503)

    def _file(self, path: str) -> Response:
        name = "index.html" if path in ("/", "/index.html") else path.removeprefix("/static/")
        if name not in self._static:
            return error(404, f"no such file: {path}")
        return Response(200, self._static[name], STATIC[name])

    async def _detail(self, ticket: int) -> dict[str, Any] | None:
        """The journal's history of a trade, with the live state when an actor holds it."""
        ops = self.ops
        detail = await ops.read(reads.trade_detail, ops.journal_path, ticket)
        actor = ops.app.supervisor.actors.get(ticket)
        if actor is None:
            return detail
        live = views.trade_summary(ops, actor.trade)
        if detail is None:
            detail = {"trade": {}, "layers": [], "analysis": "", "transitions": [],
                      "actions": [], "notes": [], "score_history": []}
        detail["trade"] = {**detail["trade"], **live}
        return detail

    async def _log_tail(self, ticket: int, req: Request) -> Response:
        path = trade_log_path(self.ops.log_dir, ticket)
        lines = req.int_arg("lines", self.ops.settings.http.log_tail_lines, 1, 10_000)
        try:
            text = await self.ops.read(reads.tail, path, lines)
        except FileNotFoundError:
            return error(404, f"no log for ticket {ticket}")
        return json_response({"ticket": ticket, "lines": text})

    async def _log_stream(self, ticket: int, req: Request, receive: Receive, send: Send) -> None:
        path = trade_log_path(self.ops.log_dir, ticket)
        lines = req.int_arg("lines", 50, 0, 10_000)
        ops = self.ops

        async def follow() -> AsyncIterator[bytes]:
            while not path.exists():
                await ops.sleep(0.5)
            if lines:
                for line in await ops.read(reads.tail, path, lines):
                    yield sse(line)
            fh = await ops.read(_open_at_end, str(path))
            try:
                quiet, partial = 0.0, ""
                while True:
                    chunk = await ops.read(fh.read)
                    if chunk:
                        quiet = 0.0
                        *complete, partial = (partial + chunk).split("\n")
                        for line in complete:
                            yield sse(line)
                    else:
                        await ops.sleep(0.5)
                        quiet += 0.5
                        if quiet >= 15:  # a comment keeps proxies from closing the stream
                            quiet = 0.0
                            yield b": keep-alive\n\n"
            finally:
                fh.close()

        await self._stream(receive, send, follow())

    async def _events(self, receive: Receive, send: Send) -> None:
        async def relay() -> AsyncIterator[bytes]:
            with self.ops.app.events.subscribe(100) as events:
                async for e in events:
                    yield sse(dumps(event_dict(e)).decode(), "operator")

        await self._stream(receive, send, relay())

    async def _stream(self, receive: Receive, send: Send, chunks: AsyncIterator[bytes]) -> None:
        ops = self.ops
        if ops.streams >= ops.settings.http.max_streams:
            await error(503, "too many live streams open").send(send)
            return
        ops.streams += 1
        try:
            await stream_events(send, receive, chunks, ops.app.stop, ops.trio_seconds(1.0))
        finally:
            ops.streams -= 1
            aclose = getattr(chunks, "aclose", None)
            if aclose is not None:
                with trio.CancelScope(shield=True):
                    await aclose()


def event_dict(e: OperatorEvent) -> dict[str, Any]:
    """An operator event as JSON."""
    return {"kind": e.kind.value, "at": e.at, "text": e.text, "severity": e.severity.value,
            "ticket": e.ticket, "symbol": e.symbol, "data": dict(e.data)}


def _open_at_end(path: str) -> Any:
    fh = open(path, encoding="utf-8", errors="replace")  # noqa: SIM115 (closed by the stream)
    fh.seek(0, 2)
    return fh
