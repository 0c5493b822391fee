"""The control API's HTTP/1.1 server (shaper.control.http) as a client meets it on a raw
socket: what it refuses (400, 404, 405, 413, each as the API's JSON error), keep-alive,
bodies a handler never reads, 100-continue, and the idle timeout."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from helpers import EngineEnv, engine_env
from http_client import RawClient

from shaper.control.http import protocol
from shaper.control.requests import MAX_BODY

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
async def env():
    async with engine_env() as value:
        yield value


def port(env: EngineEnv) -> int:
    return int(env.url.rsplit(":", 1)[1])


async def raw_exchange(env: EngineEnv, data: bytes) -> bytes:
    """Send `data`; everything the server sends until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port(env))
    writer.write(data)
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


@pytest.mark.parametrize(
    ("request_bytes", "words"),
    [
        (b"BLAH\r\n\r\n", "illegal request line"),
        (b"GET /v1/limits HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n", "illegal header line"),
        (b"GET v1/limits HTTP/1.1\r\nHost: x\r\n\r\n", "expected a path such as /v1/status"),
        (b"GET /v1/limits HTTP/1.1\r\n\r\n", "Host"),  # HTTP/1.1 requires one
        (b"PATCH /v1/limits HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n", "Content-Length"),
    ],
    ids=["request-line", "header", "target", "no-host", "content-length"],
)
async def test_a_malformed_request_is_a_json_400_and_the_connection_closes(
    env: EngineEnv, request_bytes, words
):
    raw = await raw_exchange(env, request_bytes)
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "HTTP/1.1 400 Bad Request"
    assert "Content-Type: application/json; charset=utf-8" in lines
    assert "Connection: close" in lines
    assert f"Content-Length: {len(body)}" in lines
    error = json.loads(body)
    assert error["field"] is None
    assert error["error"].startswith("malformed HTTP/1.1 request: ")
    assert words in error["error"]


async def test_an_unknown_path_is_a_json_404_and_the_connection_stays(env: EngineEnv):
    client = await RawClient.open(port(env))
    try:
        client.send("GET", "/v1/nope")
        answer = await client.answer()
        assert answer.status == 404
        assert answer.json() == {
            "error": "no such path /v1/nope; see /v1/openapi.json",
            "field": None,
        }
        client.next_cycle()
        client.send("GET", "/v1/limits")
        assert (await client.answer()).status == 200
    finally:
        await client.close()


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("POST", "/v1/status", "GET"),
        ("DELETE", "/v1/limits", "GET, PATCH"),
        ("GET", "/v1/connections/7", "DELETE"),
        ("PUT", "/v1/routes/main", "DELETE, GET, PATCH"),
    ],
)
async def test_a_wrong_method_is_a_405_that_lists_the_allowed_ones(
    env: EngineEnv, method, path, allow
):
    client = await RawClient.open(port(env))
    try:
        client.send(method, path)
        answer = await client.answer()
        assert answer.status == 405
        assert answer.headers["allow"] == allow
        assert answer.json() == {
            "error": f"method {method} not allowed on {path}; allowed: {allow}",
            "field": None,
        }
    finally:
        await client.close()


