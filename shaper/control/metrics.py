"""Prometheus text exposition (format 0.0.4) of engine snapshots, for GET /metrics.

Per-direction figures carry `route` ("LISTEN -> UPSTREAM") and `direction`
(upstream/downstream) labels. Byte counters stay monotonic across closed
connections: the collector remembers what each open connection had moved
and folds it into its route's total when the connection goes away.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

from shaper.control.engine_view import ControlledEngine
from shaper.model import chance, units
from shaper.model.limits import DIRECTIONS

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# (metric name, DirectionStats attribute, help, factor to the metric's unit)
_DIRECTION_COUNTERS = (
    ("shaper_bytes_in_total", "bytes_in", "Bytes read from the source of a direction", 1),
    ("shaper_bytes_out_total", "bytes_out", "Bytes written to the sink of a direction", 1),
    ("shaper_lost_packets_total", "lost", "Packets the emulated path lost (all repaired)", 1),
    (
        "shaper_lost_acks_total",
        "lost_acks",
        "Acknowledgements of a direction's data lost on the way back",
        1,
    ),
    ("shaper_retransmit_timeouts_total", "timeouts", "Emulated retransmission timeouts", 1),
    (
        "shaper_retransmit_delay_seconds_total",
        "retransmit_delay_us",
        "Lateness the repairs added to lost packets",
        1e-6,
    ),
    (
        "shaper_recovery_stalled_seconds_total",
        "stalled_us",
        "Time delivery stood still waiting for a retransmission",
        1e-6,
    ),
)
_DIRECTION_GAUGES = (
    ("shaper_rate_in_bytes_per_second", "rate_in", "Smoothed read rate, bytes per second"),
    ("shaper_rate_out_bytes_per_second", "rate_out", "Smoothed write rate, bytes per second"),
    ("shaper_queue_bytes", "queue", "This route's bytes waiting in the bounded queues"),
    ("shaper_wire_bytes", "wire", "Bytes past the link, waiting out their latency"),
    ("shaper_sink_buffer_bytes", "sink_buffer", "Bytes in the sink's user-space write buffer"),
    (
        "shaper_source_kernel_rx_bytes",
        "source_kernel_rx",
        "Unread bytes in the source socket's kernel receive queue",
    ),
    (
        "shaper_in_flight_bytes",
        "in_flight",
        "Bytes the emulated senders have on the path, not yet acknowledged",
    ),
    (
        "shaper_sink_kernel_tx_bytes",
        "sink_kernel_tx",
        "Unsent or unacked bytes in the sink socket's kernel send queue",
    ),
)


def escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def format_value(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


class Exposition:
    """Accumulates metric families; each family's HELP/TYPE is written once."""

    def __init__(self) -> None:
        self._families: dict[str, tuple[str, str, list[str]]] = {}

    def add(
        self,
        name: str,
        kind: str,
        help_text: str,
        value: float | int | None,
        labels: dict[str, str] | None = None,
    ) -> None:
        family = self._families.setdefault(name, (kind, help_text, []))
        if value is None:
            return
        if labels:
            inner = ",".join(f'{k}="{escape_label(str(v))}"' for k, v in labels.items())
            family[2].append(f"{name}{{{inner}}} {format_value(value)}")
        else:
            family[2].append(f"{name} {format_value(value)}")

    def render(self) -> str:
        out: list[str] = []
        for name, (kind, help_text, samples) in self._families.items():
            out.append(f"# HELP {name} {help_text}")
            out.append(f"# TYPE {name} {kind}")
            out.extend(samples)
        return "\n".join(out) + "\n"


