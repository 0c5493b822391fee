"""ControlClient against a real engine's control API: typed results, errors as exceptions."""

from __future__ import annotations

import asyncio

import pytest
from helpers import engine_env

from shaper.control.client import ControlClient, ControlError, normalize_url
from shaper.model.limits import Limits
from shaper.model.snapshots import ConnectionStats, EngineStats


@pytest.fixture
async def env():
    async with engine_env() as value:
        yield value


async def test_status_and_stats(env):
    await env.connect()
    async with ControlClient(env.url) as client:
        status = await client.status()
        assert status["routes"][0]["upstream"] == f"127.0.0.1:{env.upstream.port}"
        stats = await client.stats()
        assert isinstance(stats, EngineStats)
        assert stats.connections is None
        assert stats.upstream.bytes_in == 4
        stats = await client.stats(connections=True)
        assert isinstance(stats.connections[0], ConnectionStats)
        assert stats.connections[0].id == env.newest_id()


async def test_stream(env):
    async with ControlClient(env.url) as client:
        seen = []
        async for snapshot in client.stream(interval=0.05, connections=True):
            assert isinstance(snapshot, EngineStats)
            seen.append(snapshot)
            if len(seen) == 1:
                await env.connect()
            if len(seen) == 8:
                break
        assert seen[0].connections == ()
        assert seen[-1].connections_open == 1
        assert len(seen[-1].connections) == 1
        # The session stays usable after leaving a stream.
        assert (await client.status())["version"]


async def test_stream_error_is_raised(env):
    async with ControlClient(env.url) as client:
        with pytest.raises(ControlError) as info:
            async for _ in client.stream(interval=0.001):
                pass
        assert info.value.status == 400 and info.value.field == "interval"


async def test_limits(env):
    async with ControlClient(env.url) as client:
        assert await client.limits() == Limits()
        limits = await client.patch_limits({"downstream": {"rate": "2Mbit", "latency": "40ms"}})
        assert isinstance(limits, Limits)
        assert limits.downstream.rate == 2_000_000
        assert limits.downstream.latency == 40_000
        assert env.engine.limits == limits
        with pytest.raises(ControlError) as info:
            await client.patch_limits({"downstream": {"rate": "2mbps"}})
        assert info.value.status == 400
        assert info.value.field == "downstream.rate"
        assert "ambiguous" in str(info.value)
        assert env.engine.limits == limits


async def test_connections(env):
    await env.connect()
    reader, _ = await env.connect()
    conn_id = env.newest_id()
    async with ControlClient(env.url) as client:
        conns = await client.connections()
        assert [c.id for c in conns] == sorted(env.engine.connections)
        limits = await client.patch_connection_limits(conn_id, {"upstream": {"latency": "5ms"}})
        assert limits.upstream.latency == 5000
        assert (await client.connection_limits(conn_id)) == limits
        assert env.engine.limits == Limits()
        assert (await client.clear_connection_limits(conn_id)) == Limits()
        await client.close_connection(conn_id, mode="reset")
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(reader.read(), 5)
        with pytest.raises(ControlError) as info:
            await client.close_connection(conn_id)
        assert info.value.status == 404
        assert str(info.value) == f"no open connection with id {conn_id}"


async def test_profiles(env):
    async with ControlClient(env.url) as client:
        names = [p["name"] for p in await client.profiles()]
        assert "3g" in names
        result = await client.apply_profile(name="3g")
        assert result["profile"] == "3g"
        assert (await client.profile())["profile"] == "3g"
        result = await client.apply_profile(body={"name": "mine", "downstream": {"rate": "3Mbit"}})
        assert result["profile"] == "mine"
        assert env.engine.limits.downstream.rate == 3_000_000
        with pytest.raises(ControlError) as info:
            await client.apply_profile(name="no-such-profile")
        assert info.value.status == 404
        with pytest.raises(ValueError):
            await client.apply_profile()


async def test_metrics_and_openapi(env):
    async with ControlClient(env.url) as client:
        assert "shaper_connections_total 0" in await client.metrics()
        assert "/v1/limits" in (await client.openapi())["paths"]


async def test_unreachable_engine():
    async with engine_env() as e:
        url = e.url
    async with ControlClient(url, timeout=5) as client:
        with pytest.raises(ControlError) as info:
            await client.status()
    assert info.value.status == 0
    assert url in str(info.value)


async def test_token():
    async with engine_env(token="s3cret") as e:
        async with ControlClient(e.url, token="s3cret") as client:
            assert (await client.limits()) == Limits()
        async with ControlClient(e.url, token="nope") as client:
            with pytest.raises(ControlError) as info:
                await client.limits()
            assert info.value.status == 401 and info.value.field == "Authorization"


async def test_url_and_token_from_the_environment(monkeypatch):
    async with engine_env(token="s3cret") as e:
        monkeypatch.setenv("SHAPER_CONTROL", e.url.removeprefix("http://"))
        monkeypatch.setenv("SHAPER_CONTROL_TOKEN", "s3cret")
        async with ControlClient() as client:
            assert (await client.status())["version"]


def test_normalize_url():
    assert normalize_url("8475") == "http://127.0.0.1:8475"
    assert normalize_url("localhost:9/") == "http://localhost:9"
    assert normalize_url("http://[::1]:9") == "http://[::1]:9"
