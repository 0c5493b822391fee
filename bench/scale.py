"""1,000 concurrent shaped connections: every client downloads from an upstream that
sends as fast as it may; per-connection rate ÷ target, engine RSS and CPU; and, when
the engine serves a control API, how long GET /v1/stats?connections=1 takes then.

Clients and the upstream server live in this process, the engine in its own."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from bench.common import HOST, QUICK, cpu_seconds, engine, median, raise_nofile, rss_bytes
from bench.rate import steady_rate

CONNECTIONS = 100 if QUICK else 1000
RATE, RATE_BPS = "200kbit", 200_000
BUFFER, BUFFER_BYTES = "32KiB", 32 * 1024
WARMUP = 1.0
WINDOW = 2.0 if QUICK else 5.0
CONNECT_BATCH = 100  # stay under the listen backlog
STATS_REQUESTS = 10
CHUNK = bytes(16 * 1024)

# Timed in a process of its own so that neither this busy loop nor the GIL skews it.
STATS_CLIENT = """
import json, sys, time, urllib.request
times, size = [], 0
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    with urllib.request.urlopen(sys.argv[1] + "/v1/stats?connections=1") as response:
        size = len(response.read())
    times.append(time.perf_counter() - start)
print(json.dumps({"seconds": times, "bytes": size}))
"""


class Source(asyncio.Protocol):
    """The upstream: writes whenever its transport will take more."""

    def connection_made(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.paused = False
        self.fill()

    def fill(self) -> None:
        while not self.paused and not self.transport.is_closing():
            self.transport.write(CHUNK)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self.fill()

    def connection_lost(self, exc: Exception | None) -> None:
        self.paused = True


class Sink(asyncio.Protocol):
    """Records (time, total bytes so far) at every arrival, as rate.Counter does."""

    def __init__(self) -> None:
        self.received = 0
        self.samples: list[tuple[float, int]] = []
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        self.received += len(data)
        self.samples.append((self.loop.time(), self.received))


def connection_rate(sink: Sink, start: float, end: float) -> float:
    """Bits/s from the first arrival in the window to the last: slices a whole 58 ms
    long at 200 kbit/s would otherwise make counting at fixed instants coarse."""
    try:
        return steady_rate(sink.samples, start, end)
    except RuntimeError:
        return 0.0


def stats_latency(control_url: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", STATS_CLIENT, control_url, str(STATS_REQUESTS)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    data = json.loads(out.stdout)
    ms = [s * 1000 for s in data["seconds"]]
    return {"median_ms": median(ms), "max_ms": max(ms), "bytes": data["bytes"], "requests": len(ms)}


async def _measure() -> dict:
    raise_nofile()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Source, HOST, 0, backlog=CONNECT_BATCH * 2)
    upstream_port = server.sockets[0].getsockname()[1]
    transports: list[asyncio.Transport] = []
    result: dict = {"connections": CONNECTIONS, "rate": RATE, "buffer": BUFFER}
    try:
        with engine(upstream_port, "--rate", RATE, "--buffer", BUFFER, control=True) as eng:
            result["rss_idle"] = rss_bytes(eng.pid)
            sinks: list[Sink] = []
            for first in range(0, CONNECTIONS, CONNECT_BATCH):
                batch = range(first, min(first + CONNECT_BATCH, CONNECTIONS))
                made = await asyncio.gather(
                    *(loop.create_connection(Sink, HOST, eng.port) for _ in batch)
                )
                for transport, sink in made:
                    transports.append(transport)
                    sinks.append(sink)
            await asyncio.sleep(WARMUP)
            start, cpu0, own0 = loop.time(), cpu_seconds(eng.pid), cpu_seconds(os.getpid())
            before = [s.received for s in sinks]
            await asyncio.sleep(WINDOW)
            elapsed = loop.time() - start
            after = [s.received for s in sinks]
            cpu = cpu_seconds(eng.pid) - cpu0
            own = cpu_seconds(os.getpid()) - own0
            result["rss"] = rss_bytes(eng.pid)
            got = [b - a for a, b in zip(before, after, strict=True)]
            ratios = sorted(connection_rate(s, start, start + elapsed) / RATE_BPS for s in sinks)
            result.update(
                ratio_median=median(ratios),
                ratio_min=ratios[0],
                ratio_max=ratios[-1],
                worst_error=max(abs(ratios[0] - 1), abs(ratios[-1] - 1)),
                aggregate_bps=sum(got) * 8 / elapsed,
                engine_cpu=cpu / elapsed,
                bench_cpu=own / elapsed,  # clients and upstream: is the load generator the limit?
                starved=sum(1 for n in got if n == 0),  # connections that got nothing in the window
                never=sum(1 for s in sinks if s.received == 0),  # ... nor ever
                window=elapsed,
            )
            if eng.control:
                result["stats"] = await asyncio.to_thread(stats_latency, eng.control)
    finally:
        for transport in transports:
            transport.abort()
        server.close()
    result["buffer_allowance"] = 50 * 10**6 + CONNECTIONS * 2 * BUFFER_BYTES
    return result


def measure() -> dict:
    return asyncio.run(_measure())
