"""Shared pieces for the control API tests: upstream servers, an engine with its control
API on 127.0.0.1:0, and small socket helpers. Imported by the test_control*/test_client/
test_metrics/test_cli_control modules."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from shaper.control import start_control
from shaper.limits import Limits
from shaper.proxy import Engine, Route


def pattern(n: int, seed: int = 0) -> bytes:
    """n deterministic, non-repeating-looking bytes."""
    out = bytearray()
    counter = seed
    while len(out) < n:
        out += hashlib.sha256(counter.to_bytes(8, "big")).digest() * 64
        counter += 1
    return bytes(out[:n])


async def echo_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        writer.write_eof()
    writer.close()


@dataclass
class ControlEnv:
    engine: Engine
    url: str
    runner: Any
    session: aiohttp.ClientSession
    upstream: tuple[str, int]
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    @property
    def proxy(self) -> tuple[str, int]:
        return self.engine.addresses[0]

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """A client connection through the proxy, once the engine has registered it."""
        before = set(self.engine.connections)
        reader, writer = await asyncio.open_connection(*self.proxy)
        self.writers.append(writer)
        writer.write(b"ping")
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
        assert set(self.engine.connections) - before
        return reader, writer

    def newest_id(self) -> int:
        return max(self.engine.connections)

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.request(method, self.url + path, **kwargs) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()


@contextlib.asynccontextmanager
async def control_env(
    token: str | None = None, limits: Limits | None = None, handler: Any = echo_handler,
    profiles_dir: Any = None,
) -> AsyncIterator[ControlEnv]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)
    upstream = server.sockets[0].getsockname()[:2]
    engine = Engine([Route(("127.0.0.1", 0), upstream)], limits=limits)
    await engine.start()
    runner, (host, port) = await start_control(
        engine, "127.0.0.1", 0, token=token, profiles_dir=profiles_dir
    )
    session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
    env = ControlEnv(engine, f"http://{host}:{port}", runner, session, upstream)
    try:
        yield env
    finally:
        for writer in env.writers:
            writer.close()
        await session.close()
        await runner.cleanup()
        await engine.stop()
        server.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 2)
