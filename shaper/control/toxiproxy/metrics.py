"""GET /metrics of the Toxiproxy API: Toxiproxy's proxy metric names and labels
(toxiproxy_proxy_received_bytes_total and _sent_bytes_total by direction, proxy,
listener and upstream), from the engine's exact per-route byte counts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shaper.control.metrics import Exposition
from shaper.model.limits import DIRECTIONS

if TYPE_CHECKING:
    from shaper.control.toxiproxy.collection import ProxyCollection

_COUNTERS = (
    ("toxiproxy_proxy_received_bytes_total", "bytes_in", "Bytes a proxy read, by direction"),
    ("toxiproxy_proxy_sent_bytes_total", "bytes_out", "Bytes a proxy wrote, by direction"),
)


def render_metrics(collection: ProxyCollection) -> str:
    engine = collection.engine
    routes = {collection.route_of(name): name for name in collection.names()}
    # Closed connections are counted under their route's description (LISTEN -> UPSTREAM).
    described = {engine.route_state(route).description: route for route in routes}
    counts: dict[tuple[str, str, str], float] = {}
    for description, moved in engine.route_totals.items():
        route = described.get(description, "")
        if route:
            for (direction, attr), value in moved.items():
                counts[(route, direction, attr)] = counts.get((route, direction, attr), 0) + value
    for conn in engine.snapshot(connections=True).connections or ():
        if conn.route_name in routes:
            for direction in DIRECTIONS:
                stats = getattr(conn, direction)
                for attr in ("bytes_in", "bytes_out"):
                    key = (conn.route_name, direction, attr)
                    counts[key] = counts.get(key, 0) + getattr(stats, attr)
    ex = Exposition()
    shown = {name: collection.show(name) for name in routes.values()}
    for metric, attr, help_text in _COUNTERS:
        for route, name in routes.items():
            proxy = shown[name]
            for direction in DIRECTIONS:
                labels = {
                    "direction": direction,
                    "proxy": name,
                    "listener": proxy["listen"],
                    "upstream": proxy["upstream"],
                }
                ex.add(
                    metric, "counter", help_text, counts.get((route, direction, attr), 0), labels
                )
    return ex.render()
