"""Immutable snapshots of the engine, its connections and their pipes.

Snapshots are plain dataclasses with `to_dict()` producing the JSON the control
API serves and `--stats-jsonl` writes. They are values: nothing changes one once
built. The three built per connection (KernelStats, DirectionStats,
ConnectionStats) are not declared frozen because a frozen dataclass's __init__
costs 2.1 us against 0.25 us (19 fields, here), and a snapshot of 1,000
connections builds 5,000 of them. Byte counts are bytes,
rates are bytes per second (smoothed), times are seconds.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

# Direction states, from healthiest to most stuck.
FLOWING = "flowing"  # bytes move, nothing is full
IDLE = "idle"  # nothing to move
BACKPRESSURED = "backpressured"  # queue or window full: reading from the source is paused
BLOCKED = "blocked"  # the sink is slow: its write buffer is over its high mark
STALLED = "stalled"  # the user stalled the link: nothing is released
HALF_CLOSED = "half-closed"  # the source has sent EOF; remaining bytes drain
OPENING = "opening"  # the emulated handshake is under way: no byte may go yet
HELD = "held"  # a fault holds the bytes (timeout): nothing is delivered
CLOSED = "closed"
STATES = (FLOWING, IDLE, BACKPRESSURED, BLOCKED, STALLED, HELD, HALF_CLOSED, OPENING, CLOSED)


@dataclass(slots=True)  # not frozen: see the module's note
class KernelStats:
    """What the kernel holds for one socket (None where the OS does not tell)."""

    rx_queue: int | None = None  # unread bytes in the receive queue (SIOCINQ)
    tx_queue: int | None = None  # unsent + unacked bytes in the send queue (SIOCOUTQ)
    rcvbuf: int | None = None
    sndbuf: int | None = None
    rtt_us: int | None = None
    cwnd: int | None = None


@dataclass(slots=True)  # not frozen: see the module's note
class DirectionStats:
    direction: str
    state: str
    bytes_in: int  # read from the source
    bytes_out: int  # written to the sink
    rate_in: float
    rate_out: float
    queue: int  # bytes in the bounded queue (includes the slice being serialized)
    queue_capacity: int
    wire: int  # bytes that left the link and wait out their latency
    sink_buffer: int  # bytes in the sink transport's user-space write buffer
    source_kernel_rx: int | None  # kernel receive queue of the source socket
    sink_kernel_tx: int | None  # kernel send queue of the sink socket
    source_rcvbuf: int | None
    sink_sndbuf: int | None
    # The link this direction goes through: the engine's shared one, or its own.
    link: str = "shared"
    # The emulated sender (None with tcp = off): its window, bytes in flight on the path
    # (queued, on the wire or not yet acknowledged), phase and smoothed RTT (us).
    cwnd: int | None = None
    in_flight: int | None = None
    tcp_phase: str | None = None
    srtt_us: float | None = None
    # Loss (None while this direction has never had loss set): packets of this direction
    # lost (data, retransmissions, SYN or SYN-ACK), acknowledgements of its data lost on
    # the way back, retransmission timeouts, the lateness the repairs added to the lost
    # packets (summed) and the time delivery stood still waiting for one (us).
    lost: int | None = None
    lost_acks: int | None = None
    timeouts: int | None = None
    retransmit_delay_us: float | None = None
    stalled_us: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)  # not frozen: see the module's note
class ConnectionStats:
    id: int
    route: str  # "LISTEN -> UPSTREAM"
    client: str  # client address "host:port"
    server: str  # upstream address it was dialed to
    age: float  # seconds since accept
    state: str  # connecting / open / closing / closed
    upstream: DirectionStats
    downstream: DirectionStats
    client_kernel: KernelStats
    server_kernel: KernelStats
    limits_override: bool = False
    faults: tuple[str, ...] = ()  # names of the faults touching this connection
    route_name: str = ""  # the name of its route (`route` above describes it)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class Event:
    time: float  # unix time
    kind: str  # connect, close, reset, error, limits, profile, phase, route, fault
    message: str
    connection: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EngineStats:
    time: float  # unix time of the snapshot
    uptime: float
    connections_open: int
    connections_total: int
    resets: int
    errors: int
    upstream: DirectionStats  # sums over open connections
    downstream: DirectionStats
    events: tuple[Event, ...] = ()
    connections: tuple[ConnectionStats, ...] | None = None
    scenario: dict[str, Any] | None = None  # phase name, index, seconds to the next
    profile: str | None = None
    limits: dict[str, Any] = field(default_factory=dict)
    # Limits changed by hand since the profile set them ("downstream.rate"): the profile
    # is then shown as modified ("3g*").
    profile_changes: tuple[str, ...] = ()
    # Bytes delivered in each direction since the engine started: the closed connections'
    # and the open ones' (`upstream.bytes_out` above counts the open ones only).
    bytes_upstream: int = 0
    bytes_downstream: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        if self.connections is None:
            data.pop("connections")
        return data


def aggregate(
    direction: str, parts: list[DirectionStats], links: tuple[int, int] | None = None
) -> DirectionStats:
    """Sum per-connection direction stats; the state is the most stuck one present.
    `links`: (queued, capacity) of the direction's links, each counted once (a shared
    link is one queue, however many connections use it); without it, the sums of the
    connections' own figures."""

    def total(name: str) -> int | None:
        values = [getattr(p, name) for p in parts if getattr(p, name) is not None]
        return sum(values) if values else None

    states = [p.state for p in parts]
    state = IDLE
    # A half-closed direction still draining its queue is not idle: it says so.
    for candidate in (BLOCKED, BACKPRESSURED, STALLED, HELD, FLOWING, HALF_CLOSED, OPENING):
        if candidate in states:
            state = candidate
            break
    queue, capacity = (
        links
        if links is not None
        else (
            sum(p.queue for p in parts),
            sum(p.queue_capacity for p in parts),
        )
    )
    return DirectionStats(
        direction=direction,
        state=state,
        bytes_in=sum(p.bytes_in for p in parts),
        bytes_out=sum(p.bytes_out for p in parts),
        rate_in=sum(p.rate_in for p in parts),
        rate_out=sum(p.rate_out for p in parts),
        queue=queue,
        queue_capacity=capacity,
        wire=sum(p.wire for p in parts),
        sink_buffer=sum(p.sink_buffer for p in parts),
        source_kernel_rx=total("source_kernel_rx"),
        sink_kernel_tx=total("sink_kernel_tx"),
        source_rcvbuf=total("source_rcvbuf"),
        sink_sndbuf=total("sink_sndbuf"),
        in_flight=total("in_flight"),
        lost=total("lost"),
        lost_acks=total("lost_acks"),
        timeouts=total("timeouts"),
        retransmit_delay_us=total("retransmit_delay_us"),
        stalled_us=total("stalled_us"),
    )


def direction_from_dict(data: dict[str, Any]) -> DirectionStats:
    return DirectionStats(**data)


def connection_from_dict(data: dict[str, Any]) -> ConnectionStats:
    values = dict(data)
    values["upstream"] = direction_from_dict(values["upstream"])
    values["downstream"] = direction_from_dict(values["downstream"])
    values["client_kernel"] = KernelStats(**values["client_kernel"])
    values["server_kernel"] = KernelStats(**values["server_kernel"])
    values["faults"] = tuple(values.get("faults", ()))
    return ConnectionStats(**values)


def engine_from_dict(data: dict[str, Any]) -> EngineStats:
    """Rebuild a snapshot from its JSON form (the control client's typed result)."""
    values = dict(data)
    values["upstream"] = direction_from_dict(values["upstream"])
    values["downstream"] = direction_from_dict(values["downstream"])
    values["events"] = tuple(Event(**e) for e in values.get("events", ()))
    values["profile_changes"] = tuple(values.get("profile_changes", ()))
    if values.get("connections") is not None:
        values["connections"] = tuple(connection_from_dict(c) for c in values["connections"])
    return EngineStats(**values)
