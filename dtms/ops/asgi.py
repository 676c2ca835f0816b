"""A small ASGI toolkit: requests, responses, token checks, server-sent events.

The API is a handful of read-only GET routes, so it needs no framework: a request is the ASGI
scope, a response is status + headers + body, and live views are server-sent events (SSE), which
a browser's ``EventSource`` reads and which end when the client goes away or dtms stops.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

import trio

Scope = Mapping[str, Any]
Receive = Callable[[], Awaitable[Mapping[str, Any]]]
Send = Callable[[Mapping[str, Any]], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Request:
    """What a route sees of an HTTP request."""

    method: str
    path: str
    query: Mapping[str, str]
    headers: Mapping[str, str]

    @classmethod
    def of(cls, scope: Scope) -> Request:
        """Build from an ASGI ``http`` scope (last value wins for repeated query keys)."""
        qs = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                   for k, v in scope.get("headers", ())}
        return cls(scope.get("method", "GET"), scope.get("path", "/"),
                   {k: v[-1] for k, v in qs.items()}, headers)

    def has_token(self, token: str) -> bool:
        """Whether the request carries ``token`` (``Authorization: Bearer`` or ``?token=``)."""
        auth = self.headers.get("authorization", "")
        given = auth[7:].strip() if auth.lower().startswith("bearer ") else self.query.get(
            "token", "")
        return bool(given) and hmac.compare_digest(given.encode(), token.encode())

    def int_arg(self, name: str, default: int, low: int, high: int) -> int:
        """A whole-number query argument within [low, high].

        Raises:
            BadRequest: the argument is not a whole number in range.
        """
        raw = self.query.get(name)
        if raw is None or raw == "":
            return default
        try:
            value = int(raw)
        except ValueError:
            raise BadRequest(f"{name} must be a whole number, got {raw!r}") from None
        if not low <= value <= high:
            raise BadRequest(f"{name} must be between {low} and {high}, got {value}")
        return value


class BadRequest(Exception):
    """The client asked for something malformed (answered 400 with the message)."""


@dataclass(frozen=True, slots=True)
class Response:
    """A complete response."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()

    async def send(self, send: Send) -> None:
        """Write the response to the ASGI ``send`` callable."""
        headers = [(b"content-type", self.content_type.encode()),
                   (b"content-length", str(len(self.body)).encode()),
                   (b"cache-control", b"no-store"),
                   (b"x-content-type-options", b"nosniff")]
        headers += [(k.encode(), v.encode()) for k, v in self.headers]
        await send({"type": "http.response.start", "status": self.status, "headers": headers})
        await send({"type": "http.response.body", "body": self.body})


def _finite(value: Any) -> Any:
    """A copy with NaN and infinities replaced by None (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def dumps(value: Any) -> bytes:
    """Strict JSON (a browser's ``JSON.parse`` refuses NaN)."""
    try:
        text = json.dumps(value, allow_nan=False, default=str, separators=(",", ":"))
    except ValueError:
        text = json.dumps(_finite(value), allow_nan=False, default=str, separators=(",", ":"))
    return text.encode()


def json_response(value: Any, status: int = 200) -> Response:
    """A JSON response."""
    return Response(status, dumps(value))


def error(status: int, message: str) -> Response:
    """A JSON error: ``{"error": message}``."""
    return Response(status, dumps({"error": message}))


async def stream_events(send: Send, receive: Receive, events: AsyncIterator[bytes],
                        stop: trio.Event, final_timeout: float) -> None:
    """Serve ``events`` (already framed SSE chunks) until they end, the client leaves, or
    ``stop`` is set; the closing write gets ``final_timeout`` Trio seconds."""
    await send({"type": "http.response.start", "status": 200, "headers": [
        (b"content-type", b"text/event-stream; charset=utf-8"), (b"cache-control", b"no-store"),
        (b"x-accel-buffering", b"no")]})

    async def until_gone(scope: trio.CancelScope) -> None:
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                scope.cancel()
                return

    async def until_stop(scope: trio.CancelScope) -> None:
        await stop.wait()
        scope.cancel()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(until_gone, nursery.cancel_scope)
        nursery.start_soon(until_stop, nursery.cancel_scope)
        try:
            await send({"type": "http.response.body", "body": b": connected\n\n",
                        "more_body": True})
            async for chunk in events:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except (OSError, RuntimeError, trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client went away mid-write: nothing to tell anyone
        nursery.cancel_scope.cancel()
    with trio.CancelScope(shield=True), trio.move_on_after(final_timeout), \
            contextlib.suppress(Exception):
        await send({"type": "http.response.body", "body": b"", "more_body": False})


def sse(data: str, event: str | None = None) -> bytes:
    """One server-sent event (multi-line data split into ``data:`` lines)."""
    lines = [f"event: {event}"] if event else []
    lines += [f"data: {part}" for part in data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()
