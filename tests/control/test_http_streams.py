"""Streams and shutdown in the HTTP/1.1 server (shaper.control.http): a client that goes
away mid-stream ends the stream's handler at once, a slow reader holds the handler back
instead of filling memory, and stopping the server ends open streams, then cancels what
outlives the grace period."""

from __future__ import annotations

import asyncio
import socket
import struct
import time

import pytest
from helpers import EngineEnv, engine_env, wait_until
from http_client import RawClient

from shaper.control.http.app import App
from shaper.control.http.request import Request
from shaper.control.http.response import Response, StreamResponse
from shaper.control.http.serving import serve
from shaper.control.responses import error_response

pytestmark = pytest.mark.timeout(30)


def port_of(env: EngineEnv) -> int:
    return int(env.url.rsplit(":", 1)[1])


def handler_tasks() -> list[asyncio.Task]:
    return [t for t in asyncio.all_tasks() if "_respond" in repr(t.get_coro())]


async def open_stream(port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /v1/stream?interval=10 HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert b"Transfer-Encoding: chunked" in head and b"text/event-stream" in head
    await asyncio.wait_for(reader.readuntil(b"event: snapshot"), 5)
    return reader, writer


@pytest.mark.parametrize("how", ["close", "reset"])
async def test_a_client_leaving_mid_stream_ends_its_handler_at_once(how):
    async with engine_env() as env:
        _, writer = await open_stream(port_of(env))
        assert len(handler_tasks()) == 1
        if how == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()
        # Well before the stream's next tick (10 s): nothing of it is left.
        await wait_until(lambda: not handler_tasks(), 2, "the stream's handler ended")
        await wait_until(lambda: env.runner.open_connections == 0, 2, "the connection gone")
        status, _ = await env.request("GET", "/v1/status")  # the server carries on
        assert status == 200


async def test_stopping_the_server_ends_open_streams_with_the_last_chunk():
    async with engine_env() as env:
        reader, _ = await open_stream(port_of(env))
        started = time.monotonic()
        await env.stop_control()
        assert time.monotonic() - started < 1.0  # the stream ended, no grace period spent
        rest = await asyncio.wait_for(reader.read(), 5)
        assert rest.endswith(b"0\r\n\r\n")  # a clean end of the chunked body, then EOF
        assert not handler_tasks()


def _render(status: int, message: str, headers: dict[str, str]) -> Response:
    return error_response(status, message, headers=headers)


async def test_a_handler_outliving_the_grace_period_is_cancelled():
    cancelled = asyncio.Event()

    async def stuck(request: Request) -> Response:
        try:
            await asyncio.Event().wait()
        finally:
            cancelled.set()
        raise AssertionError("unreachable")

    app = App(_render)
    app.router.add_route("GET", "/stuck", stuck)
    runner = await serve(app, "127.0.0.1", 0)
    client = await RawClient.open(runner.address[1])
    try:
        client.send("GET", "/stuck")
        await wait_until(lambda: runner.open_connections == 1 and handler_tasks(), 2, "busy")
        started = time.monotonic()
        await runner.cleanup(grace=0.3)
        assert 0.25 < time.monotonic() - started < 2.0
        assert cancelled.is_set()
        assert await client.closed(2)
    finally:
        await client.close()


async def test_a_reader_that_stops_reading_holds_the_stream_back():
    written = 0
    ended = asyncio.Event()
    chunk = b"x" * 65536

    async def flood(request: Request) -> StreamResponse:
        nonlocal written
        response = StreamResponse(headers={"Content-Type": "application/octet-stream"})
        await response.prepare(request)
        try:
            while True:
                await response.write(chunk)
                written += len(chunk)
        except ConnectionError:
            ended.set()
        return response

    app = App(_render)
    app.router.add_route("GET", "/flood", flood)
    runner = await serve(app, "127.0.0.1", 0)
    client = await RawClient.open(runner.address[1])
    try:
        client.send("GET", "/flood")
        await asyncio.sleep(0.5)
        first = written
        await asyncio.sleep(0.5)
        # Held at what the sockets' buffers take (a few MiB on loopback), not growing.
        assert 0 < first == written < 32 * 1024**2
        sock = client.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.writer.close()
        await asyncio.wait_for(ended.wait(), 2)
        await wait_until(lambda: runner.open_connections == 0, 2, "the connection gone")
    finally:
        await runner.cleanup()


async def test_a_failing_handler_is_a_json_500_and_the_connection_carries_on():
    async def broken(request: Request) -> Response:
        raise RuntimeError("boom")

    async def fine(request: Request) -> Response:
        return Response(b"{}", content_type="application/json; charset=utf-8")

    app = App(_render)
    app.router.add_route("GET", "/broken", broken)
    app.router.add_route("GET", "/fine", fine)
    runner = await serve(app, "127.0.0.1", 0)
    client = await RawClient.open(runner.address[1])
    try:
        client.send("GET", "/broken")
        answer = await client.answer()
        assert answer.status == 500
        assert answer.json() == {"error": "internal error: see the engine's log", "field": None}
        client.next_cycle()
        client.send("GET", "/fine")
        assert (await client.answer()).json() == {}
    finally:
        await client.close()
        await runner.cleanup()
