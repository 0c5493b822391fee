"""The snapshot of a connection at rest, kept and reused while nothing it shows can change.

Building a snapshot of 1,000 idle connections cost about 20 ms of the engine's loop here
(kernel reads 5.4 ms, direction records 8.5 ms), and writing its JSON 11 ms, all to say
again what the last snapshot said. A connection is at rest when both its directions are
idle with nothing queued, on the wire, in flight, in the sink's write buffer or in either
socket's kernel queues, and its rates read 0. From there, what it shows changes only when:

- bytes move (the byte counts move);
- a direction's state changes (a half-close, a pause, a stall, a hold);
- its links, limits, window, faults or own limits change;
- its sockets' buffer sizes or TCP_INFO change (the kernel readers' versions).

Those are its key. While the key is the same the kept record is given again, its parts the
very same objects (which lets the JSON writer reuse their text), with its age brought up to
date. Bytes that reach a socket's receive queue wake the loop, which reads them before the
next snapshot; a snapshot taken between the two shows the queue empty, as it would have
shown a moment earlier.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from shaper.model import snapshots as stats
from shaper.model.limits import Limits

if TYPE_CHECKING:
    from shaper.engine.kernel import KernelReader
    from shaper.engine.pipe import Pipe


class _Leg(Protocol):
    kernel: KernelReader


class Connection(Protocol):
    """What of a connection its snapshot depends on (shaper.engine.connection, which
    imports this module)."""

    state: str
    faults: tuple[str, ...]
    override: Limits | None
    route: str
    route_name: str
    client_addr: str
    server_addr: str
    upstream: Pipe
    downstream: Pipe

    @property
    def client(self) -> _Leg: ...

    @property
    def server(self) -> _Leg: ...

# At rest, buffer sizes and TCP_INFO hold still (no segment moves to change them; a
# limits change that sets the sizes invalidates them at once), so they are re-read this
# seldom rather than every 0.5 s: 3 getsockopt per socket, 3.7 ms per 1,000 connections.
RESTING_SLOW_EVERY = 5.0


def _pipe_key(pipe: Pipe, now: float) -> tuple[object, ...]:
    flow = pipe.flow
    link = pipe.link
    return (
        pipe.state(now),
        flow.bytes_in,
        flow.bytes_out,
        link,
        link.limits,
        pipe.next_link,
        flow.limits,
        flow.window,
    )


def key(conn: Connection, now: float) -> tuple[object, ...]:
    """Everything a resting connection's snapshot depends on that can change at rest."""
    client, server = conn.client.kernel, conn.server.kernel
    return (
        conn.state,
        conn.faults,
        conn.override,
        conn.route,
        conn.route_name,
        conn.client_addr,
        conn.server_addr,
        _pipe_key(conn.upstream, now),
        _pipe_key(conn.downstream, now),
        client,
        client.version,
        server,
        server.version,
    )


def _direction_at_rest(d: stats.DirectionStats) -> bool:
    return (
        d.state == stats.IDLE
        and not d.queue
        and not d.wire
        and not d.sink_buffer
        and not d.rate_in
        and not d.rate_out
        and not d.in_flight
        and not d.source_kernel_rx
        and not d.sink_kernel_tx
    )


def at_rest(conn: Connection, record: stats.ConnectionStats) -> bool:
    """True when `record`, just built, shows `conn` (open) at rest, its slow kernel figures
    read after the last byte moved."""
    if not (_direction_at_rest(record.upstream) and _direction_at_rest(record.downstream)):
        return False
    moved = max(conn.upstream.last_active, conn.downstream.last_active)
    return conn.client.kernel.slow_at >= moved and conn.server.kernel.slow_at >= moved


class Kept:
    """A resting connection's record and the key it was built under."""

    __slots__ = ("record", "key")

    def __init__(self, record: stats.ConnectionStats, key: tuple[object, ...]):
        self.record = record
        self.key = key

    def reuse(self, conn: Connection, now: float, age: float) -> stats.ConnectionStats | None:
        """The kept record with `age`, or None if `conn` may have changed since."""
        for reader in (conn.client.kernel, conn.server.kernel):
            if now - reader.slow_at >= RESTING_SLOW_EVERY:
                reader.refresh_slow(now)
        if key(conn, now) != self.key:
            return None
        r = self.record
        return stats.ConnectionStats(
            r.id,
            r.route,
            r.client,
            r.server,
            age,
            r.state,
            r.upstream,
            r.downstream,
            r.client_kernel,
            r.server_kernel,
            r.limits_override,
            r.faults,
            r.route_name,
        )


def keep(conn: Connection, record: stats.ConnectionStats, now: float) -> Kept | None:
    """What to keep of `record`, just built for `conn` (open): itself if it shows `conn`
    at rest."""
    return Kept(record, key(conn, now)) if at_rest(conn, record) else None
