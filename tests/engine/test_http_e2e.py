"""A real application protocol through the proxy: the standard library's HTTP server
and clients, with limits whose effect on transfer time is measured."""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import random
import time
import urllib.request

import pytest
from helpers import HttpHandler, http_server

import shaper

SIZE = 2_000_000
BODY = HttpHandler.body(SIZE)
SMALL = b"ok\n" * 100


def fetch(url: str) -> tuple[bytes, float]:
    started = time.monotonic()
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200
        body = response.read()
    return body, time.monotonic() - started


def upload(url: str, data: bytes) -> tuple[bytes, float]:
    started = time.monotonic()
    request = urllib.request.Request(url, data=data, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        answer = response.read()
    return answer, time.monotonic() - started


def seconds_at(rate_bits: int, nbytes: int) -> float:
    return nbytes * 8 / rate_bits


@pytest.mark.timeout(60)
async def test_download_takes_size_over_rate():
    with http_server() as upstream:
        async with shaper.open_proxy(
            upstream=upstream, limits={"downstream": {"rate": "8Mbit"}}
        ) as proxy:
            url = f"http://{proxy.host}:{proxy.port}/2000000"
            body, elapsed = await asyncio.wait_for(asyncio.to_thread(fetch, url), 30)
            assert body == BODY
            expected = seconds_at(8_000_000, len(BODY))  # 2.0 s
            assert 0.8 * expected <= elapsed <= 3 * expected, (
                f"2 MB at 8 Mbit took {elapsed:.2f}s, expected about {expected:.2f}s"
            )
            stats = await proxy.stats()
            assert stats.connections_total == 1

            # Same proxy, limit lifted live: much faster.
            await proxy.set_limits(downstream={"rate": "off"})
            body, fast = await asyncio.wait_for(asyncio.to_thread(fetch, url), 30)
            assert body == BODY
            assert fast < 0.3 * expected, f"unshaped download took {fast:.2f}s"


@pytest.mark.timeout(60)
async def test_download_without_limits_is_much_faster():
    with http_server() as upstream:
        async with shaper.open_proxy(upstream=upstream) as proxy:
            url = f"http://{proxy.host}:{proxy.port}/2000000"
            body, elapsed = await asyncio.wait_for(asyncio.to_thread(fetch, url), 30)
            assert body == BODY
            assert elapsed < 0.3 * seconds_at(8_000_000, len(BODY))


@pytest.mark.timeout(60)
async def test_upload_takes_size_over_upstream_rate():
    data = random.Random(21).randbytes(1_000_000)
    with http_server() as upstream:
        async with shaper.open_proxy(
            upstream=upstream, limits={"upstream": {"rate": "8Mbit"}}
        ) as proxy:
            url = f"http://{proxy.host}:{proxy.port}/upload"
            answer, elapsed = await asyncio.wait_for(asyncio.to_thread(upload, url, data), 30)
            assert answer == hashlib.sha256(data).hexdigest().encode()
            expected = seconds_at(8_000_000, len(data))  # 1.0 s
            assert 0.8 * expected <= elapsed <= 3 * expected, (
                f"1 MB up at 8 Mbit took {elapsed:.2f}s, expected about {expected:.2f}s"
            )
            # The downstream direction was not limited: the big download stays fast.
            body, fast = await asyncio.wait_for(
                asyncio.to_thread(fetch, f"http://{proxy.host}:{proxy.port}/2000000"), 30
            )
            assert body == BODY
            assert fast < 0.3 * seconds_at(8_000_000, len(BODY))


def keep_alive_requests(host: str, port: int, count: int) -> list[float]:
    connection = http.client.HTTPConnection(host, port, timeout=30)
    times = []
    try:
        for _ in range(count):
            started = time.monotonic()
            connection.request("GET", "/small")
            response = connection.getresponse()
            assert response.status == 200
            assert response.read() == SMALL
            times.append(time.monotonic() - started)
    finally:
        connection.close()
    return times


@pytest.mark.timeout(60)
async def test_keep_alive_requests_each_pay_the_round_trip():
    with http_server() as upstream:
        async with shaper.open_proxy(upstream=upstream, latency="50ms") as proxy:
            times = await asyncio.wait_for(
                asyncio.to_thread(keep_alive_requests, proxy.host, proxy.port, 4), 30
            )
            # 50 ms each way: every request/response exchange takes at least 100 ms.
            assert all(t >= 0.095 for t in times), times
            assert all(t < 1.0 for t in times), times
            # One proxied connection carried them all.
            assert (await proxy.stats()).connections_total == 1
