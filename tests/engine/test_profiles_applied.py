"""Profiles applied to a live engine, on real sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio

from helpers import Server, digest, echo, nodelay, pattern, source

from shaper.engine.engine import Engine
from shaper.model.routes import Route
from shaper.profiles import (
    load_profile,
    profile_from_dict,
)


class Measurer:
    """An upstream handler for measuring through the proxy. The first byte of a connection
    picks a mode: b"E" echoes; b"D" + 8-byte length sends that many bytes; b"U" + 8-byte
    length reads that many bytes and records when the first and the last arrived."""

    def __init__(self):
        self.received: asyncio.Queue[tuple[float, float, int]] = asyncio.Queue()

    async def handle(self, reader, writer) -> None:
        loop = asyncio.get_running_loop()
        nodelay(writer)
        mode = await reader.readexactly(1)
        if mode == b"E":
            await echo(reader, writer)
        elif mode == b"D":
            remaining = int.from_bytes(await reader.readexactly(8), "big")
            chunk = bytes(65536)
            while remaining:
                writer.write(chunk[: min(remaining, len(chunk))])
                remaining -= min(remaining, len(chunk))
                await writer.drain()
            await reader.read()  # until the client closes
        elif mode == b"U":
            size = int.from_bytes(await reader.readexactly(8), "big")
            first = await reader.read(65536)
            start, got = loop.time(), len(first)
            while got < size:
                data = await reader.read(65536)
                if not data:
                    break
                got += len(data)
            self.received.put_nowait((start, loop.time(), got - len(first)))


async def _connect(port: int):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    nodelay(writer)
    return reader, writer


async def measure_rtt(port: int, pings: int = 3) -> float:
    """Median seconds for one byte to go through the proxy and come back."""
    loop = asyncio.get_running_loop()
    reader, writer = await _connect(port)
    try:
        writer.write(b"E")
        times = []
        for _ in range(pings):
            start = loop.time()
            writer.write(b"x")
            await asyncio.wait_for(reader.readexactly(1), 10)
            times.append(loop.time() - start)
        return sorted(times)[len(times) // 2]
    finally:
        writer.close()


async def measure_downstream(port: int, size: int) -> float:
    """Bits per second arriving at the client, from the first byte to the last."""
    loop = asyncio.get_running_loop()
    reader, writer = await _connect(port)
    try:
        writer.write(b"D" + size.to_bytes(8, "big"))
        first = await asyncio.wait_for(reader.read(65536), 10)
        start, got = loop.time(), 0
        while got < size - len(first):
            data = await asyncio.wait_for(reader.read(65536), 10)
            assert data, "the stream ended early"
            got += len(data)
        return got * 8 / (loop.time() - start)
    finally:
        writer.close()


async def measure_upstream(port: int, upstream: Measurer, size: int) -> float:
    """Bits per second arriving at the server, from the first byte to the last."""
    reader, writer = await _connect(port)
    try:
        writer.write(b"U" + size.to_bytes(8, "big"))
        writer.write(bytes(size))
        await asyncio.wait_for(writer.drain(), 20)
        start, end, got = await asyncio.wait_for(upstream.received.get(), 20)
        return got * 8 / (end - start)
    finally:
        writer.close()


async def test_profile_applied_to_a_live_engine_changes_rate_and_latency():

    upstream = Measurer()
    async with Server(upstream.handle) as server:
        engine = Engine([Route(("127.0.0.1", 0), server.address)])
        await engine.start()
        try:
            port = engine.addresses[0][1]
            # Unshaped: fast and no added delay.
            assert await measure_rtt(port) < 0.05

            slow = profile_from_dict(
                {
                    "name": "slow",
                    "upstream": {"rate": "2Mbit", "latency": "60ms"},
                    "downstream": {"rate": "2Mbit", "latency": "60ms"},
                }
            )
            engine.apply_profile(slow)
            assert engine.profile_name == "slow"
            rtt = await measure_rtt(port)
            assert 0.11 <= rtt < 0.25, rtt
            rate = await measure_downstream(port, 250_000)  # about 1 s at 2 Mbit/s
            assert 1.4e6 < rate < 2.6e6, rate

            # A shipped preset, applied on the same engine, changes both again.
            engine.apply_profile(load_profile("cable"))  # 5 Mbit/s down, 14 ms each way
            assert engine.profile_name == "cable"
            rtt = await measure_rtt(port)
            assert 0.025 <= rtt < 0.12, rtt
            rate = await measure_downstream(port, 600_000)
            assert 3.5e6 < rate < 6.5e6, rate
            assert engine.snapshot().profile == "cable"
        finally:
            await engine.stop()


async def test_shaper_serve_with_the_3g_preset_shapes_as_it_says():
    """`shaper serve --profile 3g`: 1600 kbit/s down, 768 kbit/s up, 150 ms each way."""
    import sys

    upstream = Measurer()
    async with Server(upstream.handle) as server:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "shaper",
            "serve",
            "--profile",
            "3g",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            f"127.0.0.1:{server.port}",
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            assert line.startswith("listening on 127.0.0.1:"), line
            port = int(line.split()[2].rsplit(":", 1)[1])

            rtt = await measure_rtt(port)
            assert 0.29 <= rtt < 0.45, rtt
            down = await measure_downstream(port, 300_000)  # about 1.5 s
            assert 0.75 * 1.6e6 < down < 1.25 * 1.6e6, down
            up = await measure_upstream(port, upstream, 120_000)  # about 1.25 s
            assert 0.75 * 768e3 < up < 1.25 * 768e3, up
        finally:
            if proc.returncode is None:
                proc.terminate()
            await asyncio.wait_for(proc.wait(), 10)
        stderr = (await proc.stderr.read()).decode()
        assert "Traceback" not in stderr


async def test_switching_profiles_mid_transfer_loses_no_byte():
    payload = pattern(1_500_000)
    server = await Server(source(payload, wait_for_close=False)).__aenter__()
    engine = Engine([Route(("127.0.0.1", 0), server.address)])
    await engine.start()
    moving = profile_from_dict(
        {
            "name": "moving",
            "downstream": {"rate": "20Mbit", "latency": "5ms"},
            "scenario": {
                "repeat": True,
                "phases": [
                    {"name": "fast", "duration": "100ms"},
                    {"name": "stalled", "duration": "50ms", "downstream": {"stall": True}},
                    {
                        "name": "slow",
                        "duration": "100ms",
                        "downstream": {"rate": "4Mbit", "latency": "40ms", "jitter": "10ms"},
                    },
                ],
            },
        }
    )
    try:
        engine.apply_profile(load_profile("fios"))
        reader, writer = await _connect(engine.addresses[0][1])
        received = bytearray()
        switches = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while len(received) < len(payload):
            assert loop.time() < deadline, "transfer did not finish"
            data = await asyncio.wait_for(reader.read(65536), 10)
            if not data:
                break
            received += data
            if len(received) > 300_000 and switches == 0:
                engine.apply_profile(moving)
                switches += 1
            elif len(received) > 1_000_000 and switches == 1:
                engine.apply_profile(load_profile("cable"))
                switches += 1
        writer.close()
        assert switches == 2
        assert digest(bytes(received)) == digest(payload)
        assert engine.profile_name == "cable"
    finally:
        engine.stop_scenario()
        await engine.stop()
        await server.__aexit__()
