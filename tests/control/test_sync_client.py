"""SyncControlClient against a real engine's control API (called from a worker thread: the
engine runs in this test's loop): the async client's answers and errors, without a loop."""

from __future__ import annotations

import asyncio
import socket

import pytest
from helpers import engine_env, http_server

from shaper.control.client import ControlError
from shaper.control.sync_client import SyncControlClient
from shaper.model.snapshots import EngineStats


async def call(function, *args, **kwargs):
    return await asyncio.to_thread(function, *args, **kwargs)


async def test_answers_are_typed_and_one_connection_is_kept():
    async with engine_env() as env:
        await env.connect()
        client = SyncControlClient(env.url)
        try:
            assert (await call(client.status))["version"]
            stats = await call(client.stats, connections=True)
            assert isinstance(stats, EngineStats) and len(stats.connections) == 1
            limits = await call(client.patch_limits, {"downstream": {"rate": "2Mbit"}})
            assert limits.downstream.rate == 2_000_000 == env.engine.limits.downstream.rate
            assert (await call(client.limits)) == env.engine.limits
            [conn] = await call(client.connections)
            state = await call(client.apply_profile, name="edge")
            assert state["profile"] == "edge"
            await call(client.close_connection, conn.id, mode="reset")
            first = client._connection
            assert first is not None and (await call(client.status))["version"]
            assert client._connection is first  # keep-alive
        finally:
            client.close()


async def test_errors_carry_the_status_and_the_field():
    async with engine_env() as env:
        with SyncControlClient(env.url) as client:
            with pytest.raises(ControlError) as info:
                await call(client.patch_limits, {"downstream": {"rate": "2mbps"}})
            assert (info.value.status, info.value.field) == (400, "downstream.rate")
            with pytest.raises(ControlError) as info:
                await call(client.close_connection, 42)
            assert (info.value.status, info.value.field) == (404, "id")
            with pytest.raises(ValueError, match="exactly one of name or body"):
                client.apply_profile()
            # The engine restarted its control API: the client reconnects by itself.
            await env.stop_control()
            await env.start_control()
            assert (await call(client.status))["version"]


async def test_a_token_is_sent():
    async with engine_env(token="s3cret") as env:
        with pytest.raises(ControlError) as info:
            await call(SyncControlClient(env.url, token="").status)
        assert info.value.status == 401
        assert (await call(SyncControlClient(env.url, token="s3cret").status))["version"]


def test_no_engine_and_not_an_engine_are_status_0():
    with socket.socket() as refusing:
        refusing.bind(("127.0.0.1", 0))
        port = refusing.getsockname()[1]
        with pytest.raises(ControlError) as info:
            SyncControlClient(f"127.0.0.1:{port}", timeout=5).status()
    assert info.value.status == 0
    assert f"cannot reach the shaper control API at http://127.0.0.1:{port}" in str(info.value)
    with http_server() as (host, port), pytest.raises(ControlError) as info:
        SyncControlClient(f"{host}:{port}").stats()
    assert info.value.status == 0 and "is not a shaper engine" in str(info.value)
    with pytest.raises(ValueError, match="control URL: invalid value 'https://x:1'"):
        SyncControlClient("https://x:1")