class MetricsCollector:
    """Keeps per-route byte counters monotonic between scrapes of one engine."""

    def __init__(self) -> None:
        # connection id -> (route, {(direction, attr): bytes})
        self._seen: dict[int, tuple[str, dict[tuple[str, str], float]]] = {}
        self._closed: dict[tuple[str, str, str], float] = defaultdict(int)
        self._connections: dict[str, int] = defaultdict(int)

    def render(self, engine: ControlledEngine, version: str = "") -> str:
        stats = engine.snapshot(connections=True)
        return self.render_snapshot(
            stats,
            engine.describe_routes(),
            totals=engine.totals,
            version=version,
            closed=engine.route_totals,
            faults_fired=engine.fault_counts(),
        )

    def render_snapshot(
        self,
        stats: Any,
        routes: list[str],
        totals: dict[str, int] | None = None,
        version: str = "",
        route_labels: dict[str, str] | None = None,
        closed: dict[str, dict[tuple[str, str], float]] | None = None,
        faults_fired: dict[str, int] | None = None,
    ) -> str:
        """Render one snapshot. `route_labels` maps a connection's route name to its label.
        `closed`: the engine's exact per-route byte counts of closed connections; without
        it, counts are folded in when a scrape first misses a connection."""
        connections = list(stats.connections or ())
        route_names = list(dict.fromkeys(routes + [c.route for c in connections]))
        current: dict[int, tuple[str, dict[tuple[str, str], float]]] = {}
        for conn in connections:
            counts: dict[tuple[str, str], float] = {}
            for direction in DIRECTIONS:
                d = getattr(conn, direction)
                for _, attr, _, _ in _DIRECTION_COUNTERS:
                    counts[(direction, attr)] = getattr(d, attr) or 0
            current[conn.id] = (conn.route, counts)
            if conn.id not in self._seen:
                self._connections[conn.route] += 1
        for conn_id, (route, counts) in self._seen.items():
            if conn_id not in current:
                for (direction, attr), moved in counts.items():
                    self._closed[(route, direction, attr)] += moved
        self._seen = current

        ex = Exposition()
        ex.add("shaper_info", "gauge", "Engine version", 1, {"version": version})
        ex.add("shaper_uptime_seconds", "gauge", "Seconds since the engine started", stats.uptime)
        ex.add(
            "shaper_connections_total",
            "counter",
            "Connections accepted since start",
            stats.connections_total,
        )
        ex.add("shaper_resets_total", "counter", "Connections reset", stats.resets)
        ex.add("shaper_errors_total", "counter", "Connection errors", stats.errors)
        for fault_type, fired in sorted((faults_fired or {}).items()):
            ex.add(
                "shaper_faults_fired_total",
                "counter",
                "Connections a fault touched or turned away, by fault type",
                fired,
                {"type": fault_type},
            )
        if totals:
            for direction in DIRECTIONS:
                value = totals.get(f"bytes_{direction}")
                if value is not None:  # closed connections, plus what the open ones moved
                    value += sum(getattr(c, direction).bytes_out for c in connections)
                ex.add(
                    "shaper_engine_bytes_total",
                    "counter",
                    "Bytes delivered in each direction, all routes, since start",
                    value,
                    {"direction": direction},
                )

        for direction in DIRECTIONS:
            # The links themselves: a shared link is one queue, whatever shares it.
            aggregate = getattr(stats, direction)
            labels = {"direction": direction}
            ex.add(
                "shaper_link_queue_bytes",
                "gauge",
                "Bytes in the links' queues",
                aggregate.queue,
                labels,
            )
            ex.add(
                "shaper_link_queue_capacity_bytes",
                "gauge",
                "Capacity of the links' queues (a shared link counts once)",
                aggregate.queue_capacity,
                labels,
            )

        by_route: dict[str, list[Any]] = {name: [] for name in route_names}
        for conn in connections:
            by_route[conn.route].append(conn)
        route_labels = route_labels or {}
        for route_name in route_names:
            conns = by_route[route_name]
            route = route_labels.get(route_name, route_name)
            ex.add(
                "shaper_connections_open",
                "gauge",
                "Open connections",
                len(conns),
                {"route": route},
            )
            ex.add(
                "shaper_route_connections_seen_total",
                "counter",
                "Connections of this route seen open by a scrape",
                self._connections[route_name],
                {"route": route},
            )
            for direction in DIRECTIONS:
                labels = {"route": route, "direction": direction}
                parts = [getattr(c, direction) for c in conns]
                for name, attr, help_text, factor in _DIRECTION_COUNTERS:
                    if closed is not None:
                        before = closed.get(route_name, {}).get((direction, attr), 0)
                    else:
                        before = self._closed[(route_name, direction, attr)]
                    moved = before + sum(getattr(p, attr) or 0 for p in parts)
                    ex.add(name, "counter", help_text, moved * factor, labels)
                for name, attr, help_text in _DIRECTION_GAUGES:
                    values = [getattr(p, attr) for p in parts]
                    known = [v for v in values if v is not None]
                    # None everywhere: the OS does not report it; leave the sample out.
                    value = None if values and not known else sum(known)
                    ex.add(name, "gauge", help_text, value, labels)
                states: dict[str, int] = defaultdict(int)
                for p in parts:
                    states[p.state] += 1
                for state, count in sorted(states.items()):
                    ex.add(
                        "shaper_directions",
                        "gauge",
                        "Open connection directions in each state",
                        count,
                        {**labels, "state": state},
                    )
                phases: dict[str, int] = defaultdict(int)
                for p in parts:
                    if p.tcp_phase is not None:
                        phases[p.tcp_phase] += 1
                for phase, count in sorted(phases.items()):
                    ex.add(
                        "shaper_tcp_phase_directions",
                        "gauge",
                        "Open connection directions whose emulated sender is in each phase",
                        count,
                        {**labels, "phase": phase},
                    )
        limits = stats.limits or {}
        for direction in DIRECTIONS:
            self._add_limits(ex, direction, limits.get(direction) or {})
        return ex.render()

    @staticmethod
    def _add_limits(ex: Exposition, direction: str, limits: dict[str, Any]) -> None:

        labels = {"direction": direction}
        try:
            # A trace's rate is trace:NAME; its mean rate is reported beside it.
            shown = limits.get("trace_rate", limits.get("rate"))
            rate = units.parse_rate(shown) if shown is not None else None
            latency = units.parse_duration(limits["latency"]) if "latency" in limits else None
            jitter = units.parse_duration(limits["jitter"]) if "jitter" in limits else None
            buffer = units.parse_size(limits["buffer"]) if "buffer" in limits else None
            loss = chance.parse_loss(limits["loss"]) if "loss" in limits else None
        except units.UnitError:
            return
        ex.add(
            "shaper_limit_rate_bits_per_second",
            "gauge",
            "Engine-wide rate limit, bits per second (0 = unlimited)",
            rate,
            labels,
        )
        ex.add(
            "shaper_limit_latency_seconds",
            "gauge",
            "Engine-wide one-way latency",
            latency / 1e6 if latency is not None else None,
            labels,
        )
        ex.add(
            "shaper_limit_jitter_seconds",
            "gauge",
            "Engine-wide jitter",
            jitter / 1e6 if jitter is not None else None,
            labels,
        )
        ex.add(
            "shaper_limit_buffer_bytes",
            "gauge",
            "Engine-wide queue bound per connection",
            buffer,
            labels,
        )
        ex.add(
            "shaper_limit_loss_ratio",
            "gauge",
            "Engine-wide packet loss probability (0 to 1)",
            loss,
            labels,
        )
        if "stall" in limits:
            ex.add(
                "shaper_limit_stalled",
                "gauge",
                "1 while the link is stalled",
                1 if limits["stall"] else 0,
                labels,
            )
