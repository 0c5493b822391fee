"""Live limit changes take effect at once, losing nothing."""

from __future__ import annotations

import asyncio
import random

import pytest
from helpers import (
    HOST,
    Server,
    running,
    wait_until,
)

from shaper.engine.engine import Engine
from shaper.model.limits import Limits
from shaper.model.routes import Route


@pytest.mark.timeout(60)
@pytest.mark.parametrize("latency", ["0ms", "20ms"])
async def test_live_changes_apply_within_50ms(latency):
    """Stall a direction mid-transfer: bytes_out stops within 50 ms. Unstall: it resumes.
    Change the rate: the new rate is what flows."""
    loop = asyncio.get_running_loop()
    stop_sending = asyncio.Event()
    sent = bytearray()

    async def source(reader, writer):
        rng = random.Random(10)
        while not stop_sending.is_set():
            block = rng.randbytes(32 * 1024)
            sent.extend(block)
            writer.write(block)
            await writer.drain()
        writer.write_eof()

    limits = Limits().patched({"downstream": {"rate": "16Mbit", "latency": latency}})
    async with (
        Server(source) as server,
        running(Engine([Route((HOST, 0), server.address)], limits)) as engine,
    ):
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        received = bytearray()

        async def sink():
            while chunk := await reader.read(65536):
                received.extend(chunk)

        sink_task = asyncio.create_task(sink())
        try:
            await wait_until(lambda: engine.connections, 5, "the connection")
            [conn] = engine.connections.values()

            def out() -> int:
                return conn.downstream.flow.bytes_out

            await wait_until(lambda: out() > 200_000, 10, "the transfer to get going")

            engine.patch_limits({"downstream": {"stall": True}})
            await asyncio.sleep(0.05)
            at_50ms = out()
            await asyncio.sleep(0.4)
            assert out() == at_50ms, "bytes kept leaving more than 50 ms after the stall"
            assert conn.downstream.state() == "stalled"
            assert engine.snapshot().downstream.state == "stalled"

            before = out()
            engine.patch_limits({"downstream": {"stall": False}})
            await asyncio.sleep(0.05 + 0.02)  # the first slice departs after its own 4 ms
            assert out() > before, "nothing moved 50 ms after the stall was lifted"

            # Rate changes: what flows in the next half second follows the new rate.
            for rate, per_second in (("4Mbit", 500_000), ("40Mbit", 5_000_000)):
                engine.patch_limits({"downstream": {"rate": rate}})
                await asyncio.sleep(0.05)
                start, t0 = out(), loop.time()
                await asyncio.sleep(0.5)
                measured = (out() - start) / (loop.time() - t0)
                assert 0.5 * per_second <= measured <= 1.5 * per_second, (
                    f"{rate}: {measured:.0f} B/s after the change"
                )

            # A buffer shrink below occupancy: reading stops at once, nothing is dropped.
            engine.patch_limits({"downstream": {"rate": "1Mbit"}})
            await wait_until(lambda: conn.downstream.flow.queued > 10_000, 5, "the queue to fill")
            engine.patch_limits({"downstream": {"buffer": "1KiB"}})
            assert conn.downstream.flow.room() == 0
            assert not conn.downstream.reading
            engine.patch_limits({"downstream": {"rate": "off", "buffer": "256KiB"}})

            stop_sending.set()
            await asyncio.wait_for(sink_task, 20)
            assert received == sent
        finally:
            sink_task.cancel()
            writer.close()
