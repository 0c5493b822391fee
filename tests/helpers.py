"""What many tests share: upstream servers on 127.0.0.1:0 (one server class, a few
handlers, a threaded HTTP server), an engine with its control API, payloads, and a
bounded wait. Every server here is closed, with its connections, when its block ends."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import inspect
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import aiohttp

from shaper.control.server import start_control
from shaper.engine.engine import Engine
from shaper.model.limits import Limits
from shaper.model.routes import Route

HOST = "127.0.0.1"
BLOCK = bytes(range(256)) * 256  # 64 KiB
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


# -- payloads and waiting ---------------------------------------------------------------


def pattern(n: int, seed: int = 0) -> bytes:
    """n deterministic, non-repeating-looking bytes."""
    out = bytearray()
    counter = seed
    while len(out) < n:
        out += hashlib.sha256(counter.to_bytes(8, "big")).digest() * 64
        counter += 1
    return bytes(out[:n])


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


async def wait_until(
    predicate: Callable[[], Any],
    timeout: float = 10.0,
    what: str = "condition",
    pilot: Any = None,
) -> Any:
    """Poll `predicate` until it is true and return it; fail naming `what` after `timeout`
    seconds. With a Textual `pilot`, wait through it so the app keeps running."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if inspect.isawaitable(result):  # an async predicate: `lambda: proxy.stats()`
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        if pilot is not None:
            await pilot.pause(0.05)
        else:
            await asyncio.sleep(0.01)


# -- sockets ------------------------------------------------------------------------------