async def test_head_is_a_405_without_a_body(env: EngineEnv):
    client = await RawClient.open(port(env))
    try:
        client.send("HEAD", "/v1/status")
        answer = await client.answer("HEAD")
        assert answer.status == 405
        assert answer.headers["allow"] == "GET"
        assert answer.body == b""
        assert int(answer.headers["content-length"]) > 0  # the length a GET-like answer has
        client.next_cycle()
        client.send("GET", "/v1/status")
        assert (await client.answer()).json()["version"]
    finally:
        await client.close()


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_a_body_over_the_limit_is_a_413_and_changes_nothing(env: EngineEnv, framing):
    before = env.engine.limits
    body = json.dumps({"downstream": {"rate": "1Mbit"}, "pad": "x" * MAX_BODY}).encode()
    client = await RawClient.open(port(env))
    try:
        if framing == "chunked":
            client.send(
                "PATCH",
                "/v1/limits",
                body,
                Content_Type="application/json",
                Transfer_Encoding="chunked",
            )
        else:
            client.send("PATCH", "/v1/limits", body, Content_Type="application/json")
        answer = await client.answer()
        assert answer.status == 413
        assert answer.json() == {
            "error": f"body: larger than {MAX_BODY} bytes; limits fit in far less",
            "field": "body",
        }
        assert env.engine.limits == before
        # The rest of the body is read and dropped: the connection serves the next request.
        client.next_cycle()
        client.send("GET", "/v1/limits")
        assert (await client.answer()).json()["downstream"]["rate"] == "off"
    finally:
        await client.close()


async def test_two_requests_on_one_connection(env: EngineEnv):
    client = await RawClient.open(port(env))
    try:
        client.send(
            "PATCH",
            "/v1/limits",
            b'{"downstream": {"rate": "2Mbit"}}',
            Content_Type="application/json",
        )
        first = await client.answer()
        assert first.status == 200 and first.json()["downstream"]["rate"] == "2Mbit"
        assert "connection" not in first.headers
        client.next_cycle()
        client.send("GET", "/v1/limits")
        second = await client.answer()
        assert second.json()["downstream"]["rate"] == "2Mbit"
        assert env.runner.open_connections == 1
    finally:
        await client.close()


async def test_pipelined_requests_are_answered_in_order(env: EngineEnv):
    reader, writer = await asyncio.open_connection("127.0.0.1", port(env))
    try:
        writer.write(
            b"GET /v1/limits HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /v1/nope HTTP/1.1\r\nHost: x\r\n\r\n"
            b"GET /v1/status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        raw = await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()
    statuses = re.findall(rb"HTTP/1\.1 \d+ [A-Za-z ]+", raw)
    assert statuses == [b"HTTP/1.1 200 OK", b"HTTP/1.1 404 Not Found", b"HTTP/1.1 200 OK"]


async def test_a_body_the_handler_does_not_read_is_dropped(env: EngineEnv):
    client = await RawClient.open(port(env))
    try:
        client.send("GET", "/v1/limits", b"x" * 200_000)
        assert (await client.answer()).status == 200
        client.next_cycle()
        client.send("GET", "/v1/status")
        assert (await client.answer()).json()["version"]
    finally:
        await client.close()


async def test_expect_100_continue_is_answered_before_the_body(env: EngineEnv):
    reader, writer = await asyncio.open_connection("127.0.0.1", port(env))
    body = b'{"upstream": {"rate": "3Mbit"}}'
    try:
        writer.write(
            b"PATCH /v1/limits HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Expect: 100-continue\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim.startswith(b"HTTP/1.1 100 ")
        writer.write(body)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 OK")
    finally:
        writer.close()
    assert env.engine.limits.upstream.rate == 3_000_000


async def test_an_idle_connection_is_closed_after_the_keepalive_timeout(monkeypatch):
    monkeypatch.setattr(protocol, "KEEPALIVE_TIMEOUT", 0.3)
    async with engine_env() as env:
        client = await RawClient.open(port(env))
        try:
            client.send("GET", "/v1/limits")
            assert (await client.answer()).status == 200
            assert await client.closed(5)
            await asyncio.sleep(0.05)
            assert env.runner.open_connections == 0
        finally:
            await client.close()


async def test_a_token_is_asked_before_the_path_is_looked_up():
    async with engine_env(token="s3cret") as env:
        client = await RawClient.open(port(env))
        try:
            client.send("GET", "/v1/nope")
            answer = await client.answer()
            assert answer.status == 401
            assert answer.headers["www-authenticate"] == "Bearer"
            assert answer.json()["field"] == "Authorization"
        finally:
            await client.close()
