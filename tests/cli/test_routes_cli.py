"""`shaper routes` against a child engine (`shaper serve` in its own process).

The CLI runs its own event loop, so it runs in a worker thread while the servers run here.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from helpers import HOST, Server, echo, echo_roundtrip

from shaper.cli.main import main
from shaper.launcher import EngineProcess


async def run(*argv: str) -> int:
    return await asyncio.to_thread(main, list(argv))


def address(text: str) -> tuple[str, int]:
    host, port = text.rsplit(":", 1)
    return host, int(port)


@pytest.mark.timeout(60)
async def test_routes_verbs_on_a_child_engine(capsys):
    async with Server(echo) as upstream:
        engine = EngineProcess(["--listen", f"{HOST}:0", "--upstream", f"{HOST}:{upstream.port}"])
        await asyncio.to_thread(engine.start)
        try:
            url = engine.control_url
            assert await run("routes", "--control", url) == 0
            out = capsys.readouterr().out
            assert out.splitlines()[0].split() == [
                "name",
                "listen",
                "upstream",
                "state",
                "open",
                "limits",
            ]
            assert out.splitlines()[1].split()[0] == "main" and "engine-wide" in out

            code = await run(
                "routes",
                "add",
                "cache:6379",
                "0",
                f"{HOST}:{upstream.port}",
                "--down-latency",
                "20ms",
                "--control",
                url,
                "--json",
            )
            assert code == 0
            added = json.loads(capsys.readouterr().out)
            assert added["name"] == "cache:6379"
            assert added["limits"]["downstream"]["latency"] == "20ms"
            bound = address(added["listen"])
            assert await echo_roundtrip(bound, b"via the cli") == b"via the cli"

            assert await run("routes", "--control", url, "disable", "cache:6379") == 0
            assert capsys.readouterr().out.strip() == "route cache:6379 disabled"
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(*bound)
            assert await run("routes", "list", "--json", "--control", url) == 0
            listed = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
            assert listed["cache:6379"]["enabled"] is False and listed["main"]["enabled"]
            assert await run("routes", "enable", "cache:6379", "--control", url) == 0
            assert capsys.readouterr().out.strip() == "route cache:6379 enabled"
            assert await echo_roundtrip(bound, b"again") == b"again"

            assert await run("routes", "add", "0", f"{HOST}:{upstream.port}", "--control", url) == 0
            assert capsys.readouterr().out.startswith("route route3 added: 127.0.0.1:")
            assert await run("routes", "rm", "route3", "--control", url) == 0
            assert await run("routes", "rm", "cache:6379", "--control", url) == 0
            capsys.readouterr()

            # Bad input and conflicts exit 2, saying what was wrong and what is accepted.
            assert await run("routes", "rm", "cache:6379", "--control", url) == 2
            err = capsys.readouterr().err
            assert "no route named 'cache:6379'; routes: main" in err
            listen = engine.listen[0]
            assert await run("routes", "add", "x", listen, f"{HOST}:1", "--control", url) == 2
            assert "is route 'main'" in capsys.readouterr().err
            for argv, mention in (
                (["add", "a b", "0", "h:1"], "NAME: invalid name 'a b': expected 1 to 64"),
                (["add", "0"], "expected [NAME] LISTEN UPSTREAM, got 1 value"),
                (["add", "0", "h"], "UPSTREAM address 'h'"),
                (["add", "0", "h:1", "--rate", "2mbps"], "--rate"),
                (["enable", "x/y"], "NAME: invalid name 'x/y'"),
            ):
                with pytest.raises(SystemExit) as info:
                    await run("routes", *argv, "--control", url)
                assert info.value.code == 2
                assert mention in capsys.readouterr().err, argv
        finally:
            await asyncio.to_thread(engine.stop)


async def test_an_unreachable_engine_exits_1(capsys):
    assert await run("routes", "list", "--control", "127.0.0.1:9") == 1
    assert "cannot reach" in capsys.readouterr().err
