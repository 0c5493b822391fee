"""shaper.Proxy, the sync surface (its engine in a child process), against real servers: a
redis-server of its own driven with redis-py, and Python's HTTP server."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import threading
import time
import urllib.request

import pytest
import redis
from helpers import http_server, redis_server
from redis.backoff import NoBackoff
from redis.retry import Retry

import shaper
from shaper.control.sync_client import SyncControlClient

pytestmark = pytest.mark.timeout(90)


@pytest.fixture
def redis_address():
    with redis_server() as address:
        yield address


def ping_time(client: redis.Redis) -> float:
    started = time.monotonic()
    assert client.ping()
    return time.monotonic() - started


def test_redis_through_a_shaped_proxy_pays_the_latency_it_was_given(redis_address):
    with shaper.Proxy(upstream=redis_address, latency="60ms") as proxy:
        client = redis.Redis(proxy.host, proxy.port, socket_timeout=10)
        try:
            ping_time(client)  # the first pays the emulated handshake too
            assert 0.12 <= ping_time(client) < 1.0  # one round trip: 60 ms each way
            limits = proxy.set_limits(latency="0ms")
            assert limits.upstream.latency == limits.downstream.latency == 0
            assert ping_time(client) < 0.1
            limits = proxy.set_limits(down_latency="100ms")  # one direction
            assert (limits.upstream.latency, limits.downstream.latency) == (0, 100_000)
            assert 0.1 <= ping_time(client) < 1.0
        finally:
            client.close()


def test_the_totals_say_what_moved_after_the_client_has_gone(redis_address):
    value = os.urandom(200_000)
    with shaper.Proxy(upstream=redis_address, rate="50Mbit") as proxy:
        client = redis.Redis(proxy.host, proxy.port, socket_timeout=10)
        client.set("key", value)
        assert client.get("key") == value
        [conn] = proxy.wait_for_connections(1)
        assert conn.downstream.bytes_out >= len(value)
        client.close()
        assert proxy.wait_for_connections(0) == []
        stats = proxy.stats()
        assert stats.downstream.bytes_out == 0  # no connection is open ...
        assert stats.bytes_upstream >= len(value)  # ... and what moved is still counted
        assert stats.bytes_downstream >= len(value)
        assert stats.bytes_upstream < len(value) + 1000  # the value and a few commands
        assert stats.connections_total == 1 and stats.resets == 0


def test_stall_blocks_the_answers_and_release_lets_them_through(redis_address):
    with shaper.Proxy(upstream=redis_address) as proxy:
        client = redis.Redis(
            proxy.host, proxy.port, socket_timeout=0.5, retry=Retry(NoBackoff(), 0)
        )  # one try: the timeout is the point
        try:
            assert client.ping()
            assert proxy.stall("downstream").downstream.stall is True
            with pytest.raises(redis.TimeoutError):
                client.get("anything")
            assert proxy.release("downstream").downstream.stall is False
            client.connection_pool.disconnect()  # the timed-out connection is out of step
            assert client.ping()
            assert proxy.stall().upstream.stall and proxy.limits().downstream.stall
            assert not proxy.release().upstream.stall
        finally:
            client.close()


def test_close_and_reset_a_connection_by_its_id(redis_address):
    with shaper.Proxy(upstream=redis_address) as proxy:
        client = redis.Redis(proxy.host, proxy.port, socket_timeout=5)
        try:
            assert client.ping()
            [conn] = proxy.wait_for_connections(1)
            proxy.close_connection(conn.id, reset=True)
            proxy.wait_for_connections(0)
            stats = proxy.stats()
            assert stats.resets == 1
            assert [e.kind for e in stats.events if e.connection == conn.id][-2:] == [
                "reset",
                "close",
            ]
            assert client.ping()  # redis-py reconnects, through the proxy again
            [again] = proxy.wait_for_connections(1)
            assert again.id != conn.id and proxy.stats().connections_total == 2
            proxy.close_connection(again.id)
            proxy.wait_for_connections(0)
            assert proxy.stats().resets == 1  # a close is no reset
            with pytest.raises(
                shaper.UnknownConnection, match=f"no open connection with id {again.id}"
            ):
                proxy.close_connection(again.id)
        finally:
            client.close()


def test_profiles_by_name_by_path_and_when_the_proxy_starts(tmp_path):
    mine = tmp_path / "mine.toml"
    mine.write_text('name = "mine"\n[downstream]\nrate = "3Mbit"\nlatency = "7ms"\n')
    with (
        http_server() as upstream,
        shaper.Proxy(upstream, profile="3g", down_latency="20ms") as proxy,
    ):
        stats = proxy.stats()
        assert stats.profile == "3g" and stats.profile_changes == ()  # the keyword won
        assert stats.limits["downstream"]["latency"] == "20ms"
        assert stats.limits["downstream"]["rate"] == "1.6Mbit"  # the rest is the profile's
        limits = proxy.apply_profile(mine)
        assert limits.downstream.rate == 3_000_000 and proxy.stats().profile == "mine"
        assert proxy.apply_profile("edge").downstream.rate == 240_000
        body = urllib.request.urlopen(f"http://{proxy.host}:{proxy.port}/2000", timeout=30).read()
        assert len(body) == 2000
        with pytest.raises(shaper.ProfileError, match="no profile named '3gg'.*'3g'"):
            proxy.apply_profile("3gg")
        assert proxy.stats().profile == "edge"  # unchanged


def test_a_scenario_profile_runs_its_phases():
    with http_server() as upstream, shaper.Proxy(upstream, profile="tunnel") as proxy:
        scenario = proxy.stats().scenario
        assert scenario is not None and scenario["phase"] == "open line"
        assert scenario["phases"] == 3


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"rat": "1Mbit"}, shaper.LimitError, "rat: unknown limit 'rat' (did you mean 'rate'?)"),
        ({"down_rate": "2mbps"}, shaper.LimitError, "downstream.rate: invalid rate '2mbps'"),
        (
            {"limits": {"downstrem": {}}},
            shaper.LimitError,
            "downstrem: unknown direction 'downstrem' (did you mean 'downstream'?)",
        ),
        ({"profile": "5g"}, shaper.ProfileError, "no profile named '5g'"),
        ({"listen": "nowhere"}, ValueError, "invalid listen address 'nowhere'"),
        (
            {"connect_timeout": 0},
            ValueError,
            "connect_timeout: invalid value 0: expected seconds, more than 0",
        ),
    ],
    ids=[
        "unknown-limit",
        "bad-value",
        "bad-direction",
        "unknown-profile",
        "bad-listen",
        "bad-timeout",
    ],
)
def test_bad_arguments_raise_naming_them_before_anything_starts(kwargs, error, message):
    with pytest.raises(error) as info:
        shaper.Proxy("127.0.0.1:9", **kwargs)
    assert message in str(info.value)


def test_bad_calls_raise_naming_the_argument_and_change_nothing():
    with http_server() as upstream, shaper.Proxy(upstream, rate="1Mbit") as proxy:
        with pytest.raises(shaper.LimitError) as info:
            proxy.set_limits(rate="2Mbit", down_buffer="lots")
        assert info.value.field == "downstream.buffer"
        with pytest.raises(
            shaper.LimitError, match="profile: unknown limit 'profile' .*apply_profile"
        ):
            proxy.set_limits(profile="3g")
        with pytest.raises(
            ValueError,
            match="direction: invalid value 'down': expected upstream, downstream or both",
        ):
            proxy.stall("down")
        with pytest.raises(ValueError, match="n: invalid value -1"):
            proxy.wait_for_connections(-1)
        with pytest.raises(ValueError, match="timeout: invalid value 0"):
            proxy.wait_for_connections(1, timeout=0)
        assert proxy.limits().downstream.rate == 1_000_000  # nothing changed
        with pytest.raises(TimeoutError, match="expected 2 open connections within 0.2s; 0 open"):
            proxy.wait_for_connections(2, timeout=0.2)


def test_before_start_after_stop_and_when_the_engine_died():
    proxy = shaper.Proxy("127.0.0.1:9")
    with pytest.raises(shaper.ProxyError, match="has not started"):
        _ = proxy.port
    with pytest.raises(shaper.ProxyError, match="not running"):
        proxy.stats()
    proxy.start()
    try:
        url = proxy.control_url
        pid = SyncControlClient(url).status()["pid"]
        assert proxy.running
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while proxy.running and time.monotonic() < deadline:
            time.sleep(0.02)
        with pytest.raises(shaper.ProxyError, match=r"the engine process has exited \(code -9\)"):
            proxy.stats()
    finally:
        proxy.stop()
    proxy.stop()  # twice is fine
    with pytest.raises(shaper.ProxyError, match="not running"):
        proxy.set_limits(rate="1Mbit")
    with pytest.raises(RuntimeError, match="already started"):
        proxy.start()


def test_stop_closes_the_listener_and_the_engine_process():
    with http_server() as upstream:
        with shaper.Proxy(upstream) as proxy:
            address = proxy.address
            pid = SyncControlClient(proxy.control_url).status()["pid"]
            with socket.create_connection(address, 5):
                pass
        with pytest.raises(OSError):
            socket.create_connection(address, 2)
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_calls_from_several_threads_take_turns():
    with http_server() as upstream, shaper.Proxy(upstream) as proxy:
        errors: list[BaseException] = []

        def hammer(index: int) -> None:
            try:
                for step in range(20):
                    proxy.set_limits(latency=f"{index * 20 + step}ms")
                    proxy.stats()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=hammer, args=(i,)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert errors == []


async def test_in_an_async_test_aio_waits_without_blocking_the_loop():
    import asyncio

    with http_server() as upstream, shaper.Proxy(upstream, latency="30ms") as proxy:

        async def client() -> bytes:
            reader, writer = await asyncio.open_connection(proxy.host, proxy.port)
            writer.write(b"GET /1000 HTTP/1.0\r\n\r\n")
            await writer.drain()
            try:
                return await reader.read()
            finally:
                writer.close()

        task = asyncio.create_task(client())
        [conn] = await proxy.aio.wait_for_connections(1)  # the task runs meanwhile
        assert conn.id == 1
        answer = await asyncio.wait_for(task, 30)
        assert len(answer.split(b"\r\n\r\n", 1)[1]) == 1000
        await proxy.aio.wait_for_connections(0)
        assert (await proxy.aio.stats()).bytes_downstream > 1000
        assert (await proxy.aio.set_limits(latency="0ms")).upstream.latency == 0
        assert proxy.limits().upstream.latency == 0  # the same engine


def test_a_limit_data_fault_cuts_an_http_answer():
    with http_server() as upstream, shaper.Proxy(upstream) as proxy:
        assert proxy.add_fault("limit_data", bytes="300B") == "limit_data"
        url = f"http://{proxy.host}:{proxy.port}"
        with (
            pytest.raises(http.client.IncompleteRead),  # the body cut short, with a FIN
            urllib.request.urlopen(f"{url}/100000", timeout=10) as answer,
        ):
            answer.read()
        proxy.remove_fault("limit_data")
        assert proxy.faults() == []
        with urllib.request.urlopen(f"{url}/1000", timeout=10) as answer:
            assert len(answer.read()) == 1000
        assert proxy.stats().bytes_downstream >= 300
