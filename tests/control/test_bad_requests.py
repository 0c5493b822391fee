"""Requests the control API cannot read (bytes that are not text, JSON nested too deeply, an
unknown charset, numbers JSON cannot hold, a method a path does not take) are answered 400 or
405 with a JSON body that names the problem, and change nothing."""

from __future__ import annotations

import json
import math

import pytest
from helpers import EngineEnv, engine_env

from shaper.control.responses import dumps, error_response
from shaper.model.limits import Limits


@pytest.fixture
async def env():
    async with engine_env(Limits.from_dict({"downstream": {"rate": "2Mbit"}})) as value:
        yield value


def strict_json(text: str):
    """Parse JSON as the standard has it: NaN, Infinity and -Infinity are not JSON."""

    def refuse(name: str):
        raise ValueError(f"{name} is not JSON")

    return json.loads(text, parse_constant=refuse)


async def send(env: EngineEnv, method: str, path: str, body: bytes | str, content_type: str):
    """The status, the raw text of the answer and its strictly parsed JSON."""
    data = body.encode() if isinstance(body, str) else body
    async with env.session.request(
        method, env.url + path, data=data, headers={"Content-Type": content_type}
    ) as response:
        text = await response.text()
        assert response.content_type == "application/json", text
        return response.status, text, strict_json(text)


UNREADABLE = [
    # (body, Content-Type, field, words the message must contain)
    (b'{"downstream": {"rate": "\xff"}}', "application/json", "body", "not utf-8 text"),
    (b'{"downstream": {"rate": "1Mbit"}}\x80', "application/json", "body", "0x80"),
    ("[" * 100_000, "application/json", "body", "nested too deeply"),
    ('{"a":' * 100_000, "application/json", "body", "nested too deeply"),
    (
        '{"downstream": {"rate": "1Mbit"}}',
        "application/json; charset=bogus",
        "Content-Type",
        "unknown charset 'bogus'",
    ),
    ('{"upstream": {"rate": 1e400}}', "application/json", "body", "too large"),
    ('{"upstream": {"rate": -1e400}}', "application/json", "body", "too large"),
    ('{"upstream": {"rate": ' + "1" * 5000 + "}}", "application/json", "body", "too large"),
    ('{"upstream": {"rate": NaN}}', "application/json", "body", "NaN is not a JSON number"),
    ('{"upstream": {"rate": Infinity}}', "application/json", "body", "Infinity"),
]


@pytest.mark.parametrize(
    ("body", "content_type", "field", "words"),
    UNREADABLE,
    ids=[
        "not-utf8",
        "trailing-byte",
        "nested-lists",
        "nested-objects",
        "charset",
        "1e400",
        "-1e400",
        "5000-digits",
        "NaN",
        "Infinity",
    ],
)
async def test_an_unreadable_body_is_a_400_naming_the_problem_and_changes_nothing(
    env: EngineEnv, body, content_type, field, words
):
    await env.connect()
    conn_id = env.newest_id()
    before = env.engine.limits
    for path in ("/v1/limits", f"/v1/connections/{conn_id}/limits"):
        status, text, answer = await send(env, "PATCH", path, body, content_type)
        assert status == 400, (path, text)
        assert answer["field"] == field, answer
        assert words in answer["error"], answer
        assert len(text) < 2000  # the message names the problem; it does not echo the body
    for path in ("/v1/profile", "/v1/profiles"):
        raw = body if isinstance(body, bytes) else body.encode()
        if raw.startswith(b"{"):  # the same fault inside the other endpoints' bodies
            status, _, answer = await send(env, "POST", path, raw, content_type)
            assert status == 400 and answer["field"] in (field, "body"), answer
    assert env.engine.limits == before
    assert env.engine.connections[conn_id].override is None
    status, _, limits = await send(env, "GET", "/v1/limits", b"", "application/json")
    assert status == 200 and limits == before.to_dict()
    assert "limits" not in {event.kind for event in env.engine.events}
    assert env.engine.profile_name is None


