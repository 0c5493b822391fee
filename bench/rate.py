"""Rate accuracy: a sender pushes as fast as it can through an engine with --up-rate X
into a counting receiver; steady-state rate over a window after the start, ÷ X.

The sender and the receiver live in this process, the engine in its own."""

from __future__ import annotations

import asyncio
import bisect

from bench.common import HOST, QUICK, cpu_seconds, engine

WARMUP = 0.5  # skip the start: slow start, queue filling, burst credit
# (flag value, bits/s, measured window in seconds): long enough for 1 % resolution
TARGETS = [
    ("64kbit", 64_000, 2.0 if QUICK else 6.0),
    ("1Mbit", 1_000_000, 1.0 if QUICK else 3.0),
    ("100Mbit", 100_000_000, 1.0 if QUICK else 3.0),
    ("1Gbit", 1_000_000_000, 1.0 if QUICK else 3.0),
]
CHUNK = bytes(256 * 1024)


class Counter(asyncio.Protocol):
    """Records (time, total bytes so far) at every arrival."""

    def __init__(self, samples: list[tuple[float, int]]):
        self.samples = samples
        self.total = 0
        self.loop = asyncio.get_running_loop()

    def data_received(self, data: bytes) -> None:
        self.total += len(data)
        self.samples.append((self.loop.time(), self.total))


async def push(port: int) -> None:
    _, writer = await asyncio.open_connection(HOST, port)
    writer.transport.set_write_buffer_limits(high=1024 * 1024)
    try:
        while True:
            writer.write(CHUNK)
            await writer.drain()
    finally:
        writer.close()


def steady_rate(samples: list[tuple[float, int]], start: float, end: float) -> float:
    """Bits/s between the first arrival at or after `start` and the last one by `end`."""
    times = [t for t, _ in samples]
    first = bisect.bisect_left(times, start)
    last = bisect.bisect_right(times, end) - 1
    if last <= first:
        raise RuntimeError("too few arrivals in the window")
    (t1, c1), (t2, c2) = samples[first], samples[last]
    return (c2 - c1) * 8 / (t2 - t1)


async def measure_one(flag: str, target: int, window: float) -> dict:
    loop = asyncio.get_running_loop()
    samples: list[tuple[float, int]] = []
    server = await loop.create_server(lambda: Counter(samples), HOST, 0)
    upstream_port = server.sockets[0].getsockname()[1]
    try:
        with engine(upstream_port, "--up-rate", flag) as eng:
            sender = asyncio.create_task(push(eng.port))
            try:
                for _ in range(500):
                    if samples:
                        break
                    await asyncio.sleep(0.01)
                else:
                    raise RuntimeError("nothing arrived within 5 s")
                start = samples[0][0] + WARMUP
                await asyncio.sleep(max(0.0, start - loop.time()))
                cpu0 = cpu_seconds(eng.pid)
                await asyncio.sleep(window + 0.05)
                cpu = (cpu_seconds(eng.pid) - cpu0) / (window + 0.05)
            finally:
                sender.cancel()
                await asyncio.gather(sender, return_exceptions=True)
    finally:
        server.close()
    measured = steady_rate(samples, start, start + window)
    return {
        "target": target,
        "measured": measured,
        "ratio": measured / target,
        "window": window,
        "engine_cpu": cpu,
    }


async def _measure() -> dict:
    return {flag: await measure_one(flag, bps, window) for flag, bps, window in TARGETS}


def measure() -> dict:
    return asyncio.run(_measure())
