"""One direction of one connection: the shaping model wired to two transports.

The pipe reads from its source only while the queue has room (so a full
queue closes the TCP window and the real sender blocks), releases what the
model says is due into its sink, and keeps one timer armed for the model's
next deadline. Everything it decides, the model decides; this file only
moves bytes and flips flow control.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

from shaper.engine.timers import LoopTimers, Timer, TimerFdTimers
from shaper.model import snapshots as stats
from shaper.model.limits import DirectionLimits
from shaper.shaping.meter import RateMeter
from shaper.shaping.pipe_model import PipeModel

READ_SIZE = 256 * 1024  # large reads are what makes an asyncio relay fast
# Release everything due within this window in one go: fewer wake-ups for
# bytes that are due a few microseconds apart.
TOLERANCE_US = 50.0
# The sink transport's own write buffer is user space too, so the queue bound
# covers it; its pause mark stays below the bound so a full bound always
# means the sink will report when it drains.
WRITE_HIGH = 64 * 1024
IDLE_AFTER = 0.5  # seconds without a byte moved before a direction shows as idle

_per_thread = threading.local()


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


def _read_view() -> memoryview:
    """The read buffer, one per thread (per event loop), shared by every pipe on it.

    asyncio calls get_buffer(), recv_into() and buffer_updated() back to back,
    and buffer_updated copies the bytes out at once, so sharing is safe; one
    buffer per pipe cost 512 KiB of memory per connection."""
    view = getattr(_per_thread, "view", None)
    if view is None:
        view = _per_thread.view = memoryview(bytearray(READ_SIZE))
    return view


def _no_read_mode(fast: bool) -> None:
    """Until the pipe is connected there is no read path to switch: connect() sets it."""


class Pipe:
    def __init__(
        self,
        direction: str,
        limits: DirectionLimits,
        loop: asyncio.AbstractEventLoop,
        timers: TimerFdTimers | LoopTimers,
        on_finished: Callable[[Pipe], None],
    ):
        self.direction = direction
        self.loop = loop
        self.timers = timers
        self.model = PipeModel(limits, self._now())
        # Both legs' transports, and how to switch the source leg's read path; see connect().
        self.source = NOT_CONNECTED
        self.sink = NOT_CONNECTED
        self._on_read_mode: Callable[[bool], None] = _no_read_mode
        self._on_finished = on_finished
        self._view = _read_view()
        self._timer: asyncio.TimerHandle | Timer | None = None
        self._timer_at = 0.0
        self.reading = True  # False while reading from the source is paused
        self.sink_blocked = False
        self.eof = False  # the source has sent EOF
        self.eof_sent = False  # EOF has been forwarded to the sink
        self.closed = False
        self.last_active = float("-inf")  # loop time bytes last moved
        self.meter_in = RateMeter()
        self.meter_out = RateMeter()

    def _now(self) -> float:
        return self.loop.time() * 1_000_000

    @property
    def limits(self) -> DirectionLimits:
        return self.model.limits

    @property
    def room(self) -> int:
        """What may be read now: the queue bound less the queue and the sink's write buffer."""
        return max(0, self.model.room - self.sink.get_write_buffer_size())

    def connect(
        self,
        source: asyncio.Transport,
        sink: asyncio.Transport,
        on_read_mode: Callable[[bool], None],
    ) -> None:
        """Both legs are up: read from `source`, write to `sink`, and call `on_read_mode`
        with `fast_reads` whenever the source's read path should change (now, and on
        every change of limits)."""
        self.source = source
        self.sink = sink
        self._on_read_mode = on_read_mode
        self._sink_marks()
        on_read_mode(self.fast_reads)

    def _sink_marks(self) -> None:
        if self.sink.is_closing():
            return
        high = min(WRITE_HIGH, self.model.limits.buffer // 2)
        self.sink.set_write_buffer_limits(high=high, low=high // 4)

    # -- source side (called by the source leg's protocol) ----------------------

    def get_buffer(self) -> memoryview:
        # Never offer more than the queue has room for: the bound is exact.
        # asyncio rejects an empty buffer, so a racing zero room offers 1 byte.
        return self._view[: max(1, min(READ_SIZE, self.room))]

    def buffer_updated(self, nbytes: int) -> None:
        self.data_received(bytes(self._view[:nbytes]))

    def data_received(self, data: bytes) -> None:
        """Bytes from the source: straight through when nothing shapes them, else queued."""
        nbytes = len(data)
        model = self.model
        now = self.loop.time()
        self.last_active = now
        self.meter_in.add(now, nbytes)
        if not model.limits.shaped and not self.sink_blocked and model.empty:
            model.bytes_in += nbytes
            model.bytes_out += nbytes
            self.meter_out.add(now, nbytes)
            self.sink.write(data)
            if self.reading and self.room == 0:
                self.reading = False
                self.source.pause_reading()
            return
        model.feed(now * 1_000_000, data)
        self._pump()

    @property
    def fast_reads(self) -> bool:
        """Unshaped, the source is read as fresh bytes objects (no copy out of a shared
        buffer; the cost of a copy is a tenth of a fast relay's CPU), at the price of
        reading up to one read past the bound when the sink blocks. Shaped, reads are
        sized to the room left, so the bound is exact."""
        return not self.model.limits.shaped

    def source_eof(self) -> None:
        self.eof = True
        self._pump()

    # -- sink side (called by the sink leg's protocol) ---------------------------

    def set_sink_blocked(self, blocked: bool) -> None:
        self.sink_blocked = blocked
        self.model.set_sink_blocked(self._now(), blocked)
        if not blocked:
            self._pump()

    # -- control ------------------------------------------------------------------

    def set_limits(self, limits: DirectionLimits) -> None:
        if limits == self.model.limits:
            return
        old_buffer = self.model.limits.buffer
        self.model.set_limits(self._now(), limits)
        if limits.buffer != old_buffer:
            self._sink_marks()
        self._on_read_mode(self.fast_reads)
        self._pump()

    def close(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- the engine of the pipe --------------------------------------------------

    def _pump(self) -> None:
        if self.closed:
            return
        model = self.model
        now_s = self.loop.time()
        due = model.release(now_s * 1_000_000 + TOLERANCE_US)
        if due:
            sink = self.sink
            written = 0
            for chunk in due:
                sink.write(chunk)
                written += len(chunk)
            self.meter_out.add(now_s, written)
            self.last_active = now_s
        self._arm(model.next_deadline())
        self._flow_control()

    def _flow_control(self) -> None:
        model = self.model
        if self.eof:
            if model.empty and not self.eof_sent:
                self.eof_sent = True
                self._on_finished(self)
            return
        room = self.room
        if self.reading and room == 0:
            self.reading = False
            self.source.pause_reading()
        elif not self.reading and room > 0:
            self.reading = True
            self.source.resume_reading()

    def _arm(self, deadline_us: float | None) -> None:
        if deadline_us is None:
            return
        when = deadline_us / 1_000_000 - self.timers.early
        if self._timer is not None:
            if self._timer_at <= when:
                return  # an earlier (or same) wake-up is already armed
            self._timer.cancel()
        self._timer_at = when
        self._timer = self.timers.call_at(when, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._pump()

    # -- stats ---------------------------------------------------------------------

    def state(self) -> str:
        if self.closed:
            return stats.CLOSED
        if self.eof:
            return stats.HALF_CLOSED
        if self.model.limits.stall:
            return stats.STALLED
        if self.sink_blocked:
            return stats.BLOCKED
        if not self.reading:
            return stats.BACKPRESSURED
        if self.model.empty and self.loop.time() - self.last_active > IDLE_AFTER:
            return stats.IDLE
        return stats.FLOWING
