"""The engine as a child process: readiness without a sleep, clean stop, no orphans."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from helpers import Server, echo

from shaper.control.client import ControlClient, ControlError
from shaper.launcher import (
    EngineProcess,
    EngineStartError,
    ready_line,
    watch_parent,
    write_ready,
)


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state not in ("Z", "X")


def wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(pid):
            return True
        time.sleep(0.05)
    return not alive(pid)


def port_open(url: str) -> bool:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    try:
        with socket.create_connection((host, int(port)), timeout=1):
            return True
    except OSError:
        return False


async def test_child_engine_proxies_and_stops_cleanly():
    upstream = await Server(echo).__aenter__()
    up_port = upstream.port
    engine = EngineProcess(
        ["--listen", "127.0.0.1:0", "--upstream", f"127.0.0.1:{up_port}", "--down-rate", "8Mbit"]
    )
    async with engine:
        assert engine.control_url.startswith("http://127.0.0.1:")
        [listen] = engine.listen
        async with ControlClient(engine.control_url) as client:
            status = await client.status()
            assert status["pid"] == engine.pid
            assert status["limits"]["downstream"]["rate"] == "8Mbit"
            host, port = listen.rsplit(":", 1)
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(b"through the child")
            await writer.drain()
            assert await asyncio.wait_for(reader.readexactly(17), 5) == b"through the child"
            assert (await client.stats()).connections_open == 1
            writer.close()
    assert engine.returncode == 0
    assert not port_open(engine.control_url)
    await upstream.__aexit__()


def test_sync_use_and_token():
    with EngineProcess(
        ["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9"], token="s3cret"
    ) as engine:

        async def check() -> None:
            async with ControlClient(engine.control_url) as client:
                with pytest.raises(ControlError) as info:
                    await client.status()
                assert info.value.status == 401
            async with ControlClient(engine.control_url, token="s3cret") as client:
                assert (await client.status())["pid"] == engine.pid

        asyncio.run(check())
        pid = engine.pid
    assert engine.returncode == 0
    assert not alive(pid)


def test_start_failure_reports_the_child_error():
    started = time.monotonic()
    engine = EngineProcess(
        ["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9", "--rate", "fast"]
    )
    with pytest.raises(EngineStartError) as info:
        engine.start()
    assert "--rate" in str(info.value)
    assert "exit code 2" in str(info.value)
    assert time.monotonic() - started < 15
    assert engine.returncode == 2


def test_start_failure_when_the_port_is_taken():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        engine = EngineProcess(
            ["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9"],
            control=f"127.0.0.1:{port}",
        )
        with pytest.raises(EngineStartError, match="control API"):
            engine.start()
        assert engine.returncode not in (None, 0)


PARENT = textwrap.dedent(
    """
    import json, sys
    from shaper.launcher import EngineProcess
    engine = EngineProcess(
        ["--listen", "127.0.0.1:0", "--upstream", "127.0.0.1:9"],
        parent_death_signal={pdeathsig},
    ).start()
    print(json.dumps({{"pid": engine.pid, "url": engine.control_url}}), flush=True)
    sys.stdin.read()  # until the test kills us
    """
)


@pytest.mark.parametrize("pdeathsig", [True, False], ids=["death-signal", "watchdog-only"])
def test_no_orphan_when_the_parent_is_killed(pdeathsig: bool):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT.format(pdeathsig=pdeathsig)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        line = parent.stdout.readline()
        assert line, parent.stderr.read().decode()
        child = json.loads(line)
        assert alive(child["pid"])
        assert port_open(child["url"])
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        assert wait_gone(child["pid"], 5.0), "the engine outlived its parent"
        assert not port_open(child["url"])
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if line and alive(child["pid"]):
            os.kill(child["pid"], signal.SIGKILL)


async def test_watch_parent():
    loop = asyncio.get_running_loop()
    fired = asyncio.Event()
    # A parent pid that is not ours: as if the parent had died before the watch started.
    watch = watch_parent(loop, fired.set, parent_pid=os.getppid() + 1_000_000, interval=0.05)
    await asyncio.wait_for(fired.wait(), 2)
    assert watch is not None and watch.fired
    calls = []
    watch = watch_parent(loop, lambda: calls.append(1), parent_pid=os.getppid(), interval=0.02)
    await asyncio.sleep(0.2)
    assert calls == []
    watch.cancel()
    assert watch_parent(loop, fired.set, parent_pid=0) is None


def test_ready_line():
    data = json.loads(ready_line(("127.0.0.1", 5), [("::1", 6), ["127.0.0.1", 7]]))
    assert data == {
        "pid": os.getpid(),
        "control": "http://127.0.0.1:5",
        "listen": ["[::1]:6", "127.0.0.1:7"],
    }
    read_fd, write_fd = os.pipe()
    write_ready(write_fd, "http://127.0.0.1:8", [])
    with os.fdopen(read_fd) as pipe:
        assert json.loads(pipe.read())["control"] == "http://127.0.0.1:8"
