"""One direction of one connection: its flow on the path, wired to two transports.

The pipe reads from its source only while its flow has room (the shared queue's, and
the emulated sender's window), so a full queue or window closes the real TCP window and
the real sender blocks. It releases what the flow says is due into its sink, tells the
flow what the receiver has taken (for the emulated acknowledgements), and keeps one
timer armed for the flow's next deadline. Everything it decides, the flow and its link
decide; this file only moves bytes and flips flow control.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

from shaper.engine.slices import Slices
from shaper.engine.timers import Alarm, LoopTimers, TimerFdTimers
from shaper.model import snapshots as stats
from shaper.model.limits import DirectionLimits
from shaper.shaping.flow import Flow
from shaper.shaping.meter import RateMeter

if TYPE_CHECKING:
    from shaper.engine.kernel import KernelReader
    from shaper.engine.link_runner import LinkRunner

READ_SIZE = 256 * 1024  # large reads are what makes an asyncio relay fast
# Release everything due within this window in one go: fewer wake-ups for
# bytes that are due a few microseconds apart.
TOLERANCE_US = 50.0
# The sink transport's own write buffer is user space too, so the queue bound
# covers it; its pause mark stays below the bound so a full bound always
# means the sink will report when it drains.
WRITE_HIGH = 64 * 1024
IDLE_AFTER = 0.5  # seconds without a byte moved before a direction shows as idle
# A flow that stepped aside from the line for queue room (its sender had nothing yet) looks
# for its sender's bytes after this long, doubling up to the maximum while there are none.
SOURCE_POLL_MIN = 0.002
SOURCE_POLL_MAX = 0.064

_per_thread = threading.local()

# What no fault asks of a direction, shared by every pipe: a fault's change replaces the
# pipe's own (copy on write; faults change rarely). An empty set and two empty dicts per
# direction were 0.7 KB per connection, for collections nearly every connection leaves empty.
_NO_HOLDS: frozenset[str] = frozenset()
_NO_CAPS: Mapping[str, tuple[int, Callable[[], None]]] = MappingProxyType({})
_NO_EOF_DELAYS: Mapping[str, float] = MappingProxyType({})


class _NotConnected(asyncio.Transport):
    """What a transport slot holds until its socket is connected, so that the slot is typed
    as a transport and the data path uses it with no None check. It reports what an absent
    transport means to the checks that look (closing, nothing buffered, no socket); moving
    bytes or flipping flow control through it is a bug, and raises NotImplementedError as
    asyncio's base Transport does."""

    def is_closing(self) -> bool:
        return True

    def get_write_buffer_size(self) -> int:
        return 0


NOT_CONNECTED: asyncio.Transport = _NotConnected()


def _no_read_mode(fast: bool) -> None:
    """Until the pipe is connected there is no read path to switch: connect() sets it."""


def _read_view() -> memoryview:
    """The read buffer, one per thread (per event loop), shared by every pipe on it.

    asyncio calls get_buffer(), recv_into() and buffer_updated() back to back,
    and buffer_updated copies the bytes out at once, so sharing is safe; one
    buffer per pipe cost 512 KiB of memory per connection."""
    view = getattr(_per_thread, "view", None)
    if view is None:
        view = _per_thread.view = memoryview(bytearray(READ_SIZE))
    return view


