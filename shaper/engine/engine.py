"""The engine: listeners, upstream dialing, the connection registry, live limit changes,
routes added and removed at run time, and the profile (with its scenario) in force."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import random
import socket
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shaper.engine import kernel
from shaper.engine.connection import LOSS_FIGURES, Connection, Leg, loss_figures
from shaper.engine.fault_runner import FaultRunner
from shaper.engine.link_runner import LinkRunner
from shaper.engine.listener import Listener, Refuser
from shaper.engine.refused import Refused
from shaper.engine.scenario_runner import ScenarioRunner
from shaper.engine.timers import LoopTimers, TimerFdTimers, make_timers
from shaper.model import snapshots as stats
from shaper.model.addresses import format_address
from shaper.model.limits import DIRECTIONS, Limits
from shaper.model.routes import (
    MAX_ROUTES,
    Route,
    RouteConflict,
    RouteState,
    UnknownRoute,
    check_route_name,
    default_route_name,
)

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
        routes: Sequence[Route] = (),
        limits: Limits | None = None,
        connect_timeout: float = 5.0,
        seed: int | None = None,
        faults: list[FaultSpec] | None = None,
    ):
        # By name, in the order added. An engine may have none: routes come and go at run
        # time (add_route, remove_route).
        self._listeners: dict[str, Listener] = {}
        self._routes_added = 0  # numbers the unnamed ones (default_route_name)
        for route in routes:
            self._register(self._named(route), None)
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
        self._phase_faults: list[str] = []  # and those of its scenario's current phase
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
        self.route_totals: dict[str, dict[tuple[str, str], float]] = {}
        self._next_id = 1
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        # One link per direction that every connection shares (with link = shared).
        self.links: dict[str, LinkRunner] = {}
        self._sweeper: asyncio.TimerHandle | None = None
        # The seed every random draw of the engine derives from (which connections a fault
        # touches, a slicer's sizes): reported in /v1/status so a run can be replayed.
        self.seed = seed if seed is not None else random.SystemRandom().randrange(2**32)
        self._seed_given = seed is not None  # a profile's seed does not override --seed
        self.fault_runner = FaultRunner(self.seed, self.record)
        # Bound once and shared: every connection keeps both, and a bound method made per
        # connection is an object of 64 bytes of its own.
        self._record_for_connections = self.record
        self._closed_for_connections = self._closed
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
        # The seed in force, so a run can be replayed (--seed): loss, jitter, faults.
        self.record("seed", f"random draws (loss, jitter, faults) seeded with {self.seed}")
        try:
            for listener in self._listeners.values():
                if listener.limits is not None:
                    listener.use_links(listener.limits, loop, self._timers)
                await listener.open(functools.partial(self._accept, listener.route))
        except BaseException:
            await self.stop()
            raise

    @property
    def routes(self) -> list[Route]:
        """Every route, in the order added, disabled ones included."""
        return [listener.route for listener in self._listeners.values()]

    @property
    def addresses(self) -> list[tuple[str, int]]:
        """The bound listen address of every route (once started), in the order of routes."""
        return [lst.bound for lst in self._listeners.values() if lst.bound is not None]

    def describe_routes(self) -> list[str]:
        return [listener.describe() for listener in self._listeners.values()]

    async def stop(self) -> None:
        self.stop_scenario()  # a scenario must not keep changing a stopped engine
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        servers = [lst.server for lst in self._listeners.values() if lst.server is not None]
        for listener in self._listeners.values():
            listener.close()
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
        for server in servers:
            try:
                await asyncio.wait_for(server.wait_closed(), 1.0)
            except (TimeoutError, RuntimeError):
                pass
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.sleep(0)
        for link in self.links.values():
            link.close()
        for listener in self._listeners.values():
            listener.close_links()
        if self._started:
            self._timers.close()  # closing twice (a second stop) does nothing

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- accepting and dialing ------------------------------------------------------

    def _accept(self, route: Route) -> Leg | Refuser | Refused:
        listener = self._listeners.get(route.name)
        if listener is None or listener.route is not route or not listener.enabled:
            # Accepted by asyncio just before the route was disabled or removed.
            return Refuser()
        conn_id = self._next_id
        self._next_id += 1
        self.totals["connections_total"] += 1
        faults = self.fault_runner
        refusal = faults.refusal(route.name, conn_id) if faults.faults else None
        if refusal is not None:
            return Refused(refusal)
        # Describe the route by its bound address: a listen port of 0 says nothing.
        conn = Connection(
            conn_id,
            listener.describe(),
            self._limits_of(listener),
            self._loop,
            self._timers,
            self._links_of(listener),
            self._record_for_connections,
            self._closed_for_connections,
            route_name=route.name,
            seed=self.seed,
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
            # Loss counters stay monotonic in /metrics too.
            for name, value in zip(LOSS_FIGURES, loss_figures(pipe.flow), strict=True):
                if value:
                    key = (pipe.direction, name)
                    route[key] = route.get(key, 0) + value
        if conn.reset_seen:
            self.totals["resets"] += 1
        if conn.server_addr:
            self.record("close", f"{conn.client_addr} closed", conn.id)

    def record(self, kind: str, message: str, conn_id: int | None = None) -> None:
        event = stats.Event(time.time(), kind, message, conn_id)
        self.events.append(event)
        for listener in self.event_listeners:
            listener(event)

    # -- routes at run time ----------------------------------------------------------

    def _named(self, route: Route) -> Route:
        """The route with its name: its own (checked), or the next default one."""
        if route.name:
            check_route_name(route.name)
            return route
        return dataclasses.replace(route, name=self.new_route_name())

    def new_route_name(self) -> str:
        """The name the next route added without one gets."""
        position = self._routes_added + 1
        while default_route_name(position) in self._listeners:
            position += 1
        return default_route_name(position)

    def _register(self, route: Route, limits: Limits | None) -> Listener:
        if route.name in self._listeners:
            raise RouteConflict("name", f"name: a route named {route.name!r} exists already")
        if len(self._listeners) >= MAX_ROUTES:
            raise RouteConflict(
                "name", f"routes: at most {MAX_ROUTES} routes; remove one before adding another"
            )
        listener = self._listeners[route.name] = Listener(route, limits)
        self._routes_added += 1
        return listener

    def _listener(self, name: str) -> Listener:
        listener = self._listeners.get(name)
        if listener is None:
            raise UnknownRoute(name, list(self._listeners))
        return listener

    def _limits_of(self, listener: Listener | None) -> Limits:
        if listener is not None and listener.limits is not None:
            return listener.limits
        return self.limits

    def _links_of(self, listener: Listener | None) -> dict[str, LinkRunner]:
        if listener is not None and listener.links is not None:
            return listener.links
        return self.links

    def _route_connections(self, name: str) -> list[Connection]:
        return [c for c in self.connections.values() if c.route_name == name]

    async def add_route(self, route: Route, limits: Limits | None = None) -> tuple[str, int]:
        """Listen for `route` now and return the bound address (the real port for port 0).
        `limits`: the route's own (None: the engine-wide ones apply and follow their
        changes). A route without a name gets the next default one (new_route_name).
        RouteConflict for a name in use, an address another route holds or one the OS
        refuses (in use); RouteError for a bad name; nothing is left behind on failure."""
        if not self._started:
            raise RuntimeError("add_route needs a started engine")
        route = self._named(route)
        host, port = route.listen
        for other in self._listeners.values():
            # A disabled route keeps its address to listen there again: the OS would not
            # refuse a new listener on it, so this does.
            if (
                other.bound is not None
                and port != 0
                and other.bound[1] == port
                and (host in (other.route.listen[0], other.bound[0]))
            ):
                raise RouteConflict(
                    "listen",
                    f"listen: {format_address(route.listen)} is route {other.name!r}'s"
                    + ("" if other.enabled else " (disabled; it listens there when enabled)"),
                )
        listener = self._register(route, None)
        try:
            listener.use_links(limits, self._loop, self._timers)
            bound = await listener.open(functools.partial(self._accept, route))
        except (OSError, TimeoutError) as exc:
            self._listeners.pop(route.name, None)
            listener.close()
            reason = "timed out resolving the host" if isinstance(exc, TimeoutError) else exc
            raise RouteConflict(
                "listen", f"listen: cannot listen on {format_address(route.listen)}: {reason}"
            ) from None
        except BaseException:
            self._listeners.pop(route.name, None)
            listener.close()
            raise
        self._still_there(listener)
        own = " with limits of its own" if limits is not None else ""
        self.record("route", f"route {route.name} added: {listener.describe()}{own}")
        return bound

    async def remove_route(self, name: str) -> None:
        """Stop listening and close the route's connections (FIN both ways, flushed within
        the close grace); UnknownRoute if there is no such route."""
        listener = self._listener(name)
        del self._listeners[name]
        closed = self._close_route(listener)
        listener.close_links()
        self.record("route", f"route {name} removed: {listener.describe()}{closed}")

    async def set_route_enabled(self, name: str, enabled: bool) -> None:
        """Disabled: the listener is closed and the route's connections are closed (new
        connects are refused). Enabled again: it listens on the same bound address;
        RouteConflict if that address has been taken meanwhile (it stays disabled)."""
        listener = self._listener(name)
        if enabled == listener.enabled:
            return
        if not enabled:
            listener.enabled = False
            closed = self._close_route(listener)
            self.record("route", f"route {name} disabled: {listener.describe()}{closed}")
            return
        try:
            await listener.open(functools.partial(self._accept, listener.route))
        except (OSError, TimeoutError) as exc:
            raise RouteConflict(
                "enabled",
                f"enabled: route {name!r} cannot listen on {listener.describe()} again: {exc}",
            ) from None
        self._still_there(listener)
        listener.enabled = True
        self.record("route", f"route {name} enabled: {listener.describe()}")

    def _still_there(self, listener: Listener) -> None:
        """After listening: if the route was removed while its socket was being bound, the
        socket is closed again (UnknownRoute), so no listener outlives its route."""
        if self._listeners.get(listener.name) is not listener:
            listener.close()
            listener.close_links()
            raise UnknownRoute(listener.name, list(self._listeners))

    def _close_route(self, listener: Listener) -> str:
        listener.close()
        conns = self._route_connections(listener.name)
        for conn in conns:
            conn.close()
        return f"; {len(conns)} connection{'s' if len(conns) != 1 else ''} closed" if conns else ""

    def set_route_limits(self, name: str, limits: Limits | None) -> None:
        """The route's own limits, applied now to its connections without an override of
        their own; None: the route follows the engine-wide limits again."""
        listener = self._listener(name)
        if self._started:
            listener.use_links(limits, self._loop, self._timers)
        else:
            listener.limits = limits
        effective, links = self._limits_of(listener), self._links_of(listener)
        for conn in self._route_connections(name):
            if conn.override is None:
                conn.follow(effective, links)
        self.record(
            "route",
            f"route {name}: "
            + ("limits of its own" if limits is not None else "the engine-wide limits apply"),
        )

    def route_limits(self, name: str) -> Limits:
        """The limits in force for the route's connections (its own or the engine's)."""
        return self._limits_of(self._listener(name))

    def route_state(self, name: str) -> RouteState:
        listener = self._listener(name)
        count = len(self._route_connections(name))
        return RouteState(
            name=name,
            listen=listener.bound or listener.route.listen,
            upstream=listener.route.upstream,
            enabled=listener.enabled,
            limits=listener.limits,
            connections_open=count,
        )

    def route_states(self) -> list[RouteState]:
        counts: dict[str, int] = {}
        for conn in self.connections.values():
            counts[conn.route_name] = counts.get(conn.route_name, 0) + 1
        return [
            RouteState(
                name=name,
                listen=listener.bound or listener.route.listen,
                upstream=listener.route.upstream,
                enabled=listener.enabled,
                limits=listener.limits,
                connections_open=counts.get(name, 0),
            )
            for name, listener in self._listeners.items()
        ]

    # -- limits -------------------------------------------------------------------

    def set_limits(self, limits: Limits) -> None:
        """Engine-wide limits, applied now to every connection without its own override
        whose route has no limits of its own."""
        self.limits = limits
        for direction, link in self.links.items():
            link.set_limits(limits.direction(direction))
        for conn in list(self.connections.values()):
            listener = self._listeners.get(conn.route_name)
            if conn.override is None and (listener is None or listener.limits is None):
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
        if profile.seed is not None and not self._seed_given and profile.seed != self.seed:
            # New connections draw from it (those open keep their streams).
            self.seed = self.fault_runner.seed = profile.seed
            self.record("seed", f"random draws seeded with {self.seed} (profile {profile.name})")
        if profile.scenario is not None:
            loop = self._loop if self._started else asyncio.get_running_loop()
            phase_faults = profile.phase_faults
            self._scenario = ScenarioRunner(
                profile.scenario,
                loop,
                self._set_profile_limits,
                self.record,
                (lambda index: self._set_phase_faults(phase_faults, index))
                if phase_faults
                else None,
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

    def _set_phase_faults(
        self, phase_faults: tuple[tuple[FaultSpec, ...], ...], index: int
    ) -> None:
        """The phase that ends takes its faults away; the one that starts brings its own."""
        runner = self.fault_runner
        for name in self._phase_faults:
            if name in runner.faults:
                runner.remove(name)
        specs = phase_faults[index] if index < len(phase_faults) else ()
        for spec in specs:
            if spec.name in runner.faults:
                runner.remove(spec.name)
            runner.add(spec, self.connections.values())
        self._phase_faults = [spec.name for spec in specs]

    def stop_scenario(self) -> None:
        """Stop switching phases; the limits in force stay, a phase's faults go (an
        offline phase must not outlive its scenario)."""
        if self._scenario is not None:
            self._scenario.stop()
            self._scenario = None
        for name in self._phase_faults:
            if name in self.fault_runner.faults:
                self.fault_runner.remove(name)
        self._phase_faults = []

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
        """A connection's own limits; None: it follows its route's (or the engine's) again."""
        conn = self.connections[conn_id]
        conn.override = limits
        if limits is not None:
            conn.set_limits(limits)
        else:
            listener = self._listeners.get(conn.route_name)
            conn.follow(self._limits_of(listener), self._links_of(listener))

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
        """(bytes queued, capacity) over the links of this direction: a shared link
        counts once, whatever number of connections share it."""
        shared: list[tuple[LinkRunner | None, bool]] = [
            (self.links.get(direction), self.limits.direction(direction).link == "shared")
        ]
        for listener in self._listeners.values():
            if listener.links is not None and listener.limits is not None:
                shared.append(
                    (
                        listener.links[direction],
                        listener.limits.direction(direction).link == "shared",
                    )
                )
        links = _distinct_links(self.connections.values(), direction, shared)
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
    conns: Any, direction: str, shared: list[tuple[LinkRunner | None, bool]]
) -> list[LinkRunner]:
    """The links in use in `direction`, each once: the shared ones (the engine's, and those
    of routes with limits of their own) if a connection uses them or their limits say new
    connections will, and every connection's own."""
    found: dict[int, LinkRunner] = {
        id(link): link for link, in_force in shared if link is not None and in_force
    }
    for conn in conns:
        link = getattr(conn, direction).link
        found.setdefault(id(link), link)
    return list(found.values())


def describe_changes(changes: dict[str, Any]) -> str:
    parts = []
    for direction in DIRECTIONS:
        for key, value in (changes.get(direction) or {}).items():
            parts.append(f"{direction}.{key}={value}")
    return "limits: " + (", ".join(parts) if parts else "unchanged")
