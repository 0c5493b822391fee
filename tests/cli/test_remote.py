"""`shaper limits` and `shaper stats` against a real engine's control API.

The CLI runs its own event loop, so it runs in a worker thread while the engine runs here.
"""

from __future__ import annotations

import asyncio
import functools
import json
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler

import pytest
from helpers import engine_env, http_server

from shaper.cli.main import main


@pytest.fixture
async def env():
    async with engine_env() as value:
        yield value


async def run(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


async def test_limits_show(env, capsys):
    assert await run("limits", "--control", env.url) == 0
    out = capsys.readouterr().out
    assert "engine limits" in out
    assert "rate" in out and "upstream" in out and "downstream" in out


async def test_limits_change(env, capsys):
    code = await run("limits", "--control", env.url, "--down-rate", "2Mbit", "--latency", "20ms")
    assert code == 0
    assert env.engine.limits.downstream.rate == 2_000_000
    assert env.engine.limits.upstream.latency == 20_000
    assert env.engine.limits.upstream.rate == 0
    out = capsys.readouterr().out
    assert "2Mbit *" in out
    assert await run("limits", "--control", env.url, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["downstream"]["rate"] == "2Mbit"


async def test_limits_from_the_environment(env, capsys, monkeypatch):
    monkeypatch.setenv("SHAPER_CONTROL", env.url)
    assert await run("limits", "--up-stall", "true") == 0
    assert env.engine.limits.upstream.stall is True


async def test_limits_bad_value_exits_2_without_a_traceback(env, capsys):
    with pytest.raises(SystemExit) as info:
        await run("limits", "--control", env.url, "--down-rate", "2mbps")
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--down-rate" in err and "ambiguous" in err
    assert "Traceback" not in err
    assert env.engine.limits.downstream.rate == 0


async def test_connection_limits(env, capsys):
    await env.connect()
    conn_id = str(env.newest_id())
    assert (
        await run("limits", "--control", env.url, "--connection", conn_id, "--down-latency", "30ms")
        == 0
    )
    assert "connection" in capsys.readouterr().out
    assert env.engine.connection_limits(int(conn_id)).downstream.latency == 30_000
    assert env.engine.limits.downstream.latency == 0
    assert await run("limits", "--control", env.url, "--connection", conn_id, "--clear") == 0
    assert env.engine.connections[int(conn_id)].override is None
    assert await run("limits", "--control", env.url, "--connection", "999") == 2
    assert "no open connection with id 999" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        await run("limits", "--control", env.url, "--clear")
    assert info.value.code == 2


async def test_stats(env, capsys):
    await env.connect()
    assert await run("stats", "--control", env.url) == 0
    out = capsys.readouterr().out
    assert "connections 1 open, 1 total" in out
    assert "delivered since start: 4 B upstream, 4 B downstream" in out  # connect()'s ping
    assert "upstream" in out and "downstream" in out and "queue" in out
    assert await run("stats", "--control", env.url, "--connections") == 0
    out = capsys.readouterr().out
    assert f"#{env.newest_id()} " in out
    assert await run("stats", "--control", env.url, "--json") == 0
    data = json.loads(capsys.readouterr().out)
    assert data["connections_open"] == 1 and "connections" not in data


async def test_unreachable_engine_exits_1(capsys):
    async with engine_env() as e:
        url = e.url
    assert await run("stats", "--control", url) == 1
    err = capsys.readouterr().err
    assert "cannot reach" in err and "Traceback" not in err


async def test_token(capsys):
    async with engine_env(token="s3cret") as e:
        assert await run("stats", "--control", e.url) == 2
        assert "token" in capsys.readouterr().err
        assert await run("stats", "--control", e.url, "--control-token", "s3cret") == 0


# -- a web server that is not shaper ----------------------------------------------------------


class HtmlEverywhere(BaseHTTPRequestHandler):
    """A web app that answers every path with a page (200, text/html)."""

    def do_GET(self) -> None:
        self.answer(b"<!DOCTYPE html><html><body><h1>My blog</h1></body></html>", "text/html")

    def do_PATCH(self) -> None:
        self.do_GET()

    def answer(self, body: bytes, content_type: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class JsonEverywhere(HtmlEverywhere):
    """Another service's JSON API: 200 with JSON that is not the control API's."""

    def do_GET(self) -> None:
        self.answer(b'{"status": "ok", "items": []}', "application/json")


class Files(SimpleHTTPRequestHandler):
    """python -m http.server in a directory: 404 pages for /v1/..., 501 for PATCH."""

    def log_message(self, format: str, *args: object) -> None:
        pass


def not_shaper(kind: str, directory):
    if kind == "404":
        return functools.partial(Files, directory=str(directory))
    return {"html": HtmlEverywhere, "json": JsonEverywhere}[kind]


@pytest.mark.parametrize("kind", ["404", "html", "json"])
@pytest.mark.parametrize(
    "verb", [["stats"], ["stats", "--json"], ["limits"], ["limits", "--down-rate", "1Mbit"]]
)
def test_a_web_server_that_is_not_shaper_exits_1_saying_so(capsys, tmp_path, kind, verb):
    (tmp_path / "index.html").write_text("<html>home</html>")
    with http_server(not_shaper(kind, tmp_path)) as (host, port):
        url = f"http://{host}:{port}"
        assert main([*verb, "--control", url]) == 1
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.splitlines()
    assert lines[0].startswith(f"shaper {verb[0]}: error: {url} is not a shaper engine"), err
    if kind == "404":
        status = "501" if "--down-rate" in verb else "404"
        assert f"HTTP {status} with non-JSON content" in lines[0]
    elif kind == "html":
        assert "HTTP 200 with text/html content" in lines[0]
    else:
        assert "JSON answer to /v1/" in lines[0] and "not the control API's" in lines[0]
    assert "--control" in lines[1]
    assert len(lines) == 2, err  # no page dumped, no traceback
    assert "<" not in err and "Traceback" not in err


# -- switches: one rule -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "expected"), [("true", True), ("1", True), ("false", False), ("0", False)]
)
async def test_stall_flags_take_true_false_1_0(env, capsys, written, expected):
    env.engine.patch_limits({"downstream": {"stall": not expected}})
    assert await run("limits", "--control", env.url, "--down-stall", written) == 0
    assert env.engine.limits.downstream.stall is expected
    assert await run("limits", "--control", env.url, "--stall", written) == 0
    assert env.engine.limits.upstream.stall is expected
    out = capsys.readouterr().out
    # What is printed can be pasted back: true/false, not on/off.
    row = [line for line in out.splitlines() if line.split()[:1] == ["stall"]][-1]
    assert row.split()[1:] == [str(expected).lower(), "*", str(expected).lower(), "*"]


@pytest.mark.parametrize("written", ["yes", "on", "True", "2", ""])
@pytest.mark.parametrize("flag", ["--stall", "--up-stall", "--down-stall"])
async def test_stall_flags_refuse_other_words(env, capsys, flag, written):
    with pytest.raises(SystemExit) as info:
        await run("limits", "--control", env.url, flag, written)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}: invalid switch {written!r}: expected true or false (or 1 or 0)" in (
        err
    )
    assert env.engine.limits.upstream.stall is False and env.engine.limits.downstream.stall is False
