"""Half-close both ways: the other direction keeps flowing until it ends too."""

from __future__ import annotations

import asyncio
import random
import socket

import pytest
from helpers import (
    HOST,
    Server,
    digest,
    engine_env,
    read_to_end,
    running,
    source,
    wait_until,
)

from shaper.cli.main import main
from shaper.engine.engine import Engine
from shaper.model.limits import Limits
from shaper.model.routes import Route

SHAPED = {"rate": "20Mbit", "latency": "10ms", "jitter": "2ms", "buffer": "32KiB"}


@pytest.mark.timeout(30)
@pytest.mark.parametrize("limits", [{}, SHAPED], ids=["unshaped", "shaped"])
async def test_client_half_close_still_receives_the_reply(limits):
    """The client shuts down writing; the server sees EOF, then replies; the reply arrives."""
    request = random.Random(1).randbytes(300_000)
    reply_body = random.Random(2).randbytes(200_000)

    async def handler(reader, writer):
        got = await read_to_end(reader)  # returns only once the client's EOF came through
        writer.write(digest(got).encode() + b"\n" + reply_body)
        await writer.drain()

    async with (
        Server(handler) as server,
        running(Engine([Route((HOST, 0), server.address)], Limits().with_both(limits))) as engine,
    ):

        async def client() -> bytes:
            reader, writer = await asyncio.open_connection(*engine.addresses[0])
            try:
                writer.write(request)
                await writer.drain()
                writer.get_extra_info("socket").shutdown(socket.SHUT_WR)
                return await read_to_end(reader)
            finally:
                writer.close()

        reply = await asyncio.wait_for(client(), 20)
        assert reply == digest(request).encode() + b"\n" + reply_body
        assert server.errors == []


@pytest.mark.timeout(30)
@pytest.mark.parametrize("limits", [{}, SHAPED], ids=["unshaped", "shaped"])
async def test_server_half_close_client_still_sends(limits):
    """The server shuts down writing first; the client reads to EOF, then still sends."""
    greeting = random.Random(3).randbytes(250_000)
    answer = random.Random(4).randbytes(180_000)
    received: list[bytes] = []

    async def handler(reader, writer):
        writer.write(greeting)
        await writer.drain()
        writer.write_eof()
        received.append(await read_to_end(reader))

    async with (
        Server(handler) as server,
        running(Engine([Route((HOST, 0), server.address)], Limits().with_both(limits))) as engine,
    ):

        async def client() -> bytes:
            reader, writer = await asyncio.open_connection(*engine.addresses[0])
            try:
                got = await read_to_end(reader)
                # Downstream is half-closed now; upstream still flows.
                [conn] = engine.snapshot(connections=True).connections
                assert conn.downstream.state == "half-closed"
                assert conn.upstream.state != "closed"
                writer.write(answer)
                await writer.drain()
                writer.write_eof()
                assert await reader.read() == b""
                return got
            finally:
                writer.close()

        got = await asyncio.wait_for(client(), 20)
        assert got == greeting
        await wait_until(lambda: received, 10, "the server to read the client's answer")
        assert received == [answer]
        await wait_until(lambda: not engine.connections, 5, "the connection to close")
        assert engine.totals["resets"] == 0
        assert server.errors == []


@pytest.mark.timeout(60)
async def test_a_direction_draining_after_eof_is_half_closed_in_the_totals(capsys):
    """The server sends a body and its FIN through a slow link: while the queue drains, the
    engine-wide downstream state (what `shaper stats`, the API and the display show) says
    half-closed. It said idle: the totals ignored half-closed."""
    body = random.Random(3).randbytes(200 * 1024)  # all of it fits in the queue at once
    limits = Limits.from_dict({"downstream": {"rate": "1Mbit"}})  # about 1.6 s to drain
    async with engine_env(limits, handler=source(body)) as env:
        reader, writer = await asyncio.open_connection(*env.proxy)
        env.writers.append(writer)
        received = asyncio.create_task(read_to_end(reader))

        def draining_after_eof():
            snapshot = env.engine.snapshot()
            return (
                snapshot.downstream.queue > 0
                and env.engine.snapshot(True).connections[0].downstream.state == "half-closed"
                and snapshot
            )

        snapshot = await wait_until(draining_after_eof, what="the server's EOF, queue not empty")
        assert snapshot.downstream.state == "half-closed"
        assert snapshot.upstream.state == "idle"
        status, stats = await env.request("GET", "/v1/stats")
        assert status == 200 and stats["downstream"]["state"] == "half-closed"
        assert stats["downstream"]["queue"] > 0
        code = await asyncio.to_thread(main, ["stats", "--control", env.url])
        assert code == 0
        [row] = [
            line for line in capsys.readouterr().out.splitlines() if line.startswith("downstream")
        ]
        assert row.split()[1] == "half-closed"
        assert await asyncio.wait_for(received, 20) == body
