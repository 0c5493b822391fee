"""Toxiproxy's proxies over an engine: each proxy is a route of the engine, each toxic the
route's limits or a fault on the route. Keeps what Toxiproxy knows and the engine does
not (the upstream as written, the toxics in their order) and nothing else: whether a
proxy is enabled and where it listens are read from its route every time.

Every change is serialized by one lock, as Toxiproxy's collection mutex does, and none
waits on traffic: taking a toxic away undoes a limit or a fault, never drains a queue.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from shaper.control.engine_view import ControlledEngine
from shaper.control.toxiproxy import mapping
from shaper.control.toxiproxy.shapes import (
    PROXY_EXISTS,
    PROXY_NOT_FOUND,
    TOXIC_EXISTS,
    TOXIC_NOT_FOUND,
    ProxyInput,
    Toxic,
    ToxiproxyError,
    error,
    parse_proxy,
    parse_toxic,
    patch_toxic,
    proxy_dict,
)
from shaper.faults import FaultError
from shaper.faults.spec import parse_name
from shaper.model.addresses import AddressError, format_address, parse_address
from shaper.model.routes import (
    NAME_RE,
    Route,
    RouteConflict,
    RouteError,
    UnknownRoute,
)

if TYPE_CHECKING:
    from shaper.model.limits import Limits
    from shaper.model.snapshots import Event


class RoutedConnection(Protocol):
    @property
    def route_name(self) -> str: ...


class ToxiproxyEngine(ControlledEngine, Protocol):
    """What the proxies need of the engine beyond the control API's view."""

    @property
    def event_listeners(self) -> list[Callable[[Event], None]]: ...


@dataclass
class ProxyEntry:
    name: str
    route: str
    upstream: str  # as the client wrote it, echoed back so
    toxics: dict[str, Toxic] = field(default_factory=dict)
    faults: dict[str, str] = field(default_factory=dict)  # toxic name -> fault name
    overridden: set[int] = field(default_factory=set)  # connections with limits of their own


def _resolve(host: str) -> str:
    return "127.0.0.1" if host in ("localhost", "") else host


