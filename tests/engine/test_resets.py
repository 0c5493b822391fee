"""A reset on one leg becomes a reset (RST) on the other."""

from __future__ import annotations

import asyncio
import random

import pytest
from helpers import (
    HOST,
    Server,
    event_kinds,
    reset,
    running,
    wait_until,
)

from shaper.engine.engine import Engine
from shaper.model.limits import Limits
from shaper.model.routes import Route

SHAPED = {"rate": "20Mbit", "latency": "10ms", "jitter": "2ms", "buffer": "32KiB"}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("limits", [{}, SHAPED], ids=["unshaped", "shaped"])
async def test_client_reset_becomes_a_reset_on_the_server(limits):
    outcome: asyncio.Future = asyncio.get_running_loop().create_future()

    async def handler(reader, writer):
        try:
            while await reader.read(65536):
                pass
            outcome.set_result("eof")
        except ConnectionResetError as exc:
            outcome.set_result(exc)

    async with (
        Server(handler) as server,
        running(Engine([Route((HOST, 0), server.address)], Limits().with_both(limits))) as engine,
    ):
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        writer.write(random.Random(5).randbytes(100_000))  # some of it still queued when shaped
        await writer.drain()
        await wait_until(lambda: engine.connections, 5, "the connection")
        [conn] = engine.connections.values()
        await wait_until(lambda: conn.state == "open", 5, "the upstream leg")
        await wait_until(lambda: conn.upstream.flow.bytes_out > 0, 5, "bytes to reach upstream")
        reset(writer)
        result = await asyncio.wait_for(outcome, 5)
        assert isinstance(result, ConnectionResetError), f"server saw {result!r}, not a reset"
        await wait_until(lambda: not engine.connections, 5, "the connection to close")
        assert engine.totals["resets"] == 1
        assert "reset" in event_kinds(engine)


@pytest.mark.timeout(30)
@pytest.mark.parametrize("limits", [{}, SHAPED], ids=["unshaped", "shaped"])
async def test_server_reset_becomes_a_reset_on_the_client(limits):
    async def handler(reader, writer):
        writer.write(random.Random(6).randbytes(100_000))
        await writer.drain()
        await reader.readexactly(5)
        reset(writer)

    async with (
        Server(handler) as server,
        running(Engine([Route((HOST, 0), server.address)], Limits().with_both(limits))) as engine,
    ):
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        try:
            await reader.readexactly(1000)  # the upstream leg is up and bytes flow
            writer.write(b"reset")
            await writer.drain()

            async def read_until_error():
                while await reader.read(65536):
                    pass
                return "eof"

            with pytest.raises(ConnectionResetError):
                await asyncio.wait_for(read_until_error(), 5)
        finally:
            writer.close()
        await wait_until(lambda: not engine.connections, 5, "the connection to close")
        assert engine.totals["resets"] == 1
        assert "reset" in event_kinds(engine)
