"""A proxied connection: two legs (client, server), two pipes (upstream, downstream).

Lifecycle: the client leg is accepted with reading paused; the server leg is
dialed; once both are up, reading starts. EOF on a leg is forwarded as a
half-close once that direction has drained. A reset on one leg becomes a
reset on the other. When both directions have forwarded EOF, or a leg is
lost, the connection closes.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from typing import cast

from shaper.engine import kernel, resting
from shaper.engine.fault_door import FaultDoor
from shaper.engine.link_runner import LinkRunner
from shaper.engine.pipe import NOT_CONNECTED, Pipe
from shaper.engine.timers import LoopTimers, TimerFdTimers
from shaper.model import snapshots as stats
from shaper.model.addresses import format_address
from shaper.model.limits import Limits
from shaper.shaping.flow import Flow

CONNECTING, OPEN, CLOSING, CLOSED = "connecting", "open", "closing", "closed"
# Shared by every connection none of whose SYNs was resent (an empty frozenset is an
# object of 216 bytes of its own).
_NONE_RESENT: frozenset[str] = frozenset()
CLOSE_GRACE = 5.0  # seconds a graceful close may spend flushing to a peer that does not read


class Leg(asyncio.BufferedProtocol):
    """One socket of the connection. It is the source of one pipe and the sink of the other."""

    __slots__ = (
        "connection",
        "name",
        "transport",
        "source_of",
        "sink_of",
        "lost",
        "kernel",
        "_fast_reader",
    )

    def __init__(self, connection: Connection, name: str, source_of: Pipe, sink_of: Pipe):
        self.connection = connection
        self.name = name  # "client" or "server"
        self.transport = NOT_CONNECTED  # until connection_made
        self.source_of = source_of  # the direction this socket's bytes feed
        self.sink_of = sink_of  # the direction that writes into this socket
        self.lost = False
        self.kernel = kernel.KernelReader(None)
        self._fast_reader: _FastReader | None = None

    def use_fast_reads(self, fast: bool) -> None:
        """Switch how the transport hands us bytes: sized buffers (exact bound) or fresh
        bytes objects (no copy). asyncio's set_protocol picks the read path per protocol."""
        transport = self.transport
        if transport.is_closing() or fast == (self._fast_reader is not None):
            return
        if fast:
            self._fast_reader = _FastReader(self)
            transport.set_protocol(self._fast_reader)
        else:
            self._fast_reader = None
            transport.set_protocol(self)

    @property
    def connected(self) -> bool:
        """The socket was connected (it may have been lost since)."""
        return self.transport is not NOT_CONNECTED

    @property
    def sock(self) -> socket.socket | None:
        return self.transport.get_extra_info("socket")  # None until connected

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # BaseProtocol's signature covers datagram transports too; a stream socket's
        # protocol is always handed a Transport.
        self.transport = cast(asyncio.Transport, transport)
        self.kernel = kernel.KernelReader(self.sock)
        self.connection.leg_made(self)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.source_of.get_buffer()

    def buffer_updated(self, nbytes: int) -> None:
        self.source_of.buffer_updated(nbytes)

    def eof_received(self) -> bool:
        # A resumed reader may report EOF again; forward it once.
        if not self.source_of.eof:
            self.source_of.source_eof()
        return True  # keep the transport open: the other direction may still flow

    def pause_writing(self) -> None:
        self.sink_of.set_sink_blocked(True)

    def resume_writing(self) -> None:
        self.sink_of.set_sink_blocked(False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.connection.leg_lost(self, exc)


class _FastReader(asyncio.Protocol):
    """The leg, as a plain Protocol: used while its source direction is unshaped."""

    __slots__ = ("leg",)

    def __init__(self, leg: Leg):
        self.leg = leg

    def data_received(self, data: bytes) -> None:
        self.leg.source_of.data_received(data)

    def eof_received(self) -> bool:
        return self.leg.eof_received()

    def pause_writing(self) -> None:
        self.leg.pause_writing()

    def resume_writing(self) -> None:
        self.leg.resume_writing()

    def connection_lost(self, exc: Exception | None) -> None:
        self.leg.connection_lost(exc)


# The handshake's packets, as they cross the emulated path: SYN and SYN-ACK with their
# options (MSS, SACK, timestamps, window scale), the final ACK with timestamps.
SYN_SIZE = 60
SYN_ACK_SIZE = 60
ACK_SIZE = 52


class Connection:
    __slots__ = (
        "id",
        "seed",
        "route",
        "route_name",
        "loop",
        "timers",
        "started",
        "state",
        "client_addr",
        "server_addr",
        "override",
        "_record",
        "_on_closed",
        "_shared_links",
        "handshake",
        "_control_resent",
        "upstream",
        "downstream",
        "client",
        "server",
        "reset_seen",
        "fault_target",
        "faults",
        "_kept",
    )

    def __init__(
        self,
        conn_id: int,
        route: str,
        limits: Limits,
        loop: asyncio.AbstractEventLoop,
        timers: TimerFdTimers | LoopTimers,
        shared_links: dict[str, LinkRunner],
        record: Callable[[str, str, int | None], None],
        on_closed: Callable[[Connection], None],
        route_name: str = "",
        seed: int = 0,
    ):
        self.id = conn_id
        self.seed = seed
        self.route = route  # its route, described: "LISTEN -> UPSTREAM"
        self.route_name = route_name
        self.loop = loop
        self.timers = timers
        self.started = time.time()
        self.state = CONNECTING
        self.client_addr = ""
        self.server_addr = ""
        self.override: Limits | None = None
        self._record = record
        self._on_closed = on_closed
        self._shared_links = shared_links
        # With the emulated TCP on a shaped path, the first bytes wait for the handshake.
        self.handshake = _emulates_handshake(limits)
        # Directions whose SYN or SYN-ACK was resent (rare: a new set then, none before).
        self._control_resent = _NONE_RESENT
        opened = not self.handshake
        self.upstream = Pipe(
            "upstream",
            limits.upstream,
            loop,
            timers,
            self._link_for("upstream", limits),
            self._pipe_finished,
            opened=opened,
            # Loss and jitter draws: the engine's seed, this connection, this direction.
            seed=f"{seed}/{conn_id}/upstream",
        )
        self.downstream = Pipe(
            "downstream",
            limits.downstream,
            loop,
            timers,
            self._link_for("downstream", limits),
            self._pipe_finished,
            opened=opened,
            seed=f"{seed}/{conn_id}/downstream",
        )
        self._set_reverse_latencies(limits)
        self.client = Leg(self, "client", source_of=self.upstream, sink_of=self.downstream)
        self.server = Leg(self, "server", source_of=self.downstream, sink_of=self.upstream)
        self.reset_seen = False
        self.fault_target = FaultDoor(self)
        self.faults: tuple[str, ...] = ()  # names of the faults touching it (for stats)
        self._kept: resting.Kept | None = None  # its last snapshot, while at rest

    def _link_for(self, direction: str, limits: Limits) -> LinkRunner:
        """The engine's shared link, unless this connection has limits of its own or the
        limits ask for a link per connection: then a link of its own (kept on changes)."""
        wanted = limits.direction(direction)
        if self.override is None and wanted.link == "shared":
            return self._shared_links[direction]
        pipe: Pipe | None = getattr(self, direction, None)  # None while being built
        if pipe is not None:
            own = pipe.next_link or pipe.link
            if not own.shared:
                own.set_limits(wanted)
                return own
        return LinkRunner(wanted, self.loop, self.timers, shared=False)

    def _set_reverse_latencies(self, limits: Limits) -> None:
        # An acknowledgement travels back the other direction's way.
        self.upstream.flow.reverse_latency = float(limits.downstream.latency)
        self.downstream.flow.reverse_latency = float(limits.upstream.latency)
        # ... and is lost as often as that direction's packets.
        self.upstream.flow.set_ack_loss(limits.downstream.loss, limits.downstream.loss_burst)
        self.downstream.flow.set_ack_loss(limits.upstream.loss, limits.upstream.loss_burst)

    # -- the emulated handshake -------------------------------------------------------

    def _start_handshake(self) -> None:
        self._send_control(self.upstream, SYN_SIZE, self._syn_arrived)

    def _send_control(self, pipe: Pipe, size: int, on_arrival: Callable[[float], None]) -> None:
        """A SYN or SYN-ACK along `pipe`'s path; a lost one goes again after the timeout."""
        if self.state == CLOSED:
            return
        recovery = pipe.flow.recovery
        wait = recovery.control_lost() if recovery is not None else None
        if wait is None:
            pipe.send_control(size, on_arrival)
        else:
            self._control_resent = self._control_resent | {pipe.direction}
            self.loop.call_later(wait / 1_000_000, self._send_control, pipe, size, on_arrival)

    def _syn_arrived(self, at: float) -> None:
        if self.state != CLOSED:
            self._send_control(self.downstream, SYN_ACK_SIZE, self._syn_ack_arrived)

    def _syn_ack_arrived(self, at: float) -> None:
        # The client's connect() would return now: its bytes may go, behind its ACK.
        # (A lost ACK is not modelled: the client's first data would carry it.)
        if self.state != CLOSED:
            self._handshake_rtt(self.upstream, at)
            self.upstream.send_control(ACK_SIZE, self._ack_arrived)
            self.upstream.open()

    def _ack_arrived(self, at: float) -> None:
        # The server's accept() would return now: its bytes may go.
        if self.state != CLOSED:
            self._handshake_rtt(self.downstream, at)
            self.downstream.open()

    def _handshake_rtt(self, pipe: Pipe, at: float) -> None:
        """The answer to `pipe`'s SYN or SYN-ACK arrived at `at`: its sender's first RTT
        sample, unless that packet was resent (Karn: which copy was answered is unknown)."""
        flow = pipe.flow
        sent = flow.control_sent_at
        if (
            flow.window is not None
            and sent is not None
            and pipe.direction not in self._control_resent
        ):
            flow.window.handshake_rtt(at, at - sent)

    # -- legs ----------------------------------------------------------------------

    def leg_made(self, leg: Leg) -> None:
        if leg is self.client:
            limits = self.limits
            leg.transport.pause_reading()  # until the server leg is up
            self.upstream.reading = False
            peer = leg.transport.get_extra_info("peername")
            self.client_addr = format_address(peer)
            kernel.set_buffers(leg.sock, limits.upstream.sockbuf, limits.downstream.sockbuf)
            if self.handshake:
                self._start_handshake()  # the SYN leaves as the client connects
        client, server = self.client, self.server
        if client.connected and server.connected:
            # The pipes are wired once, when both transports exist; each then reads as its
            # flow allows (before the emulated handshake is through, nothing).
            self.upstream.connect(
                client.transport,
                server.transport,
                client.use_fast_reads,
                client.kernel,
                server.kernel,
            )
            self.downstream.connect(
                server.transport,
                client.transport,
                server.use_fast_reads,
                server.kernel,
                client.kernel,
            )

    def server_connected(self) -> None:
        """Both legs are up: start reading in both directions."""
        if self.state != CONNECTING:
            return
        self.state = OPEN
        peer = self.server.transport.get_extra_info("peername")
        self.server_addr = format_address(peer)
        self._record("connect", f"{self.client_addr} -> {self.server_addr}", self.id)

    def leg_lost(self, leg: Leg, exc: Exception | None) -> None:
        if self.state == CLOSED:
            return
        other = self.server if leg is self.client else self.client
        if isinstance(exc, ConnectionResetError | BrokenPipeError) or (
            exc is not None and not isinstance(exc, ConnectionAbortedError)
        ):
            self.reset_seen = True
            self._record("reset", f"{leg.name} reset: {exc}; resetting {other.name}", self.id)
            self._abort(other, reset=True)
        elif not (self.upstream.eof_sent and self.downstream.eof_sent):
            # The leg went away without a reset (closed by us, or lost): close the other one.
            self._abort(other, reset=False)
        self._finish()

    def _pipe_finished(self, pipe: Pipe) -> None:
        """A direction drained after its source's EOF: forward the half-close."""
        sink = pipe.sink
        if not sink.is_closing() and sink.can_write_eof():
            try:
                sink.write_eof()
            except OSError:
                pass
        if self.upstream.eof_sent and self.downstream.eof_sent:
            self.close()

    # -- control ---------------------------------------------------------------

    @property
    def limits(self) -> Limits:
        return Limits(self.upstream.limits, self.downstream.limits)

    def set_limits(self, limits: Limits) -> None:
        old = self.limits
        self.upstream.set_limits(limits.upstream, self._link_for("upstream", limits))
        self.downstream.set_limits(limits.downstream, self._link_for("downstream", limits))
        self._set_reverse_latencies(limits)
        if (old.upstream.sockbuf, old.downstream.sockbuf) != (
            limits.upstream.sockbuf,
            limits.downstream.sockbuf,
        ):
            kernel.set_buffers(self.client.sock, limits.upstream.sockbuf, limits.downstream.sockbuf)
            kernel.set_buffers(self.server.sock, limits.downstream.sockbuf, limits.upstream.sockbuf)
            # Back to "default" cannot undo a size already set: Linux turns
            # autotuning off for a socket once SO_RCVBUF/SO_SNDBUF is set.
            self.client.kernel.invalidate()
            self.server.kernel.invalidate()

    def follow(self, limits: Limits, shared_links: dict[str, LinkRunner]) -> None:
        """Take `limits` and, where they say link = shared, share `shared_links` (its
        route's own or the engine's, when the route's limits change hands). Bytes already
        queued on the old link leave it first, so nothing is reordered."""
        self._shared_links = shared_links
        self.set_limits(limits)

    def close(self, reset: bool = False) -> None:
        """Close both legs: gracefully (pending bytes are flushed by the transports) or with RST."""
        if self.state == CLOSED:
            return
        self.state = CLOSING
        self._abort(self.client, reset=reset)
        self._abort(self.server, reset=reset)
        self._finish()

    def fault_close(self, reset: bool, reason: str) -> None:
        """A fault ends the connection (reset_peer, limit_data, timeout's `after`)."""
        if self.state == CLOSED:
            return
        self._record("reset" if reset else "close", f"{self.client_addr} {reason}", self.id)
        if reset:
            self.reset_seen = True
        self.close(reset=reset)

    def _abort(self, leg: Leg, reset: bool) -> None:
        transport = leg.transport
        if not leg.connected or transport.is_closing() and not reset:
            return
        if reset:
            sock = leg.sock
            if sock is not None:
                kernel.set_reset_on_close(sock)
            transport.abort()
        else:
            # close() flushes the write buffer first; a peer that never reads
            # would keep the socket forever, so the flush gets a deadline.
            transport.close()
            self.loop.call_later(CLOSE_GRACE, self._force_close, leg)

    def _force_close(self, leg: Leg) -> None:
        if not leg.lost and leg.connected:
            leg.transport.abort()

    def force_close(self) -> None:
        """Abort whatever is still flushing (the engine is stopping)."""
        self._force_close(self.client)
        self._force_close(self.server)

    @property
    def legs_lost(self) -> bool:
        return all(leg.lost or not leg.connected for leg in (self.client, self.server))

    def source_reset(self, leg: Leg) -> None:
        """A paused reader found its socket reset by the peer (see Engine's sweep)."""
        if self.state != CLOSED:
            self.leg_lost(leg, ConnectionResetError("connection reset by peer"))
            if leg.connected:
                leg.transport.abort()

    def _finish(self) -> None:
        if self.state == CLOSED:
            return
        self.state = CLOSED
        self.upstream.close()
        self.downstream.close()
        self._on_closed(self)

    # -- stats -------------------------------------------------------------------

    def snapshot(
        self, now: float, with_kernel: bool = True, wall: float | None = None, reuse: bool = True
    ) -> stats.ConnectionStats:
        """Its figures now. At rest, the last snapshot again with its age moved on
        (`reuse=False` builds it afresh all the same)."""
        age = round((wall or time.time()) - self.started, 3)
        kept = self._kept
        if kept is not None and reuse and with_kernel:
            record = kept.reuse(self, now, age)
            if record is not None:
                return record
        record = self._build(now, with_kernel, age)
        self._kept = resting.keep(self, record, now) if with_kernel and self.state == OPEN else None
        return record

    def _build(self, now: float, with_kernel: bool, age: float) -> stats.ConnectionStats:
        client_k = self.client.kernel.read(now) if with_kernel else kernel.EMPTY
        server_k = self.server.kernel.read(now) if with_kernel else kernel.EMPTY
        return stats.ConnectionStats(
            id=self.id,
            route=self.route,
            client=self.client_addr,
            server=self.server_addr,
            age=age,
            state=self.state,
            upstream=pipe_stats(self.upstream, now, client_k, server_k),
            downstream=pipe_stats(self.downstream, now, server_k, client_k),
            client_kernel=client_k,
            server_kernel=server_k,
            limits_override=self.override is not None,
            faults=self.faults,
            route_name=self.route_name,
        )


def pipe_stats(
    pipe: Pipe, now: float, source: stats.KernelStats, sink: stats.KernelStats
) -> stats.DirectionStats:
    flow = pipe.flow
    transport = pipe.sink
    sink_buffer = 0 if transport.is_closing() else transport.get_write_buffer_size()
    # Bytes that have crossed the wire but the receiver cannot take yet wait at its door:
    # the display's "buf" stage, not the wire.
    stuck = flow.stuck
    window = flow.window
    # Positional: this runs for every direction of every connection per snapshot.
    return stats.DirectionStats(
        pipe.direction,
        pipe.state(now),
        flow.bytes_in,
        flow.bytes_out,
        round(pipe.meter_in.value(now), 1),
        round(pipe.meter_out.value(now), 1),
        flow.queued,
        pipe.link.limits.buffer,
        flow.on_wire - stuck,
        sink_buffer + stuck,
        source.rx_queue,
        sink.tx_queue,
        source.rcvbuf,
        sink.sndbuf,
        "shared" if pipe.link.shared else "own",
        window.cwnd if window is not None else None,
        window.in_flight if window is not None else None,
        window.phase if window is not None else None,
        window.srtt_us if window is not None else None,
        *loss_figures(flow),
    )


# The DirectionStats fields loss_figures fills, in its order.
LOSS_FIGURES = ("lost", "lost_acks", "timeouts", "retransmit_delay_us", "stalled_us")


def loss_figures(
    flow: Flow,
) -> tuple[int | None, int | None, int | None, float | None, float | None]:
    """(lost, lost_acks, timeouts, retransmit_delay_us, stalled_us) of one direction; None
    each while it never had loss set, either way."""
    recovery, acks = flow.recovery, flow.ack_loss
    if recovery is None and acks is None:
        return (None, None, None, None, None)
    timeouts = (recovery.timeouts if recovery else 0) + (acks.timeouts if acks else 0)
    return (
        recovery.lost if recovery else 0,
        acks.lost if acks else 0,
        timeouts,
        round(recovery.delay_us, 1) if recovery else 0.0,
        round(recovery.stalled_us, 1) if recovery else 0.0,
    )


def _emulates_handshake(limits: Limits) -> bool:
    up, down = limits.upstream, limits.downstream
    return up.tcp == down.tcp == "emulated" and (up.shaped or down.shaped)
