"""Helpers for the display tests: a real engine with its control API on 127.0.0.1:0."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from shaper.control import start_control
from shaper.limits import Limits
from shaper.proxy import Engine, Route

BLOCK = bytes(range(256)) * 256  # 64 KiB


async def flood_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """An upstream that sends without end (the downstream direction always has bytes)."""

    async def discard() -> None:
        with contextlib.suppress(ConnectionError):
            while await reader.read(65536):
                pass

    drain = asyncio.create_task(discard())
    try:
        while True:
            writer.write(BLOCK)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        drain.cancel()
        writer.close()


@dataclass
class EngineEnv:
    engine: Engine
    url: str
    runner: Any = None
    profiles_dir: Any = None
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)

    async def client(self, read: bool = True) -> asyncio.StreamWriter:
        """A client through the proxy; with `read`, it reads everything it gets."""
        before = set(self.engine.connections)
        reader, writer = await asyncio.open_connection(*self.engine.addresses[0])
        self.writers.append(writer)

        async def consume() -> None:
            with contextlib.suppress(ConnectionError):
                while await reader.read(65536):
                    pass

        if read:
            self.tasks.append(asyncio.create_task(consume()))
        await wait_until(lambda: set(self.engine.connections) - before, what="connection")
        return writer

    async def stop_control(self) -> None:
        runner, self.runner = self.runner, None
        await runner.cleanup()

    async def start_control(self) -> None:
        port = int(self.url.rsplit(":", 1)[1])
        self.runner, _ = await start_control(
            self.engine, "127.0.0.1", port, profiles_dir=self.profiles_dir
        )


async def wait_until(
    predicate: Callable[[], Any], timeout: float = 10.0, what: str = "condition",
    pilot: Any = None,
) -> Any:
    """Poll `predicate` until true (generous bound); fail naming `what`."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        if pilot is not None:
            await pilot.pause(0.05)
        else:
            await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def engine_env(limits: Limits | None = None, profiles_dir: Any = None
                     ) -> AsyncIterator[EngineEnv]:
    server = await asyncio.start_server(flood_handler, "127.0.0.1", 0)
    upstream = server.sockets[0].getsockname()[:2]
    engine = Engine([Route(("127.0.0.1", 0), upstream)], limits=limits or Limits())
    await engine.start()
    runner, (host, port) = await start_control(engine, "127.0.0.1", 0, profiles_dir=profiles_dir)
    env = EngineEnv(engine, f"http://{host}:{port}", runner, profiles_dir)
    try:
        yield env
    finally:
        for task in env.tasks:
            task.cancel()
        for writer in env.writers:
            writer.close()
        if env.runner is not None:
            await env.runner.cleanup()
        await engine.stop()
        server.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(server.wait_closed(), 2)


DEFAULT_LIMITS = Limits.from_dict({
    "upstream": {"rate": "8Mbit", "buffer": "64KiB"},
    "downstream": {"rate": "8Mbit", "latency": "10ms", "buffer": "64KiB"},
})
