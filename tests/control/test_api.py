"""The control API over real HTTP against a real in-process engine on 127.0.0.1."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re

import aiohttp
import pytest
from helpers import EngineEnv, engine_env

from shaper.cli.flags import parse_control_address
from shaper.control.encoding import snapshot_json
from shaper.control.openapi import openapi_document
from shaper.control.security import ControlSecurityError, check_bind
from shaper.control.server import build_app, start_control
from shaper.model.limits import Limits
from shaper.profiles import load_profile, user_profiles_dir


@pytest.fixture
async def env():
    async with engine_env() as value:
        yield value


# -- status, stats, stream --------------------------------------------------------------


async def test_status(env: EngineEnv):
    status, body = await env.request("GET", "/v1/status")
    assert status == 200
    assert body["version"]
    assert body["routes"] == [
        {
            "name": "main",
            "listen": f"127.0.0.1:{env.proxy[1]}",
            "upstream": f"127.0.0.1:{env.upstream.port}",
            "description": f"127.0.0.1:{env.proxy[1]} -> 127.0.0.1:{env.upstream.port}",
            "enabled": True,
        }
    ]
    assert body["limits"] == Limits().to_dict()
    assert body["profile"] is None
    assert 0 <= body["uptime"] < 60


async def test_stats_with_and_without_connections(env: EngineEnv):
    await env.connect()
    status, body = await env.request("GET", "/v1/stats")
    assert status == 200
    assert "connections" not in body
    assert body["connections_open"] == 1
    assert body["upstream"]["bytes_in"] == 4
    assert body["downstream"]["bytes_out"] == 4
    assert body["limits"] == Limits().to_dict()

    status, body = await env.request("GET", "/v1/stats?connections=1")
    assert status == 200
    [conn] = body["connections"]
    assert conn["id"] == env.newest_id()
    assert conn["upstream"]["direction"] == "upstream"
    assert conn["downstream"]["bytes_out"] == 4


async def test_snapshot_json_matches_to_dict(env: EngineEnv):
    await env.connect()
    await env.connect()
    env.engine.set_connection_limits(env.newest_id(), Limits())
    env.engine.record("test", 'a "quoted" message\n')
    for connections in (True, False):
        stats = env.engine.snapshot(connections=connections)
        expected = json.loads(json.dumps(stats.to_dict()))
        assert json.loads(snapshot_json(stats)) == expected
    empty = dataclasses.replace(stats, connections=())
    assert json.loads(snapshot_json(empty))["connections"] == []


async def test_bad_query_parameters(env: EngineEnv):
    status, body = await env.request("GET", "/v1/stats?connections=maybe")
    assert status == 400 and body["field"] == "connections"
    status, body = await env.request("GET", "/v1/stats?conections=1")
    assert status == 400 and body["field"] == "conections"
    assert "unknown query parameter" in body["error"]
    for interval in ("0", "fast", "1000", "nan"):
        status, body = await env.request("GET", f"/v1/stream?interval={interval}")
        assert status == 400 and body["field"] == "interval", interval


async def read_events(response: aiohttp.ClientResponse, count: int) -> list[dict]:
    events: list[dict] = []
    kind = None
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event:"):
            kind = line.split(":", 1)[1].strip()
        elif line.startswith("data:"):
            assert kind == "snapshot"
            events.append(json.loads(line[5:]))
            if len(events) == count:
                break
    return events


async def test_stream_pushes_snapshots_at_the_interval(env: EngineEnv):
    await env.connect()
    loop = asyncio.get_running_loop()
    async with env.session.get(env.url + "/v1/stream?interval=0.1&connections=1") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        start = loop.time()
        events = await asyncio.wait_for(read_events(response, 6), 10)
        elapsed = loop.time() - start
    assert len(events) == 6
    # 5 intervals of 0.1 s after the first event; generous bounds for a shared machine.
    assert 0.35 < elapsed < 3.0
    assert all(e["connections_open"] == 1 and len(e["connections"]) == 1 for e in events)
    times = [e["time"] for e in events]
    assert times == sorted(times)


async def test_stream_sees_live_changes(env: EngineEnv):
    async with env.session.get(env.url + "/v1/stream?interval=0.05") as response:
        first = (await asyncio.wait_for(read_events(response, 1), 5))[0]
        assert first["limits"]["downstream"]["rate"] == "off"
        status, _ = await env.request("PATCH", "/v1/limits", json={"downstream": {"rate": "1Mbit"}})
        assert status == 200
        # The next events show the change (the one in flight may still show the old value).
        later = await asyncio.wait_for(read_events(response, 2), 5)
        assert later[-1]["limits"]["downstream"]["rate"] == "1Mbit"


async def test_stream_ends_when_the_server_stops():
    async with engine_env() as e:
        response = await e.session.get(e.url + "/v1/stream?interval=0.05")
        await asyncio.wait_for(read_events(response, 1), 5)
        # Shutting down ends open streams cleanly instead of waiting for their clients.
        await asyncio.wait_for(e.runner.cleanup(), 5)
        rest = await asyncio.wait_for(response.read(), 5)
        assert rest.count(b"event: snapshot") < 5
        response.release()


# -- limits -------------------------------------------------------------------------------


async def test_get_and_patch_limits(env: EngineEnv):
    status, body = await env.request("GET", "/v1/limits")
    assert status == 200 and body == Limits().to_dict()
    status, body = await env.request(
        "PATCH", "/v1/limits", json={"downstream": {"rate": "2Mbit", "latency": "40ms"}}
    )
    assert status == 200
    assert body["downstream"]["rate"] == "2Mbit"
    assert body["downstream"]["latency"] == "40ms"
    assert body["upstream"] == Limits().upstream.to_dict()  # the full limits come back
    assert env.engine.limits.downstream.rate == 2_000_000
    status, body = await env.request(
        "PATCH", "/v1/limits", json={"upstream": {"stall": True}, "downstream": {"rate": "off"}}
    )
    assert status == 200
    assert body["upstream"]["stall"] is True
    assert body["downstream"]["rate"] == "off"
    assert body["downstream"]["latency"] == "40ms"  # untouched keys stay


BAD_BODIES = [
    # (raw body, field named in the answer, words the message must contain)
    ('{"downstream": {"rate": "2Mbit"', "body", "not valid JSON"),
    ("", "body", "empty"),
    ('["downstream"]', "body", "JSON object"),
    ('{"downstreem": {"rate": "2Mbit"}}', "downstreem", "did you mean 'downstream'"),
    ('{"downstream": {"rat": "2Mbit"}}', "downstream.rat", "did you mean 'rate'"),
    ('{"downstream": {"rate": "2mbps"}}', "downstream.rate", "ambiguous"),
    ('{"downstream": {"rate": "fast"}}', "downstream.rate", "2Mbit"),
    ('{"downstream": {"latency": "20"}}', "downstream.latency", "20ms"),
    ('{"downstream": {"buffer": "0B"}}', "downstream.buffer", "1B to 1GiB"),
    ('{"downstream": {"rate": ["2Mbit"]}}', "downstream.rate", "['2Mbit']"),
    ('{"downstream": {"rate": 5}}', "downstream.rate", "needs a unit"),
    ('{"downstream": {"stall": 3}}', "downstream.stall", "true or false"),
    ('{"downstream": "2Mbit"}', "downstream", "table"),
    ('{"upstream": {"rate": "1Mbit"}, "downstream": {"jitter": "x"}}', "downstream.jitter", ""),
]


@pytest.mark.parametrize("body,field,words", BAD_BODIES)
async def test_bad_limits_are_400_naming_the_field_and_change_nothing(
    env: EngineEnv, body: str, field: str, words: str
):
    await env.connect()
    conn_id = env.newest_id()
    before = env.engine.limits
    for path in ("/v1/limits", f"/v1/connections/{conn_id}/limits"):
        status, answer = await env.request(
            "PATCH", path, data=body, headers={"Content-Type": "application/json"}
        )
        assert status == 400, (path, answer)
        assert answer["field"] == field
        assert words in answer["error"]
        assert env.engine.limits == before
        assert env.engine.connections[conn_id].override is None
    assert "limits" not in {e.kind for e in env.engine.events}


# -- connections ----------------------------------------------------------------------------


async def test_list_connections(env: EngineEnv):
    status, body = await env.request("GET", "/v1/connections")
    assert status == 200 and body == []
    await env.connect()
    await env.connect()
    status, body = await env.request("GET", "/v1/connections")
    assert [c["id"] for c in body] == sorted(env.engine.connections)
    assert all(c["state"] == "open" for c in body)


async def test_close_connection(env: EngineEnv):
    reader, _ = await env.connect()
    conn_id = env.newest_id()
    status, body = await env.request("DELETE", f"/v1/connections/{conn_id}")
    assert status == 200 and body == {"id": conn_id, "mode": "close", "closed": True}
    assert await asyncio.wait_for(reader.read(), 5) == b""  # a clean EOF
    status, body = await env.request("DELETE", f"/v1/connections/{conn_id}")
    assert status == 404 and body["field"] == "id"


async def test_closing_connection_is_a_conflict(env: EngineEnv):
    await env.connect()
    conn = env.engine.connections[env.newest_id()]
    conn.state = "closing"  # as while its last bytes drain
    try:
        status, body = await env.request("DELETE", f"/v1/connections/{conn.id}?mode=reset")
        assert status == 409
        assert body == {"error": f"connection {conn.id} is already closing", "field": "id"}
    finally:
        conn.state = "open"


async def test_reset_connection(env: EngineEnv):
    reader, _ = await env.connect()
    conn_id = env.newest_id()
    status, body = await env.request("DELETE", f"/v1/connections/{conn_id}?mode=reset")
    assert status == 200 and body["mode"] == "reset"
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(reader.read(), 5)


async def test_connection_errors(env: EngineEnv):
    await env.connect()
    conn_id = env.newest_id()
    for method, path in [
        ("DELETE", "/v1/connections/999"),
        ("GET", "/v1/connections/999/limits"),
        ("DELETE", "/v1/connections/999/limits"),
    ]:
        status, body = await env.request(method, path)
        assert status == 404, path
        assert body == {"error": "no open connection with id 999", "field": "id"}
    status, body = await env.request(
        "PATCH", "/v1/connections/999/limits", json={"downstream": {"rate": "1Mbit"}}
    )
    assert status == 404
    status, body = await env.request("DELETE", "/v1/connections/abc")
    assert status == 400 and body["field"] == "id"
    status, body = await env.request("DELETE", f"/v1/connections/{conn_id}?mode=kill")
    assert status == 400 and body["field"] == "mode"
    assert conn_id in env.engine.connections  # a bad request changed nothing


async def test_connection_limit_override(env: EngineEnv):
    await env.connect()
    first = env.newest_id()
    await env.connect()
    second = env.newest_id()
    status, body = await env.request(
        "PATCH", f"/v1/connections/{first}/limits", json={"downstream": {"rate": "1Mbit"}}
    )
    assert status == 200 and body["downstream"]["rate"] == "1Mbit"
    status, body = await env.request("GET", f"/v1/connections/{first}/limits")
    assert body["downstream"]["rate"] == "1Mbit"
    status, body = await env.request("GET", f"/v1/connections/{second}/limits")
    assert body["downstream"]["rate"] == "off"
    # Engine-wide changes do not reach the connection with its own limits.
    await env.request("PATCH", "/v1/limits", json={"downstream": {"latency": "10ms"}})
    _, body = await env.request("GET", f"/v1/connections/{first}/limits")
    assert body["downstream"]["latency"] == "0ms"
    _, body = await env.request("GET", f"/v1/connections/{second}/limits")
    assert body["downstream"]["latency"] == "10ms"
    _, conns = await env.request("GET", "/v1/connections")
    assert {c["id"]: c["limits_override"] for c in conns} == {first: True, second: False}
    # Dropping the override makes it follow the engine again.
    status, body = await env.request("DELETE", f"/v1/connections/{first}/limits")
    assert status == 200
    assert body["downstream"] == {**Limits().downstream.to_dict(), "latency": "10ms"}
    assert env.engine.connections[first].override is None


# -- profiles ---------------------------------------------------------------------------------


async def test_list_profiles(env: EngineEnv):
    status, body = await env.request("GET", "/v1/profiles")
    assert status == 200
    names = [p["name"] for p in body]
    assert "3g" in names
    assert all(set(p) >= {"name", "description", "origin"} for p in body)


async def test_apply_profile_by_name(env: EngineEnv):
    status, body = await env.request("POST", "/v1/profile", json={"name": "3g"})
    assert status == 200
    assert body["profile"] == "3g"
    assert env.engine.profile_name == "3g"
    assert body["limits"] == env.engine.limits.to_dict()
    assert env.engine.limits.downstream.rate > 0
    status, body = await env.request("GET", "/v1/profile")
    assert status == 200 and body["profile"] == "3g"
    status, body = await env.request("GET", "/v1/status")
    assert body["profile"] == "3g"


async def test_apply_profile_with_a_scenario(env: EngineEnv):
    _, listing = await env.request("GET", "/v1/profiles")
    inline = {
        "name": "flaky",
        "downstream": {"rate": "4Mbit"},
        "scenario": {
            "repeat": True,
            "phases": [
                {"name": "good", "duration": "10s"},
                {"name": "bad", "duration": "1s", "downstream": {"rate": "256kbit"}},
            ],
        },
    }
    status, body = await env.request("POST", "/v1/profile", json={"profile": inline})
    assert status == 200, body
    assert body["profile"] == "flaky"
    assert body["scenario"]["phase"] == "good"
    _, stats = await env.request("GET", "/v1/stats")
    assert stats["scenario"]["phase"] == "good"
    # Applying a plain profile stops the scenario.
    status, body = await env.request("POST", "/v1/profile", json={"name": "3g"})
    assert status == 200 and body["scenario"] is None
    assert listing


async def test_profile_errors(env: EngineEnv, tmp_path):
    secret = tmp_path / "secret.toml"
    secret.write_text('name = "secret"\n[downstream]\nrate = "1Mbit"\n')
    before = env.engine.limits
    cases = [
        ({"name": "no-such-profile"}, 404, "name"),
        ({"name": str(secret)}, 404, "name"),  # never a path the caller chose
        ({"name": "../../etc/passwd"}, 404, "name"),
        ({"name": 3}, 400, "name"),
        ({"nam": "3g"}, 400, "nam"),
        ({}, 400, "body"),
        ({"name": "3g", "profile": {}}, 400, "body"),
        ({"profile": "3g"}, 400, "profile"),
        ({"profile": {"name": "x", "downstream": {"rate": "fast"}}}, 400, "downstream.rate"),
    ]
    for body, expected_status, field in cases:
        status, answer = await env.request("POST", "/v1/profile", json=body)
        assert status == expected_status, (body, answer)
        assert answer["field"] == field, (body, answer)
        assert answer["error"]
    status, answer = await env.request("POST", "/v1/profile", data="{oops")
    assert status == 400 and answer["field"] == "body"
    assert env.engine.limits == before
    assert env.engine.profile_name is None


# -- metrics, OpenAPI, errors -------------------------------------------------------------------

SAMPLE = re.compile(r'^[a-z_]+(\{([a-z_]+="[^"]*",?)+\})? -?[0-9.e+]+$|^[a-z_]+ (NaN|[+-]Inf)$')


async def test_metrics(env: EngineEnv):
    await env.connect()
    async with env.session.get(env.url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
        text = await response.text()
    route = f"127.0.0.1:{env.proxy[1]} -> 127.0.0.1:{env.upstream.port}"
    for line in text.splitlines():
        assert line.startswith("# ") or SAMPLE.match(line), line
    assert f'shaper_bytes_in_total{{route="{route}",direction="upstream"}} 4' in text
    assert f'shaper_bytes_out_total{{route="{route}",direction="downstream"}} 4' in text
    assert f'shaper_connections_open{{route="{route}"}} 1' in text
    assert 'shaper_queue_bytes{route="' in text
    assert "shaper_resets_total 0" in text
    assert 'shaper_limit_rate_bits_per_second{direction="downstream"} 0' in text


def app_routes(app) -> set[tuple[str, str]]:
    return {(route.method.lower(), route.pattern) for route in app.router.routes}


def test_openapi_document_matches_the_routes():
    app = build_app(engine=None)
    document = openapi_document()
    documented = {
        (method, path) for path, operations in document["paths"].items() for method in operations
    }
    assert documented == app_routes(app)
    # Every reference resolves.
    schemas = document["components"]["schemas"]
    refs = re.findall(r'"\$ref": "#/components/schemas/(\w+)"', json.dumps(document))
    assert refs and all(ref in schemas for ref in refs)
    # Path parameters are declared.
    for path, operations in document["paths"].items():
        for operation in operations.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"\{(\w+)\}", path)), path


async def test_openapi_is_served(env: EngineEnv):
    status, body = await env.request("GET", "/v1/openapi.json")
    assert status == 200
    assert body["openapi"].startswith("3.")
    assert body["paths"].keys() == openapi_document()["paths"].keys()


async def test_unknown_path_and_method_are_json(env: EngineEnv):
    status, body = await env.request("GET", "/v1/nothing")
    assert status == 404 and "no such path" in body["error"]
    status, body = await env.request("PUT", "/v1/limits")
    assert status == 405 and "GET, PATCH" in body["error"]


# -- security -------------------------------------------------------------------------------


async def test_token():
    async with engine_env(token="s3cret") as e:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"}):
            status, body = await e.request("GET", "/v1/status", headers=headers)
            assert status == 401, headers
            assert body["field"] == "Authorization"
        status, body = await e.request(
            "PATCH",
            "/v1/limits",
            json={"downstream": {"rate": "1Mbit"}},
            headers={"Authorization": "Bearer wrong"},
        )
        assert status == 401 and e.engine.limits == Limits()
        status, body = await e.request(
            "GET", "/v1/status", headers={"Authorization": "Bearer s3cret"}
        )
        assert status == 200 and body["version"]
        status, _ = await e.request("GET", "/metrics", headers={"Authorization": "Bearer s3cret"})
        assert status == 200


def test_non_loopback_needs_a_token():
    for host in ("0.0.0.0", "::", "192.168.1.10", "example.com", ""):
        with pytest.raises(ControlSecurityError, match="--control-token"):
            check_bind(host, None)
    for host in ("127.0.0.1", "127.0.0.2", "::1", "localhost"):
        check_bind(host, None)
    check_bind("0.0.0.0", "s3cret")
    with pytest.raises(ControlSecurityError, match="empty"):
        check_bind("127.0.0.1", " ")


async def test_start_control_refuses_a_public_address_without_a_token(env: EngineEnv):
    with pytest.raises(ControlSecurityError):
        await start_control(env.engine, "0.0.0.0", 0)
    runner, (host, port) = await start_control(env.engine, "0.0.0.0", 0, token="s3cret")
    try:
        assert host == "0.0.0.0" and port > 0
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{port}/v1/status") as response,
        ):
            assert response.status == 401
    finally:
        await runner.cleanup()


def test_parse_control_address():
    assert parse_control_address("127.0.0.1:8475") == ("127.0.0.1", 8475)
    assert parse_control_address("[::1]:0") == ("::1", 0)
    assert parse_control_address("8475") == ("127.0.0.1", 8475)
    assert parse_control_address(":8475") == ("127.0.0.1", 8475)
    assert parse_control_address("http://localhost:9/") == ("localhost", 9)
    for bad in ("127.0.0.1", "127.0.0.1:http", "127.0.0.1:70000"):
        with pytest.raises(ValueError, match="--control"):
            parse_control_address(bad)


async def test_save_profile_over_a_preset_is_a_conflict(isolated):
    async with engine_env(Limits.from_dict({"upstream": {"latency": "7ms"}})) as env:
        status, body = await env.request("POST", "/v1/profiles", json={"name": "3g"})
        assert status == 409, body
        assert body["field"] == "name"
        assert "would hide the preset profile of that name" in body["error"]
        assert 'use "force": true to hide it' in body["error"]  # in the API's own terms
        assert not (user_profiles_dir() / "3g.toml").exists()
        status, body = await env.request(
            "POST", "/v1/profiles", json={"name": "3g", "force": "yes"}
        )
        assert status == 400 and body["field"] == "force" and body["value"] == "yes"
        assert not (user_profiles_dir() / "3g.toml").exists()
        for force in (True, 1, "true"):
            status, body = await env.request(
                "POST", "/v1/profiles", json={"name": "3g", "force": force}
            )
            assert status == 201, body
            assert body["path"] == str(user_profiles_dir() / "3g.toml")
        status, body = await env.request("POST", "/v1/profiles", json={"name": "3g"})
        assert status == 409 and "already exists" in body["error"]
    assert load_profile("3g").limits.upstream.latency == 7_000


async def test_a_profile_changed_by_hand_is_reported_modified(env: EngineEnv):
    status, body = await env.request("POST", "/v1/profile", json={"name": "3g"})
    assert status == 200 and body["profile"] == "3g" and body["modified"] == []
    three_g = body["limits"]
    status, _ = await env.request(
        "PATCH", "/v1/limits", json={"downstream": {"rate": "5Mbit"}, "upstream": {"stall": 1}}
    )
    assert status == 200
    for path in ("/v1/profile", "/v1/status"):
        _, body = await env.request("GET", path)
        assert body["profile"] == "3g"  # still the profile it started from ...
        assert body["modified"] == ["upstream.stall", "downstream.rate"], path  # ... changed
    _, stats = await env.request("GET", "/v1/stats")
    assert stats["profile"] == "3g"
    assert stats["profile_changes"] == ["upstream.stall", "downstream.rate"]
    # Setting the profile's own values again: not modified any more.
    status, _ = await env.request(
        "PATCH",
        "/v1/limits",
        json={"downstream": {"rate": three_g["downstream"]["rate"]}, "upstream": {"stall": False}},
    )
    _, body = await env.request("GET", "/v1/profile")
    assert body["modified"] == []
    await env.request("PATCH", "/v1/limits", json={"downstream": {"latency": "1ms"}})
    _, body = await env.request("POST", "/v1/profile", json={"name": "3g"})
    assert body["modified"] == []  # applying the profile again: its limits, unmodified
    _, stats = await env.request("GET", "/v1/stats")
    assert stats["profile_changes"] == []


@pytest.mark.parametrize(
    ("written", "expected"),
    [
        (True, True),
        (1, True),
        ("1", True),
        ("true", True),
        (False, False),
        (0, False),
        ("0", False),
        ("false", False),
    ],
)
async def test_stall_takes_a_switch(env: EngineEnv, written, expected):
    env.engine.patch_limits({"upstream": {"stall": not expected}})
    status, body = await env.request("PATCH", "/v1/limits", json={"upstream": {"stall": written}})
    assert status == 200, body
    assert body["upstream"]["stall"] is expected
    assert env.engine.limits.upstream.stall is expected


@pytest.mark.parametrize("written", ["yes", "on", "True", "TRUE", "", 2, -1, 0.5, None, [True]])
async def test_stall_refuses_what_is_not_a_switch(env: EngineEnv, written):
    # "yes", "on" and "True" were taken; 1 and 0 refused. One rule now, the document's.
    status, body = await env.request("PATCH", "/v1/limits", json={"upstream": {"stall": written}})
    assert status == 400, body
    assert body["field"] == "upstream.stall" and body["value"] == written
    assert body["accepted"] == "true or false (or 1 or 0)"
    assert env.engine.limits == Limits()
    document = openapi_document()
    stall = document["components"]["schemas"]["DirectionLimitsPatch"]["properties"]["stall"]
    assert "true or false (or 1 or 0)" in stall["description"]
    assert "yes" not in json.dumps(stall["anyOf"])
