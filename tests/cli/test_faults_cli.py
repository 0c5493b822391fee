"""Faults from the command line: `serve --fault`, and `shaper faults` on a running engine."""

from __future__ import annotations

import asyncio
import json
import re
import signal

import pytest
from helpers import HOST, Server, echo, engine_env, run_serve_to_exit, start_serve

from shaper.cli.main import main


def exit_code(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exc:  # the parser's exit 2
        return int(exc.code or 0)


async def run(*argv: str) -> int:
    return await asyncio.to_thread(exit_code, list(argv))


@pytest.mark.timeout(60)
async def test_serve_with_a_fault_and_a_seed_applies_it_and_says_so():
    async with Server(echo) as upstream:
        process = await start_serve(
            "--listen",
            f"{HOST}:0",
            "--upstream",
            f"{HOST}:{upstream.port}",
            "--fault",
            "reset_peer:name=cut,toxicity=1",
            "--seed",
            "42",
        )
        try:
            await check_serve_with_fault(process, upstream)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()


async def check_serve_with_fault(process: asyncio.subprocess.Process, upstream: Server) -> None:
    assert process.stdout is not None
    lines: list[str] = []
    while not any(line.startswith("seed") for line in lines):
        raw = await asyncio.wait_for(process.stdout.readline(), 20)
        assert raw, "serve ended early"
        lines.append(raw.decode().strip())
    port = int(re.search(r"listening on \S+:(\d+) ", lines[0]).group(1))
    assert "fault cut: reset_peer both, toxicity 1, after=0ms" in lines
    assert "seed 42" in lines
    reader, writer = await asyncio.open_connection(HOST, port)
    writer.write(b"hello")
    with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
        await asyncio.wait_for(reader.readexactly(5), 5)
    writer.close()
    assert upstream.handled <= 1
    process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(process.wait(), 15) == 0


BAD = [
    (["--fault", "drop"], ["--fault", "drop", "timeout, reset_peer"]),
    (["--fault", "timeout:after=2"], ["--fault", "after", "2ms"]),
    (["--fault", "timeout:toxicity=lots"], ["toxicity", "probability"]),
    (["--fault", "timeout", "--fault", "timeout"], ["given already", "name="]),
    (["--fault", "timeout:route=db"], ["route", "db"]),
    (["--fault", "timeout:after"], ["key=value"]),
    (["--seed", "-1"], ["--seed", "whole number"]),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("extra", "mentions"), BAD, ids=[" ".join(b[0]) for b in BAD])
async def test_bad_fault_flags_exit_2_saying_what_is_accepted(extra, mentions):
    code, out, err = await run_serve_to_exit("--listen", "0", "--upstream", f"{HOST}:1", *extra)
    assert code == 2, (out, err)
    assert "Traceback" not in err
    for word in mentions:
        assert word in err, (word, err)


async def test_faults_add_list_rm_on_a_running_engine(capsys):
    async with engine_env() as env:
        assert await run("faults", "--control", env.url) == 0
        assert "no faults in force" in capsys.readouterr().out
        assert (
            await run("faults", "add", "slicer:average_size=100,delay=1ms", "--control", env.url)
            == 0
        )
        out = capsys.readouterr().out
        assert out.startswith("added slicer: slicer downstream, toxicity 1")
        await env.connect()  # a round trip works through the slicer
        assert await run("faults", "list", "--json", "--control", env.url) == 0
        [listed] = json.loads(capsys.readouterr().out)
        assert listed["settings"]["average_size"] == "100B"
        assert listed["connections"] == 1
        assert await run("faults", "add", "slicer", "--control", env.url) == 2
        assert "in force" in capsys.readouterr().err
        assert await run("faults", "rm", "slicer", "--control", env.url) == 0
        assert await run("faults", "rm", "slicer", "--control", env.url) == 2
        assert re.search(r"no fault named 'slicer'", capsys.readouterr().err)
        assert env.engine.fault_specs() == []


async def test_faults_bad_action_and_unreachable_engine(capsys):
    assert await run("faults", "clear") == 2
    assert "list, add, rm, types" in capsys.readouterr().err
    assert await run("faults", "list", "--control", "http://127.0.0.1:1") == 1
