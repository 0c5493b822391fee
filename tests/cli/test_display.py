"""The display's verbs: argument handling without opening a terminal."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import socket
import struct
import subprocess
import sys
import termios
import threading
import time
import urllib.request

import pytest
from helpers import http_server

from shaper.cli.display import serve_argv
from shaper.cli.main import build_parser


def run_shaper(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "shaper", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def test_run_passes_routes_limits_and_profile_to_the_engine():
    args = build_parser().parse_args(
        [
            "run",
            "--listen",
            "127.0.0.1:8080",
            "--upstream",
            "127.0.0.1:8000",
            "--route",
            "9000=127.0.0.1:9001",
            "--down-rate",
            "2Mbit",
            "--latency",
            "40ms",
            "--up-stall",
            "true",
            "--profile",
            "3g",
        ]
    )
    argv = serve_argv(args)
    parsed = build_parser().parse_args(["serve", *argv])
    assert (parsed.listen, parsed.upstream, parsed.route) == (
        "127.0.0.1:8080",
        "127.0.0.1:8000",
        ["9000=127.0.0.1:9001"],
    )
    assert parsed.limit_down_rate == "2Mbit"
    assert parsed.limit_both_latency == "40ms"
    assert parsed.limit_up_stall == "true"
    assert parsed.profile == "3g"


def test_run_refuses_a_bad_limit_before_starting_anything():
    result = run_shaper(
        "run", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--down-rate", "5mbps"
    )
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
    assert first.startswith(
        f"shaper attach: error: cannot reach the shaper control API at http://127.0.0.1:{port}"
    )
    assert attach.stderr.replace("attach", "limits") == limits.stderr
    assert "Traceback" not in attach.stderr


def test_attach_to_a_web_server_that_is_not_shaper_exits_1(tmp_path):
    with http_server() as (host, port):  # answers every path with 200 and some bytes
        result = run_shaper("attach", f"{host}:{port}", timeout=30)
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert "is not a shaper engine" in result.stderr and "Traceback" not in result.stderr


def test_run_passes_the_stats_file_to_the_engine():
    args = build_parser().parse_args(
        [
            "run",
            "--listen",
            "127.0.0.1:8080",
            "--upstream",
            "127.0.0.1:8000",
            "--stats-jsonl",
            "out.jsonl",
            "--stats-interval",
            "250ms",
        ]
    )
    parsed = build_parser().parse_args(["serve", *serve_argv(args)])
    assert (parsed.stats_jsonl, parsed.stats_interval) == ("out.jsonl", "250ms")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            ["--stats-jsonl", "-"],
            "argument --stats-jsonl: '-' (stdout) would write over the display; give a file",
        ),
        (["--control", "0.0.0.0:8475"], "argument --control:"),
        (["--control", "here:there"], "argument --control:"),
    ],
    ids=["stats-to-stdout", "control-off-loopback", "control-bad"],
)
def test_run_refuses_bad_engine_flags_before_starting_anything(extra, message):
    result = run_shaper("run", "--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", *extra)
    assert result.returncode == 2, result
    assert message in result.stderr and "Traceback" not in result.stderr
    assert "listening on" not in result.stderr


ANSI = re.compile(r"\x1b(\[[0-9;?<>=]*[ -/]*[@-~]|\][^\x07\x1b]*(\x07|\x1b\\)|[()][A-Z0-9]|[=>78])")


class Terminal:
    """A command in a 120x36 pseudo-terminal, as a user runs it (the display draws on
    stderr, so both streams are the terminal): what it wrote is kept; killed on close if it
    is still running."""

    def __init__(self, argv: list[str]):
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
        try:
            self.process = subprocess.Popen(
                argv,
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env={**os.environ, "TERM": "xterm-256color"},
                start_new_session=True,
            )
        finally:
            os.close(slave)
        self.master = master
        self.output = bytearray()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:  # EIO: the other side is closed
                return
            if not data:
                return
            self.output += data

    def text(self, raw: str | None = None) -> str:
        """What was written, escape sequences removed."""
        raw = self.output.decode(errors="replace") if raw is None else raw
        return ANSI.sub("", raw).replace("\r", "")

    def after_display(self) -> list[str]:
        """The lines written once the display gave the screen back."""
        raw = self.output.decode(errors="replace")
        tail = raw.rsplit("\x1b[?1049l", 1)[1] if "\x1b[?1049l" in raw else ""
        return [line for line in self.text(tail).splitlines() if line.strip()]

    def wait_for(self, pattern: str, what: str, timeout: float = 30) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = re.search(pattern, self.text())
            if found:
                return found
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        raise AssertionError(f"no {what}; the terminal shows {self.text()[-800:]!r}")

    def type(self, keys: bytes) -> None:
        os.write(self.master, keys)

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.reader.join(5)
        os.close(self.master)


@pytest.mark.timeout(120)
def test_run_with_control_is_driven_by_shaper_limits_and_says_when_it_stopped(tmp_path):
    stats = tmp_path / "stats.jsonl"
    with http_server() as (host, port):
        terminal = Terminal(
            [
                sys.executable,
                "-m",
                "shaper",
                "run",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                f"{host}:{port}",
                "--down-rate",
                "8Mbit",
                "--control",
                "127.0.0.1:0",
                "--stats-jsonl",
                str(stats),
                "--stats-interval",
                "100ms",
            ]
        )
        try:
            listen = terminal.wait_for(r"listening on (\S+)\n", "listening line").group(1)
            url = terminal.wait_for(r"control on (http://\S+)\n", "control line").group(1)
            address = url.removeprefix("http://")
            # The screen shows where the engine can be reached.
            terminal.wait_for(rf"control (http://)?{re.escape(address)}", "control URL on screen")

            changed = run_shaper("limits", "--control", url, "--down-latency", "30ms")
            assert changed.returncode == 0, changed.stderr
            assert "30ms *" in changed.stdout and "8Mbit" in changed.stdout
            body = urllib.request.urlopen(f"http://{listen}/50000", timeout=30).read()
            assert len(body) == 50000
            shown = run_shaper("stats", "--control", url, "--json")
            snapshot = json.loads(shown.stdout)
            assert snapshot["limits"]["downstream"]["latency"] == "30ms"
            assert snapshot["bytes_downstream"] > 50000  # the body and its headers
            assert stats.exists() and json.loads(stats.read_text().splitlines()[0])["limits"]

            terminal.type(b"q")
            assert terminal.process.wait(30) == 0
            terminal.reader.join(10)
            lines = terminal.after_display()
            assert lines, terminal.text()[-800:]
            last = lines[-1]
            assert last.startswith(f"shaper run: engine stopped; {listen} closed ("), lines
            assert "listening" not in last and "1 connection, " in last
            with pytest.raises(OSError):  # nothing answers there any more
                socket.create_connection(("127.0.0.1", int(address.rsplit(":", 1)[1])), 2)
        finally:
            terminal.close()
