"""The display's verbs: argument handling without opening a terminal."""

from __future__ import annotations

import socket
import subprocess
import sys

from shaper.cli.display import serve_argv
from shaper.cli.main import build_parser


def run_shaper(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "shaper", *args], capture_output=True, text=True, timeout=60,
        stdin=subprocess.DEVNULL,
    )


def test_run_passes_routes_limits_and_profile_to_the_engine():
    args = build_parser().parse_args([
        "run", "--listen", "127.0.0.1:8080", "--upstream", "127.0.0.1:8000",
        "--route", "9000=127.0.0.1:9001", "--down-rate", "2Mbit", "--latency", "40ms",
        "--up-stall", "true", "--profile", "3g",
    ])
    argv = serve_argv(args)
    parsed = build_parser().parse_args(["serve", *argv])
    assert (parsed.listen, parsed.upstream, parsed.route) == (
        "127.0.0.1:8080", "127.0.0.1:8000", ["9000=127.0.0.1:9001"]
    )
    assert parsed.limit_down_rate == "2Mbit"
    assert parsed.limit_both_latency == "40ms"
    assert parsed.limit_up_stall == "true"
    assert parsed.profile == "3g"


def test_run_refuses_a_bad_limit_before_starting_anything():
    result = run_shaper("run", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9",
                        "--down-rate", "5mbps")
    assert result.returncode == 2
    assert "--down-rate" in result.stderr and "ambiguous" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_reports_a_port_in_use():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run_shaper("run", "--listen", f"127.0.0.1:{port}", "--upstream", "127.0.0.1:9")
    assert result.returncode == 2
    assert "address already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_run_needs_a_route():
    result = run_shaper("run")
    assert result.returncode == 2
    assert "nothing to proxy" in result.stderr
