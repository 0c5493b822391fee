"""The display's verbs: argument handling without opening a terminal."""

from __future__ import annotations

import socket
import subprocess
import sys

from helpers import http_server

from shaper.cli.display import serve_argv
from shaper.cli.main import build_parser


def run_shaper(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "shaper", *args], capture_output=True, text=True, timeout=timeout,
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


def test_attach_where_no_engine_ever_was_fails_like_limits():
    # It opened a dashboard of made-up limits marked disconnected. Bounded: the display
    # must not start at all (it would run until the timeout).
    with socket.socket() as refusing:
        refusing.bind(("127.0.0.1", 0))  # bound, never listening: connections are refused
        port = refusing.getsockname()[1]
        attach = run_shaper("attach", f"127.0.0.1:{port}", timeout=30)
        limits = run_shaper("limits", "--control", f"127.0.0.1:{port}", timeout=30)
    assert attach.returncode == 1 == limits.returncode, attach
    assert attach.stdout == ""  # no screen was drawn
    first = attach.stderr.splitlines()[0]
    assert first.startswith(f"shaper attach: error: cannot reach the shaper control API at "
                            f"http://127.0.0.1:{port}")
    assert attach.stderr.replace("attach", "limits") == limits.stderr
    assert "Traceback" not in attach.stderr


def test_attach_to_a_web_server_that_is_not_shaper_exits_1(tmp_path):
    with http_server() as (host, port):  # answers every path with 200 and some bytes
        result = run_shaper("attach", f"{host}:{port}", timeout=30)
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert "is not a shaper engine" in result.stderr and "Traceback" not in result.stderr
