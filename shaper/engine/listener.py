"""One route at run time: its listening socket, whether it is enabled, and its own limits
with the links its connections share under them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import cast

from shaper.engine.link_runner import LinkRunner
from shaper.engine.timers import LoopTimers, TimerFdTimers
from shaper.model.limits import DIRECTIONS, Limits
from shaper.model.routes import Route

# A name that resolves slowly must not hold a control API call for long.
BIND_TIMEOUT = 3.0


class Refuser(asyncio.Protocol):
    """What a listener that has just been closed hands a connection asyncio had already
    accepted: the socket is closed at once, nothing is dialed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        cast(asyncio.Transport, transport).abort()  # a stream server's are Transports


class Listener:
    def __init__(self, route: Route, limits: Limits | None = None):
        self.route = route
        self.bound: tuple[str, int] | None = None  # kept while disabled, to listen there again
        self.enabled = True
        self.server: asyncio.AbstractServer | None = None
        self.limits = limits
        # With limits of its own, the route's connections share a pair of links of its own
        # (with link = shared); without, they share the engine's.
        self.links: dict[str, LinkRunner] | None = None
        # The description, and the bound address it was made for: every connection of the
        # route keeps it, so they share one text rather than one each.
        self._described: tuple[tuple[str, int] | None, str] | None = None

    @property
    def name(self) -> str:
        return self.route.name

    def describe(self) -> str:
        described = self._described
        if described is None or described[0] != self.bound:
            described = self._described = (self.bound, self.route.describe(self.bound))
        return described[1]

    async def open(self, factory: Callable[[], asyncio.BaseProtocol]) -> tuple[str, int]:
        """Listen on the route's address (again on the bound one, once bound)."""
        host, port = self.route.listen
        if self.bound is not None:
            port = self.bound[1]
        loop = asyncio.get_running_loop()
        server = await asyncio.wait_for(
            loop.create_server(factory, host, port, reuse_address=True), BIND_TIMEOUT
        )
        self.server = server
        sockname = server.sockets[0].getsockname()
        self.bound = (sockname[0], sockname[1])
        return self.bound

    def close(self) -> None:
        """Stop listening now: the socket is closed before this returns, so the address
        can be listened on again at once."""
        if self.server is not None:
            self.server.close()
            self.server = None

    def use_links(
        self,
        limits: Limits | None,
        loop: asyncio.AbstractEventLoop,
        timers: TimerFdTimers | LoopTimers,
    ) -> None:
        """Set the route's own limits (None: follow the engine's). Links left behind are
        not closed: bytes still queued on them drain, then nothing refers to them."""
        self.limits = limits
        if limits is None:
            self.links = None
        elif self.links is None:
            self.links = {
                d: LinkRunner(limits.direction(d), loop, timers, shared=True) for d in DIRECTIONS
            }
        else:
            for direction, link in self.links.items():
                link.set_limits(limits.direction(direction))

    def close_links(self) -> None:
        for link in (self.links or {}).values():
            link.close()
