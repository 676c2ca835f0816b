"""The HTTP server: hypercorn's Trio worker serving :class:`~dtms.ops.api.Api` in dtms's loop.

Why hypercorn: it is a maintained ASGI server with a native Trio worker, so the API runs as one
more task in dtms's own nursery (no second event loop, no thread), and it owns HTTP/1.1
parsing (h11), keep-alive and graceful shutdown. The listening socket is bound *before* Trio
starts (:func:`bind`), so a port in use stops ``dtms run`` with one line before anything trades.
Hypercorn's time limits run on Trio's clock, so they are scaled to real seconds.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import sys
from functools import partial
from typing import Any, cast

import trio
from hypercorn.config import Config, Sockets
from hypercorn.trio.run import worker_serve
from hypercorn.utils import wrap_app
from loguru import logger

from dtms.errors import DtmsError
from dtms.ops.api import Api
from dtms.ops.context import Ops
from dtms.ops.settings import HttpSettings


def is_loopback(host: str) -> bool:
    """Whether ``host`` is a loopback address (or ``localhost``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check(settings: HttpSettings) -> None:
    """Refuse a configuration that would expose the API without a token.

    Raises:
        DtmsError: a non-loopback address and no token.
    """
    if not is_loopback(settings.host) and not settings.resolved_token():
        raise DtmsError(
            f"http: listening on {settings.host} needs a token: set [http] token or the "
            "DTMS_HTTP_TOKEN environment variable (or listen on 127.0.0.1)")


def bind(settings: HttpSettings) -> Sockets:
    """Check the settings and open the listening socket.

    Raises:
        DtmsError: no token for a non-loopback address, or the address cannot be bound.
    """
    check(settings)
    host = settings.host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if sys.platform != "win32":  # on Windows it would let another process share the port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, settings.port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise DtmsError(f"http: cannot listen on {settings.host}:{settings.port}: "
                        f"{exc.strerror or exc}") from None
    sock.setblocking(False)
    return Sockets(secure_sockets=[], insecure_sockets=[sock], quic_sockets=[])


def bound_port(sockets: Sockets) -> int:
    """The TCP port the server listens on (useful with port 0)."""
    return int(sockets.insecure_sockets[0].getsockname()[1])


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _config(ops: Ops) -> Config:
    config = Config()
    config.accesslog = None
    config.errorlog = logging.getLogger("dtms.http")
    config.keep_alive_timeout = ops.trio_seconds(5.0)
    config.graceful_timeout = ops.trio_seconds(2.0)
    config.startup_timeout = ops.trio_seconds(30.0)
    config.shutdown_timeout = ops.trio_seconds(5.0)
    config.read_timeout = max(round(ops.trio_seconds(60.0)), 1)
    config.h11_max_incomplete_size = 16 * 1024
    config.include_server_header = False
    return config


async def serve_http(ops: Ops, sockets: Sockets,
                     task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
    """Serve the API on ``sockets`` until dtms stops."""
    api = Api(ops)

    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(api.background)
            async with trio.open_nursery() as server:
                # returns once dtms stops and the open connections drained (graceful_timeout)
                await server.start(partial(
                    worker_serve, wrap_app(cast(Any, api), 16 * 1024, "asgi"), _config(ops),
                    sockets=sockets, shutdown_trigger=ops.app.stop.wait))
                host, port = sockets.insecure_sockets[0].getsockname()[:2]
                logger.info(f"HTTP API and dashboard on http://{_url_host(host)}:{port}/")
                task_status.started()
            nursery.cancel_scope.cancel()
    finally:
        for sock in sockets.insecure_sockets:
            sock.close()
