"""The async surface: `open_proxy` starts a proxy in this event loop or in a child
process, and `AsyncProxy` drives it with the same methods as the sync `shaper.Proxy`, each
awaited.

    async with shaper.open_proxy(upstream="127.0.0.1:6379", profile="3g") as proxy:
        await use(proxy.host, proxy.port)
        await proxy.set_limits(down_latency="400ms")
        print((await proxy.stats()).bytes_downstream)
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from shaper.control.endpoint import ControlError
from shaper.model.addresses import parse_address
from shaper.model.limits import Limits
from shaper.model.snapshots import ConnectionStats, EngineStats
from shaper.profiles import Profile, profile_to_dict
from shaper.testing.options import (
    Address,
    ProfileArg,
    ProxyError,
    ProxySettings,
    UnknownConnection,
    check_wait,
    fault_body,
    limit_changes,
    profile_from,
    proxy_error,
    stall_changes,
    wait_failed,
)

if TYPE_CHECKING:
    from shaper.control.client import ControlClient
    from shaper.engine.engine import Engine

T = TypeVar("T")
POLL = 0.02  # seconds between looks while waiting for connections


class AsyncBackend(Protocol):
    """What AsyncProxy needs of an engine: in this loop, or behind a control API."""

    async def limits(self) -> Limits: ...
    async def patch_limits(self, changes: dict[str, Any]) -> Limits: ...
    async def apply_profile(self, profile: Profile) -> Limits: ...
    async def stats(self, connections: bool) -> EngineStats: ...
    async def connections(self) -> list[ConnectionStats]: ...
    async def close_connection(self, conn_id: int, mode: str) -> None: ...
    async def add_fault(self, body: dict[str, Any]) -> dict[str, Any]: ...
    async def remove_fault(self, name: str) -> None: ...
    async def faults(self) -> list[dict[str, Any]]: ...


class InProcess:
    """An engine running in this event loop."""

    def __init__(self, engine: Engine):
        self.engine = engine

    async def limits(self) -> Limits:
        return self.engine.limits

    async def patch_limits(self, changes: dict[str, Any]) -> Limits:
        return self.engine.patch_limits(changes)

    async def apply_profile(self, profile: Profile) -> Limits:
        self.engine.apply_profile(profile)
        return self.engine.limits

    async def stats(self, connections: bool) -> EngineStats:
        return self.engine.snapshot(connections=connections)

    async def connections(self) -> list[ConnectionStats]:
        return list(self.engine.snapshot(connections=True).connections or ())

    async def close_connection(self, conn_id: int, mode: str) -> None:
        conn = self.engine.connections.get(conn_id)
        if conn is None:
            raise UnknownConnection(f"no open connection with id {conn_id}")
        if conn.state in ("closing", "closed"):  # as the control API answers (409)
            raise ProxyError(f"connection {conn_id} is already {conn.state}")
        self.engine.close_connection(conn_id, mode=mode)

    async def add_fault(self, body: dict[str, Any]) -> dict[str, Any]:
        from shaper.faults import fault_from_dict, fault_to_dict

        spec = fault_from_dict(body)
        try:
            self.engine.add_fault(spec)
        except KeyError:
            raise ProxyError(
                f"a fault named {spec.name!r} is in force; give another name"
            ) from None
        return fault_to_dict(spec)

    async def remove_fault(self, name: str) -> None:
        try:
            self.engine.remove_fault(name)
        except KeyError:
            raise ProxyError(f"no fault named {name!r} is in force") from None

    async def faults(self) -> list[dict[str, Any]]:
        from shaper.faults import fault_to_dict

        return [fault_to_dict(spec) for spec in self.engine.fault_specs()]


class Remote:
    """An engine behind its control API. With `client`, that client is used (and closed by
    its owner); without, each call opens a client of its own in the running loop, so any
    loop may call (the sync Proxy's `aio`)."""

    def __init__(self, url: str, token: str | None = None, client: ControlClient | None = None):
        self.url = url
        self.token = token
        self.client = client

    async def _call(self, call: Callable[[ControlClient], Awaitable[T]]) -> T:
        try:
            if self.client is not None:
                return await call(self.client)
            from shaper.control.client import ControlClient

            async with ControlClient(self.url, token=self.token) as client:
                return await call(client)
        except ControlError as exc:
            raise proxy_error(exc) from None

    async def limits(self) -> Limits:
        return await self._call(lambda c: c.limits())

    async def patch_limits(self, changes: dict[str, Any]) -> Limits:
        return await self._call(lambda c: c.patch_limits(changes))

    async def apply_profile(self, profile: Profile) -> Limits:
        body = profile_to_dict(profile)
        state = await self._call(lambda c: c.apply_profile(body=body))
        return Limits.from_dict(state["limits"])

    async def stats(self, connections: bool) -> EngineStats:
        return await self._call(lambda c: c.stats(connections=connections))

    async def connections(self) -> list[ConnectionStats]:
        return await self._call(lambda c: c.connections())

    async def close_connection(self, conn_id: int, mode: str) -> None:
        await self._call(lambda c: c.close_connection(conn_id, mode=mode))

    async def add_fault(self, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call(lambda c: c.add_fault(body))

    async def remove_fault(self, name: str) -> None:
        await self._call(lambda c: c.remove_fault(name))

    async def faults(self) -> list[dict[str, Any]]:
        return await self._call(lambda c: c.faults())


class AsyncProxy:
    """A running proxy, driven with awaited calls. `engine` is the Engine when it runs in
    this loop (None in a child process); `control_url` the control API of a child engine."""

    def __init__(
        self,
        backend: AsyncBackend,
        address: tuple[str, int],
        *,
        control_url: str | None = None,
        engine: Engine | None = None,
        profiles_dir: str | os.PathLike[str] | None = None,
    ):
        self._backend = backend
        self._address = address
        self.control_url = control_url
        self.engine = engine
        self._profiles_dir = profiles_dir

    # -- where clients connect -----------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) clients connect to: the bound port when port 0 was asked for."""
        return self._address

    @property
    def host(self) -> str:
        return self._address[0]

    @property
    def port(self) -> int:
        return self._address[1]

    # -- limits and profiles ----------------------------------------------------------

    async def limits(self) -> Limits:
        """The engine-wide limits in force."""
        return await self._backend.limits()

    async def set_limits(
        self,
        changes: Limits | dict[str, Any] | None = None,
        *,
        upstream: dict[str, Any] | None = None,
        downstream: dict[str, Any] | None = None,
        **limits: Any,
    ) -> Limits:
        """Change limits live; the others stay. A Limits, a partial dict
        ({"downstream": {"rate": "1Mbit"}}), upstream=/downstream= dicts, or keywords:
        rate="1Mbit" (both directions), down_latency="80ms" (one). Returns the limits now in
        force. A bad value raises LimitError naming it, and changes nothing."""
        merged = limit_changes(changes, upstream, downstream, limits)
        return await self._backend.patch_limits(merged)

    async def apply_profile(self, profile: ProfileArg) -> Limits:
        """Apply a profile (a name, a path to a .toml file, or a Profile) and start its
        scenario if it has one. Returns the limits now in force. Raises ProfileError."""
        return await self._backend.apply_profile(profile_from(profile, self._profiles_dir))

    async def stall(self, direction: str = "both") -> Limits:
        """Release nothing in `direction` (upstream, downstream or both): the queue fills and
        the sender blocks, as on a link that stopped."""
        return await self._backend.patch_limits(stall_changes(direction, True))

    async def release(self, direction: str = "both") -> Limits:
        """Undo stall(): the queue drains at the link's rate."""
        return await self._backend.patch_limits(stall_changes(direction, False))

    # -- faults ----------------------------------------------------------------------

    async def add_fault(
        self,
        type_: str,
        *,
        name: str | None = None,
        direction: str | None = None,
        toxicity: float | str | None = None,
        route: str | None = None,
        **settings: Any,
    ) -> str:
        """Put a fault in force, e.g. add_fault("reset_peer", after="2s", toxicity=0.2);
        returns its name (the type's, unless `name` is given). Raises FaultError (a
        ValueError) for a bad fault, ProxyError for a name in force."""
        body = fault_body(type_, name, direction, toxicity, route, settings)
        fault = await self._backend.add_fault(body)
        return str(fault["name"])

    async def remove_fault(self, name: str) -> None:
        """Take a fault away: what it held flows again, in order."""
        await self._backend.remove_fault(name)

    async def faults(self) -> list[dict[str, Any]]:
        """The faults in force, as the API shows them."""
        return await self._backend.faults()

    # -- what happens ------------------------------------------------------------------

    async def stats(self, connections: bool = False) -> EngineStats:
        """A snapshot. `bytes_upstream` / `bytes_downstream`, `connections_total`, `resets`
        and `errors` count the engine's whole life; `upstream` / `downstream` the open
        connections."""
        return await self._backend.stats(connections)

    async def connections(self) -> list[ConnectionStats]:
        """The open connections."""
        return await self._backend.connections()

    async def close_connection(self, conn_id: int, reset: bool = False) -> None:
        """Close a connection both ways (FIN), or with reset=True reset it (RST). Raises
        UnknownConnection for an id that is not open."""
        await self._backend.close_connection(conn_id, "reset" if reset else "close")

    async def wait_for_connections(
        self, n: int = 1, timeout: float = 10.0
    ) -> list[ConnectionStats]:
        """Wait until exactly `n` connections are open (0: until every one has closed) and
        return them; TimeoutError after `timeout` seconds."""
        check_wait(n, timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            conns = await self._backend.connections()
            if len(conns) == n:
                return conns
            if loop.time() >= deadline:
                raise wait_failed(n, timeout, len(conns))
            await asyncio.sleep(POLL)


async def configure(backend: AsyncBackend, settings: ProxySettings) -> None:
    """Put a fresh engine in the state the settings ask for."""
    profile = settings.start_profile
    if profile is not None:
        await backend.apply_profile(profile)
    elif settings.changes:
        await backend.patch_limits(settings.changes)


@contextlib.asynccontextmanager
async def open_proxy(
    upstream: Address,
    listen: Address = ("127.0.0.1", 0),
    limits: Limits | dict[str, Any] | None = None,
    connect_timeout: float = 5.0,
    *,
    profile: ProfileArg | None = None,
    profiles_dir: str | os.PathLike[str] | None = None,
    child: bool = False,
    **limit_values: Any,
) -> AsyncIterator[AsyncProxy]:
    """Start a proxy to `upstream` and stop it when the block ends.

    `listen` defaults to a free loopback port. `profile` is a name, a path or a Profile;
    `limits` (a Limits or a partial dict) and keyword limits (rate="2Mbit", down_rate=...)
    win over it. The engine runs in this event loop, or with child=True in a process of its
    own (the test's CPU then cannot slow the shaping; calls go through its control API)."""
    settings = ProxySettings.build(
        upstream, listen, limits, connect_timeout, profile, profiles_dir, limit_values
    )
    if child:
        async with _child(settings) as proxy:
            yield proxy
        return
    from shaper.engine.engine import Engine
    from shaper.model.routes import Route

    engine = Engine(
        [Route(settings.listen, settings.upstream)], connect_timeout=settings.connect_timeout
    )
    await engine.start()
    try:
        backend = InProcess(engine)
        await configure(backend, settings)
        yield AsyncProxy(
            backend, engine.addresses[0], engine=engine, profiles_dir=settings.profiles_dir
        )
    finally:
        await engine.stop()


@contextlib.asynccontextmanager
async def _child(settings: ProxySettings) -> AsyncIterator[AsyncProxy]:
    from shaper.control.client import ControlClient
    from shaper.launcher import EngineProcess

    engine = EngineProcess(settings.serve_argv())
    await engine.astart()
    try:
        async with ControlClient(engine.control_url) as client:
            backend = Remote(engine.control_url, client=client)
            await configure(backend, settings)
            yield AsyncProxy(
                backend,
                parse_address(engine.listen[0], None, "listen address"),
                control_url=engine.control_url,
                profiles_dir=settings.profiles_dir,
            )
    finally:
        await engine.astop()