class Pipe:
    # Slotted, as are the legs, link runners, fault door, slicer and the connection: the
    # engine makes them per connection, and an instance dict is ~100 bytes plus 8-16 a
    # field (a pipe has 33).
    __slots__ = (
        "direction",
        "loop",
        "timers",
        "link",
        "flow",
        "next_link",
        "source",
        "sink",
        "connected",
        "_on_read_mode",
        "source_kernel",
        "sink_kernel",
        "_on_finished",
        "_view",
        "_alarm",
        "_source_watch",
        "reading",
        "sink_blocked",
        "eof",
        "eof_sent",
        "closed",
        "last_active",
        "meter_in",
        "meter_out",
        "holds",
        "caps",
        "slices",
        "_slicer_key",
        "eof_delays",
        "_eof_timer",
        "_capped",
        "_faulted",
        "first_byte_hook",
    )

    def __init__(
        self,
        direction: str,
        limits: DirectionLimits,
        loop: asyncio.AbstractEventLoop,
        timers: TimerFdTimers | LoopTimers,
        link: LinkRunner,
        on_finished: Callable[[Pipe], None],
        opened: bool = True,
        seed: int | str | None = None,
    ):
        self.direction = direction
        self.loop = loop
        self.timers = timers
        self.link = link
        self.flow = Flow(link.model, limits, self._now(), seed=seed, opened=opened)
        link.attach(self)
        self.next_link: LinkRunner | None = None  # a move waiting for the queue to drain
        # Both legs' transports, how to switch the source leg's read path, and kernel views
        # of both sockets (what the sender still has for us, what the receiver has not
        # taken); see connect().
        self.source = NOT_CONNECTED
        self.sink = NOT_CONNECTED
        self.connected = False
        self._on_read_mode: Callable[[bool], None] = _no_read_mode
        self.source_kernel: KernelReader | None = None
        self.sink_kernel: KernelReader | None = None
        self._on_finished = on_finished
        self._view = _read_view()
        self._alarm = Alarm(timers, self._pump)
        self._source_watch: asyncio.TimerHandle | None = None
        self.reading = True  # False while reading from the source is paused
        self.sink_blocked = False
        self.eof = False  # the source has sent EOF
        self.eof_sent = False  # EOF has been forwarded to the sink
        self.closed = False
        self.last_active = float("-inf")  # loop time bytes last moved
        self.meter_in = RateMeter()
        self.meter_out = RateMeter()
        # What faults ask of this direction, each keyed by the fault's name: holds (deliver
        # nothing), caps (bytes delivered over the life, and what to call at the cap), one
        # slicer, and delays for the forwarded EOF. Immutable: see _NO_HOLDS.
        self.holds = _NO_HOLDS
        self.caps = _NO_CAPS
        self.slices: Slices | None = None
        self._slicer_key: str | None = None
        self.eof_delays = _NO_EOF_DELAYS
        self._eof_timer: asyncio.TimerHandle | None = None
        self._capped = False  # a cap was reached: nothing more is delivered
        self._faulted = False  # any of the above: the unshaped fast path is off
        # Set while a fault waits for the connection's first byte (reset_peer).
        self.first_byte_hook: Callable[[], None] | None = None

    def _now(self) -> float:
        return self.loop.time() * 1_000_000

    @property
    def limits(self) -> DirectionLimits:
        return self.flow.limits

    @property
    def room(self) -> int:
        """What may be read now. Without the emulated window, the sink's write buffer is
        user space held for this flow too, so the bound covers it; with it, those bytes
        are unacknowledged and the window already counts them."""
        if self.next_link is not None:
            return 0  # moving to another link: the old one's queue drains first
        room = self.flow.room()
        if self.flow.window is None and room:
            room = max(0, room - self.sink.get_write_buffer_size() - self._sliced())
        return room

    def _sliced(self) -> int:
        return self.slices.held if self.slices is not None else 0

    def connect(
        self,
        source: asyncio.Transport,
        sink: asyncio.Transport,
        on_read_mode: Callable[[bool], None],
        source_kernel: KernelReader,
        sink_kernel: KernelReader,
    ) -> None:
        """Both legs are up: read from `source`, write to `sink`, and call `on_read_mode`
        with `fast_reads` whenever the source's read path should change (now, and on
        every change of limits). Then read as the flow allows."""
        self.source = source
        self.sink = sink
        self._on_read_mode = on_read_mode
        self.source_kernel = source_kernel
        self.sink_kernel = sink_kernel
        self.connected = True
        self._sink_marks()
        on_read_mode(self.fast_reads)
        self._flow_control()

    def _sink_marks(self) -> None:
        if self.sink.is_closing():
            return
        high = min(WRITE_HIGH, self.flow.limits.buffer // 2)
        self.sink.set_write_buffer_limits(high=high, low=high // 4)

    # -- source side (called by the source leg's protocol) ----------------------

    def get_buffer(self) -> memoryview:
        # Never offer more than the flow has room for: the bound is exact.
        # asyncio rejects an empty buffer, so a racing zero room offers 1 byte.
        return self._view[: max(1, min(READ_SIZE, self.room))]

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self._view[:nbytes]))

    def data_received(self, data: bytes) -> None:
        """Bytes from the source: straight through when nothing shapes them, else to the
        path."""
        if self.first_byte_hook is not None:
            self.first_byte_hook()
        nbytes = len(data)
        flow = self.flow
        now = self.loop.time()
        self.last_active = now
        self.meter_in.add(now, nbytes)
        if not flow.limits.shaped and not self.sink_blocked and flow.empty and not self._faulted:
            flow.bytes_in += nbytes
            flow.bytes_out += nbytes
            self.meter_out.add(now, nbytes)
            self.sink.write(data)
            if self.reading and self.room == 0:
                self.reading = False
                self.source.pause_reading()
            return
        self.link.wake(flow.feed(now * 1_000_000, data))
        self._pump()

    @property
    def fast_reads(self) -> bool:
        """Unshaped, the source is read as fresh bytes objects (no copy out of a shared
        buffer; the cost of a copy is a tenth of a fast relay's CPU), at the price of
        reading up to one read past the bound when the sink blocks. Shaped, reads are
        sized to the room left, so the bound is exact."""
        return not self.flow.limits.shaped

    def source_eof(self) -> None:
        self.eof = True
        self._pump()

    # -- sink side (called by the sink leg's protocol) ---------------------------

    def set_sink_blocked(self, blocked: bool) -> None:
        self.sink_blocked = blocked
        self._sink_state_changed()

    def _sink_state_changed(self) -> None:
        """The flow sees one blocked receiver: the real sink, a hold or a full slicer."""
        blocked = (
            self.sink_blocked or bool(self.holds) or (self.slices is not None and self.slices.full)
        )
        self.flow.set_sink_blocked(self._now(), blocked)
        if not blocked:
            self._pump()

    # -- faults (through the connection's FaultTarget) ----------------------------

    def _fault_state_changed(self) -> None:
        self._faulted = bool(self.holds or self.caps or self.slices is not None)
        if not self.closed:
            self._sink_state_changed()
            self._flow_control()

    def hold(self, key: str) -> None:
        self.holds = self.holds | {key}
        self._fault_state_changed()

    def unhold(self, key: str) -> None:
        self.holds = self.holds - {key} or _NO_HOLDS
        self._fault_state_changed()

    def cap(self, key: str, nbytes: int, on_reached: Callable[[], None]) -> None:
        self.caps = {**self.caps, key: (nbytes, on_reached)}
        self._fault_state_changed()
        if self.flow.bytes_out >= nbytes and not self._capped:
            self._capped = True
            self._cap_reached()

    def uncap(self, key: str) -> None:
        self.caps = {k: cap for k, cap in self.caps.items() if k != key} or _NO_CAPS
        self._fault_state_changed()

    def slice(self, key: str, next_size: Callable[[], int], gap: float) -> None:
        if self.slices is not None:
            self._write_out(self.slices.drain())
        self.slices = Slices(self.loop, self._sink_write, next_size, gap, self._sliced_room)
        self._slicer_key = key
        self._fault_state_changed()

    def unslice(self, key: str) -> None:
        if self._slicer_key != key or self.slices is None:
            return
        rest = self.slices.drain()
        self.slices = None
        self._slicer_key = None
        if rest and not self.sink.is_closing():
            self.sink.write(rest)  # what waited goes now, in order
        self._fault_state_changed()

    def _sink_write(self, data: bytes) -> None:
        # Looked up at each write: a slicer made at accept outlives the placeholder sink.
        if not self.sink.is_closing():
            self.sink.write(data)

    def _sliced_room(self) -> None:
        if self.closed:
            return
        if self._capped and self.slices is not None and self.slices.empty:
            self._cap_reached()
            return
        self._sink_state_changed()
        self._flow_control()

    def delay_eof(self, key: str, seconds: float) -> None:
        self.eof_delays = {**self.eof_delays, key: seconds}

    def undelay_eof(self, key: str) -> None:
        delays = {k: s for k, s in self.eof_delays.items() if k != key}
        self.eof_delays = delays or _NO_EOF_DELAYS
        if self._eof_timer is not None and not self.eof_delays:
            self._eof_timer.cancel()
            self._send_eof()

    def _write_out(self, data: bytes | memoryview) -> None:
        if not data or self.sink.is_closing():
            return
        if self.slices is not None:
            self.slices.push(data)
        else:
            self.sink.write(data)

    def _deliver(self, chunks: list[memoryview]) -> int:
        """Hand released bytes to the sink (through the slicer, under the caps); return
        how many were handed over."""
        if not self._faulted:
            if len(chunks) == 1:
                data: bytes | memoryview = chunks[0]
            else:
                # One write, one send(): at 1,000 connections a pump released two slices on
                # average, and a send per slice was an eighth of the engine's time.
                data = b"".join(chunks)
            self.sink.write(data)
            return len(data)
        left = min((n for n, _ in self.caps.values()), default=None)
        if left is not None:
            left -= self.flow.bytes_out - sum(len(c) for c in chunks)
        written = 0
        for chunk in chunks:
            if left is not None:
                if left <= 0:
                    break
                if len(chunk) > left:
                    chunk = chunk[:left]
                left -= len(chunk)
            self._write_out(chunk)
            written += len(chunk)
        if left is not None and left <= 0:
            released = sum(len(c) for c in chunks)
            self.flow.bytes_out -= released - written  # past the cap: never delivered
            if not self._capped:
                self._capped = True
                self._cap_reached()
        return written

    def _cap_reached(self) -> None:
        """Call the cap's owner once every byte under it is in the sink (a slicer may
        still hold some)."""
        if self.closed or not self.caps:
            return
        if self.slices is not None and not self.slices.empty:
            return  # _sliced_room comes back here when the slicer is empty
        reached = min(self.caps.values(), key=lambda cap: cap[0])[1]
        self.loop.call_soon(reached)

    # -- the link and the handshake ---------------------------------------------

    def wire_changed(self) -> None:
        """The link put bytes on this flow's wire (called by its link runner)."""
        flow = self.flow
        head = flow.wire.head
        if (
            head is not None
            and flow.window is not None
            and self.next_link is None
            and head.deliver > self._now() + TOLERANCE_US
        ):
            # Nothing is due yet, and leaving the link changed neither the window's room
            # nor the line for the queue (the link offers freed room itself): only the
            # wake-up for the delivery is new. A full pump here was a quarter of the
            # pumps at 1,000 connections.
            self._alarm.arm(head.deliver)
            return
        self._pump()

    def room_offered(self) -> None:
        """The shared queue has room and this flow has waited longest for it. A flow
        that cannot use it now steps aside so the next one in line gets it."""
        pending = self.source_kernel.rx_queue() if self.source_kernel is not None else None
        if self.closed or self.eof or self.flow.own_room() == 0:
            self.flow.link.leave(self.flow)  # an ack or the end will run flow control again
        elif pending == 0:
            # Nothing to send yet: step aside, and look again until the sender has written
            # (a paused reader hears nothing of bytes arriving).
            self.flow.link.leave(self.flow)
            self._watch_source(SOURCE_POLL_MIN)
        else:
            self._flow_control()

    def _watch_source(self, delay: float) -> None:
        if self._source_watch is None:
            self._source_watch = self.loop.call_later(delay, self._source_check, delay)

    def _source_check(self, delay: float) -> None:
        self._source_watch = None
        if self.closed or self.eof or self.reading:
            return
        pending = self.source_kernel.rx_queue() if self.source_kernel is not None else None
        if pending == 0:
            self._watch_source(min(SOURCE_POLL_MAX, delay * 2))
        else:
            self._flow_control()  # joins the line for room again, or reads

    def send_control(self, size: int, on_arrival: Callable[[float], None]) -> None:
        """A control packet (SYN, SYN-ACK, ACK) along this direction's path."""
        self.link.wake(self.flow.send_control(self._now(), size, on_arrival))
        self._alarm.arm(self.flow.next_deadline())

    def open(self) -> None:
        """The emulated handshake lets this direction's bytes through."""
        self.flow.open()
        self._flow_control()

    # -- control ------------------------------------------------------------------

    def set_limits(self, limits: DirectionLimits, link: LinkRunner) -> None:
        old = self.flow.limits
        if limits != old:
            self.flow.set_limits(self._now(), limits)
            if limits.buffer != old.buffer:
                self._sink_marks()
            self._on_read_mode(self.fast_reads)
        if link is not self.link or self.next_link is not None:
            self.next_link = link if link is not self.link else None
            self._move_when_drained()
        self._pump()

    def _move_when_drained(self) -> None:
        """Move to another link once nothing of this flow waits in the old one: bytes
        queued on two links could leave out of order."""
        target = self.next_link
        if target is None or self.flow.queued:
            return
        self.next_link = None
        old = self.link
        old.detach(self)
        self.flow.move_to(target.model)
        self.link = target
        target.attach(self)
        if not old.shared:
            old.close()  # a link of its own serves no one else

    def close(self) -> None:
        self.closed = True
        self.flow.detach()
        self.link.detach(self)
        for link in (self.link, self.next_link):
            if link is not None and not link.shared:
                link.close()
        if self._source_watch is not None:
            self._source_watch.cancel()
            self._source_watch = None
        if self._eof_timer is not None:
            self._eof_timer.cancel()
            self._eof_timer = None
        if self.slices is not None:
            self.slices.close()
        self._alarm.cancel()

    # -- the engine of the pipe --------------------------------------------------

    def _pump(self) -> None:
        if self.closed:
            return
        flow = self.flow
        now_s = self.loop.time()
        now = now_s * 1_000_000
        due = flow.release(now + TOLERANCE_US)  # what is due within the tolerance
        if due:
            written = self._deliver(due)
            self.meter_out.add(now_s, written)
            self.last_active = now_s
        if flow.window is not None:
            flow.acknowledge(now + TOLERANCE_US, self._peer_taken)
        if self.next_link is not None:
            self._move_when_drained()
        self._alarm.arm(flow.next_deadline())
        self._flow_control()

    def _peer_taken(self) -> int:
        """Bytes the receiver's kernel has taken: written, less what our transport and
        our kernel have not sent yet."""
        held = self.sink.get_write_buffer_size() + self._sliced()
        unsent = self.sink_kernel.tx_unsent() if self.sink_kernel is not None else None
        return self.flow.bytes_out - held - (unsent or 0)

    def _flow_control(self) -> None:
        flow = self.flow
        if not self.connected:
            return  # connect() runs this once both legs are up
        if self.eof:
            if flow.empty and not self.eof_sent and (self.slices is None or self.slices.empty):
                if self.eof_delays:
                    if self._eof_timer is None:
                        delay = max(self.eof_delays.values())
                        self._eof_timer = self.loop.call_later(delay, self._send_eof)
                else:
                    self._send_eof()
            return
        room = self.room
        if room == 0:
            if self.reading:
                self.reading = False
                self.source.pause_reading()
            if self.next_link is None and flow.want():
                # Joined the line for the shared queue: a sender with more to send would
                # have had a packet dropped there.
                pending = self.source_kernel.rx_queue() if self.source_kernel is not None else None
                if pending is None or pending > 0:
                    flow.refused(self._now())
        elif not self.reading:
            self.reading = True
            self.source.resume_reading()

    def _send_eof(self) -> None:
        self._eof_timer = None
        if not self.eof_sent and not self.closed:
            self.eof_sent = True
            self._on_finished(self)

    # -- stats ---------------------------------------------------------------------

    def state(self, now: float | None = None) -> str:
        """Its state at `now` (the loop's time in seconds; now if None)."""
        if self.closed:
            return stats.CLOSED
        if self.holds:
            return stats.HELD  # before half-closed: what waits is held, not draining
        if self.eof:
            return stats.HALF_CLOSED
        if self.link.limits.stall:
            return stats.STALLED
        if not self.flow.is_open:
            return stats.OPENING
        if self.sink_blocked or self.flow.receiver_slow:
            return stats.BLOCKED
        if not self.reading:
            return stats.BACKPRESSURED
        flow = self.flow
        if now is None:
            now = self.loop.time()
        # flow.empty, without a property's call: this runs twice per connection per snapshot
        if flow.queued == 0 and not flow.wire and now - self.last_active > IDLE_AFTER:
            return stats.IDLE
        return stats.FLOWING
