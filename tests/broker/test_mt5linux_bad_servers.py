"""The mt5linux adapter against servers that are not what it needs: deaf ports, rpyc 5.

Each must fail ``initialize()`` within ``connect_timeout`` with one line naming the problem,
and nothing may hang afterwards (closing, or the interpreter's exit).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from dtms.broker.mt5linux import Mt5LinuxBroker, Mt5LinuxSettings, connect_mt5linux
from dtms.errors import BrokerUnavailable
from dtms.runtime.gateway import GatewaySettings, open_gateway

RPYC5 = "rpyc==5.3.1"
RPYC5_MESSAGE = (
    "the server at 127.0.0.1:{port} speaks rpyc 5.x; dtms needs an rpyc 6 classic server "
    "(pip install 'rpyc==6.0.2' next to the terminal)"
)


@pytest.fixture
def deaf_port() -> Iterator[int]:
    """A port that accepts TCP connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


def test_a_deaf_port_fails_within_the_connect_timeout(deaf_port: int) -> None:
    broker = Mt5LinuxBroker(port=deaf_port, connect_timeout=0.5)
    began = time.monotonic()
    assert broker.initialize() is False
    assert time.monotonic() - began < 3.0
    assert broker.last_error() == (
        -10003,
        f"IPC initialize failed, no answer from an rpyc classic server at 127.0.0.1:{deaf_port} "
        "within 0.5 s",
    )
    assert not broker.connected
    began = time.monotonic()
    broker.shutdown()
    assert time.monotonic() - began < 1.0


def test_the_connect_timeout_is_a_knob() -> None:
    assert Mt5LinuxSettings().connect_timeout == 10.0
    broker = connect_mt5linux(Mt5LinuxSettings(connect_timeout=3.5))
    assert broker.connect_timeout == 3.5


async def test_gateway_start_on_a_deaf_port_is_one_clear_line(deaf_port: int) -> None:
    settings = GatewaySettings(connect_attempts=1, reconnect_initial_backoff=0.01)
    factory = lambda: connect_mt5linux(  # noqa: E731
        Mt5LinuxSettings(port=deaf_port, connect_timeout=0.3))
    with pytest.raises(BrokerUnavailable) as caught:
        async with open_gateway(factory, settings):
            pass
    message = str(caught.value)
    assert "no answer from an rpyc classic server" in message and "\n" not in message


@pytest.fixture(scope="module")
def rpyc5_path(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """rpyc 5 (and plumbum) installed once into a directory of their own, cached across runs."""
    cache = getattr(request.config, "cache", None)
    target = (Path(cache.mkdir("rpyc-5.3.1")) if cache is not None
              else tmp_path_factory.mktemp("rpyc5")) / "site"
    if not (target / "rpyc" / "__init__.py").exists():
        installed = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
             "--timeout", "20", "--retries", "1", "--target", str(target), RPYC5],
            capture_output=True, text=True, timeout=300,
        )
        if installed.returncode != 0:
            pytest.skip(f"cannot install {RPYC5} from the package index: "
                        f"{installed.stderr.strip().splitlines()[-1:]}")
    return target


@pytest.fixture(scope="module")
def rpyc5_port(rpyc5_path: Path) -> Iterator[int]:
    """A real rpyc 5.3.1 classic server in its own Python process."""
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(rpyc5_path)!r})
        import rpyc
        assert str(rpyc.__version__).startswith("5."), rpyc.__version__
        from rpyc.core.service import ClassicService
        from rpyc.utils.server import ThreadedServer
        server = ThreadedServer(ClassicService, hostname="127.0.0.1", port=0,
                                auto_register=False)
        server._listen()
        print(server.port, flush=True)
        server.start()
    """)
    proc = subprocess.Popen([sys.executable, "-I", "-S", "-c", script],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.isdigit():
            proc.kill()
            pytest.fail(f"the rpyc 5 server did not start: {line!r} {proc.communicate()[1]}")
        yield int(line)
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def test_an_rpyc5_server_is_named(rpyc5_port: int) -> None:
    broker = Mt5LinuxBroker(port=rpyc5_port, connect_timeout=5.0)
    began = time.monotonic()
    assert broker.initialize() is False
    assert time.monotonic() - began < 5.0
    assert broker.last_error() == (
        -10003, "IPC initialize failed, " + RPYC5_MESSAGE.format(port=rpyc5_port))
    assert broker.positions_get() is None
    assert broker.last_error() == (-10004, "No IPC connection")


def test_nothing_hangs_at_exit_after_an_rpyc5_server(rpyc5_port: int) -> None:
    """Each run connects, fails and exits; before, 4 of 10 such runs hung ~300 s at exit."""
    script = textwrap.dedent(f"""
        from dtms.broker.mt5linux import Mt5LinuxBroker
        broker = Mt5LinuxBroker(port={rpyc5_port}, connect_timeout=5.0)
        assert broker.initialize() is False
        print(broker.last_error()[1])
    """)
    for _ in range(5):
        began = time.monotonic()
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        assert "speaks rpyc 5.x" in done.stdout and done.stderr == ""
        assert time.monotonic() - began < 10.0
