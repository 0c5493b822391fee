"""The engine's lifetime totals: bytes delivered per direction count the closed connections
and the open ones, so what moved can be asserted after every client has gone."""

from __future__ import annotations

import asyncio

import pytest
from helpers import HOST, Server, echo, echo_roundtrip, pattern, running, wait_until

from shaper.engine.engine import Engine
from shaper.model.limits import Limits
from shaper.model.routes import Route


@pytest.mark.timeout(30)
@pytest.mark.parametrize(
    "limits", [{}, {"rate": "50Mbit", "latency": "2ms"}], ids=["unshaped", "shaped"]
)
async def test_bytes_delivered_stay_counted_after_the_connections_close(limits):
    async with (
        Server(echo) as server,
        running(Engine([Route((HOST, 0), server.address)], Limits().with_both(limits))) as engine,
    ):
        sizes = [70_000, 130_001]
        for index, size in enumerate(sizes):
            payload = pattern(size, seed=index)
            assert await echo_roundtrip(engine.addresses[0], payload) == payload
        await wait_until(lambda: not engine.connections, 5, "the connections to close")
        snapshot = engine.snapshot()
        assert snapshot.upstream.bytes_out == snapshot.downstream.bytes_out == 0  # none open
        assert snapshot.bytes_upstream == snapshot.bytes_downstream == sum(sizes)
        assert snapshot.connections_total == 2
        assert snapshot.to_dict()["bytes_downstream"] == sum(sizes)


@pytest.mark.timeout(30)
async def test_an_open_connection_counts_in_the_totals_as_it_moves():
    async with (
        Server(echo) as server,
        running(Engine([Route((HOST, 0), server.address)])) as engine,
    ):
        assert await echo_roundtrip(engine.addresses[0], b"x" * 1000) == b"x" * 1000
        await wait_until(lambda: not engine.connections, 5, "the first connection to close")
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        try:
            writer.write(b"y" * 500)
            await writer.drain()
            assert await asyncio.wait_for(reader.readexactly(500), 5) == b"y" * 500
            snapshot = engine.snapshot()
            assert snapshot.connections_open == 1
            assert snapshot.downstream.bytes_out == 500  # the open connection alone
            assert snapshot.bytes_downstream == 1500  # the closed one's too
            assert snapshot.bytes_upstream == 1500
        finally:
            writer.close()