class ProxyCollection:
    def __init__(self, engine: ToxiproxyEngine):
        self.engine = engine
        self._proxies: dict[str, ProxyEntry] = {}
        self._lock = asyncio.Lock()
        self._fault_numbers = itertools.count(1)
        self._route_numbers = itertools.count(1)
        engine.event_listeners.append(self._on_event)

    def close(self) -> None:
        if self._on_event in self.engine.event_listeners:
            self.engine.event_listeners.remove(self._on_event)

    # -- reading ---------------------------------------------------------------------

    def _prune(self) -> None:
        """Forget proxies whose route was removed through shaper's own API."""
        routes = {route.name for route in self.engine.routes}
        for name in [n for n, p in self._proxies.items() if p.route not in routes]:
            del self._proxies[name]

    def _get(self, name: str) -> ProxyEntry:
        self._prune()
        proxy = self._proxies.get(name)
        if proxy is None:
            raise error(PROXY_NOT_FOUND)
        return proxy

    def names(self) -> list[str]:
        self._prune()
        return list(self._proxies)

    @staticmethod
    def ordered_toxics(proxy: ProxyEntry) -> list[Toxic]:
        """Upstream toxics, then downstream ones, each in the order added (Toxiproxy's)."""
        toxics = list(proxy.toxics.values())
        return [t for t in toxics if t.direction == "upstream"] + [
            t for t in toxics if t.direction == "downstream"
        ]

    def show(self, name: str) -> dict[str, Any]:
        proxy = self._get(name)
        state = self.engine.route_state(proxy.route)
        return proxy_dict(
            proxy.name,
            format_address(state.listen),
            proxy.upstream,
            state.enabled,
            self.ordered_toxics(proxy),
        )

    def index(self) -> dict[str, dict[str, Any]]:
        return {name: self.show(name) for name in self.names()}

    def toxics(self, name: str) -> list[dict[str, Any]]:
        return [toxic.to_dict() for toxic in self.ordered_toxics(self._get(name))]

    def toxic(self, name: str, toxic: str) -> dict[str, Any]:
        found = self._get(name).toxics.get(toxic)
        if found is None:
            raise error(TOXIC_NOT_FOUND)
        return found.to_dict()

    def route_of(self, name: str) -> str:
        return self._get(name).route

    # -- proxies -----------------------------------------------------------------------

    def _route_name(self, name: str) -> str:
        """The proxy's own name where it is a valid route name not taken, else one made up."""
        taken = {route.name for route in self.engine.routes}
        if NAME_RE.fullmatch(name) and name not in taken:
            return name
        while True:
            candidate = f"toxiproxy{next(self._route_numbers)}"
            if candidate not in taken:
                return candidate

    @staticmethod
    def _addresses(listen: str, upstream: str) -> tuple[tuple[str, int], tuple[str, int]]:
        try:
            # An empty listen is any free port; shaper keeps it on loopback (Toxiproxy's
            # would be every interface).
            listen_at = parse_address(listen or "127.0.0.1:0", "127.0.0.1", "listen address")
        except AddressError as exc:
            raise ToxiproxyError(400, f"listen: {exc}") from None
        try:
            upstream_at = parse_address(upstream, None, "upstream address")
        except AddressError as exc:
            raise ToxiproxyError(400, f"upstream: {exc}") from None
        if upstream_at[1] == 0:
            raise ToxiproxyError(400, f"upstream: {upstream!r}: port 0 cannot be dialed")
        return listen_at, upstream_at

    async def create(self, spec: ProxyInput) -> dict[str, Any]:
        async with self._lock:
            self._prune()
            if spec.name in self._proxies:
                raise error(PROXY_EXISTS)
            await self._create(spec)
            return self.show(spec.name)

    async def _create(self, spec: ProxyInput) -> None:
        listen, upstream = self._addresses(spec.listen, spec.upstream)
        toxics = spec.toxics or ()
        mapping.limits_for(toxics, mapping.at_full)  # refused before anything is made
        route = self._route_name(spec.name)
        try:
            await self.engine.add_route(Route(listen, upstream, route), mapping.BASE)
        except RouteConflict as exc:
            raise ToxiproxyError(409, str(exc)) from None
        except RouteError as exc:
            raise ToxiproxyError(400, str(exc)) from None
        proxy = self._proxies[spec.name] = ProxyEntry(spec.name, route, spec.upstream)
        for toxic in toxics:
            self._add_toxic(proxy, toxic)
        if not spec.enabled:
            await self.engine.set_route_enabled(route, False)

    def _current(self, proxy: ProxyEntry) -> ProxyInput:
        state = self.engine.route_state(proxy.route)
        return ProxyInput(proxy.name, format_address(state.listen), proxy.upstream, state.enabled)

    def _differs(self, proxy: ProxyEntry, spec: ProxyInput) -> bool:
        """Toxiproxy's test: the listen address (resolved) or the upstream changed."""
        if spec.upstream != proxy.upstream:
            return True
        state = self.engine.route_state(proxy.route)
        try:
            host, port = parse_address(spec.listen or "127.0.0.1:0", "127.0.0.1")
        except AddressError:
            return True
        return (_resolve(host), port) != (_resolve(state.listen[0]), state.listen[1])

    async def update(self, name: str, body: Any) -> dict[str, Any]:
        """POST or PATCH /proxies/{name}: the keys given change, the others stay."""
        async with self._lock:
            proxy = self._get(name)
            current = self._current(proxy)
            spec = parse_proxy(body, current)
            if self._differs(proxy, spec):
                await self._move(proxy, spec, current)
            if spec.enabled != self.engine.route_state(proxy.route).enabled:
                await self._set_enabled(proxy, spec.enabled)
            return self.show(name)

    async def _move(self, proxy: ProxyEntry, spec: ProxyInput, current: ProxyInput) -> None:
        """New addresses: the route is made again under the same name, so its faults (which
        name the route) and its limits carry over; its connections close, as Toxiproxy's."""
        listen, upstream = self._addresses(spec.listen, spec.upstream)
        limits = self.engine.route_limits(proxy.route)
        old = self.engine.route_state(proxy.route)
        await self.engine.remove_route(proxy.route)
        try:
            await self.engine.add_route(Route(listen, upstream, proxy.route), limits)
        except (RouteConflict, RouteError) as exc:
            # Back where it was, so a refused change changes nothing.
            await self.engine.add_route(Route(old.listen, old.upstream, proxy.route), limits)
            if not old.enabled:
                await self.engine.set_route_enabled(proxy.route, False)
            raise ToxiproxyError(409 if isinstance(exc, RouteConflict) else 400, str(exc)) from None
        proxy.upstream = spec.upstream
        proxy.overridden.clear()

    async def _set_enabled(self, proxy: ProxyEntry, enabled: bool) -> None:
        try:
            await self.engine.set_route_enabled(proxy.route, enabled)
        except RouteConflict as exc:
            raise ToxiproxyError(409, str(exc)) from None

    async def delete(self, name: str) -> None:
        async with self._lock:
            proxy = self._get(name)
            await self._delete(proxy)

    async def _delete(self, proxy: ProxyEntry) -> None:
        for toxic in list(proxy.toxics):
            self._remove_fault(proxy, toxic)
        del self._proxies[proxy.name]
        try:
            await self.engine.remove_route(proxy.route)
        except UnknownRoute:
            pass

    async def populate(
        self, specs: list[ProxyInput]
    ) -> tuple[list[dict[str, Any]], ToxiproxyError | None]:
        """Create or replace each proxy in turn: one that is the same (same listen and
        upstream) stays as it is, with its connections; its toxics are replaced if the
        input lists some. On an error, the proxies made so far and the error."""
        done: list[str] = []
        async with self._lock:
            self._prune()
            try:
                for spec in specs:
                    existing = self._proxies.get(spec.name)
                    if existing is not None and not self._differs(existing, spec):
                        if spec.toxics is not None:
                            self._set_toxics(existing, spec.toxics)
                        if spec.enabled != self.engine.route_state(existing.route).enabled:
                            await self._set_enabled(existing, spec.enabled)
                    else:
                        if existing is not None:
                            await self._delete(existing)
                        await self._create(spec)
                    done.append(spec.name)
            except ToxiproxyError as exc:
                return [self.show(n) for n in done], exc
            return [self.show(n) for n in done], None

    async def reset(self) -> None:
        """POST /reset: every proxy enabled again, every toxic gone."""
        async with self._lock:
            self._prune()
            for proxy in self._proxies.values():
                if not self.engine.route_state(proxy.route).enabled:
                    await self._set_enabled(proxy, True)
                for toxic in list(proxy.toxics):
                    self._remove_fault(proxy, toxic)
                proxy.toxics.clear()
                self._apply_limits(proxy)

    async def clear(self) -> None:
        async with self._lock:
            self._prune()
            for proxy in list(self._proxies.values()):
                await self._delete(proxy)

    # -- toxics ----------------------------------------------------------------------

    async def add_toxic(self, name: str, body: Any) -> dict[str, Any]:
        async with self._lock:
            proxy = self._get(name)
            toxic = parse_toxic(body)
            if toxic.name in proxy.toxics:
                raise error(TOXIC_EXISTS)
            self._add_toxic(proxy, toxic)
            return toxic.to_dict()

    async def update_toxic(self, name: str, toxic_name: str, body: Any) -> dict[str, Any]:
        async with self._lock:
            proxy = self._get(name)
            toxic = proxy.toxics.get(toxic_name)
            if toxic is None:
                raise error(TOXIC_NOT_FOUND)
            changed = patch_toxic(toxic, body)
            if mapping.is_limit(changed):
                self._check_limits(proxy, {**proxy.toxics, toxic_name: changed})
                proxy.toxics[toxic_name] = changed
                self._apply_limits(proxy)
            else:
                proxy.toxics[toxic_name] = changed
                fault = proxy.faults[toxic_name]
                self.engine.replace_fault(mapping.fault_for(changed, proxy.route, fault))
            return changed.to_dict()

    async def remove_toxic(self, name: str, toxic_name: str) -> None:
        async with self._lock:
            proxy = self._get(name)
            if toxic_name not in proxy.toxics:
                raise error(TOXIC_NOT_FOUND)
            self._remove_fault(proxy, toxic_name)
            toxic = proxy.toxics.pop(toxic_name)
            if mapping.is_limit(toxic):
                self._apply_limits(proxy)

    def _set_toxics(self, proxy: ProxyEntry, toxics: tuple[Toxic, ...]) -> None:
        self._check_limits(proxy, {t.name: t for t in toxics}, replace=True)
        for name in list(proxy.toxics):
            self._remove_fault(proxy, name)
        proxy.toxics.clear()
        for toxic in toxics:
            self._add_toxic(proxy, toxic)
        self._apply_limits(proxy)

    @staticmethod
    def _check_limits(proxy: ProxyEntry, toxics: dict[str, Toxic], replace: bool = False) -> None:
        merged = toxics if replace else {**proxy.toxics, **toxics}
        mapping.limits_for(merged.values(), lambda t: True)

    def _add_toxic(self, proxy: ProxyEntry, toxic: Toxic) -> None:
        if mapping.is_limit(toxic):
            self._check_limits(proxy, {toxic.name: toxic})
            proxy.toxics[toxic.name] = toxic
            self._apply_limits(proxy)
            return
        fault = self._fault_name(proxy, toxic)
        self.engine.add_fault(mapping.fault_for(toxic, proxy.route, fault))
        proxy.toxics[toxic.name] = toxic
        proxy.faults[toxic.name] = fault

    def _remove_fault(self, proxy: ProxyEntry, toxic: str) -> None:
        fault = proxy.faults.pop(toxic, None)
        if fault is not None:
            try:
                self.engine.remove_fault(fault)
            except KeyError:
                pass  # removed through shaper's own API meanwhile

    def _fault_name(self, proxy: ProxyEntry, toxic: Toxic) -> str:
        """`<route>:<toxic>` when that is a valid fault name not in use, else toxicN."""
        in_use = {spec.name for spec in self.engine.fault_specs()}
        candidate = f"{proxy.route}:{toxic.name}"
        try:
            parse_name(candidate)
        except FaultError:
            candidate = ""
        while not candidate or candidate in in_use:
            candidate = f"toxic{next(self._fault_numbers)}"
        return candidate

    # -- latency and bandwidth: the route's limits, and a connection's own ------------

    def _apply_limits(self, proxy: ProxyEntry) -> None:
        """The route's limits carry the toxics every connection gets; a toxic of toxicity
        between 0 and 1 gives the connections it draws limits of their own."""
        toxics = list(proxy.toxics.values())
        route_limits = mapping.limits_for(toxics, mapping.at_full)
        self.engine.set_route_limits(proxy.route, route_limits)
        for conn_id, conn in list(self.engine.connections.items()):
            if getattr(conn, "route_name", None) == proxy.route:
                self._connection_limits(proxy, conn_id, route_limits)

    def _connection_limits(self, proxy: ProxyEntry, conn_id: int, route_limits: Limits) -> None:
        toxics = list(proxy.toxics.values())
        own = mapping.limits_for(
            toxics, lambda t: mapping.chosen_for(self.engine.seed, proxy.name, t, conn_id)
        )
        if own != route_limits:
            self.engine.set_connection_limits(conn_id, own)
            proxy.overridden.add(conn_id)
        elif conn_id in proxy.overridden:
            self.engine.set_connection_limits(conn_id, None)
            proxy.overridden.discard(conn_id)

    def _on_event(self, event: Event) -> None:
        """A new connection of a proxy with a partly toxic latency or bandwidth gets its
        draw as it connects, before the first byte is relayed."""
        if event.connection is None or event.kind not in ("connect", "close", "reset"):
            return
        conn = self.engine.connections.get(event.connection)
        if event.kind != "connect" or conn is None:
            for proxy in self._proxies.values():
                proxy.overridden.discard(event.connection)
            return
        route = getattr(conn, "route_name", None)
        for proxy in self._proxies.values():
            if proxy.route == route:
                if any(mapping.is_limit(t) and 0 < t.toxicity < 1 for t in proxy.toxics.values()):
                    limits = mapping.limits_for(proxy.toxics.values(), mapping.at_full)
                    self._connection_limits(proxy, event.connection, limits)
                return