async def test_an_infinite_value_is_refused_at_parse_not_echoed(env: EngineEnv):
    # It was answered 400 with "value": Infinity, which no strict JSON parser reads.
    status, text, answer = await send(
        env, "PATCH", "/v1/limits", '{"upstream": {"rate": 1e400}}', "application/json"
    )
    assert status == 400
    assert "Infinity" not in text and "NaN" not in text
    assert answer["field"] == "body" and "1e400" in answer["error"]


def test_dumps_never_writes_nan_or_infinity():
    data = {"value": math.inf, "nested": [-math.inf, {"x": math.nan}], "ok": 1.5}
    text = dumps(data)
    assert strict_json(text) == {"value": "inf", "nested": ["-inf", {"x": "nan"}], "ok": 1.5}
    response = error_response(400, "bad", field="x", value=math.inf)
    assert strict_json(response.text) == {"error": "bad", "field": "x", "value": "inf"}


BAD_REQUESTS = [
    ("GET", "/v1/stats?connections=maybe", None),
    ("GET", "/v1/stream?interval=nan", None),
    ("GET", "/v1/nothing", None),
    ("PUT", "/v1/limits", None),
    ("DELETE", "/v1/connections/abc", None),
    ("DELETE", "/v1/connections/999", None),
    ("PATCH", "/v1/limits", '{"upstream": {"rate": "2mbps"}}'),
    ("PATCH", "/v1/limits", '{"upstream": {"stall": 2.5}}'),
    ("PATCH", "/v1/limits", '{"upstream": {"buffer": 1e300}}'),
    ("PATCH", "/v1/limits", '{"upstream": {"latency": 1.5e30}}'),
    ("PATCH", "/v1/limits", '{"upstream": {"rate": [1e308, 1e308]}}'),
    ("POST", "/v1/profile", '{"profile": {"name": "x", "upstream": {"rate": 1e308}}}'),
    ("POST", "/v1/profile", '{"name": "no-such-profile"}'),
    ("POST", "/v1/profiles", '{"name": 1e308}'),
    ("POST", "/v1/profiles", '{"name": "ok", "force": 1e308}'),
]


async def test_every_error_body_is_strict_json(env: EngineEnv):
    for method, path, body in BAD_REQUESTS:
        async with env.session.request(method, env.url + path, data=body) as response:
            text = await response.text()
            assert 400 <= response.status < 500, (method, path, text)
            assert response.content_type == "application/json", (method, path)
            answer = strict_json(text)
            assert isinstance(answer, dict) and answer["error"], (method, path, text)


async def test_405_names_the_allowed_methods_in_an_allow_header(env: EngineEnv):
    for method, path, allowed in [
        ("PUT", "/v1/limits", "GET, PATCH"),
        ("POST", "/v1/stats", "GET"),
        ("DELETE", "/v1/profile", "GET, POST"),
        ("PATCH", "/v1/connections/1", "DELETE"),
    ]:
        async with env.session.request(method, env.url + path) as response:
            assert response.status == 405, (method, path)
            assert response.headers["Allow"] == allowed, (method, path)
            answer = strict_json(await response.text())
            assert f"allowed: {allowed}" in answer["error"]


@pytest.mark.parametrize("interval", [" 1", "1_0", "%D9%A1", "infinity", "0x1", "1e1e1"])
async def test_stream_interval_is_a_plain_number(env: EngineEnv, interval: str):
    # float() alone took " 1", "1_0" or an Arabic-Indic one; the document says a number.
    status, body = await env.request("GET", f"/v1/stream?interval={interval}")
    assert status == 400 and body["field"] == "interval", body
    assert "seconds from 0.05 to 60" in body["error"]


async def test_loss_is_patched_and_a_bad_loss_is_a_400_naming_it(env: EngineEnv):
    body = json.dumps({"downstream": {"loss": "2%", "loss_burst": 3}})
    status, _, data = await send(env, "PATCH", "/v1/limits", body, "application/json")
    assert status == 200, data
    assert env.engine.limits.downstream.loss == pytest.approx(0.02)
    assert env.engine.limits.downstream.loss_burst == 3
    body = json.dumps({"upstream": {"loss": "150%"}})
    status, _, data = await send(env, "PATCH", "/v1/limits", body, "application/json")
    assert status == 400
    assert data["field"] == "upstream.loss" and "percentage" in data["accepted"]
    assert env.engine.limits.upstream.loss == 0  # nothing changed