def set_reset_on_close(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN (unless the peer has already ended the connection)."""
    if not writer.transport.is_closing():
        set_reset_on_close(writer)
    writer.transport.abort()


def nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


@contextlib.contextmanager
def refusing_address() -> Iterator[tuple[str, int]]:
    """A loopback port that is bound but not listening: connecting to it is refused."""
    sock = socket.socket()
    sock.bind((HOST, 0))
    try:
        yield sock.getsockname()[:2]
    finally:
        sock.close()


async def read_to_end(reader: asyncio.StreamReader) -> bytes:
    parts = []
    while chunk := await reader.read(65536):
        parts.append(chunk)
    return b"".join(parts)


async def echo_roundtrip(address: tuple[str, int], payload: bytes, timeout: float = 10) -> bytes:
    """Send `payload`, half-close, and read everything that comes back."""

    async def run() -> bytes:
        reader, writer = await asyncio.open_connection(*address)
        try:
            writer.write(payload)
            await writer.drain()
            writer.write_eof()
            return await read_to_end(reader)
        finally:
            writer.close()

    return await asyncio.wait_for(run(), timeout)


# -- upstream handlers ------------------------------------------------------------------


async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send back what arrives; half-close after the client's EOF."""
    while chunk := await reader.read(65536):
        writer.write(chunk)
        await writer.drain()
    if writer.can_write_eof():
        writer.write_eof()


async def flood(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Send without end (the downstream direction always has bytes); discard what arrives."""

    async def discard() -> None:
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass

    drain = asyncio.create_task(discard())
    try:
        while True:
            writer.write(BLOCK)
            await writer.drain()
    finally:
        drain.cancel()


def source(data: bytes, wait_for_close: bool = True) -> Handler:
    """A handler that sends `data` as fast as it is taken, then half-closes (and, with
    `wait_for_close`, reads until the client closes)."""

    async def send(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        view = memoryview(data)
        for start in range(0, len(data), 65536):
            writer.write(view[start : start + 65536])
            await writer.drain()
        writer.write_eof()
        if wait_for_close:
            await reader.read()

    return send


class Server:
    """An asyncio TCP server on 127.0.0.1:0 running `handler` for each connection; it keeps
    track of its connections and of any error a handler raised (a peer's reset is not one:
    tests reset on purpose)."""

    def __init__(self, handler: Handler, host: str = HOST):
        self.handler = handler
        self.host = host
        self.writers: set[asyncio.StreamWriter] = set()
        self.errors: list[BaseException] = []
        self.handled = 0
        self.server: asyncio.AbstractServer | None = None
        self._address = ("", 0)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.add(writer)
        try:
            await self.handler(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        except Exception as exc:
            self.errors.append(exc)
        finally:
            self.handled += 1
            writer.close()
            self.writers.discard(writer)

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._handle, self.host, 0)
        host, port = self.server.sockets[0].getsockname()[:2]
        self._address = (str(host), int(port))
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.writers):
            writer.transport.abort()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.server.wait_closed(), 2)

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (or listened, once closed)."""
        return self._address

    @property
    def port(self) -> int:
        return self.address[1]


class HttpHandler(BaseHTTPRequestHandler):
    """GET /N answers N bytes (any other path: a short text); POST answers the body's
    SHA-256. HTTP/1.1 keep-alive, so one connection may carry many requests."""

    protocol_version = "HTTP/1.1"
    bodies: dict[int, bytes] = {}

    def do_GET(self) -> None:
        size = int(self.path[1:]) if self.path[1:].isdigit() else 0
        body = self.body(size) if size else b"ok\n" * 100
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    @classmethod
    def body(cls, size: int) -> bytes:
        if size not in cls.bodies:
            cls.bodies[size] = pattern(size, seed=size)
        return cls.bodies[size]

    def do_POST(self) -> None:
        received = self.rfile.read(int(self.headers["Content-Length"]))
        answer = hashlib.sha256(received).hexdigest().encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass  # keep the test output quiet


@contextlib.contextmanager
def http_server(
    handler: Callable[..., BaseHTTPRequestHandler] = HttpHandler,
) -> Iterator[tuple[str, int]]:
    """Python's own threaded HTTP server on 127.0.0.1:0, a real server a user would run
    (with `handler`, e.g. SimpleHTTPRequestHandler for a directory)."""
    server = ThreadingHTTPServer((HOST, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield str(host), int(port)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def free_port() -> int:
    """A loopback port nothing listened on a moment ago (for servers that cannot take 0)."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def redis_server() -> Iterator[tuple[str, int]]:
    """A real redis-server of our own on a free loopback port, nothing saved to disk;
    stopped (and waited for) when the block ends. Skips the test where redis-server is not
    installed (`apt-get install redis-server`; CI installs it)."""
    import pytest

    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    for _attempt in range(3):  # the port may be taken between the look and the bind
        port = free_port()
        process = subprocess.Popen(
            [binary, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 10
            while process.poll() is None and time.monotonic() < deadline:
                try:
                    with socket.create_connection((HOST, port), 1) as probe:
                        probe.sendall(b"PING\r\n")
                        if probe.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    time.sleep(0.02)
            else:
                continue  # it exited (port taken) or never answered: another port
            yield HOST, port
            return
        finally:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    raise RuntimeError("redis-server did not start on a free port in 3 attempts")


# -- an engine ----------------------------------------------------------------------------


def event_kinds(engine: Engine) -> list[str]:
    return [event.kind for event in engine.events]


@contextlib.asynccontextmanager
async def running(engine: Engine) -> AsyncIterator[Engine]:
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()


@dataclass
class EngineEnv:
    """An engine in this loop, proxying to an upstream Server, with its control API."""

    engine: Engine
    url: str
    runner: Any
    session: aiohttp.ClientSession
    upstream: Server
    profiles_dir: Any = None
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    @property
    def proxy(self) -> tuple[str, int]:
        return self.engine.addresses[0]

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A client connection through the proxy (to an echo upstream), once it has carried
        a first round trip."""
        before = set(self.engine.connections)
        reader, writer = await asyncio.open_connection(*self.proxy)
        self.writers.append(writer)
        writer.write(b"ping")
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
        assert set(self.engine.connections) - before
        return reader, writer

    async def client(self, read: bool = True) -> asyncio.StreamWriter:
        """A client through the proxy; with `read`, it reads everything it gets."""
        before = set(self.engine.connections)
        reader, writer = await asyncio.open_connection(*self.proxy)
        self.writers.append(writer)

        async def consume() -> None:
            with contextlib.suppress(ConnectionError):
                while await reader.read(65536):
                    pass

        if read:
            self.tasks.append(asyncio.create_task(consume()))
        await wait_until(lambda: set(self.engine.connections) - before, what="connection")
        return writer

    def newest_id(self) -> int:
        return max(self.engine.connections)

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.url + path, **kwargs) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def stop_control(self) -> None:
        runner, self.runner = self.runner, None
        await runner.cleanup()

    async def start_control(self) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        self.runner, _ = await start_control(
            self.engine, HOST, port, profiles_dir=self.profiles_dir
        )


@contextlib.asynccontextmanager
async def engine_env(
    limits: Limits | None = None,
    handler: Handler = echo,
    token: str | None = None,
    profiles_dir: Any = None,
) -> AsyncIterator[EngineEnv]:
    async with Server(handler) as upstream:
        engine = Engine([Route((HOST, 0), upstream.address, name="main")], limits=limits)
        await engine.start()
        runner, (host, port) = await start_control(
            engine, HOST, 0, token=token, profiles_dir=profiles_dir
        )
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        env = EngineEnv(engine, f"http://{host}:{port}", runner, session, upstream, profiles_dir)
        try:
            yield env
        finally:
            for task in env.tasks:
                task.cancel()
            for writer in env.writers:
                writer.close()
            await session.close()
            if env.runner is not None:
                await env.runner.cleanup()
            await engine.stop()


# -- `shaper serve` as a child process -------------------------------------------------


async def start_serve(*args: str) -> asyncio.subprocess.Process:
    """`python -m shaper serve ARGS`, its output on pipes (unbuffered, read line by line)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "shaper",
        "serve",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


async def stop_process(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.kill()
        await process.wait()


async def run_serve_to_exit(*args: str) -> tuple[int | None, str, str]:
    """Run serve until it exits by itself (bad flags); its code, stdout and stderr."""
    process = await start_serve(*args)
    try:
        out, err = await asyncio.wait_for(process.communicate(), 30)
    finally:
        await stop_process(process)
    return process.returncode, out.decode(), err.decode()
