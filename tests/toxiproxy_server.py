"""What the Toxiproxy tests share: `shaper toxiproxy` as a child process (the way a suite
meets toxiproxy-server), raw HTTP requests shaped as the clients send them, and small
threaded upstream servers for the blocking clients. Everything started here is stopped,
with its sockets, when its block ends."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import queue
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

HOST = "127.0.0.1"
START_TIMEOUT = 20.0


@dataclass
class ToxiproxyServer:
    process: subprocess.Popen[str]
    api: tuple[str, int]
    control: tuple[str, int]
    lines: list[str]

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: dict[str, str] | None = None,
        raw: bytes | None = None,
    ) -> tuple[int, Any]:
        """One request to the Toxiproxy API: a JSON body with no Content-Type (as a Go client
        built on net/http's Post with a nil type would send), or `raw` bytes."""
        return _request(self.api, method, path, body, headers, raw)

    def control_request(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        return _request(
            self.control, method, path, body, {"Content-Type": "application/json"}, None
        )

    def clean(self) -> None:
        """Back to no proxies, between tests."""
        status, proxies = self.request("GET", "/proxies")
        assert status == 200, proxies
        for name in proxies:
            self.request("DELETE", "/proxies/" + name)


def _request(
    address: tuple[str, int],
    method: str,
    path: str,
    body: Any,
    headers: dict[str, str] | None,
    raw: bytes | None,
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection(*address, timeout=10)
    try:
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        conn.request(method, path, body=data, headers=headers or {})
        response = conn.getresponse()
        text = response.read().decode()
        kind = response.getheader("Content-Type") or ""
        if "json" in kind and text:
            return response.status, json.loads(text)
        return response.status, text
    finally:
        conn.close()


def _read_lines(process: subprocess.Popen[str], into: queue.Queue[str]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        into.put(line.rstrip("\n"))


@contextlib.contextmanager
def toxiproxy_server(*args: str) -> Iterator[ToxiproxyServer]:
    """`python -m shaper toxiproxy -port 0 --control 127.0.0.1:0 ARGS`, until it says where
    both APIs are; stopped with SIGTERM (then killed) at the end."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "shaper",
            "toxiproxy",
            "-host",
            HOST,
            "-port",
            "0",
            "--control",
            f"{HOST}:0",
            *args,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=_read_lines, args=(process, lines), daemon=True).start()
    seen: list[str] = []
    api = control = None
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while control is None:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                err = process.stderr.read() if process.poll() is not None and process.stderr else ""
                raise AssertionError(f"shaper toxiproxy did not start: {seen} {err}") from None
            seen.append(line)
            found = re.search(r"http://([0-9.]+):(\d+)", line)
            if found and line.startswith("toxiproxy API on"):
                api = (found.group(1), int(found.group(2)))
            elif found and line.startswith("control on"):
                control = (found.group(1), int(found.group(2)))
        assert api is not None
        yield ToxiproxyServer(process, api, control, seen)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


# -- upstream servers for blocking clients ------------------------------------------------


class Upstream:
    """A TCP server on 127.0.0.1:0 running `handle(conn)` in a thread per connection."""

    def __init__(self, handle: Callable[[socket.socket], None]):
        self.handle = handle
        self.sock = socket.create_server((HOST, 0))
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()[:2]
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> Upstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        for conn in self._conns:
            with contextlib.suppress(OSError):
                conn.close()

    @property
    def upstream(self) -> str:
        return f"{self.address[0]}:{self.address[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            conn.settimeout(10)
            self._conns.append(conn)
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        with contextlib.suppress(OSError):
            self.handle(conn)


def echo(conn: socket.socket) -> None:
    while True:
        data = conn.recv(65536)
        if not data:
            conn.shutdown(socket.SHUT_WR)
            return
        conn.sendall(data)


def sender(payload: bytes) -> Callable[[socket.socket], None]:
    """Sends `payload` at once, then closes its side (FIN)."""

    def handle(conn: socket.socket) -> None:
        conn.sendall(payload)
        conn.shutdown(socket.SHUT_WR)
        with contextlib.suppress(OSError):
            conn.recv(1)  # until the proxy closes

    return handle


def connect(listen: str, timeout: float = 10.0) -> socket.socket:
    host, _, port = listen.rpartition(":")
    sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_all(sock: socket.socket, limit: float = 15.0) -> tuple[bytes, list[tuple[float, int]]]:
    """Everything until EOF, with (time, size) of each read; fails past `limit` seconds."""
    start = time.monotonic()
    chunks: list[bytes] = []
    reads: list[tuple[float, int]] = []
    while True:
        if time.monotonic() - start > limit:
            raise AssertionError(f"no EOF within {limit}s ({sum(len(c) for c in chunks)} B read)")
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks), reads
        chunks.append(data)
        reads.append((time.monotonic() - start, len(data)))


def roundtrip(sock: socket.socket, payload: bytes) -> float:
    """Send `payload` to an echo upstream and read it back; the seconds it took."""
    start = time.monotonic()
    sock.sendall(payload)
    got = b""
    while len(got) < len(payload):
        data = sock.recv(65536)
        if not data:
            raise AssertionError(f"closed after {len(got)} of {len(payload)} bytes")
        got += data
    assert got == payload
    return time.monotonic() - start
