"""Fixed, plausible engine data for layout snapshots and previews.

`python -m tui.sample` opens the dashboard on this data (no engine needed).
"""

from __future__ import annotations

from typing import Any

from shaper.model.limits import Limits
from shaper.model.snapshots import ConnectionStats, DirectionStats, EngineStats, Event, KernelStats
from tui.source import FixedSource

T0 = 1_700_000_000.0
KIB = 1024


SEGMENT = 1448  # the emulated sender's segment; its initial window is 10 of them


def direction(name: str, state: str, queue: int, capacity: int = 64 * KIB, rate: float = 0.0,
              wire: int = 0, sink: int = 0, rx: int | None = 0, tx: int | None = 0,
              rate_in: float | None = None, link: str = "shared",
              cwnd: int | None = 10 * SEGMENT, in_flight: int | None = 0,
              phase: str | None = "slow-start", srtt_ms: float | None = 81.0) -> DirectionStats:
    return DirectionStats(
        direction=name, state=state, bytes_in=5_000_000, bytes_out=4_900_000,
        rate_in=rate if rate_in is None else rate_in, rate_out=rate, queue=queue,
        queue_capacity=capacity, wire=wire, sink_buffer=sink, source_kernel_rx=rx,
        sink_kernel_tx=tx, source_rcvbuf=None if rx is None else 128 * KIB,
        sink_sndbuf=None if tx is None else 128 * KIB, link=link, cwnd=cwnd,
        in_flight=in_flight, tcp_phase=phase,
        srtt_us=None if srtt_ms is None else srtt_ms * 1000,
    )


def sample_connections() -> list[ConnectionStats]:
    """Three connections on the shared link (a download holding most of its queue, an
    upload, a slow reader), and one with limits of its own, so links of its own."""
    route = "127.0.0.1:8080 -> 127.0.0.1:8000"
    kernel = KernelStats(rx_queue=0, tx_queue=0, rcvbuf=131072, sndbuf=131072, rtt_us=41000,
                         cwnd=10)
    rows = [
        (1, "127.0.0.1:41000", 12.0,
         direction("upstream", "idle", 0),
         direction("downstream", "backpressured", 40 * KIB, rate=150_000, wire=6_000,
                   rx=110 * KIB, tx=20 * KIB, cwnd=96 * KIB, in_flight=58 * KIB,
                   phase="congestion-avoidance", srtt_ms=182.0)),
        (2, "127.0.0.1:41002", 9.5,
         direction("upstream", "flowing", 20 * KIB, rate=120_000, wire=5_000, cwnd=42 * KIB,
                   in_flight=30 * KIB, srtt_ms=95.0),
         direction("downstream", "idle", 0, srtt_ms=80.0)),
        (3, "127.0.0.1:41004", 7.2,
         direction("upstream", "idle", 0),
         direction("downstream", "blocked", 12 * KIB, rate=1_000, sink=60 * KIB,
                   rx=128 * KIB, tx=128 * KIB, cwnd=24 * KIB, in_flight=20 * KIB,
                   phase="recovery", srtt_ms=230.0)),
        (4, "127.0.0.1:41006", 1.0,
         direction("upstream", "idle", 0, link="own"),
         direction("downstream", "flowing", 16 * KIB, rate=90_000, wire=4_000, link="own",
                   cwnd=28 * KIB, in_flight=24 * KIB, srtt_ms=85.0)),
    ]
    return [
        ConnectionStats(id=i, route=route, client=client, server="127.0.0.1:8000", age=age,
                        state="open", upstream=up, downstream=down, client_kernel=kernel,
                        server_kernel=kernel, limits_override=(i == 4))
        for i, client, age, up, down in rows
    ]


def sample_limits() -> Limits:
    return Limits.from_dict({
        "upstream": {"rate": "1Mbit", "latency": "40ms", "buffer": "64KiB"},
        "downstream": {"rate": "2Mbit", "latency": "40ms", "jitter": "5ms", "buffer": "64KiB"},
    })


def sample_snapshots(count: int = 30) -> list[EngineStats]:
    """The engine-wide figures of those connections, as the engine reports them: each link's
    queue counted once (the shared link's and connection 4's own), the rest summed."""
    limits = sample_limits().to_dict()
    events = (
        Event(T0 - 12, "connect", "127.0.0.1:41000 -> 127.0.0.1:8000", 1),
        Event(T0 - 9.5, "connect", "127.0.0.1:41002 -> 127.0.0.1:8000", 2),
        Event(T0 - 8, "limits", "downstream.rate = 2Mbit"),
        Event(T0 - 7.2, "connect", "127.0.0.1:41004 -> 127.0.0.1:8000", 3),
        Event(T0 - 3, "close", "127.0.0.1:40998: 1.0 MiB down, 12 B up", 0),
        Event(T0 - 1.2, "limits", "connection 4: downstream.rate=1Mbit", 4),
        Event(T0 - 1, "connect", "127.0.0.1:41006 -> 127.0.0.1:8000", 4),
    )
    conns = sample_connections()
    snapshots = []
    for i in range(count):
        wave = (i % 10) / 10
        up = direction("upstream", "flowing", 20 * KIB, capacity=128 * KIB,
                       rate=120_000 * (0.5 + wave), wire=5_000, rx=2 * KIB, tx=4 * KIB,
                       in_flight=sum(c.upstream.in_flight or 0 for c in conns))
        down = direction("downstream", "blocked", 68 * KIB, capacity=128 * KIB,
                         rate=240_000 * (0.8 + wave / 5), wire=10_000, sink=60 * KIB,
                         rx=240 * KIB, tx=150 * KIB, rate_in=250_000,
                         in_flight=sum(c.downstream.in_flight or 0 for c in conns))
        snapshots.append(EngineStats(
            time=T0 + i * 0.1, uptime=12.0 + i * 0.1, connections_open=4, connections_total=5,
            resets=0, errors=0, upstream=up, downstream=down, events=events,
            scenario=None, profile="demo", limits=limits,
        ))
    return snapshots


def sample_faults() -> list[dict[str, Any]]:
    """Two faults as the engine reports them, one touching a fraction of connections."""
    return [
        {"name": "cut", "type": "timeout", "direction": "downstream", "toxicity": 1.0,
         "route": None, "settings": {"after": "0ms"}, "connections": 1},
        {"name": "flaky", "type": "reset_peer", "direction": "both", "toxicity": 0.2,
         "route": None, "settings": {"after": "2s"}, "connections": 0},
    ]


def sample_source(faults: list[dict[str, Any]] | None = None) -> FixedSource:
    return FixedSource(
        sample_snapshots(),
        sample_connections(),
        status={"version": "0.1.0", "profile": "demo", "limits": sample_limits().to_dict(),
                "routes": [{"listen": "127.0.0.1:8080", "upstream": "127.0.0.1:8000",
                            "description": "127.0.0.1:8080 -> 127.0.0.1:8000"}]},
        profiles=[
            {"name": "demo", "description": "small queue, 2 Mbit down, 40 ms", "origin": "shipped"},
            {"name": "3g", "description": "a mobile 3G link", "origin": "shipped"},
            {"name": "mine", "description": "saved from the shaper display", "origin": "user"},
        ],
        faults=faults,
    )


if __name__ == "__main__":
    from tui.app import ShaperApp

    ShaperApp(sample_source()).run()
