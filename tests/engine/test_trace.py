"""A link that replays a capacity trace, on real sockets on 127.0.0.1: a transfer takes
about as long as the trace's mean rate says, arrives intact, and switching live between
a rate and a trace loses nothing. Generous functional bounds only."""

from __future__ import annotations

import asyncio

import pytest
from helpers import HOST, Server, pattern, running, source, wait_until

from shaper.engine.engine import Engine
from shaper.model.limits import Limits
from shaper.model.routes import Route

SIZE = 600_000
BODY = pattern(SIZE)


def bursty_trace(tmp_path, packets: int = 10, period_ms: int = 10) -> str:
    """`packets` opportunities all at the end of each period: the same mean as a steady
    link of packets × 1500 B per period, delivered in bursts with idle gaps between."""
    file = tmp_path / "bursty.trace"
    file.write_text(f"{period_ms}\n" * packets)
    return f"trace:{file}"


async def download(address: tuple[str, int]) -> tuple[float, bytes]:
    loop = asyncio.get_running_loop()
    start = loop.time()
    reader, writer = await asyncio.open_connection(*address)
    try:
        data = await asyncio.wait_for(reader.read(-1), 30)
    finally:
        writer.close()
    return loop.time() - start, data


@pytest.mark.timeout(60)
async def test_a_transfer_through_a_trace_takes_as_long_as_its_mean_rate_says(tmp_path):
    spec = bursty_trace(tmp_path)  # 10 packets per 10 ms: 12 Mbit/s
    limits = Limits().patched({"downstream": {"rate": spec}})
    assert limits.downstream.rate == 12_000_000
    async with (
        Server(source(BODY, wait_for_close=False)) as server,
        running(Engine([Route((HOST, 0), server.address)], limits)) as engine,
    ):
        seconds, data = await download(engine.addresses[0])
        assert data == BODY
        expected = SIZE * 8 / 12_000_000  # 0.4 s
        assert 0.8 * expected < seconds < 2.5 * expected + 0.5, seconds
        shown = engine.snapshot().limits["downstream"]
        assert shown["rate"] == spec and shown["trace_rate"] == "12Mbit"


@pytest.mark.timeout(60)
async def test_switching_live_between_a_rate_and_a_trace_loses_nothing(tmp_path):
    spec = bursty_trace(tmp_path, packets=4)  # 4.8 Mbit/s
    body = pattern(1_500_000, seed=3)
    limits = Limits().patched({"downstream": {"rate": "8Mbit", "latency": "5ms"}})
    async with (
        Server(source(body, wait_for_close=False)) as server,
        running(Engine([Route((HOST, 0), server.address)], limits)) as engine,
    ):
        task = asyncio.create_task(download(engine.addresses[0]))
        await wait_until(lambda: engine.connections, 5, "the connection")
        [conn] = engine.connections.values()

        def out() -> int:
            return conn.downstream.flow.bytes_out

        for rate, mark in ((spec, 200_000), ("20Mbit", 500_000), (spec, 800_000)):
            await wait_until(lambda m=mark: out() > m, 15, f"{mark} bytes through")
            engine.patch_limits({"downstream": {"rate": rate}})
        engine.patch_limits({"downstream": {"rate": "off"}})
        _, data = await asyncio.wait_for(task, 30)
        assert data == body
