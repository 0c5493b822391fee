"""The in-process Python API: start a shaped proxy inside a test suite or a script.

async with shaper.open_proxy(upstream=("127.0.0.1", 5432), rate="2Mbit") as proxy:
    connect_to(proxy.host, proxy.port)
    proxy.set_limits(downstream={"latency": "100ms"})
    print(proxy.stats().downstream.queue)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from shaper.engine.engine import Engine
from shaper.model.addresses import parse_address
from shaper.model.limits import DIRECTIONS, Limits
from shaper.model.routes import Route
from shaper.model.snapshots import EngineStats


class Proxy:
    """A running in-process proxy. Every method must be called from the loop it runs in."""

    def __init__(self, engine: Engine):
        self.engine = engine

    @property
    def address(self) -> tuple[str, int]:
        return self.engine.addresses[0]

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def limits(self) -> Limits:
        return self.engine.limits

    def set_limits(
        self,
        changes: dict[str, Any] | Limits | None = None,
        *,
        upstream: dict[str, Any] | None = None,
        downstream: dict[str, Any] | None = None,
        **both: Any,
    ) -> Limits:
        """Change limits live. Accepts a Limits, a partial dict
        ({"downstream": {"rate": "1Mbit"}}), upstream=/downstream= dicts, or keyword
        limits for both directions (rate="1Mbit"). Raises LimitError on a bad value."""
        if isinstance(changes, Limits):
            self.engine.set_limits(changes)
            return changes
        merged = both_directions(changes, upstream, downstream, both)
        return self.engine.patch_limits(merged)

    def stats(self, connections: bool = False) -> EngineStats:
        return self.engine.snapshot(connections=connections)


def both_directions(
    changes: dict[str, Any] | None,
    upstream: dict[str, Any] | None,
    downstream: dict[str, Any] | None,
    both: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {d: {} for d in DIRECTIONS}
    for direction in DIRECTIONS:
        merged[direction].update(both)
    for direction, part in (changes or {}).items():
        merged.setdefault(direction, {}).update(part)
    merged["upstream"].update(upstream or {})
    merged["downstream"].update(downstream or {})
    return {d: c for d, c in merged.items() if c}


@asynccontextmanager
async def open_proxy(
    upstream: tuple[str, int] | str,
    listen: tuple[str, int] | str = ("127.0.0.1", 0),
    limits: Limits | dict[str, Any] | None = None,
    connect_timeout: float = 5.0,
    **both: Any,
) -> AsyncIterator[Proxy]:
    """Start a proxy to `upstream` (port 0 for `listen` picks a free port) and stop it on exit.

    `limits` is a Limits or a partial dict; keyword limits (rate="2Mbit", latency="20ms")
    apply to both directions."""
    if isinstance(upstream, str):
        upstream = parse_address(upstream, None, "upstream address")
    if isinstance(listen, str):
        listen = parse_address(listen, "127.0.0.1", "listen address")
    if isinstance(limits, Limits):
        base = limits
    else:
        base = Limits().patched(both_directions(limits, None, None, both))
    engine = Engine([Route(listen, upstream)], base, connect_timeout=connect_timeout)
    await engine.start()
    try:
        yield Proxy(engine)
    finally:
        await engine.stop()
