"""Control API costs, measured against `shaper serve` in its own process.

    uv run python bench/bench_control.py            # both measurements, JSON on stdout
    uv run python bench/bench_control.py --quick    # fewer requests, shorter runs

1. `GET /v1/stats?connections=1` latency with 1,000 open (idle) connections
   (target: <= 20 ms).
2. The throughput cost of one client streaming snapshots at 10 Hz over an
   unshaped single stream (target: <= 5 %). Runs alternate with and without
   the stream client so that drift on a shared machine hits both alike.

The load (1,000 client sockets, the upstream, the byte source and sink) stays
out of the engine's process; the source and sink are separate processes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shaper.launcher import EngineProcess  # noqa: E402

HOST = "127.0.0.1"


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


# -- 1. stats latency with many connections ----------------------------------------------


async def measure_stats_latency(connections: int = 1000, requests: int = 50) -> dict:
    """Open `connections` idle connections through a child engine, then time
    `requests` sequential GET /v1/stats?connections=1 (full body received)."""
    raise_nofile()
    accepted: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)
        await reader.read()

    upstream = await asyncio.start_server(hold, HOST, 0, backlog=2048)
    up_port = upstream.sockets[0].getsockname()[1]
    engine = EngineProcess(["--listen", f"{HOST}:0", "--upstream", f"{HOST}:{up_port}"])
    await engine.astart()
    clients: list[socket.socket] = []
    try:
        host, port = engine.listen[0].rsplit(":", 1)
        loop = asyncio.get_running_loop()
        for _ in range(connections):
            sock = socket.socket()
            sock.setblocking(False)
            await loop.sock_connect(sock, (host, int(port)))
            clients.append(sock)
        async with aiohttp.ClientSession() as session:
            url = engine.control_url + "/v1/stats"
            deadline = loop.time() + 30
            while True:
                async with session.get(url) as response:
                    if (await response.json())["connections_open"] >= connections:
                        break
                if loop.time() > deadline:
                    raise RuntimeError("the connections did not all open within 30 s")
                await asyncio.sleep(0.05)
            latencies = []
            size = 0
            for _ in range(requests):
                start = time.perf_counter()
                async with session.get(url, params={"connections": "1"}) as response:
                    body = await response.read()
                latencies.append((time.perf_counter() - start) * 1000)
                size = len(body)
                await asyncio.sleep(0.02)  # not back to back: like a UI refresh
    finally:
        for sock in clients:
            sock.close()
        await engine.astop()
        upstream.close()
    return {
        "connections": connections,
        "requests": requests,
        "response_bytes": size,
        "ms_p50": round(percentile(latencies, 50), 2),
        "ms_p95": round(percentile(latencies, 95), 2),
        "ms_max": round(max(latencies), 2),
        "target_ms": 20,
    }


# -- 2. throughput cost of a 10 Hz stream client -------------------------------------------

SOURCE = textwrap.dedent(
    """
    import socket, sys, threading
    server = socket.create_server(("127.0.0.1", 0))
    print(server.getsockname()[1], flush=True)
    block = bytes(262144)
    def send(conn):
        try:
            while True:
                conn.sendall(block)
        except OSError:
            pass
    while True:
        conn, _ = server.accept()
        threading.Thread(target=send, args=(conn,), daemon=True).start()
    """
)

SINK = textwrap.dedent(
    """
    import socket, sys, time
    host, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    sock = socket.create_connection((host, port))
    buf = bytearray(262144)
    total = 0
    warmup_end = time.monotonic() + 0.5
    while time.monotonic() < warmup_end:
        total += sock.recv_into(buf)
    total = 0
    start = time.monotonic()
    end = start + seconds
    while (now := time.monotonic()) < end:
        total += sock.recv_into(buf)
    print(total / (now - start), flush=True)
    """
)


async def _stream_client(url: str, stop: asyncio.Event, counter: list[int]) -> None:
    async with aiohttp.ClientSession() as session, session.get(
        url + "/v1/stream", params={"interval": "0.1", "connections": "1"}
    ) as response:
        async for line in response.content:
            if line.startswith(b"data:"):
                counter[0] += 1
            if stop.is_set():
                break


async def measure_stream_cost(duration: float = 3.0, rounds: int = 2) -> dict:
    """Unshaped single-stream throughput (bytes/s) with and without a 10 Hz stream client."""
    source = subprocess.Popen(
        [sys.executable, "-c", SOURCE], stdout=subprocess.PIPE, stdin=subprocess.DEVNULL
    )
    try:
        source_port = int(source.stdout.readline())
        engine = EngineProcess(["--listen", f"{HOST}:0", "--upstream", f"{HOST}:{source_port}"])
        await engine.astart()
        try:
            host, port = engine.listen[0].rsplit(":", 1)
            results: dict[str, list[float]] = {"without": [], "with": []}
            snapshots = [0]
            for _ in range(rounds):
                for mode in ("without", "with"):
                    stop = asyncio.Event()
                    streamer = None
                    if mode == "with":
                        streamer = asyncio.create_task(
                            _stream_client(engine.control_url, stop, snapshots)
                        )
                    sink = await asyncio.create_subprocess_exec(
                        sys.executable, "-c", SINK, host, port, str(duration),
                        stdout=subprocess.PIPE,
                    )
                    out, _ = await sink.communicate()
                    results[mode].append(float(out))
                    stop.set()
                    if streamer is not None:
                        streamer.cancel()
                        await asyncio.gather(streamer, return_exceptions=True)
        finally:
            await engine.astop()
    finally:
        source.kill()
        source.wait()
    without = sorted(results["without"])[len(results["without"]) // 2]
    with_stream = sorted(results["with"])[len(results["with"]) // 2]
    return {
        "seconds_per_run": duration,
        "rounds": rounds,
        "gbit_without_stream": [round(v * 8 / 1e9, 3) for v in results["without"]],
        "gbit_with_stream": [round(v * 8 / 1e9, 3) for v in results["with"]],
        "snapshots_received": snapshots[0],
        "cost_percent": round((1 - with_stream / without) * 100, 1),
        "target_percent": 5,
    }


async def main_async(quick: bool) -> dict:
    return {
        "machine": {"cores": os.cpu_count(), "loadavg": os.getloadavg()[0]},
        "stats_latency": await measure_stats_latency(requests=20 if quick else 100),
        "stream_cost": await measure_stream_cost(
            duration=2.0 if quick else 5.0, rounds=1 if quick else 3
        ),
    }


def measure() -> dict:
    """Entry for `python -m bench` (BENCH_QUICK=1 shortens it)."""
    return asyncio.run(main_async(os.environ.get("BENCH_QUICK") == "1"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests, shorter runs")
    parser.add_argument("--only", choices=("stats", "stream"), help="run one measurement")
    args = parser.parse_args()
    if args.only == "stats":
        result = asyncio.run(measure_stats_latency(requests=20 if args.quick else 100))
    elif args.only == "stream":
        result = asyncio.run(measure_stream_cost(duration=2.0 if args.quick else 5.0,
                                                 rounds=1 if args.quick else 3))
    else:
        result = asyncio.run(main_async(args.quick))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
