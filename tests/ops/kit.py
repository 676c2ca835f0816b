"""Test kit of the operating surface: a running dtms on virtual time, an in-process API client,
and a real local HTTP endpoint that can be slow, failing or down (alerts, dead-man pings)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import trio

from dtms.core.types import State
from dtms.ops.api import Api
from dtms.ops.context import Ops

from ..runtime.harness import HOUR, Harness, open_trade, path


@asynccontextmanager
async def api_client(ops: Ops, token: str = "") -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client that calls the ASGI app in-process (no socket, virtual time is safe)."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    api = Api(ops)
    transport = httpx.ASGITransport(app=api)
    async with trio.open_nursery() as nursery:
        await nursery.start(api.background)
        async with httpx.AsyncClient(transport=transport, base_url="http://dtms",
                                     headers=headers) as client:
            yield client
        nursery.cancel_scope.cancel()


async def hedged_trade(h: Harness) -> int:
    """Open a BUY on EURUSD and grind the price against it until dtms hedges it."""
    ticket, mid = open_trade(h.sim, "EURUSD", "BUY", 1.0, stop_pips=150)
    path(h.sim, "EURUSD", h.now(), mid, [(0, 0), (135, -42), (330, -50)])
    await h.until(lambda: h.state(ticket) is State.HEDGED, within=6 * HOUR, what="HEDGED")
    return ticket


@dataclass
class Endpoint:
    """A real HTTP server on 127.0.0.1 that records what it receives.

    ``answers`` is consumed one status per request (then ``default``); ``delay`` makes every
    answer slow; ``down()`` closes the port (connections refused).
    """

    answers: list[int] = field(default_factory=list)
    default: int = 200
    delay: float = 0.0
    body: dict[str, Any] = field(default_factory=lambda: {"ok": True})
    requests: list[tuple[str, str, Any]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> Endpoint:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length) if length else b""
                payload = json.loads(raw) if raw else None
                owner.requests.append((self.command, self.path, payload))
                if owner.delay:
                    time.sleep(owner.delay)
                status = owner.answers.pop(0) if owner.answers else owner.default
                data = json.dumps(owner.body if status < 400 else {"ok": False}).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _answer

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def down(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def posted(self) -> list[Any]:
        return [p for method, _, p in self.requests if method == "POST"]
