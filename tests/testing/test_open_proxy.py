"""shaper.open_proxy, the async surface, with its engine in this loop and in a child process:
the same calls give the same answers."""

from __future__ import annotations

import asyncio
import time

import pytest
from helpers import Server, echo, http_server, pattern, read_to_end, wait_until

import shaper

pytestmark = pytest.mark.timeout(90)

WHERE = pytest.mark.parametrize("child", [False, True], ids=["in-process", "child"])


async def fetch(proxy: shaper.AsyncProxy, path: str) -> bytes:
    reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
    try:
        writer.write(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        await writer.drain()
        answer = await asyncio.wait_for(read_to_end(reader), 30)
    finally:
        writer.close()
    return answer.split(b"\r\n\r\n", 1)[1]


@WHERE
async def test_a_profile_and_keyword_limits_when_it_opens(child):
    with http_server() as upstream:
        async with shaper.open_proxy(
            upstream, profile="3g", up_latency="10ms", child=child
        ) as proxy:
            assert (proxy.engine is None) == child
            assert (proxy.control_url is None) != child
            stats = await proxy.stats()
            assert stats.profile == "3g" and stats.profile_changes == ()
            limits = await proxy.limits()
            assert (limits.upstream.latency, limits.downstream.latency) == (10_000, 150_000)
            started = time.monotonic()
            assert len(await fetch(proxy, "/20000")) == 20000
            # 20 kB on 3g (1.6 Mbit/s, 160 ms round trips): the handshake, the request, and
            # the window's growth take several round trips
            assert time.monotonic() - started > 0.4


@WHERE
async def test_limits_stall_and_release_live(child):
    with http_server() as upstream:
        async with shaper.open_proxy(upstream, rate="20Mbit", child=child) as proxy:
            limits = await proxy.set_limits(
                {"downstream": {"latency": "5ms"}}, upstream={"buffer": "64KiB"}, down_rate="10Mbit"
            )
            assert limits.downstream.rate == 10_000_000 and limits.upstream.rate == 20_000_000
            assert (limits.downstream.latency, limits.upstream.buffer) == (5_000, 65536)
            assert (await proxy.stall("downstream")).downstream.stall
            task = asyncio.create_task(fetch(proxy, "/5000"))
            await proxy.wait_for_connections(1)
            await asyncio.sleep(0.3)
            assert not task.done()  # nothing comes back while stalled
            assert not (await proxy.release("downstream")).downstream.stall
            assert len(await asyncio.wait_for(task, 30)) == 5000
            with pytest.raises(shaper.LimitError) as info:
                await proxy.set_limits(up_rate="fast")
            assert info.value.field == "upstream.rate"


@WHERE
async def test_connections_close_reset_and_the_totals_after(child):
    async with Server(echo) as upstream, shaper.open_proxy(upstream.address, child=child) as proxy:
        payload = pattern(300_000)
        reader, writer = await asyncio.open_connection(*proxy.address)
        writer.write(payload)
        await writer.drain()
        assert await asyncio.wait_for(reader.readexactly(len(payload)), 30) == payload
        [conn] = await proxy.wait_for_connections(1)
        assert [c.id for c in await proxy.connections()] == [conn.id]
        await proxy.close_connection(conn.id, reset=True)
        with pytest.raises(ConnectionError):
            while await asyncio.wait_for(reader.read(65536), 10):
                pass
        writer.close()
        assert await proxy.wait_for_connections(0) == []
        stats = await proxy.stats()
        assert (stats.bytes_upstream, stats.bytes_downstream) == (len(payload), len(payload))
        assert (stats.connections_total, stats.resets) == (1, 1)
        with pytest.raises(shaper.UnknownConnection, match=f"no open connection with id {conn.id}"):
            await proxy.close_connection(conn.id)


@WHERE
async def test_apply_profile_by_name_path_and_value(child, tmp_path):
    path = tmp_path / "slow.toml"
    path.write_text('name = "slow"\n[downstream]\nrate = "64kbit"\n')
    with http_server() as upstream:
        async with shaper.open_proxy(upstream, child=child) as proxy:
            assert (await proxy.apply_profile(path)).downstream.rate == 64_000
            assert (await proxy.stats()).profile == "slow"
            assert (await proxy.apply_profile("dsl")).upstream.rate == 384_000
            profile = shaper.Profile("made", shaper.Limits().with_both({"latency": "3ms"}))
            assert (await proxy.apply_profile(profile)).upstream.latency == 3_000
            assert (await proxy.stats()).profile == "made"
            with pytest.raises(shaper.ProfileError, match="profile file not found"):
                await proxy.apply_profile(tmp_path / "none.toml")


async def test_a_bad_argument_raises_before_an_engine_starts():
    with pytest.raises(shaper.LimitError, match="profile: unknown limit"):
        await proxy_call(rate="1Mbit")
    with pytest.raises(ValueError, match="invalid upstream address"):
        async with shaper.open_proxy(("127.0.0.1", 70000)):
            pass
    with pytest.raises(shaper.ProfileError, match="no profile named 'sattelite-geo'"):
        async with shaper.open_proxy("127.0.0.1:9", profile="sattelite-geo"):
            pass


async def proxy_call(**limits):
    with http_server() as upstream:
        async with shaper.open_proxy(upstream, child=True) as proxy:
            await proxy.set_limits(profile="3g", **limits)


async def test_the_child_engine_is_gone_when_the_block_ends():
    with http_server() as upstream:
        async with shaper.open_proxy(upstream, child=True) as proxy:
            address = proxy.address
            await wait_until(lambda: proxy.stats(), what="a snapshot")
        with pytest.raises(OSError):
            await asyncio.wait_for(asyncio.open_connection(*address), 5)


@WHERE
async def test_faults_through_the_async_surface(child):
    with http_server() as upstream:
        async with shaper.open_proxy(upstream, child=child) as proxy:
            name = await proxy.add_fault("timeout", name="hold")
            assert name == "hold"
            assert [f["type"] for f in await proxy.faults()] == ["timeout"]
            task = asyncio.create_task(fetch(proxy, "/5000"))
            await proxy.wait_for_connections(1)
            await asyncio.sleep(0.3)
            assert not task.done()  # held
            [conn] = await proxy.connections()
            assert conn.faults == ("hold",)
            await proxy.remove_fault("hold")
            assert len(await asyncio.wait_for(task, 10)) == 5000
            with pytest.raises(ValueError, match="after"):
                await proxy.add_fault("timeout", after="soon")
            await proxy.add_fault("slicer")
            with pytest.raises(shaper.ProxyError, match="slicer"):
                await proxy.add_fault("slicer")
