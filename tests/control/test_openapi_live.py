"""The OpenAPI document and the server agree: what the document calls invalid is refused, what
the server sends matches the document, and schemathesis finds nothing against a live engine."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

import aiohttp
import jsonschema_rs
import pytest
from helpers import EngineEnv, engine_env

from shaper.control.openapi import openapi_document
from shaper.profiles import user_profiles_dir

TESTS = Path(__file__).resolve().parents[1]


@pytest.fixture
async def env(isolated):
    async with engine_env() as value:
        yield value


def validator(document: dict, schema: dict) -> jsonschema_rs.Draft202012Validator:
    """A validator for `schema`, whose references point into the document's components."""
    return jsonschema_rs.Draft202012Validator({**schema, "components": document["components"]})


def component(document: dict, name: str) -> jsonschema_rs.Draft202012Validator:
    return validator(document, {"$ref": f"#/components/schemas/{name}"})


def body_schema(document: dict, path: str, method: str) -> dict:
    return document["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]


# -- what the document refuses, the server refuses -----------------------------------------


@pytest.mark.parametrize("value", ["", "yes", "on", "True", "2", "01"])
async def test_a_query_switch_outside_the_enum_is_refused(env: EngineEnv, value: str):
    document = openapi_document()
    [parameter] = document["paths"]["/v1/stats"]["get"]["parameters"]
    assert not validator(document, parameter["schema"]).is_valid(value)
    for path in ("/v1/stats", "/v1/stream"):
        status, body = await env.request("GET", f"{path}?connections={value}")
        assert status == 400, (path, value, body)
        assert body["field"] == "connections"
        assert body["value"] == value and "true or false" in body["accepted"]


@pytest.mark.parametrize("value", ["true", "1", "false", "0"])
async def test_a_query_switch_in_the_enum_is_taken(env: EngineEnv, value: str):
    await env.connect()
    status, body = await env.request("GET", f"/v1/stats?connections={value}")
    assert status == 200
    assert ("connections" in body) is (value in ("true", "1"))


async def test_sockbuf_null_is_refused_and_default_is_taken(env: EngineEnv):
    document = openapi_document()
    patch = component(document, "LimitsPatch")
    assert not patch.is_valid({"upstream": {"sockbuf": None}})
    status, body = await env.request("PATCH", "/v1/limits", json={"upstream": {"sockbuf": "64KiB"}})
    assert status == 200 and body["upstream"]["sockbuf"] == "64KiB"
    before = env.engine.limits
    status, body = await env.request("PATCH", "/v1/limits", json={"upstream": {"sockbuf": None}})
    assert status == 400
    assert body["field"] == "upstream.sockbuf" and body["value"] is None
    assert "'default'" in body["accepted"] and "KiB" in body["accepted"]
    assert env.engine.limits == before
    assert patch.is_valid({"upstream": {"sockbuf": "default"}})
    status, body = await env.request(
        "PATCH", "/v1/limits", json={"upstream": {"sockbuf": "default"}}
    )
    assert status == 200 and body["upstream"]["sockbuf"] == "default"
    assert env.engine.limits.upstream.sockbuf is None


async def test_apply_profile_needs_exactly_one_of_name_or_profile(env: EngineEnv):
    document = openapi_document()
    schema = validator(document, body_schema(document, "/v1/profile", "post"))
    inline = {"name": "x", "downstream": {"rate": "1Mbit"}}
    for body in ({}, {"name": "3g", "profile": inline}):
        assert not schema.is_valid(body), body
        status, answer = await env.request("POST", "/v1/profile", json=body)
        assert status == 400 and answer["field"] == "body", (body, answer)
    assert env.engine.profile_name is None
    for body in ({"name": "3g"}, {"profile": inline}):
        assert schema.is_valid(body), body
        status, answer = await env.request("POST", "/v1/profile", json=body)
        assert status == 200, (body, answer)
    # The inline profile is described as a profile file's tables are.
    for bad in (
        {"profile": {"downstream": {}}},
        {"profile": {"name": "x", "upstrem": {}}},
        {"profile": {"name": "x", "scenario": {"phases": []}}},
    ):
        assert not schema.is_valid(bad), bad
        status, answer = await env.request("POST", "/v1/profile", json=bad)
        assert status == 400, (bad, answer)


# -- what the server sends, the document describes ---------------------------------------


async def test_responses_match_the_document_exactly(env: EngineEnv):
    """Every JSON answer, with connections, a profile changed by hand and a scenario running,
    matches its documented schema (which lists its keys exactly)."""
    served = await env.request("GET", "/v1/openapi.json")
    document = served[1]
    await env.connect()
    await env.connect()
    conn_id = env.newest_id()
    inline = {
        "name": "flaky",
        "downstream": {"rate": "4Mbit"},
        "scenario": {
            "repeat": 1,
            "phases": [
                {"name": "good", "duration": "10s"},
                {"duration": "1s", "upstream": {"stall": "true"}},
            ],
        },
    }
    calls = [
        ("GET", "/v1/status", None, "/v1/status", "get", 200),
        ("POST", "/v1/profile", {"profile": inline}, "/v1/profile", "post", 200),
        ("PATCH", "/v1/limits", {"downstream": {"latency": "5ms"}}, "/v1/limits", "patch", 200),
        ("GET", "/v1/profile", None, "/v1/profile", "get", 200),
        ("GET", "/v1/status", None, "/v1/status", "get", 200),
        ("GET", "/v1/stats", None, "/v1/stats", "get", 200),
        ("GET", "/v1/stats?connections=1", None, "/v1/stats", "get", 200),
        ("GET", "/v1/connections", None, "/v1/connections", "get", 200),
        (
            "PATCH",
            f"/v1/connections/{conn_id}/limits",
            {"upstream": {"rate": "1Mbit"}},
            "/v1/connections/{id}/limits",
            "patch",
            200,
        ),
        (
            "GET",
            f"/v1/connections/{conn_id}/limits",
            None,
            "/v1/connections/{id}/limits",
            "get",
            200,
        ),
        (
            "DELETE",
            f"/v1/connections/{conn_id}/limits",
            None,
            "/v1/connections/{id}/limits",
            "delete",
            200,
        ),
        ("GET", "/v1/profiles", None, "/v1/profiles", "get", 200),
        ("POST", "/v1/profiles", {"name": "mine", "description": "d"}, "/v1/profiles", "post", 201),
        ("POST", "/v1/profiles", {"name": "mine"}, "/v1/profiles", "post", 409),
        ("POST", "/v1/profiles", {"name": "3g"}, "/v1/profiles", "post", 409),
        ("PATCH", "/v1/limits", {"upstream": {"rate": "2mbps"}}, "/v1/limits", "patch", 400),
        ("GET", "/v1/stats?connections=yes", None, "/v1/stats", "get", 400),
        (
            "DELETE",
            f"/v1/connections/{conn_id}?mode=reset",
            None,
            "/v1/connections/{id}",
            "delete",
            200,
        ),
        ("DELETE", "/v1/connections/999", None, "/v1/connections/{id}", "delete", 404),
        ("POST", "/v1/profile", {"name": "nothing-by-this-name"}, "/v1/profile", "post", 404),
        (
            "POST",
            "/v1/routes",
            {
                "name": "db:1",
                "listen": "0",
                "upstream": "127.0.0.1:9",
                "limits": {"downstream": {"rate": "1Mbit"}},
            },
            "/v1/routes",
            "post",
            201,
        ),
        (
            "POST",
            "/v1/routes",
            {"name": "db:1", "listen": "0", "upstream": "127.0.0.1:9"},
            "/v1/routes",
            "post",
            409,
        ),
        ("POST", "/v1/routes", {"listen": "0", "upstream": "h:0"}, "/v1/routes", "post", 400),
        ("GET", "/v1/routes", None, "/v1/routes", "get", 200),
        (
            "PATCH",
            "/v1/routes/db:1",
            {"enabled": False, "limits": None},
            "/v1/routes/{name}",
            "patch",
            200,
        ),
        ("GET", "/v1/routes/db:1", None, "/v1/routes/{name}", "get", 200),
        ("GET", "/v1/status", None, "/v1/status", "get", 200),
        ("PATCH", "/v1/routes/nope", {"enabled": True}, "/v1/routes/{name}", "patch", 404),
        ("GET", "/v1/routes/a%20b", None, "/v1/routes/{name}", "get", 400),
    ]
    seen_keys: set[str] = set()
    for method, path, body, template, operation, expected in calls:
        status, answer = await env.request(method, path, json=body)
        assert status == expected, (method, path, answer)
        responses = document["paths"][template][operation]["responses"]
        schema = responses[str(status)]["content"]["application/json"]["schema"]
        check = validator(document, schema)
        errors = [str(error) for error in check.iter_errors(answer)]
        assert not errors, (method, path, errors)
        if isinstance(answer, dict):
            seen_keys.update(answer)
    # The new fields are there, and described.
    assert {
        "modified",
        "profile_changes",
        "value",
        "accepted",
        "connections_open",
        "enabled",
    } <= seen_keys
    _, status_answer = await env.request("GET", "/v1/status")
    assert status_answer["modified"] == ["downstream.latency"]


async def read_events(response: aiohttp.ClientResponse, count: int) -> list[tuple[str, str]]:
    """(event name, data) of the first `count` events, checking the framing on the way."""
    events: list[tuple[str, str]] = []
    lines: list[str] = []
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line:
            lines.append(line)
            continue
        assert len(lines) == 2, lines
        name, data = lines
        assert name.startswith("event: ") and data.startswith("data: "), lines
        events.append((name[len("event: ") :], data[len("data: ") :]))
        lines = []
        if len(events) == count:
            break
    return events


async def test_stream_events_are_what_the_document_says(env: EngineEnv):
    """The stream is excluded from the schemathesis run's positive cases (it never ends): its
    framing and each event's data are checked here against the document."""
    _, document = await env.request("GET", "/v1/openapi.json")
    operation = document["paths"]["/v1/stream"]["get"]
    media = operation["responses"]["200"]["content"]["text/event-stream"]
    assert "event: snapshot" in operation["description"]
    assert media["x-event-name"] == "snapshot"
    data_schema = validator(document, media["x-event-data"])
    await env.connect()
    for query in ("interval=0.05", "interval=0.05&connections=1"):
        async with env.session.get(f"{env.url}/v1/stream?{query}") as response:
            assert response.status == 200
            assert response.content_type == "text/event-stream"
            events = await asyncio.wait_for(read_events(response, 3), 10)
        for name, data in events:
            assert name == media["x-event-name"]
            snapshot = json.loads(data)
            errors = [str(error) for error in data_schema.iter_errors(snapshot)]
            assert not errors, (query, errors)
            assert ("connections" in snapshot) is ("connections=1" in query)


# -- schemathesis -------------------------------------------------------------------------

SEED = 20261201
EXAMPLES = 10  # per operation and phase
CHECKS = [
    # Everything schemathesis has but positive_data_acceptance: a unit string of the right
    # form can still be out of range ("buffer": "2GiB"), which a JSON schema cannot say; the
    # document says it in words, and the server refuses such values with a 400.
    "--checks",
    "all",
    "--exclude-checks",
    "positive_data_acceptance",
]


async def schemathesis(url: str, *args: str) -> tuple[int, str, float]:
    """Run schemathesis's command line against `url`: (exit code, its report, seconds)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]),
        "SCHEMATHESIS_HOOKS": "schemathesis_hooks",  # the strict-JSON check beside its own
        "NO_COLOR": "1",
        "COLUMNS": "120",
    }
    start = time.monotonic()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{url}/v1/openapi.json",
        "--seed",
        str(SEED),
        "--max-examples",
        str(EXAMPLES),
        "--workers",
        "1",
        "--request-timeout",
        "5",
        "--generation-database",
        "none",
        "--no-color",
        "--output-truncate",
        "false",
        *CHECKS,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env=env,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), 100)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode, out.decode(errors="replace"), time.monotonic() - start


@pytest.mark.timeout(150)
async def test_schemathesis_finds_no_disagreement_with_a_live_engine(isolated, tmp_path_factory):
    """Every operation: no 5xx, status codes, content types, headers (Allow on 405) and bodies
    as documented, strict JSON, and every schema-violating request refused. Against a live
    engine with open connections (ids 1-6, so the connection operations reach some), in an
    empty directory with a temporary XDG_CONFIG_HOME (POST /v1/profiles writes there).

    /v1/stream never ends, so its positive cases would hang: the main run leaves it out and a
    second run sends it only schema-violating requests (each answered 400 at once; one taken
    would show as a 5 s request timeout). Its events are checked in the test above."""
    async with engine_env() as env:
        for _ in range(6):
            await env.connect()
        assert sorted(env.engine.connections) == [1, 2, 3, 4, 5, 6]
        code, report, seconds = await schemathesis(env.url, "--exclude-path", "/v1/stream")
        assert code == 0, report
        assert "0 failures" in report or "passed" in report, report
        code, stream_report, stream_seconds = await schemathesis(
            env.url, "--include-path", "/v1/stream", "--mode", "negative"
        )
        assert code == 0, stream_report
    print(f"schemathesis: {seconds:.1f}s for all but the stream, {stream_seconds:.1f}s for it")
    # What POST /v1/profiles saved went to the temporary config directory only.
    assert user_profiles_dir().is_relative_to(tmp_path_factory.getbasetemp())
