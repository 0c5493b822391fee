"""Prometheus text exposition: format, labels, counters that survive closed connections."""

from __future__ import annotations

import asyncio
import re

from helpers import engine_env

from shaper.control.metrics import Exposition, MetricsCollector, escape_label, format_value
from shaper.model.snapshots import IDLE, ConnectionStats, DirectionStats, EngineStats, KernelStats


def direction(name: str, bytes_in: int, bytes_out: int, queue: int = 0) -> DirectionStats:
    return DirectionStats(
        direction=name,
        state=IDLE,
        bytes_in=bytes_in,
        bytes_out=bytes_out,
        rate_in=0.0,
        rate_out=0.0,
        queue=queue,
        queue_capacity=1000,
        wire=0,
        sink_buffer=0,
        source_kernel_rx=None,
        sink_kernel_tx=None,
        source_rcvbuf=None,
        sink_sndbuf=None,
    )


def connection(conn_id: int, route: str, up: int, down: int) -> ConnectionStats:
    return ConnectionStats(
        id=conn_id,
        route=route,
        client="c",
        server="s",
        age=1.0,
        state="open",
        upstream=direction("upstream", up, up),
        downstream=direction("downstream", down, down),
        client_kernel=KernelStats(),
        server_kernel=KernelStats(),
    )


def snapshot(*conns: ConnectionStats) -> EngineStats:
    return EngineStats(
        time=0.0,
        uptime=1.0,
        connections_open=len(conns),
        connections_total=len(conns),
        resets=0,
        errors=0,
        upstream=direction("upstream", 0, 0),
        downstream=direction("downstream", 0, 0),
        connections=tuple(conns),
    )


def samples(text: str) -> dict[str, float]:
    result = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name, value = line.rsplit(" ", 1)
        result[name] = float(value)
    return result


def test_format_helpers():
    assert escape_label('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert format_value(3) == "3"
    assert format_value(1.5) == "1.5"
    assert format_value(float("inf")) == "+Inf"
    assert format_value(float("nan")) == "NaN"
    assert format_value(True) == "1"


def test_exposition_writes_each_family_once():
    ex = Exposition()
    ex.add("x_total", "counter", "An x", 1, {"route": "a"})
    ex.add("y", "gauge", "A y", 2.5)
    ex.add("x_total", "counter", "An x", 3, {"route": "b"})
    ex.add("z", "gauge", "Not reported here", None)
    assert ex.render() == (
        "# HELP x_total An x\n# TYPE x_total counter\n"
        'x_total{route="a"} 1\nx_total{route="b"} 3\n'
        "# HELP y A y\n# TYPE y gauge\ny 2.5\n"
        "# HELP z Not reported here\n# TYPE z gauge\n"
    )


def test_route_counters_stay_monotonic_when_connections_close():
    collector = MetricsCollector()
    routes = ["A -> X", "B -> Y"]
    first = samples(
        collector.render_snapshot(
            snapshot(connection(1, "A -> X", 100, 1000), connection(2, "B -> Y", 5, 50)), routes
        )
    )
    key = 'shaper_bytes_out_total{route="A -> X",direction="downstream"}'
    assert first[key] == 1000
    assert first['shaper_connections_open{route="A -> X"}'] == 1
    # Connection 1 moves more and closes; connection 3 opens on the same route.
    second = samples(
        collector.render_snapshot(
            snapshot(connection(2, "B -> Y", 6, 60), connection(3, "A -> X", 1, 10)), routes
        )
    )
    assert second[key] == 1010
    assert second['shaper_connections_open{route="A -> X"}'] == 1
    assert second['shaper_route_connections_seen_total{route="A -> X"}'] == 2
    assert second['shaper_bytes_out_total{route="B -> Y",direction="downstream"}'] == 60
    third = samples(collector.render_snapshot(snapshot(), routes))
    assert third[key] == 1010
    assert third['shaper_connections_open{route="A -> X"}'] == 0
    assert third['shaper_queue_bytes{route="A -> X",direction="upstream"}'] == 0


def test_unknown_kernel_figures_are_left_out():
    text = MetricsCollector().render_snapshot(snapshot(connection(1, "A", 1, 1)), ["A"])
    assert "shaper_source_kernel_rx_bytes{" not in text
    assert "# TYPE shaper_source_kernel_rx_bytes gauge" in text


async def test_scrape_a_real_engine():
    async with engine_env() as env:
        reader, writer = await env.connect()
        writer.write(b"x" * 1000)
        await writer.drain()
        await asyncio.wait_for(reader.readexactly(1000), 5)
        route = f"127.0.0.1:{env.proxy[1]} -> 127.0.0.1:{env.upstream.port}"
        status, text = await env.request("GET", "/metrics")
        assert status == 200
        values = samples(text)
        up = f'shaper_bytes_in_total{{route="{route}",direction="upstream"}}'
        assert values[up] == 1004
        assert values['shaper_engine_bytes_total{direction="downstream"}'] == 1004
        writer.close()
        for _ in range(200):
            if not env.engine.connections:
                break
            await asyncio.sleep(0.01)
        assert not env.engine.connections
        status, text = await env.request("GET", "/metrics")
        values = samples(text)
        assert values[up] == 1004  # kept after the connection closed
        assert values['shaper_engine_bytes_total{direction="downstream"}'] == 1004
        assert values[f'shaper_connections_open{{route="{route}"}}'] == 0
        assert values["shaper_connections_total"] == 1
        for line in text.splitlines():
            assert line.startswith("# ") or re.match(r"^[a-z_]+(\{.*\})? \S+$", line), line


async def test_the_path_in_the_metrics():
    from shaper.model.limits import Limits

    limits = Limits().with_both({"rate": "8Mbit", "latency": "5ms", "buffer": "64KiB"})
    async with engine_env(limits=limits) as env:
        await env.connect()
        await env.connect()  # two connections, one shared link: its queue counts once
        status, text = await env.request("GET", "/metrics")
        assert status == 200
        assert 'shaper_link_queue_capacity_bytes{direction="downstream"} 65536' in text
        assert re.search(r'shaper_in_flight_bytes\{route="[^"]+",direction="upstream"\} \d+', text)
        assert re.search(
            r'shaper_tcp_phase_directions\{route="[^"]+",direction="upstream",'
            r'phase="slow-start"\} 2',
            text,
        )
