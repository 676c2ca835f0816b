"""The container files start commands dtms understands; small pieces of the surfaces."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from dtms.cli import _parser
from dtms.ops.metrics import Folded
from dtms.ops.settings import HttpSettings
from dtms.runner import http_override

ROOT = Path(__file__).resolve().parents[2]


def _commands() -> list[list[str]]:
    docker = (ROOT / "Dockerfile").read_text()
    out = [json.loads(m) for m in re.findall(r"^CMD (\[.*\])$", docker, re.M)]
    compose = (ROOT / "docker-compose.yml").read_text()
    out += [json.loads(m) for m in re.findall(r"command: (\[[^\]]*\])", compose)]
    return out


def test_the_container_files_run_commands_dtms_accepts() -> None:
    commands = _commands()
    assert len(commands) == 3
    for argv in commands:
        if argv[0] == "sim-server":
            from dtms.broker.sim.cli import parser as sim_parser

            args = sim_parser().parse_args(argv[1:])
            assert args.host == "127.0.0.1"  # rpyc classic stays on loopback
        else:
            args = _parser().parse_args(argv)
            assert args.command == "run" and args.broker == "mt5linux"
            assert args.http == "0.0.0.0:8765"
    docker = (ROOT / "Dockerfile").read_text()
    assert "http://127.0.0.1:8765/health" in docker and "HEALTHCHECK" in docker


@pytest.mark.parametrize(("spec", "host", "port"), [
    ("127.0.0.1:9000", "127.0.0.1", 9000), ("9001", "127.0.0.1", 9001),
    ("[::1]:9002", "::1", 9002), ("0.0.0.0:0", "0.0.0.0", 0)])
def test_the_http_option_takes_host_and_port(spec: str, host: str, port: int) -> None:
    http = http_override(HttpSettings(), spec)
    assert (http.enabled, http.host, http.port) == (True, host, port)


def test_a_folded_histogram_counts_each_value_once_and_what_the_window_lost() -> None:
    h = Folded((0.1, 1.0))
    window: list[float] = []
    for i, v in enumerate((0.05, 0.5, 5.0), start=1):
        window.append(v)
        h.fold(i, window)
    h.fold(3, window)  # nothing new: nothing counted twice
    assert h.buckets() == [("0.1", 1.0), ("1.0", 2.0), ("+Inf", 3.0)]
    assert h.sum == pytest.approx(5.55) and h.missed == 0
    h.fold(10, window[-2:])  # 7 new values, but the window keeps 2: 5 were lost
    assert (h.count, h.missed) == (5, 5)
    halved = Folded((1.0,))
    halved.fold(1, [3.0], scale=4.0)  # Trio seconds on an accelerated clock -> real seconds
    assert halved.buckets() == [("1.0", 1.0), ("+Inf", 1.0)]
