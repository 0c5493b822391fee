"""The demo's world: an engine, a server and some clients, with no network.

`demo_engine()` starts two processes for `shaper demo` to open the display on:

- the engine (`shaper serve` as a child, shaped so the pipes visibly fill);
- a "world" child (`python -m shaper.demo --world`) with an upstream server on
  127.0.0.1:0 and a load generator: one client downloading for minutes (long
  enough to open its connection and give it limits of its own), one
  downloading a file again and again, one uploading, one downloading but
  reading slowly (its downstream blocks).

The world exits when its stdin closes (the display quit or died) and on
Linux also when its parent dies. Quitting the display stops everything.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shaper.launcher import EngineProcess, set_parent_death_signal
from shaper.model.addresses import parse_address

# The demo link: slow enough that a queue of 64 KiB fills within a second.
DEMO_PROFILE = """\
name = "demo"
description = "the demo link: 1 Mbit/s up, 2 Mbit/s down, 40 ms, 64 KiB queues and socket buffers"

[upstream]
rate = "1Mbit"
latency = "40ms"
buffer = "64KiB"
sockbuf = "64KiB"

[downstream]
rate = "2Mbit"
latency = "40ms"
buffer = "64KiB"
sockbuf = "64KiB"
"""

CHUNK = 64 * 1024
DOWNLOAD_SIZE = 1_500_000  # about 6 s at 2 Mbit/s (longer: the downloads share the link)
LONG_DOWNLOAD = 600.0  # seconds the long download runs before it starts again
UPLOAD_SIZE = 500_000  # about 4 s at 1 Mbit/s
SLOW_READ = 2048  # the slow reader takes 2 KiB every 250 ms (8 KiB/s)


# ---- the world: server and load (child process) ---------------------------------------


async def handle_client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """`down N` sends N bytes (0: without end); `up` reads to EOF and reports the count."""
    try:
        line = (await reader.readline()).decode(errors="replace").split()
        if line[:1] == ["down"]:
            remaining = int(line[1]) if len(line) > 1 else 0
            endless = remaining == 0
            block = bytes(range(256)) * (CHUNK // 256)
            while endless or remaining > 0:
                piece = block if endless or remaining >= CHUNK else block[:remaining]
                writer.write(piece)
                await writer.drain()
                remaining -= len(piece)
        elif line[:1] == ["up"]:
            total = 0
            while data := await reader.read(CHUNK):
                total += len(data)
            writer.write(f"got {total}\n".encode())
            await writer.drain()
    except (ConnectionError, ValueError, IndexError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


async def _connect(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection(host, port)


async def downloader(host: str, port: int, pause: float) -> None:
    while True:
        try:
            reader, writer = await _connect(host, port)
            writer.write(f"down {DOWNLOAD_SIZE}\n".encode())
            await writer.drain()
            while await reader.read(CHUNK):
                pass
            writer.close()
        except ConnectionError:
            pass
        await asyncio.sleep(pause)


async def long_downloader(host: str, port: int, duration: float = LONG_DOWNLOAD) -> None:
    """One download without end, read as fast as it comes, for `duration` seconds."""
    while True:
        try:
            reader, writer = await _connect(host, port)
            writer.write(b"down 0\n")
            await writer.drain()
            started = time.monotonic()
            while time.monotonic() - started < duration:
                if not await reader.read(CHUNK):
                    break
            writer.close()
        except ConnectionError:
            pass
        await asyncio.sleep(1)


async def uploader(host: str, port: int, pause: float) -> None:
    block = b"u" * CHUNK
    while True:
        try:
            reader, writer = await _connect(host, port)
            writer.write(b"up\n")
            sent = 0
            while sent < UPLOAD_SIZE:
                writer.write(block)
                await writer.drain()
                sent += len(block)
            writer.write_eof()
            await reader.read()
            writer.close()
        except ConnectionError:
            pass
        await asyncio.sleep(pause)


async def slow_reader(host: str, port: int) -> None:
    while True:
        try:
            reader, writer = await _connect(host, port)
            writer.write(b"down 0\n")
            await writer.drain()
            started = time.monotonic()
            while time.monotonic() - started < 60:
                if not await reader.read(SLOW_READ):
                    break
                await asyncio.sleep(0.25)
            writer.close()
        except ConnectionError:
            pass
        await asyncio.sleep(1)


async def world_main() -> None:
    set_parent_death_signal()
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    server = await asyncio.start_server(handle_client, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    print(f"port {port}", flush=True)
    line = (await stdin.readline()).decode().split()
    tasks: list[asyncio.Task[Any]] = []
    if len(line) == 2:
        host, target = line[0], int(line[1])
        tasks = [
            asyncio.create_task(long_downloader(host, target)),
            asyncio.create_task(downloader(host, target, pause=2.5)),
            asyncio.create_task(uploader(host, target, pause=1.5)),
            asyncio.create_task(slow_reader(host, target)),
        ]
        await stdin.read()  # until EOF: the display is gone
    for task in tasks:
        task.cancel()
    server.close()


class DemoWorld:
    """The world child: start, learn its server port, start the load, stop."""

    def __init__(self) -> None:
        self.process: subprocess.Popen[bytes] | None = None
        self.port: int | None = None

    def start(self) -> int:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "shaper.demo", "--world"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "port":
            self.stop()
            raise RuntimeError("the demo server did not start")
        self.port = int(line[1])
        return self.port

    def start_load(self, host: str, port: int) -> None:
        assert self.process is not None and self.process.stdin is not None
        self.process.stdin.write(f"{host} {port}\n".encode())
        self.process.stdin.flush()

    def stop(self, timeout: float = 3.0) -> None:
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(OSError):
            if process.stdin:
                process.stdin.close()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


@contextlib.contextmanager
def demo_engine() -> Iterator[EngineProcess]:
    """Start the demo's world and engine, start the load; yield the EngineProcess.

    Everything started here is stopped on exit, whatever happens.
    """
    world = DemoWorld()
    engine: EngineProcess | None = None
    with tempfile.TemporaryDirectory(prefix="shaper-demo-") as directory:
        profile = Path(directory) / "demo.toml"
        profile.write_text(DEMO_PROFILE, encoding="utf-8")
        try:
            port = world.start()
            serve_args = [
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                f"127.0.0.1:{port}",
                "--profiles-dir",
                directory,
                "--profile",
                "demo",
            ]
            engine = EngineProcess(serve_args)
            engine.start()
            host, listen_port = parse_address(engine.listen[0], None, "listen address")
            world.start_load(host, listen_port)
            yield engine
        finally:
            world.stop()
            if engine is not None:
                engine.stop()


if __name__ == "__main__":
    if "--world" in sys.argv:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(world_main())
        os._exit(0)
