"""Several routes in one engine."""

from __future__ import annotations

import asyncio
import random

import pytest
from helpers import (
    HOST,
    Server,
    echo,
    reset,
    running,
    wait_until,
)

from shaper.engine.engine import Engine
from shaper.model.limits import Limits
from shaper.model.routes import Route


async def echo_rtt(reader, writer) -> float:
    loop = asyncio.get_running_loop()
    started = loop.time()
    writer.write(b"ping")
    await asyncio.wait_for(reader.readexactly(4), 5)
    return loop.time() - started


@pytest.mark.timeout(30)
async def test_several_routes_share_the_engine_limits():
    async with (
        Server(echo) as first,
        Server(echo) as second,
        running(
            Engine(
                [Route((HOST, 0), first.address), Route((HOST, 0), second.address)],
                Limits().with_both({"latency": "60ms"}),
            )
        ) as engine,
    ):
        assert len(set(engine.addresses)) == 2
        legs = [await asyncio.open_connection(*address) for address in engine.addresses]
        try:
            # 60 ms each way on both routes: at least 120 ms per round trip.
            for reader, writer in legs:
                assert await echo_rtt(reader, writer) >= 0.115
            conns = list(engine.connections.values())
            assert len(conns) == 2
            for conn in conns:
                assert engine.connection_limits(conn.id) == engine.limits

            # One live change reaches both routes' open connections.
            engine.patch_limits({"upstream": {"latency": "0ms"}, "downstream": {"latency": "0ms"}})
            for conn in conns:
                assert engine.connection_limits(conn.id) == engine.limits
            for reader, writer in legs:
                assert await echo_rtt(reader, writer) < 0.06

            # A per-connection override affects only that connection.
            engine.set_connection_limits(conns[0].id, Limits().with_both({"latency": "60ms"}))
            rtts = [await echo_rtt(reader, writer) for reader, writer in legs]
            assert rtts[0] >= 0.115 and rtts[1] < 0.06
            engine.patch_limits({"upstream": {"rate": "1Mbit"}})
            assert engine.connection_limits(conns[0].id).upstream.rate == 0
            assert engine.connection_limits(conns[1].id).upstream.rate == 1_000_000
        finally:
            for _, writer in legs:
                writer.close()


@pytest.mark.timeout(30)
async def test_connection_route_names_the_bound_listen_port():
    """A listener on port 0 gets a real port; connection stats name that port, as the
    engine's own route list does."""
    async with (
        Server(echo) as first,
        Server(echo) as second,
        running(
            Engine([Route((HOST, 0), first.address), Route((HOST, 0), second.address)], Limits())
        ) as engine,
    ):
        legs = [await asyncio.open_connection(*address) for address in engine.addresses]
        try:
            for reader, writer in legs:
                await echo_rtt(reader, writer)
            stats = engine.snapshot(connections=True)
            assert sorted(c.route for c in stats.connections) == sorted(engine.describe_routes())
        finally:
            for _, writer in legs:
                writer.close()


@pytest.mark.timeout(30)
@pytest.mark.parametrize("direction", ["upstream", "downstream"])
async def test_reset_while_the_direction_is_stalled_and_backpressured(direction):
    """A client that resets while its bytes are held (stalled link, full queue, reading
    paused) still has its reset carried to the server, and the connection is dropped."""
    outcome: asyncio.Future = asyncio.get_running_loop().create_future()

    async def handler(reader, writer):
        if direction == "downstream":
            # Fill the stalled downstream: its queue fills and reading from us pauses.
            writer.write(random.Random(13).randbytes(4_000_000))
        try:
            while await reader.read(65536):
                pass
            outcome.set_result("eof")
        except ConnectionResetError as exc:
            outcome.set_result(exc)

    limits = Limits().patched({direction: {"stall": True, "buffer": "64KiB"}})
    async with (
        Server(handler) as server,
        running(Engine([Route((HOST, 0), server.address)], limits)) as engine,
    ):
        reader, writer = await asyncio.open_connection(*engine.addresses[0])
        await wait_until(lambda: engine.connections, 5, "the connection")
        [conn] = engine.connections.values()
        await wait_until(lambda: conn.state == "open", 5, "the upstream leg")
        pipe = conn.upstream if direction == "upstream" else conn.downstream
        if direction == "upstream":
            writer.write(random.Random(14).randbytes(4_000_000))
        await wait_until(lambda: not pipe.reading, 10, f"the {direction} queue to fill")
        reset(writer)
        result = await asyncio.wait_for(outcome, 5)
        assert isinstance(result, ConnectionResetError), f"server saw {result!r}, not a reset"
        await wait_until(lambda: not engine.connections, 5, "the connection to be dropped")


@pytest.mark.timeout(30)
async def test_stop_releases_the_sockets_of_a_connection_whose_receiver_does_not_read():
    async def handler(reader, writer):
        writer.write(random.Random(15).randbytes(8_000_000))
        await writer.drain()
        await reader.read()

    async with Server(handler) as server:
        # Small kernel buffers on the proxy's sockets, so bytes stay in its own write buffer.
        engine = Engine(
            [Route((HOST, 0), server.address)], Limits().with_both({"sockbuf": "16KiB"})
        )
        await engine.start()
        try:
            reader, writer = await asyncio.open_connection(*engine.addresses[0])
            await wait_until(lambda: engine.connections, 5, "the connection")
            [conn] = engine.connections.values()
            await wait_until(
                lambda: (
                    conn.downstream.sink_blocked
                    and conn.client.transport.get_write_buffer_size() > 0
                ),
                10,
                "the client leg to block with bytes in its write buffer",
            )
        finally:
            await asyncio.wait_for(engine.stop(), 5)
        try:
            await wait_until(
                lambda: conn.client.sock.fileno() == -1 and conn.server.sock.fileno() == -1,
                5,
                "the proxy's sockets to be closed",
            )
            assert not engine.connections
        finally:
            writer.transport.abort()
