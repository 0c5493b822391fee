"""/v1/routes over real HTTP against an in-process engine: add, list, show, disable,
enable, change limits, remove; bad input, conflicts and unknown names."""

from __future__ import annotations

import asyncio
import os

import pytest
from helpers import HOST, EngineEnv, echo_roundtrip, engine_env, wait_until

from shaper.control.client import ControlClient, ControlError
from shaper.control.sync_client import SyncControlClient
from shaper.model.limits import Limits


@pytest.fixture
async def env():
    async with engine_env() as value:
        yield value


def address(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host, int(port)


async def test_add_list_show_and_remove(env: EngineEnv):
    upstream = f"{HOST}:{env.upstream.port}"
    status, body = await env.request(
        "POST", "/v1/routes", json={"name": "db:5432", "listen": f"{HOST}:0", "upstream": upstream}
    )
    assert status == 201, body
    assert body["name"] == "db:5432" and body["enabled"] is True and body["limits"] is None
    bound = address(body["listen"])
    assert bound[1] != 0 and body["connections_open"] == 0
    assert await echo_roundtrip(bound, b"through db") == b"through db"

    status, listed = await env.request("GET", "/v1/routes")
    assert status == 200 and [r["name"] for r in listed] == ["main", "db:5432"]
    # A colon in the name, raw or escaped, reaches the route.
    for path in ("/v1/routes/db:5432", "/v1/routes/db%3A5432"):
        status, one = await env.request("GET", path)
        assert status == 200 and one["listen"] == body["listen"], (path, one)
    _, status_body = await env.request("GET", "/v1/status")
    assert [r["name"] for r in status_body["routes"]] == ["main", "db:5432"]

    reader, writer = await asyncio.open_connection(*bound)
    try:
        writer.write(b"ping")
        await asyncio.wait_for(reader.readexactly(4), 5)
        status, one = await env.request("GET", "/v1/routes/db:5432")
        assert one["connections_open"] == 1
        _, conns = await env.request("GET", "/v1/connections")
        assert {c["route_name"] for c in conns} == {"db:5432"}
        status, answer = await env.request("DELETE", "/v1/routes/db:5432")
        assert status == 204 and answer == ""
        assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        writer.close()
    status, answer = await env.request("DELETE", "/v1/routes/db:5432")
    assert status == 404 and answer["field"] == "name" and "routes: main" in answer["error"]
    kinds = [e.message.split(":")[0] for e in env.engine.events if e.kind == "route"]
    assert kinds == ["route db", "route db"]  # added, removed (the name has a colon)


async def test_an_unnamed_route_is_named_by_its_place(env: EngineEnv):
    upstream = f"{HOST}:{env.upstream.port}"
    for expected in ("route2", "route3"):
        status, body = await env.request(
            "POST", "/v1/routes", json={"listen": "0", "upstream": upstream}
        )
        assert status == 201 and body["name"] == expected, body


async def test_disable_and_enable(env: EngineEnv):
    main = env.proxy
    reader, writer = await env.connect()
    status, body = await env.request("PATCH", "/v1/routes/main", json={"enabled": "false"})
    assert status == 200 and body["enabled"] is False, body
    assert await asyncio.wait_for(reader.read(), 5) == b""
    with pytest.raises(ConnectionRefusedError):
        await asyncio.open_connection(*main)
    status, body = await env.request("PATCH", "/v1/routes/main", json={"enabled": True})
    assert status == 200 and body["enabled"] is True and address(body["listen"]) == main
    assert await echo_roundtrip(main, b"again") == b"again"


async def test_route_limits_by_patch(env: EngineEnv):
    await env.connect()
    [conn_id] = env.engine.connections
    status, body = await env.request(
        "PATCH", "/v1/routes/main", json={"limits": {"downstream": {"latency": "40ms"}}}
    )
    assert status == 200 and body["limits"]["downstream"]["latency"] == "40ms"
    assert env.engine.connection_limits(conn_id).downstream.latency == 40_000
    # Changes build on the route's limits in force.
    status, body = await env.request(
        "PATCH", "/v1/routes/main", json={"limits": {"upstream": {"rate": "1Mbit"}}}
    )
    assert body["limits"]["downstream"]["latency"] == "40ms"
    assert body["limits"]["upstream"]["rate"] == "1Mbit"
    await env.request("PATCH", "/v1/limits", json={"downstream": {"latency": "5ms"}})
    assert env.engine.connection_limits(conn_id).downstream.latency == 40_000
    status, body = await env.request("PATCH", "/v1/routes/main", json={"limits": None})
    assert status == 200 and body["limits"] is None
    assert env.engine.connection_limits(conn_id) == env.engine.limits


BAD_POSTS = [
    # (body, field, what the error mentions)
    ({"listen": "0"}, "upstream", "missing"),
    ({"upstream": "h:1"}, "listen", "missing"),
    ({"listen": "nowhere:port", "upstream": "h:1"}, "listen", "not a number"),
    ({"listen": "0", "upstream": "::1:6379"}, "upstream", "brackets"),
    ({"listen": "0", "upstream": "h:0"}, "upstream", "port 0"),
    ({"listen": 5, "upstream": "h:1"}, "listen", "HOST:PORT"),
    ({"name": "a b", "listen": "0", "upstream": "h:1"}, "name", "letters"),
    ({"name": "", "listen": "0", "upstream": "h:1"}, "name", "letters"),
    ({"name": 3, "listen": "0", "upstream": "h:1"}, "name", "letters"),
    (
        {"listen": "0", "upstream": "h:1", "limits": {"downstream": {"rate": "2mbps"}}},
        "limits.downstream.rate",
        "ambiguous",
    ),
    ({"listen": "0", "upstream": "h:1", "limit": {}}, "limit", "expected name, listen"),
]


@pytest.mark.parametrize(("body", "field", "mention"), BAD_POSTS)
async def test_bad_posts_are_refused_naming_the_field(env: EngineEnv, body, field, mention):
    status, answer = await env.request("POST", "/v1/routes", json=body)
    assert status == 400, answer
    assert answer["field"] == field and mention in answer["error"], answer
    if field != "limit":
        assert "accepted" in answer and "value" in answer or "missing" in answer["error"]
    assert [r.name for r in env.engine.routes] == ["main"]


async def test_conflicts_are_409_and_unknown_names_404(env: EngineEnv):
    upstream = f"{HOST}:{env.upstream.port}"
    status, answer = await env.request(
        "POST", "/v1/routes", json={"name": "main", "listen": "0", "upstream": upstream}
    )
    assert status == 409 and answer["field"] == "name" and "exists already" in answer["error"]
    listen = f"{HOST}:{env.proxy[1]}"
    status, answer = await env.request(
        "POST", "/v1/routes", json={"name": "b", "listen": listen, "upstream": upstream}
    )
    assert status == 409 and answer["field"] == "listen", answer
    for method, body in (("GET", None), ("PATCH", {"enabled": False}), ("DELETE", None)):
        status, answer = await env.request(method, "/v1/routes/nope", json=body)
        assert status == 404 and "no route named 'nope'" in answer["error"], (method, answer)
    status, answer = await env.request("GET", "/v1/routes/a%20b")
    assert status == 400 and answer["field"] == "name"
    status, answer = await env.request("PATCH", "/v1/routes/main", json={"enabled": "off"})
    assert status == 400 and answer["field"] == "enabled" and "true or false" in answer["accepted"]
    status, answer = await env.request("PATCH", "/v1/routes/main", json={"name": "x"})
    assert status == 400 and answer["field"] == "name"
    assert env.engine.route_state("main").enabled


def open_fds() -> set[str]:
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            found.add(f"{fd} {os.readlink(f'/proc/self/fd/{fd}')}")
        except OSError:
            pass
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts fds in /proc")
@pytest.mark.timeout(60)
async def test_clients_add_disable_enable_and_remove_under_traffic_without_leaks(env):
    """The async and the sync clients drive the routes while clients talk through them;
    every API call answers quickly and no socket is left open."""
    upstream = f"{HOST}:{env.upstream.port}"
    async with ControlClient(env.url) as client:
        await client.routes()  # the client's own connection is open before the count
        baseline = open_fds()
        stop = asyncio.Event()
        roundtrips = {"ok": 0}

        async def chatter(address_: tuple[str, int]) -> None:
            while not stop.is_set():
                try:
                    if await echo_roundtrip(address_, b"x" * 20_000) == b"x" * 20_000:
                        roundtrips["ok"] += 1
                except (ConnectionError, OSError, asyncio.IncompleteReadError):
                    await asyncio.sleep(0.01)

        slowest = 0.0
        loop = asyncio.get_running_loop()
        main_task = asyncio.create_task(chatter(env.proxy))
        for _ in range(3):
            started = loop.time()
            added = await client.add_route(
                f"{HOST}:0", upstream, name="extra", limits={"downstream": {"rate": "50Mbit"}}
            )
            assert added.limits == Limits().patched({"downstream": {"rate": "50Mbit"}})
            slowest = max(slowest, loop.time() - started)
            task = asyncio.create_task(chatter(added.listen))
            await wait_until(lambda: env.engine.route_state("extra").connections_open, 5)
            for enabled in (False, True):
                started = loop.time()
                state = await client.set_route_enabled("extra", enabled)
                slowest = max(slowest, loop.time() - started)
                assert state.enabled is enabled
            started = loop.time()
            await client.remove_route("extra")
            slowest = max(slowest, loop.time() - started)
            stop.set()
            await task
            stop.clear()
        stop.set()
        await main_task
        assert roundtrips["ok"] > 0
        assert slowest < 0.5, f"an API call took {slowest:.3f}s"
        with pytest.raises(ControlError) as info:
            await client.route("extra")
        assert info.value.status == 404
        await wait_until(lambda: not env.engine.connections, 10, "the connections to close")
        try:
            await wait_until(lambda: not open_fds() - baseline, 10, "the sockets to close")
        except AssertionError:
            left = sorted(open_fds() - baseline)
            raise AssertionError(f"still open after 10 s: {left}") from None

    def sync_calls() -> list[str]:
        with SyncControlClient(env.url) as sync:
            state = sync.add_route("0", upstream, name="s")
            sync.set_route_enabled("s", False)
            sync.set_route_limits("s", {"upstream": {"latency": "1ms"}})
            names = [r.name for r in sync.routes()]
            assert sync.route("s").limits is not None
            sync.remove_route("s")
            return [state.name, *names]

    assert await asyncio.to_thread(sync_calls) == ["s", "main", "s"]
