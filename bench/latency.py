"""Added-latency error: ping-pong of a small message through an engine with --latency X
(each way) to an echo server; error = RTT - (direct RTT + 2X)."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

from bench.common import HOST, QUICK, child, engine, free_port, median, percentile, wait_listening

MESSAGE = b"x" * 64
WARMUP_PINGS = 5
# (flag value, seconds each way, samples)
TARGETS = [
    ("1ms", 0.001, 50 if QUICK else 300),
    ("20ms", 0.020, 20 if QUICK else 200),
    ("200ms", 0.200, 5 if QUICK else 30),
]
BASELINE_SAMPLES = 50 if QUICK else 300


@contextlib.contextmanager
def echo_server() -> Iterator[int]:
    port = free_port()
    with child(["socat", f"TCP-LISTEN:{port},reuseaddr,fork", "PIPE"]):
        wait_listening(port)
        yield port


def ping(port: int, count: int) -> list[float]:
    """`count` round trips of MESSAGE on one connection, in seconds."""
    rtts = []
    with socket.create_connection((HOST, port), timeout=5.0) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(WARMUP_PINGS + count):
            start = time.perf_counter()
            sock.sendall(MESSAGE)
            got = 0
            while got < len(MESSAGE):
                data = sock.recv(4096)
                if not data:
                    raise RuntimeError("the echo connection closed")
                got += len(data)
            if i >= WARMUP_PINGS:
                rtts.append(time.perf_counter() - start)
    return rtts


def measure() -> dict:
    ms = 1000.0
    with echo_server() as echo_port:
        direct = median(ping(echo_port, BASELINE_SAMPLES))
        with engine(echo_port) as eng:
            unshaped = median(ping(eng.port, BASELINE_SAMPLES))
        result: dict = {"direct_rtt_ms": direct * ms, "unshaped_proxy_rtt_ms": unshaped * ms}
        for flag, latency, count in TARGETS:
            with engine(echo_port, "--latency", flag) as eng:
                errors = [(rtt - direct - 2 * latency) * ms for rtt in ping(eng.port, count)]
            result[flag] = {
                "samples": count,
                "p50_ms": percentile(errors, 50),
                "p99_ms": percentile(errors, 99),
                "max_ms": max(errors),
                "min_ms": min(errors),
            }
    return result
