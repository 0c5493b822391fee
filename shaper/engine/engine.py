"""The engine: listeners, upstream dialing, the connection registry, live limit changes,
and the profile (with its scenario) in force."""

from __future__ import annotations

import asyncio
import functools
import random
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from shaper.engine import kernel
from shaper.engine.connection import Connection, Leg
from shaper.engine.fault_runner import FaultRunner
from shaper.engine.link_runner import LinkRunner
from shaper.engine.refused import Refused
from shaper.engine.scenario_runner import ScenarioRunner
from shaper.engine.timers import LoopTimers, TimerFdTimers, make_timers
from shaper.model import snapshots as stats
from shaper.model.addresses import format_address
from shaper.model.limits import DIRECTIONS, Limits
from shaper.model.routes import Route

if TYPE_CHECKING:
    from shaper.faults import FaultSpec
    from shaper.profiles.model import Profile

EVENTS_KEPT = 200
STOP_GRACE = 1.0  # seconds connections get to flush when the engine stops
SWEEP_EVERY = 1.0  # seconds between checks of paused readers for resets


class Engine:
    """Runs in one asyncio loop; every method is called from that loop."""

    # Bound by start(). Accepting, dialing and the sweep only run after it, so they use
    # these with no None check; what may run before start() (stop, snapshot,
    # apply_profile) asks _started first.
    _loop: asyncio.AbstractEventLoop
    _timers: TimerFdTimers | LoopTimers

    def __init__(
        self,
        routes: list[Route],
        limits: Limits | None = None,
        connect_timeout: float = 5.0,
        seed: int | None = None,
        faults: list[FaultSpec] | None = None,
    ):
        if not routes:
            raise ValueError("at least one route is needed")
        self.routes = list(routes)
        self.limits = limits or Limits()
        self.connect_timeout = connect_timeout
        self.connections: dict[int, Connection] = {}
        self.events: deque[stats.Event] = deque(maxlen=EVENTS_KEPT)
        # Called with every event as it is recorded (`shaper serve --log`); a listener must
        # not raise and must not block: it runs on the data path's loop.
        self.event_listeners: list[Callable[[stats.Event], None]] = []
        self.profile_name: str | None = None
        # What the profile (or its scenario's phase) set: limits changed by hand since then
        # mark the profile as modified.
        self._profile_limits: Limits | None = None
        self._scenario: ScenarioRunner | None = None
        self._profile_faults: list[str] = []  # names of the faults the profile put in force
        self.started_at = time.time()
        self.totals = {
            "bytes_upstream": 0,
            "bytes_downstream": 0,
            "connections_total": 0,
            "resets": 0,
            "errors": 0,
        }
        # Bytes moved by closed connections, per route name and (direction, counter):
        # what /metrics adds to the open connections' counts to stay monotonic.
        self.route_totals: dict[str, dict[tuple[str, str], int]] = {}
        self._servers: list[asyncio.AbstractServer] = []
        self._bound: list[tuple[str, int]] = []
        self._next_id = 1
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        # One link per direction that every connection shares (with link = shared).
        self.links: dict[str, LinkRunner] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        # The seed every random draw of the engine derives from (which connections a fault
        # touches, a slicer's sizes): reported in /v1/status so a run can be replayed.
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
        self.fault_runner = FaultRunner(self.seed, self.record)
        for spec in faults or ():
            self.fault_runner.add(spec, ())

    # -- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        loop = self._loop = asyncio.get_running_loop()
        self._timers = make_timers(loop)
        self._started = True
        self.links = {
            d: LinkRunner(self.limits.direction(d), loop, self._timers, shared=True)
            for d in DIRECTIONS
        }
        self._sweeper = loop.call_later(SWEEP_EVERY, self._sweep)
        self.started_at = time.time()
        try:
            for route in self.routes:
                host, port = route.listen
                index = len(self._servers)
                server = await loop.create_server(
                    functools.partial(self._accept, route, index),
                    host,
                    port,
                    reuse_address=True,
                )
                self._servers.append(server)
                sockname = server.sockets[0].getsockname()
                self._bound.append((sockname[0], sockname[1]))
        except BaseException:
            await self.stop()
            raise

    @property
    def addresses(self) -> list[tuple[str, int]]:
        return list(self._bound)

    def describe_routes(self) -> list[str]:
        return [
            route.describe(bound) for route, bound in zip(self.routes, self._bound, strict=False)
        ]

    async def stop(self) -> None:
        self.stop_scenario()  # a scenario must not keep changing a stopped engine
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for server in self._servers:
            server.close()
        open_connections = list(self.connections.values())
        for conn in open_connections:
            conn.close()
        # Give graceful closes a moment to flush, then abort what is left: a
        # peer that never reads must not keep a socket past the engine's stop.
        if self._started:
            deadline = self._loop.time() + STOP_GRACE
            while any(not c.legs_lost for c in open_connections) and self._loop.time() < deadline:
                await asyncio.sleep(0.02)
        for conn in open_connections:
            conn.force_close()
        for task in list(self._tasks):
            task.cancel()
        for server in self._servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 1.0)
            except (TimeoutError, RuntimeError):
                pass
        self._servers.clear()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.sleep(0)
        for link in self.links.values():
            link.close()
        if self._started:
            self._timers.close()  # closing twice (a second stop) does nothing

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- accepting and dialing ------------------------------------------------------

    def _accept(self, route: Route, index: int) -> Leg | Refused:
        conn_id = self._next_id
        self._next_id += 1
        self.totals["connections_total"] += 1
        faults = self.fault_runner
        refusal = faults.refusal(route.name, conn_id) if faults.faults else None
        if refusal is not None:
            return Refused(refusal)
        # Name the route by its bound address: a listen port of 0 says nothing.
        name = route.describe(self._bound[index])
        conn = Connection(
            conn_id,
            name,
            self.limits,
            self._loop,
            self._timers,
            self.links,
            self.record,
            self._closed,
            route_name=route.name,
        )
        self.connections[conn_id] = conn
        dial_delay = 0.0
        if faults.faults:
            faults.attach(conn)
            dial_delay = faults.dial_delay(route.name, conn_id)
        task = self._loop.create_task(self._dial(conn, route, dial_delay))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return conn.client

    async def _dial(self, conn: Connection, route: Route, delay: float = 0.0) -> None:
        host, port = route.upstream
        limits = conn.limits
        sock = None
        try:
            if delay:
                await asyncio.sleep(delay)  # connect_delay: a slow open
                if conn.client.lost or conn.state != "connecting":
                    return
            infos = await asyncio.wait_for(
                self._loop.getaddrinfo(host, port, type=socket.SOCK_STREAM), self.connect_timeout
            )
            last_error: Exception | None = None
            for family, type_, proto, _, address in infos:
                sock = socket.socket(family, type_, proto)
                sock.setblocking(False)
                # Before connect, so the window scale is negotiated for this size.
                kernel.set_buffers(sock, limits.downstream.sockbuf, limits.upstream.sockbuf)
                try:
                    await asyncio.wait_for(
                        self._loop.sock_connect(sock, address), self.connect_timeout
                    )
                    break
                except (TimeoutError, OSError) as exc:
                    last_error = exc
                    sock.close()
                    sock = None
            if sock is None:
                raise last_error or OSError(f"no address for {host}")
            if conn.client.lost or conn.state != "connecting":
                sock.close()
                return
            await self._loop.create_connection(lambda: conn.server, sock=sock)
            sock = None
            conn.server_connected()
        except asyncio.CancelledError:
            if sock is not None:
                sock.close()
            raise
        except (TimeoutError, OSError) as exc:
            if sock is not None:
                sock.close()
            reason = "timed out" if isinstance(exc, asyncio.TimeoutError) else str(exc)
            self.totals["errors"] += 1
            self.record(
                "error",
                f"upstream {format_address(route.upstream)} unreachable: {reason}; client "
                f"{conn.client_addr} reset",
                conn.id,
            )
            conn.close(reset=True)

    def _sweep(self) -> None:
        """Find resets on sockets we are not reading (queue full or stalled). Unread, an
        RST would only be seen once the queue drains, which a stall may never allow."""
        for conn in list(self.connections.values()):
            for leg in (conn.client, conn.server):
                pipe = leg.source_of
                if not pipe.reading and not leg.lost and kernel.was_reset(leg.sock):
                    conn.source_reset(leg)
                    break
        self._sweeper = self._loop.call_later(SWEEP_EVERY, self._sweep)

    def _closed(self, conn: Connection) -> None:
        self.connections.pop(conn.id, None)
        self.fault_runner.detach(conn)
        self.totals["bytes_upstream"] += conn.upstream.flow.bytes_out
        self.totals["bytes_downstream"] += conn.downstream.flow.bytes_out
        route = self.route_totals.setdefault(conn.route, {})
        for pipe in (conn.upstream, conn.downstream):
            for name in ("bytes_in", "bytes_out"):
                key = (pipe.direction, name)
                route[key] = route.get(key, 0) + getattr(pipe.flow, name)
        if conn.reset_seen:
            self.totals["resets"] += 1
        if conn.server_addr:
            self.record("close", f"{conn.client_addr} closed", conn.id)

    def record(self, kind: str, message: str, conn_id: int | None = None) -> None:
        event = stats.Event(time.time(), kind, message, conn_id)
        self.events.append(event)
        for listener in self.event_listeners:
            listener(event)

    # -- limits -------------------------------------------------------------------

    def set_limits(self, limits: Limits) -> None:
        """Engine-wide limits, applied now to every connection without its own override."""
        self.limits = limits
        for direction, link in self.links.items():
            link.set_limits(limits.direction(direction))
        for conn in list(self.connections.values()):
            if conn.override is None:
                conn.set_limits(limits)

    # -- profile and scenario -------------------------------------------------------

    def apply_profile(self, profile: Profile, overrides: Mapping[str, Any] | None = None) -> None:
        """Make `profile` the engine's limits: stop any running scenario, set the limits and
        the profile name, then start the profile's scenario if it has one.

        `overrides` (partial limits of unit strings, e.g. explicit CLI flags) win over the
        profile's base limits and every phase; they are validated before anything changes
        (LimitError). Needs the running loop when the profile has a scenario."""
        if overrides:
            profile = profile.with_overrides(overrides)
        self.stop_scenario()
        self._set_profile_limits(profile.limits)
        self._set_profile_faults(profile)
        self.profile_name = profile.name
        self.record("profile", f"profile {profile.name} applied")
        if profile.scenario is not None:
            loop = self._loop if self._started else asyncio.get_running_loop()
            self._scenario = ScenarioRunner(
                profile.scenario, loop, self._set_profile_limits, self.record
            )
            self._scenario.start()

    def _set_profile_faults(self, profile: Profile) -> None:
        """The previous profile's faults go, this one's come; faults added by hand stay
        (a profile's fault replaces a hand-added one of the same name)."""
        runner = self.fault_runner
        for name in self._profile_faults:
            if name in runner.faults:
                runner.remove(name)
        for spec in profile.faults:
            if spec.name in runner.faults:
                runner.remove(spec.name)
            runner.add(spec, self.connections.values())
        self._profile_faults = [spec.name for spec in profile.faults]

    def stop_scenario(self) -> None:
        """Stop switching phases; the limits in force stay."""
        if self._scenario is not None:
            self._scenario.stop()
            self._scenario = None

    @property
    def scenario(self) -> ScenarioRunner | None:
        return self._scenario

    def scenario_status(self) -> dict[str, Any] | None:
        return self._scenario.status() if self._scenario is not None else None

    def profile_changes(self) -> list[str]:
        """The limits ('downstream.rate', ...) changed by hand since the profile set them."""
        if self._profile_limits is None or self._profile_limits == self.limits:
            return []
        now, then = self.limits.to_dict(), self._profile_limits.to_dict()
        return [
            f"{direction}.{key}"
            for direction in DIRECTIONS
            for key, value in now[direction].items()
            if then[direction][key] != value
        ]

    def _set_profile_limits(self, limits: Limits) -> None:
        self._profile_limits = limits
        self.set_limits(limits)

    def patch_limits(self, changes: dict[str, Any]) -> Limits:
        limits = self.limits.patched(changes)
        self.set_limits(limits)
        self.record("limits", describe_changes(changes))
        return limits

    def connection_limits(self, conn_id: int) -> Limits:
        return self.connections[conn_id].limits

    def set_connection_limits(self, conn_id: int, limits: Limits | None) -> None:
        conn = self.connections[conn_id]
        conn.override = limits
        conn.set_limits(limits if limits is not None else self.limits)

    def close_connection(self, conn_id: int, mode: str = "close") -> None:
        conn = self.connections[conn_id]
        self.record(mode, f"{conn.client_addr} {mode} requested", conn_id)
        if mode == "reset":
            conn.reset_seen = True
        conn.close(reset=(mode == "reset"))

    # -- faults -----------------------------------------------------------------------

    def fault_specs(self) -> list[FaultSpec]:
        return self.fault_runner.specs()

    def fault_counts(self) -> dict[str, int]:
        """Connections each fault type has touched (or turned away) over the engine's life."""
        return dict(self.fault_runner.fired)

    def add_fault(self, spec: FaultSpec) -> None:
        """Put a fault in force; it acts on open connections where its kind allows.
        KeyError if a fault of that name is in force."""
        self.fault_runner.add(spec, self.connections.values())

    def remove_fault(self, name: str) -> FaultSpec:
        """Take a fault away: what it held flows again, in order. KeyError if unknown."""
        return self.fault_runner.remove(name)

    def replace_fault(self, spec: FaultSpec) -> None:
        """A fault of the same name, changed. KeyError if unknown."""
        if spec.name not in self.fault_runner.faults:
            raise KeyError(spec.name)
        self.fault_runner.replace(spec, self.connections.values())

    # -- stats ----------------------------------------------------------------------

    def _link_queues(self, direction: str) -> tuple[int, int]:
        """(bytes queued, capacity) over the links of this direction: the shared link
        counts once, whatever number of connections share it."""
        links = _distinct_links(
            self.connections.values(),
            direction,
            self.links.get(direction),
            self.limits.direction(direction).link == "shared",
        )
        return sum(link.model.queued for link in links), sum(link.limits.buffer for link in links)

    def snapshot(self, connections: bool = False) -> stats.EngineStats:
        now = self._loop.time() if self._started else time.monotonic()
        wall = time.time()
        per_conn = [c.snapshot(now, True, wall) for c in self.connections.values()]
        upstream = stats.aggregate(
            "upstream", [c.upstream for c in per_conn], self._link_queues("upstream")
        )
        downstream = stats.aggregate(
            "downstream", [c.downstream for c in per_conn], self._link_queues("downstream")
        )
        return stats.EngineStats(
            time=time.time(),
            uptime=round(time.time() - self.started_at, 3),
            connections_open=len(self.connections),
            connections_total=self.totals["connections_total"],
            resets=self.totals["resets"],
            errors=self.totals["errors"],
            upstream=upstream,
            downstream=downstream,
            events=tuple(self.events)[-50:],
            connections=tuple(per_conn) if connections else None,
            scenario=self.scenario_status(),
            profile=self.profile_name,
            limits=self.limits.to_dict(),
            profile_changes=tuple(self.profile_changes()),
            bytes_upstream=self.totals["bytes_upstream"] + upstream.bytes_out,
            bytes_downstream=self.totals["bytes_downstream"] + downstream.bytes_out,
        )


def _distinct_links(
    conns: Any, direction: str, shared: LinkRunner | None, shared_in_force: bool
) -> list[LinkRunner]:
    """The links in use in `direction`: the shared one once (if a connection uses it, or
    the limits say new connections will), and every connection's own."""
    links = []
    uses_shared = shared_in_force
    for conn in conns:
        link = getattr(conn, direction).link
        if link.shared:
            uses_shared = True
        else:
            links.append(link)
    if uses_shared and shared is not None:
        links.insert(0, shared)
    return links


def describe_changes(changes: dict[str, Any]) -> str:
    parts = []
    for direction in DIRECTIONS:
        for key, value in (changes.get(direction) or {}).items():
            parts.append(f"{direction}.{key}={value}")
    return "limits: " + (", ".join(parts) if parts else "unchanged")
