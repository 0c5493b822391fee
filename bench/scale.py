"""1,000 concurrent shaped connections: every client downloads from an upstream that
sends as fast as it may. Twice: each connection on a link of its own (per-connection
rate ÷ target), and all of them sharing one link (aggregate ÷ the link's rate, each
connection's share ÷ a fair share). Engine RSS and CPU; and, when the engine serves a
control API, how long GET /v1/stats?connections=1 takes then.

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
# Shared: one link with the same total, 10 ms each way so the emulated senders' windows
# matter, and a 1 MiB queue.
SHARED_RATE_BPS = RATE_BPS * CONNECTIONS
SHARED_FLAGS = ("--link", "shared", "--latency", "10ms", "--down-buffer", "1MiB")
SHARED_BUFFER_BYTES = 1024 * 1024
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


async def _measure(shared: bool) -> dict:
    raise_nofile()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Source, HOST, 0, backlog=CONNECT_BATCH * 2)
    upstream_port = server.sockets[0].getsockname()[1]
    transports: list[asyncio.Transport] = []
    rate = SHARED_RATE_BPS if shared else RATE_BPS
    flags = ("--rate", f"{rate}bit", "--buffer", BUFFER)
    flags += SHARED_FLAGS if shared else ("--link", "per-connection")
    result: dict = {
        "connections": CONNECTIONS,
        "rate": f"{rate / 1e6:g}Mbit shared" if shared else f"{RATE} each",
        "buffer": BUFFER,
    }
    try:
        with engine(upstream_port, *flags, control=True) as eng:
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
            # Per connection, ÷ its own rate; shared, ÷ a fair share of the link.
            ratios = sorted(connection_rate(s, start, start + elapsed) / RATE_BPS for s in sinks)
            result.update(
                ratio_median=median(ratios),
                ratio_min=ratios[0],
                ratio_max=ratios[-1],
                worst_error=max(abs(ratios[0] - 1), abs(ratios[-1] - 1)),
                aggregate_bps=sum(got) * 8 / elapsed,
                aggregate_ratio=sum(got) * 8 / elapsed / (rate if shared else rate * CONNECTIONS),
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
    # The queues the engine may hold: per connection, two directions' worth; shared, one
    # queue per direction and what the wire holds (rate x latency).
    result["buffer_allowance"] = 50 * 10**6 + (
        2 * SHARED_BUFFER_BYTES + SHARED_RATE_BPS // 8 // 100 if shared
        else CONNECTIONS * 2 * BUFFER_BYTES
    )
    return result


def measure() -> dict:
    return {
        "per_connection": asyncio.run(_measure(shared=False)),
        "shared": asyncio.run(_measure(shared=True)),
    }
