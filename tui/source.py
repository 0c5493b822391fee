"""Where the TUI gets its data and sends its commands.

The TUI never touches the data path: it reads snapshots from an engine and
asks the engine to change things. `ControlSource` talks to a running engine
through the control API; `FixedSource` serves fixed snapshots (for snapshot
tests and screenshots of layouts) and applies commands to its own copy.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

from shaper.model.limits import Limits
from shaper.model.snapshots import ConnectionStats, EngineStats, Event


class SourceError(Exception):
    """A command the engine refused or could not be reached for."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field


def route_dict(state: Any) -> dict[str, Any]:
    """A RouteState as the header and the routes screen read it: the API's form, with the
    description /v1/status gives, so both reports look alike."""
    return {**state.to_dict(), "description": state.description}


class DataSource:
    """The interface the app uses. Subclasses implement every method."""

    #: shown in the header, e.g. the control URL
    description: str = ""
    #: the control API of the engine shown, for the user's own scripts (None: fixed data)
    control_url: str | None = None

    async def open(self) -> dict[str, Any]:
        """Connect; return the engine status (routes, profile, limits...)."""
        raise NotImplementedError

    async def close(self) -> None:
        """Release what `open` acquired. Never stops the engine."""

    def snapshots(self, interval: float = 0.1) -> AsyncIterator[EngineStats]:
        """Engine snapshots (without per-connection detail), about every `interval` s."""
        raise NotImplementedError

    async def connections(self) -> list[ConnectionStats]:
        raise NotImplementedError

    async def patch_limits(self, changes: dict[str, Any]) -> Limits:
        raise NotImplementedError

    async def close_connection(self, conn_id: int, mode: str = "close") -> None:
        raise NotImplementedError

    async def connection_limits(self, conn_id: int) -> Limits:
        """The limits in force for one connection (its own, or the engine's)."""
        raise NotImplementedError

    async def patch_connection_limits(self, conn_id: int, changes: dict[str, Any]) -> Limits:
        raise NotImplementedError

    async def clear_connection_limits(self, conn_id: int) -> None:
        raise NotImplementedError

    async def profiles(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    async def apply_profile(self, name: str) -> dict[str, Any]:
        raise NotImplementedError

    async def save_profile(self, name: str, description: str = "", force: bool = False) -> str:
        """Save the engine-wide limits as a named profile; returns where it was written."""
        raise NotImplementedError

    async def faults(self) -> list[dict[str, Any]]:
        """The faults in force, as the engine reports them ({name, type, direction, ...})."""
        raise NotImplementedError

    async def add_fault(self, fault: dict[str, Any]) -> dict[str, Any]:
        """Add a fault (without a name the engine names it after its type); the fault as
        it is in force."""
        raise NotImplementedError

    async def remove_fault(self, name: str) -> None:
        raise NotImplementedError

    async def routes(self) -> list[dict[str, Any]]:
        """The routes as the engine holds them ({name, listen, upstream, enabled,
        connections_open, ...}): the bound address for a port 0 listener."""
        raise NotImplementedError

    async def add_route(self, name: str | None, listen: str, upstream: str) -> dict[str, Any]:
        """Listen for a new route now (without a name the engine names it); the route."""
        raise NotImplementedError

    async def set_route_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        raise NotImplementedError

    async def remove_route(self, name: str) -> None:
        raise NotImplementedError


class ControlSource(DataSource):
    """A running engine, through `shaper.control.client.ControlClient`."""

    def __init__(self, url: str, token: str | None = None):
        self.url = url
        self.token = token
        self.description = url
        self.control_url = url
        self._client: Any = None

    async def open(self) -> dict[str, Any]:
        from shaper.control.client import ControlClient

        if self._client is None:  # kept across failed attempts, released by close()
            self._client = ControlClient(self.url, token=self.token)
            await self._client.__aenter__()
        return await self._call(self.client.status())

    async def close(self) -> None:
        if self._client is not None:
            client, self._client = self._client, None
            await client.__aexit__(None, None, None)

    @property
    def client(self) -> Any:
        if self._client is None:
            raise SourceError(f"not connected to the engine at {self.url}")
        return self._client

    async def _call(self, awaitable: Any) -> Any:
        from shaper.control.client import ControlError

        try:
            return await awaitable
        except ControlError as exc:
            raise SourceError(exc.message, getattr(exc, "field", None)) from None
        except (TimeoutError, OSError) as exc:
            raise SourceError(f"engine unreachable at {self.url}: {exc}") from None

    async def snapshots(self, interval: float = 0.1) -> AsyncIterator[EngineStats]:
        async for snapshot in self.client.stream(interval=interval, connections=False):
            yield snapshot

    async def connections(self) -> list[ConnectionStats]:
        return list(await self._call(self.client.connections()))

    async def patch_limits(self, changes: dict[str, Any]) -> Limits:
        return await self._call(self.client.patch_limits(changes))

    async def close_connection(self, conn_id: int, mode: str = "close") -> None:
        await self._call(self.client.close_connection(conn_id, mode=mode))

    async def connection_limits(self, conn_id: int) -> Limits:
        return await self._call(self.client.connection_limits(conn_id))

    async def patch_connection_limits(self, conn_id: int, changes: dict[str, Any]) -> Limits:
        return await self._call(self.client.patch_connection_limits(conn_id, changes))

    async def clear_connection_limits(self, conn_id: int) -> None:
        await self._call(self.client.clear_connection_limits(conn_id))

    async def profiles(self) -> list[dict[str, Any]]:
        return list(await self._call(self.client.profiles()))

    async def apply_profile(self, name: str) -> dict[str, Any]:
        return await self._call(self.client.apply_profile(name=name))

    async def save_profile(self, name: str, description: str = "", force: bool = False) -> str:
        saved = await self._call(self.client.save_profile(name, description, force))
        return str(saved.get("path", name))

    async def faults(self) -> list[dict[str, Any]]:
        return list(await self._call(self.client.faults()))

    async def add_fault(self, fault: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._call(self.client.add_fault(fault)))

    async def remove_fault(self, name: str) -> None:
        await self._call(self.client.remove_fault(name))

    async def routes(self) -> list[dict[str, Any]]:
        return [route_dict(r) for r in await self._call(self.client.routes())]

    async def add_route(self, name: str | None, listen: str, upstream: str) -> dict[str, Any]:
        return route_dict(await self._call(self.client.add_route(listen, upstream, name=name)))

    async def set_route_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        return route_dict(await self._call(self.client.set_route_enabled(name, enabled)))

    async def remove_route(self, name: str) -> None:
        await self._call(self.client.remove_route(name))


class FixedSource(DataSource):
    """Fixed snapshots, for tests and layout screenshots.

    Yields each snapshot of `snapshots` once, then keeps quiet (the display
    stays on the last one). Commands change a local copy of the limits and the
    change is visible in the next snapshot served after a `push`.
    """

    def __init__(
        self,
        snapshots: list[EngineStats],
        connections: list[ConnectionStats] | None = None,
        status: dict[str, Any] | None = None,
        profiles: list[dict[str, Any]] | None = None,
        faults: list[dict[str, Any]] | None = None,
        routes: list[dict[str, Any]] | None = None,
    ):
        self._pending: asyncio.Queue[EngineStats] | None = None
        self._initial = list(snapshots)
        self._connections = list(connections or [])
        last = snapshots[-1] if snapshots else None
        self.limits = Limits.from_dict(last.limits) if last and last.limits else Limits()
        self.status = status or {
            "version": "0.1.0",
            "routes": ["127.0.0.1:8080 -> 127.0.0.1:8000"],
            "profile": last.profile if last else None,
            "limits": self.limits.to_dict(),
        }
        self._profiles = profiles or []
        self._faults = list(faults or [])
        # Without routes of its own it reports those of its status, so the header stays
        # as `open` left it when the app polls the routes.
        self._routes: list[Any] = (
            [dict(r) for r in routes] if routes is not None else list(self.status["routes"])
        )
        self.description = "fixed data"
        self.served = 0
        self.commands: list[tuple[str, Any]] = []

    async def open(self) -> dict[str, Any]:
        self._pending = asyncio.Queue()
        for snapshot in self._initial:
            self._pending.put_nowait(snapshot)
        return {"faults": await self.faults(), **self.status}

    def push(self, snapshot: EngineStats) -> None:
        assert self._pending is not None
        self._pending.put_nowait(snapshot)

    def _last(self) -> EngineStats | None:
        return self._initial[-1] if self._initial else None

    def _republish(self, **changes: Any) -> None:
        last = self._last()
        if last is not None and self._pending is not None:
            updated = dataclasses.replace(last, limits=self.limits.to_dict(), **changes)
            self._initial.append(updated)
            self.push(updated)

    async def snapshots(self, interval: float = 0.1) -> AsyncIterator[EngineStats]:
        assert self._pending is not None
        while True:
            snapshot = await self._pending.get()
            self.served += 1
            yield snapshot

    async def connections(self) -> list[ConnectionStats]:
        return list(self._connections)

    async def patch_limits(self, changes: dict[str, Any]) -> Limits:
        self.commands.append(("patch_limits", changes))
        from shaper.model.limits import LimitError

        try:
            self.limits = self.limits.patched(changes)
        except LimitError as exc:
            raise SourceError(str(exc), exc.field) from None
        self._republish()
        return self.limits

    async def close_connection(self, conn_id: int, mode: str = "close") -> None:
        self.commands.append(("close_connection", (conn_id, mode)))
        before = len(self._connections)
        self._connections = [c for c in self._connections if c.id != conn_id]
        if len(self._connections) == before:
            raise SourceError(f"no open connection {conn_id}")
        last = self._last()
        if last is not None:
            event = Event(last.time, "reset" if mode == "reset" else "close",
                          f"connection {conn_id} {mode} by user", conn_id)
            self._republish(events=(*last.events, event))

    async def connection_limits(self, conn_id: int) -> Limits:
        return self.limits

    async def patch_connection_limits(self, conn_id: int, changes: dict[str, Any]) -> Limits:
        self.commands.append(("patch_connection_limits", (conn_id, changes)))
        from shaper.model.limits import LimitError

        try:
            return self.limits.patched(changes)
        except LimitError as exc:
            raise SourceError(str(exc), exc.field) from None

    async def clear_connection_limits(self, conn_id: int) -> None:
        self.commands.append(("clear_connection_limits", conn_id))

    async def profiles(self) -> list[dict[str, Any]]:
        return list(self._profiles)

    async def apply_profile(self, name: str) -> dict[str, Any]:
        self.commands.append(("apply_profile", name))
        if not any(p.get("name") == name for p in self._profiles):
            raise SourceError(f"unknown profile {name!r}")
        self._republish(profile=name)
        return {"profile": name, "limits": self.limits.to_dict()}

    async def save_profile(self, name: str, description: str = "", force: bool = False) -> str:
        self.commands.append(("save_profile", (name, description, force)))
        self._profiles.append({"name": name, "description": description, "origin": "user"})
        return f"{name}.toml (fixed data: nothing written)"

    async def faults(self) -> list[dict[str, Any]]:
        return [dict(f) for f in self._faults]

    async def add_fault(self, fault: dict[str, Any]) -> dict[str, Any]:
        """Checked as the engine checks it (the same pure parser), so a bad fault is refused
        with the same field and accepted forms."""
        self.commands.append(("add_fault", fault))
        from shaper.faults import FaultError, fault_from_dict, fault_to_dict

        try:
            spec = fault_from_dict(fault)
        except FaultError as exc:
            raise SourceError(str(exc), exc.field) from None
        if any(f["name"] == spec.name for f in self._faults):
            raise SourceError(f"name: a fault named {spec.name!r} is in force", "name")
        added = {**fault_to_dict(spec), "connections": 0}
        self._faults.append(added)
        return dict(added)

    async def remove_fault(self, name: str) -> None:
        self.commands.append(("remove_fault", name))
        if not any(f["name"] == name for f in self._faults):
            raise SourceError(f"name: no fault named {name!r}", "name")
        self._faults = [f for f in self._faults if f["name"] != name]

    async def routes(self) -> list[dict[str, Any]]:
        return [dict(r) if isinstance(r, dict) else r for r in self._routes]

    async def add_route(self, name: str | None, listen: str, upstream: str) -> dict[str, Any]:
        """Addresses checked with the engine's own parser; nothing listens (fixed data)."""
        self.commands.append(("add_route", (name, listen, upstream)))
        from shaper.model.addresses import AddressError, format_address, parse_address

        try:
            bound = parse_address(listen, "127.0.0.1", "listen address")
            target = parse_address(upstream, None, "upstream address")
        except AddressError as exc:
            raise SourceError(str(exc)) from None
        name = name or f"route{len(self._routes) + 1}"
        if any(isinstance(r, dict) and r["name"] == name for r in self._routes):
            raise SourceError(f"name: a route named {name!r} exists", "name")
        added = {"name": name, "listen": format_address(bound),
                 "upstream": format_address(target), "enabled": True, "limits": None,
                 "connections_open": 0}
        added["description"] = f"{added['listen']} -> {added['upstream']}"
        self._routes.append(added)
        return dict(added)

    def _route(self, name: str) -> dict[str, Any]:
        for route in self._routes:
            if isinstance(route, dict) and route["name"] == name:
                return route
        raise SourceError(f"no route named {name!r}", "name")

    async def set_route_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        self.commands.append(("set_route_enabled", (name, enabled)))
        route = self._route(name)
        route["enabled"] = enabled
        return dict(route)

    async def remove_route(self, name: str) -> None:
        self.commands.append(("remove_route", name))
        self._routes.remove(self._route(name))
