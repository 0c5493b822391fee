"""The sync surface: `shaper.Proxy`, a proxy whose engine runs in a child process, for code
without an event loop (a test using requests, psycopg or redis-py) and for code inside one
(the calls block for the millisecond a control request takes; the engine is elsewhere, so
nothing waits on this thread).

    with shaper.Proxy(upstream="127.0.0.1:6379", profile="3g") as proxy:
        client = redis.Redis(proxy.host, proxy.port)
        proxy.set_limits(down_latency="400ms")
        print(proxy.stats().bytes_downstream)
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from shaper.control.endpoint import ControlError
from shaper.control.sync_client import SyncControlClient
from shaper.model.addresses import parse_address
from shaper.model.limits import Limits
from shaper.model.snapshots import ConnectionStats, EngineStats
from shaper.profiles import Profile, profile_to_dict
from shaper.testing.options import (
    Address,
    ProfileArg,
    ProxyError,
    ProxySettings,
    check_wait,
    fault_body,
    limit_changes,
    profile_from,
    proxy_error,
    stall_changes,
    wait_failed,
)

if TYPE_CHECKING:
    from shaper.launcher import EngineProcess
    from shaper.testing.aio import AsyncProxy

T = TypeVar("T")
POLL = 0.02  # seconds between looks while waiting for connections


class Proxy:
    """A shaped proxy to `upstream`, its engine in a child process. Start it with `with`
    (or start() and stop()); every argument is checked here, before anything starts.

    `listen` defaults to a free loopback port. `profile` is a name, a path to a .toml file
    or a Profile; `limits` (a Limits or a partial dict) and keyword limits (rate="2Mbit" for
    both directions, down_latency="80ms" for one) win over it."""

    def __init__(
        self,
        upstream: Address,
        listen: Address = ("127.0.0.1", 0),
        limits: Limits | dict[str, Any] | None = None,
        connect_timeout: float = 5.0,
        *,
        profile: ProfileArg | None = None,
        profiles_dir: str | os.PathLike[str] | None = None,
        startup_timeout: float = 20.0,
        **limit_values: Any,
    ):
        self._settings = ProxySettings.build(
            upstream, listen, limits, connect_timeout, profile, profiles_dir, limit_values
        )
        self._startup_timeout = startup_timeout
        self._process: EngineProcess | None = None
        self._client: SyncControlClient | None = None
        self._address: tuple[str, int] | None = None

    # -- life ---------------------------------------------------------------------------

    def start(self) -> Proxy:
        """Start the engine process and wait until it listens; returns the proxy.

        Start and stop from one thread that lives as long as the proxy: on Linux the engine
        is told to exit when the thread that started it ends."""
        from shaper.launcher import EngineProcess

        if self._process is not None:
            raise RuntimeError("the proxy was already started")
        process = EngineProcess(self._settings.serve_argv(), startup_timeout=self._startup_timeout)
        process.start()
        self._process = process
        try:
            self._client = SyncControlClient(process.control_url)
            self._address = parse_address(process.listen[0], None, "listen address")
            profile = self._settings.start_profile
            if profile is not None:
                self._apply(profile)
            elif self._settings.changes:
                self._call(lambda c: c.patch_limits(self._settings.changes))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the engine (its connections close); safe to call twice."""
        client, self._client = self._client, None
        if client is not None:
            client.close()
        if self._process is not None:
            self._process.stop()

    @property
    def running(self) -> bool:
        return (
            self._client is not None
            and self._process is not None
            and (self._process.returncode is None)
        )

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- where clients connect -------------------------------------------------------

    @property
    def address(self) -> tuple[str, int]:
        """(host, port) clients connect to: the bound port when port 0 was asked for."""
        if self._address is None:
            raise ProxyError("the proxy has not started: use it in a with block, or start() it")
        return self._address

    @property
    def host(self) -> str:
        return self.address[0]

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def control_url(self) -> str:
        """The engine's control API (for `shaper limits --control`, `shaper attach`, curl)."""
        if self._process is None or self._process.ready is None:
            raise ProxyError("the proxy has not started: use it in a with block, or start() it")
        return self._process.control_url

    @property
    def aio(self) -> AsyncProxy:
        """The same engine, with awaited methods: for an async test that must keep its
        event loop running while it waits (`await proxy.aio.wait_for_connections(1)`)."""
        from shaper.testing.aio import AsyncProxy, Remote

        return AsyncProxy(
            Remote(self.control_url),
            self.address,
            control_url=self.control_url,
            profiles_dir=self._settings.profiles_dir,
        )

    # -- calls ---------------------------------------------------------------------------

    def _call(self, call: Callable[[SyncControlClient], T]) -> T:
        client = self._client
        if client is None:
            raise ProxyError("the proxy is not running: use it in a with block, or start() it")
        try:
            return call(client)
        except ControlError as exc:
            error = proxy_error(exc)
            code = self._process.returncode if self._process is not None else None
            if exc.status == 0 and code is not None:
                detail = self._process.stderr_text().strip() if self._process else ""
                error = ProxyError(
                    f"the engine process has exited (code {code})"
                    + (f":\n{detail[-2000:]}" if detail else "")
                )
            raise error from None

    def _apply(self, profile: Profile) -> Limits:
        body = profile_to_dict(profile)
        state = self._call(lambda c: c.apply_profile(body=body))
        return Limits.from_dict(state["limits"])

    def limits(self) -> Limits:
        """The engine-wide limits in force."""
        return self._call(lambda c: c.limits())

    def set_limits(
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
        return self._call(lambda c: c.patch_limits(merged))

    def apply_profile(self, profile: ProfileArg) -> Limits:
        """Apply a profile (a name, a path to a .toml file, or a Profile) and start its
        scenario if it has one. Returns the limits now in force. Raises ProfileError."""
        return self._apply(profile_from(profile, self._settings.profiles_dir))

    def stall(self, direction: str = "both") -> Limits:
        """Release nothing in `direction` (upstream, downstream or both): the queue fills and
        the sender blocks, as on a link that stopped."""
        changes = stall_changes(direction, True)
        return self._call(lambda c: c.patch_limits(changes))

    def release(self, direction: str = "both") -> Limits:
        """Undo stall(): the queue drains at the link's rate."""
        changes = stall_changes(direction, False)
        return self._call(lambda c: c.patch_limits(changes))

    # -- faults ----------------------------------------------------------------------

    def add_fault(
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
        fault = self._call(lambda c: c.add_fault(body))
        return str(fault["name"])

    def remove_fault(self, name: str) -> None:
        """Take a fault away: what it held flows again, in order."""
        self._call(lambda c: c.remove_fault(name))

    def faults(self) -> list[dict[str, Any]]:
        """The faults in force, as the API shows them."""
        return self._call(lambda c: c.faults())

    def stats(self, connections: bool = False) -> EngineStats:
        """A snapshot. `bytes_upstream` / `bytes_downstream`, `connections_total`, `resets`
        and `errors` count the engine's whole life; `upstream` / `downstream` the open
        connections."""
        return self._call(lambda c: c.stats(connections=connections))

    def connections(self) -> list[ConnectionStats]:
        """The open connections."""
        return self._call(lambda c: c.connections())

    def close_connection(self, conn_id: int, reset: bool = False) -> None:
        """Close a connection both ways (FIN), or with reset=True reset it (RST). Raises
        UnknownConnection for an id that is not open."""
        mode = "reset" if reset else "close"
        self._call(lambda c: c.close_connection(conn_id, mode=mode))

    def wait_for_connections(self, n: int = 1, timeout: float = 10.0) -> list[ConnectionStats]:
        """Wait until exactly `n` connections are open (0: until every one has closed) and
        return them; TimeoutError after `timeout` seconds. In an async test whose clients
        run in its own loop, await `proxy.aio.wait_for_connections(...)` instead."""
        import time

        check_wait(n, timeout)
        deadline = time.monotonic() + timeout
        while True:
            conns = self.connections()
            if len(conns) == n:
                return conns
            if time.monotonic() >= deadline:
                raise wait_failed(n, timeout, len(conns))
            time.sleep(POLL)
