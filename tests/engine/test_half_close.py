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
    read_to_end,
    running,
    wait_until,
)

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
