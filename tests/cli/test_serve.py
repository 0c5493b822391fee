"""`python -m shaper serve` as a real process: readiness line, proxying, clean exit on
SIGINT/SIGTERM, bad flags, and the stats JSON lines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
import signal
from collections.abc import AsyncIterator

import pytest
from helpers import (
    HOST,
    Server,
    echo,
    echo_roundtrip,
    run_serve_to_exit,
    start_serve,
    stop_process,
)

LISTENING = re.compile(r"^listening on (\S+):(\d+) -> (\S+) \(route ([^)]+)\)$")
NAMES: list[str] = []  # the route names serve printed, in order
ENGINE_KEYS = {
    "time",
    "uptime",
    "connections_open",
    "connections_total",
    "resets",
    "errors",
    "upstream",
    "downstream",
    "events",
    "connections",
    "scenario",
    "profile",
    "limits",
}
DIRECTION_KEYS = {
    "direction",
    "state",
    "bytes_in",
    "bytes_out",
    "rate_in",
    "rate_out",
    "queue",
    "queue_capacity",
    "wire",
    "sink_buffer",
    "source_kernel_rx",
    "sink_kernel_tx",
    "source_rcvbuf",
    "sink_sndbuf",
}
LIMIT_KEYS = {"rate", "burst", "latency", "jitter", "jitter_distribution", "buffer", "sockbuf"}


@contextlib.asynccontextmanager
async def serving(*args: str) -> AsyncIterator[asyncio.subprocess.Process]:
    process = await start_serve(*args)
    try:
        yield process
    finally:
        await stop_process(process)


async def listening_line(process: asyncio.subprocess.Process) -> tuple[str, int, str]:
    line = await asyncio.wait_for(process.stdout.readline(), 20)
    text = line.decode().rstrip("\n")
    if not text:
        err = await asyncio.wait_for(process.stderr.read(), 5)
        raise AssertionError(f"serve printed nothing; stderr: {err.decode()}")
    match = LISTENING.match(text)
    assert match, f"unexpected first line {text!r}"
    NAMES.append(match.group(4))
    return match.group(1), int(match.group(2)), match.group(3)


async def roundtrip(port: int, payload: bytes) -> bytes:
    return await echo_roundtrip((HOST, port), payload)


# -- running and stopping ---------------------------------------------------------------


@pytest.mark.timeout(60)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
async def test_serve_proxies_and_exits_0_on_signal(sig):
    async with (
        Server(echo) as upstream,
        serving(
            "--listen", f"{HOST}:0", "--upstream", f"{HOST}:{upstream.port}", "--latency", "1ms"
        ) as process,
    ):
        host, port, target = await listening_line(process)
        assert host == HOST and port > 0
        assert target == f"{HOST}:{upstream.port}"
        payload = random.Random(30).randbytes(500_000)
        assert await asyncio.wait_for(roundtrip(port, payload), 20) == payload

        # A connection still open when the signal comes is closed, and the exit is clean.
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(b"ping")
            assert await asyncio.wait_for(reader.readexactly(4), 10) == b"ping"
            process.send_signal(sig)
            code = await asyncio.wait_for(process.wait(), 15)
            assert code == 0
            with contextlib.suppress(ConnectionResetError):
                assert await asyncio.wait_for(reader.read(), 10) == b""
        finally:
            writer.close()
        stderr = (await process.stderr.read()).decode()
        assert "Traceback" not in stderr, stderr


@pytest.mark.timeout(60)
async def test_serve_several_routes():
    async with (
        Server(echo) as first,
        Server(echo) as second,
        serving(
            "--route", f"{HOST}:0={HOST}:{first.port}", "--route", f"db=0={HOST}:{second.port}"
        ) as process,
    ):
        NAMES.clear()
        lines = [await listening_line(process), await listening_line(process)]
        assert NAMES == ["main", "db"]
        assert [line[2] for line in lines] == [f"{HOST}:{first.port}", f"{HOST}:{second.port}"]
        for _, port, _ in lines:
            payload = random.Random(port).randbytes(100_000)
            assert await asyncio.wait_for(roundtrip(port, payload), 20) == payload
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 15) == 0


# -- bad flags ----------------------------------------------------------------------------


BAD_FLAGS = [
    # (extra args, what stderr must mention)
    (["--rate", "5mbps"], ["--rate", "5mbps", "Mbit"]),
    (["--down-latency", "10 parsecs"], ["--down-latency", "10 parsecs", "ms"]),
    (["--buffer", "lots"], ["--buffer", "lots", "KiB"]),
    (["--up-stall", "maybe"], ["--up-stall", "maybe", "true"]),
    (["--jitter-distribution", "pareto"], ["--jitter-distribution", "pareto", "uniform"]),
    (["--connect-timeout", "soon"], ["--connect-timeout", "soon", "ms"]),
    (["--stats-interval", "often"], ["--stats-interval", "often"]),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("extra", "mentions"), BAD_FLAGS, ids=[f[0][0] for f in BAD_FLAGS])
async def test_bad_limit_flags_exit_2_naming_the_flag(extra, mentions):
    code, out, err = await run_serve_to_exit(
        "--listen", f"{HOST}:0", "--upstream", f"{HOST}:9", *extra
    )
    assert code == 2, (code, out, err)
    assert "Traceback" not in err, err
    assert "listening on" not in out
    for word in mentions:
        assert word in err, f"{word!r} not in stderr: {err}"


BAD_ADDRESSES = [
    (["--listen", "nowhere:port", "--upstream", f"{HOST}:9"], ["--listen", "nowhere:port"]),
    (["--listen", f"{HOST}:0", "--upstream", "::1:6379"], ["--upstream", "::1:6379", "[IPv6]"]),
    (["--listen", f"{HOST}:0", "--upstream", f"{HOST}:70000"], ["--upstream", "70000"]),
    (["--listen", f"{HOST}:0"], ["--upstream"]),
    (["--route", "15432"], ["--route", "15432", "[NAME=]LISTEN=UPSTREAM"]),
    ([], ["--listen", "--upstream", "--route"]),
]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("args", "mentions"), BAD_ADDRESSES, ids=[" ".join(a[0]) or "nothing" for a in BAD_ADDRESSES]
)
async def test_bad_addresses_exit_2_naming_the_flag(args, mentions):
    code, out, err = await run_serve_to_exit(*args)
    assert code == 2, (code, out, err)
    assert "Traceback" not in err, err
    for word in mentions:
        assert word in err, f"{word!r} not in stderr: {err}"


@pytest.mark.timeout(60)
async def test_port_in_use_exits_2_without_traceback():
    async with Server(echo) as taken:
        code, out, err = await run_serve_to_exit(
            "--listen", f"{HOST}:{taken.port}", "--upstream", f"{HOST}:9"
        )
    assert code == 2, (code, out, err)
    assert "Traceback" not in err, err
    assert str(taken.port) in err or "listen" in err, err


# -- stats JSON lines ---------------------------------------------------------------------


def check_snapshot(snapshot: dict) -> None:
    assert set(snapshot) >= ENGINE_KEYS, ENGINE_KEYS - set(snapshot)
    for direction in ("upstream", "downstream"):
        assert set(snapshot[direction]) >= DIRECTION_KEYS
        assert snapshot[direction]["direction"] == direction
        assert set(snapshot["limits"][direction]) >= LIMIT_KEYS
    for conn in snapshot["connections"]:
        assert set(conn["upstream"]) >= DIRECTION_KEYS
        assert set(conn["downstream"]) >= DIRECTION_KEYS


@pytest.mark.timeout(60)
async def test_stats_jsonl_to_stdout():
    async with (
        Server(echo) as upstream,
        serving(
            "--listen",
            f"{HOST}:0",
            "--upstream",
            f"{HOST}:{upstream.port}",
            "--down-rate",
            "2Mbit",
            "--stats-jsonl",
            "-",
            "--stats-interval",
            "100ms",
        ) as process,
    ):
        _, port, _ = await listening_line(process)
        # What is in force at start, then the snapshots.
        told = [(await asyncio.wait_for(process.stdout.readline(), 10)).decode() for _ in range(4)]
        assert told[:3] == [
            "profile none\n",
            "limits upstream    unshaped (the defaults)\n",
            "limits downstream  rate 2Mbit\n",
        ]
        assert re.fullmatch(r"seed \d+\n", told[3]), told[3]  # a run can be replayed
        payload = random.Random(31).randbytes(100_000)
        reader, writer = await asyncio.open_connection(HOST, port)
        try:
            writer.write(payload)
            await writer.drain()
            snapshots = []
            seen_open = False
            for _ in range(200):
                line = await asyncio.wait_for(process.stdout.readline(), 10)
                snapshot = json.loads(line)
                check_snapshot(snapshot)
                snapshots.append(snapshot)
                if snapshot["connections_open"] == 1 and snapshot["connections"]:
                    seen_open = True
                    conn = snapshot["connections"][0]
                    assert conn["upstream"]["bytes_in"] <= len(payload)
                if seen_open and len(snapshots) >= 3:
                    break
            assert seen_open
            assert snapshots[-1]["limits"]["downstream"]["rate"] == "2Mbit"
            assert snapshots[-1]["limits"]["upstream"]["rate"] == "off"
            times = [s["time"] for s in snapshots]
            assert times == sorted(times)
        finally:
            writer.close()
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0


@pytest.mark.timeout(60)
async def test_stats_jsonl_to_a_file(tmp_path):
    path = tmp_path / "stats.jsonl"
    async with (
        Server(echo) as upstream,
        serving(
            "--listen",
            f"{HOST}:0",
            "--upstream",
            f"{HOST}:{upstream.port}",
            "--stats-jsonl",
            str(path),
            "--stats-interval",
            "50ms",
        ) as process,
    ):
        _, port, _ = await listening_line(process)
        payload = random.Random(32).randbytes(50_000)
        assert await asyncio.wait_for(roundtrip(port, payload), 20) == payload
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 10
        while True:
            lines = path.read_text().splitlines() if path.exists() else []
            snapshots = [json.loads(line) for line in lines[:-1]]  # the last may be partial
            if any(s["connections_total"] >= 1 for s in snapshots) and len(snapshots) >= 3:
                break
            assert loop.time() < deadline, f"stats file has {len(lines)} lines"
            await asyncio.sleep(0.05)
        for snapshot in snapshots:
            check_snapshot(snapshot)
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 15) == 0
    totals = [json.loads(line) for line in path.read_text().splitlines()]
    assert totals[-1]["connections_total"] == 1


@pytest.mark.timeout(60)
@pytest.mark.parametrize("target", ["/nonexistent/dir/x.jsonl", "DIRECTORY"])
async def test_stats_jsonl_that_cannot_be_written_exits_2_with_the_reason(target, tmp_path):
    # It kept running, writing nothing and saying nothing.
    path = str(tmp_path) if target == "DIRECTORY" else target
    code, out, err = await run_serve_to_exit(
        "--listen", f"{HOST}:0", "--upstream", f"{HOST}:9", "--stats-jsonl", path
    )
    assert code == 2, (code, out, err)
    assert "listening on" not in out
    assert "Traceback" not in err, err
    first = err.splitlines()[0]
    assert first.startswith("shaper serve: error: argument --stats-jsonl: cannot write"), err
    assert repr(path) in first
    reason = "No such file or directory" if target != "DIRECTORY" else "Is a directory"
    assert reason in first and "existing directory, or - for stdout" in first


@pytest.mark.timeout(60)
async def test_profile_that_is_a_directory_says_so(tmp_path):
    code, out, err = await run_serve_to_exit(
        "--listen", f"{HOST}:0", "--upstream", f"{HOST}:9", "--profile", str(tmp_path)
    )
    assert code == 2, (code, out, err)
    assert "Traceback" not in err, err
    assert f"argument --profile: {tmp_path} is a directory, not a profile file" in err
    assert "--profiles-dir" in err  # what to give instead
    assert "not found" not in err


# -- what serve tells: the settings at start, the event log --------------------------------


async def next_line(stream: asyncio.StreamReader, timeout: float = 10) -> str:
    line = await asyncio.wait_for(stream.readline(), timeout)
    assert line, "the stream ended"
    return line.decode().rstrip("\n")


@pytest.mark.timeout(60)
async def test_serve_prints_the_profile_and_limits_in_force_at_start(tmp_path):
    async with serving(
        "--listen",
        f"{HOST}:0",
        "--upstream",
        f"{HOST}:9",
        "--profile",
        "3g",
        "--down-latency",
        "50ms",
        "--up-stall",
        "true",
        "--control",
        f"{HOST}:0",
    ) as process:
        await listening_line(process)
        assert (await next_line(process.stdout)).startswith("control on http://")
        assert await next_line(process.stdout) == "profile 3g"
        assert await next_line(process.stdout) == (
            "limits upstream    rate 768kbit, latency 150ms, buffer 128KiB, stall true"
        )
        # the flag wins over the profile; a buffer of 256KiB is the default, not listed
        assert await next_line(process.stdout) == "limits downstream  rate 1.6Mbit, latency 50ms"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0


LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (\S+)(?: #(\d+))? (.+)$"
)


async def logged_session(*extra: str) -> list[str]:
    """Serve with `extra` log flags; one connection that closes, one that is reset, a limits
    change and a profile change through the control API; the stderr lines."""
    import aiohttp
    from helpers import reset

    async with (
        Server(echo) as upstream,
        serving(
            "--listen",
            f"{HOST}:0",
            "--upstream",
            f"{HOST}:{upstream.port}",
            "--control",
            f"{HOST}:0",
            *extra,
        ) as process,
        aiohttp.ClientSession() as session,
    ):
        _, port, _ = await listening_line(process)
        url = (await next_line(process.stdout)).removeprefix("control on ")

        async def all_closed() -> None:
            for _ in range(200):
                async with session.get(url + "/v1/stats") as response:
                    if (await response.json())["connections_open"] == 0:
                        return
                await asyncio.sleep(0.05)
            raise AssertionError("the connections did not close")

        assert await roundtrip(port, b"hello") == b"hello"
        await all_closed()
        reader, writer = await asyncio.open_connection(HOST, port)
        writer.write(b"ping")
        assert await asyncio.wait_for(reader.readexactly(4), 10) == b"ping"
        reset(writer)
        await all_closed()
        async with session.patch(
            url + "/v1/limits", json={"downstream": {"rate": "2Mbit"}}
        ) as response:
            assert response.status == 200
        async with session.post(url + "/v1/profile", json={"name": "edge"}) as response:
            assert response.status == 200
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
        return (await process.stderr.read()).decode().splitlines()


@pytest.mark.timeout(60)
async def test_serve_log_prints_one_line_per_event():
    lines = await logged_session("--log")
    parsed = []
    for line in lines:
        match = LOG_LINE.match(line)
        assert match, f"not a log line: {line!r}"
        parsed.append(match.groups())
    kinds = [kind for kind, _, _ in parsed]
    assert kinds == ["connect", "close", "connect", "reset", "close", "limits", "profile"], lines
    assert [conn for _, conn, _ in parsed[:5]] == ["1", "1", "2", "2", "2"]
    assert parsed[5] == ("limits", None, "limits: downstream.rate=2Mbit")
    assert parsed[6] == ("profile", None, "profile edge applied")


@pytest.mark.timeout(60)
async def test_serve_log_format_json_writes_the_api_events():
    lines = await logged_session("--log-format", "json")
    events = [json.loads(line) for line in lines]
    assert [e["kind"] for e in events] == [
        "connect",
        "close",
        "connect",
        "reset",
        "close",
        "limits",
        "profile",
    ]
    for event in events:
        assert set(event) == {"time", "kind", "message", "connection"}
    assert [e["connection"] for e in events[:5]] == [1, 1, 2, 2, 2]
    assert events[5]["connection"] is None
