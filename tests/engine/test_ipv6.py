"""IPv6 listeners and upstreams, and upstreams given by name."""

from __future__ import annotations

import asyncio
import random
import socket

import pytest
from helpers import (
    HOST,
    Server,
    echo,
    echo_roundtrip,
    running,
)

from shaper.engine.engine import Engine
from shaper.model.limits import Limits
from shaper.model.routes import Route


def ipv6_loopback() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.timeout(30)
async def test_ipv6_listen_and_upstream():
    if not ipv6_loopback():
        pytest.skip("this host has no IPv6 loopback (::1 cannot be bound)")
    async with (
        Server(echo, host="::1") as server,
        running(
            Engine(
                [
                    Route(("::1", 0), ("::1", server.address[1])),
                    Route((HOST, 0), ("::1", server.address[1])),
                ],
                Limits().with_both({"latency": "2ms"}),
            )
        ) as engine,
    ):
        v6_route, v4_route = engine.addresses
        assert v6_route[0] == "::1"
        assert engine.describe_routes()[0] == f"[::1]:{v6_route[1]} -> [::1]:{server.address[1]}"
        payload = random.Random(11).randbytes(400_000)
        assert await echo_roundtrip(v6_route, payload) == payload
        assert await echo_roundtrip(v4_route, payload) == payload

        reader, writer = await asyncio.open_connection(*v6_route)
        try:
            writer.write(b"ping")
            assert await asyncio.wait_for(reader.readexactly(4), 5) == b"ping"
            [conn] = engine.snapshot(connections=True).connections
            assert conn.client.startswith("[::1]:")
            assert conn.server == f"[::1]:{server.address[1]}"
        finally:
            writer.close()


@pytest.mark.timeout(30)
async def test_upstream_given_by_hostname():
    async with (
        Server(echo) as server,
        running(
            Engine([Route(("localhost", 0), ("localhost", server.address[1]))], Limits())
        ) as engine,
    ):
        payload = random.Random(12).randbytes(100_000)
        assert await echo_roundtrip(engine.addresses[0], payload) == payload
