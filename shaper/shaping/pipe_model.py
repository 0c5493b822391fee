"""One direction's shaping, free of I/O: queue -> link -> wire.

The I/O layer feeds it bytes with the current time, asks what is due, and
arms one timer for `next_deadline()`. Nothing here reads a clock, sleeps or
touches a socket; times are microseconds supplied by the caller.
"""

from __future__ import annotations

from shaper.model.limits import DirectionLimits
from shaper.shaping.delay import DelayLine
from shaper.shaping.jitter import Jitter
from shaper.shaping.link import LinkClock
from shaper.shaping.queue import ByteQueue

# A slice is the unit the link serializes. Its size follows the rate so that
# a slice takes about SLICE_TIME on the link: small enough that a slow stream
# stays smooth, large enough that a fast one does not drown in timers. Never
# less than one TCP segment (a real slow link sends whole packets too), which
# keeps a thousand slow connections from needing a quarter million timers a
# second. A chunk smaller than a slice (an interactive message) goes alone.
SLICE_TIME_US = 4000
MIN_SLICE = 1448
MAX_SLICE = 128 * 1024
UNLIMITED_SLICE = 1024 * 1024


def slice_size(rate: int, buffer: int | None = None) -> int:
    """Bytes per slice at `rate`. With a `buffer`, at most an eighth of it, so a full
    queue always holds several slices and a late timer never leaves the link idle."""
    if not rate:
        return UNLIMITED_SLICE
    size = max(MIN_SLICE, min(MAX_SLICE, rate * SLICE_TIME_US // (8 * 1_000_000)))
    if buffer is not None:
        size = max(MIN_SLICE, min(size, buffer // 8))
    return size


class PipeModel:
    """The shaping state of one direction.

    - `room`: how many bytes the reader may read now (queue capacity left).
    - `feed(now, data)`: bytes read from the source.
    - `release(now)`: bytes whose delivery is due, in order, to be written.
    - `next_deadline()`: when something will next be due (None: nothing pending).
    - `hold`: the sink cannot take more (or the link is stalled); nothing
      departs the link while held.
    """

    def __init__(self, limits: DirectionLimits, now: float = 0.0, seed: int | None = None):
        self.limits = limits
        self.queue = ByteQueue()
        self.link = LinkClock(limits.rate, limits.burst)
        self.wire = DelayLine(limits.latency)
        self.jitter = Jitter(limits.jitter, limits.jitter_distribution, seed)
        self._slice = slice_size(limits.rate, limits.buffer)
        self._sending: memoryview | None = None  # the slice being serialized
        self._send_start = 0.0
        self._send_done = 0.0
        self._sink_blocked = False
        self.bytes_in = 0
        self.bytes_out = 0

    # -- state -----------------------------------------------------------------

    @property
    def room(self) -> int:
        """Bytes the reader may read now. Zero while over the bound (e.g. after a shrink)."""
        return max(0, self.limits.buffer - self.queued)

    @property
    def queued(self) -> int:
        """Bytes not yet departed from the link, including the slice on it."""
        return self.queue.size + (len(self._sending) if self._sending is not None else 0)

    @property
    def on_wire(self) -> int:
        return self.wire.size

    @property
    def held(self) -> bool:
        return self._sink_blocked or self.limits.stall

    @property
    def empty(self) -> bool:
        return not self.queue and self._sending is None and not self.wire

    def next_deadline(self) -> float | None:
        deadlines = []
        if self._sending is not None and not self.held:
            deadlines.append(self._send_done)
        if self.wire.next_at is not None and not self._sink_blocked:
            deadlines.append(self.wire.next_at)
        return min(deadlines) if deadlines else None

    # -- inputs ----------------------------------------------------------------

    def feed(self, now: float, data: bytes | memoryview) -> None:
        self._advance(now)
        self.queue.push(data)
        self.bytes_in += len(data)
        if self._sending is None and not self.held:
            self._start_next(self.link.start_time(now), now)

    def set_sink_blocked(self, now: float, blocked: bool) -> None:
        if blocked == self._sink_blocked:
            return
        self._advance(now)
        self._sink_blocked = blocked
        if not self.held:
            self._resume(now)

    def set_limits(self, now: float, limits: DirectionLimits) -> None:
        """Apply new limits now. Nothing in the queue or on the wire is dropped or reordered."""
        self._advance(now)
        old = self.limits
        self.limits = limits
        self._slice = slice_size(limits.rate, limits.buffer)
        self.jitter.amount = limits.jitter
        self.jitter.distribution = limits.jitter_distribution
        if limits.latency != old.latency:
            self.wire.set_latency(limits.latency)
        if (limits.rate, limits.burst) != (old.rate, old.burst):
            self._change_rate(now, limits)
        if old.stall and not limits.stall and not self.held:
            self._resume(now)

    # -- output ----------------------------------------------------------------

    def release(self, now: float) -> list[memoryview]:
        """Everything due at `now`, in order. The caller writes it to the sink."""
        self._advance(now)
        out: list[memoryview] = []
        if self._sink_blocked:
            return out
        while True:
            data = self.wire.pop_due(now)
            if data is None:
                break
            out.append(data)
            self.bytes_out += len(data)
        return out

    # -- internals -------------------------------------------------------------

    def _start_next(self, start: float, ready: float) -> None:
        """Put the next slice on the link. `ready`: when its bytes were there to send;
        burst credit may start it earlier on the link clock, but it never departs
        before it existed."""
        if not self.queue:
            self._sending = None
            return
        piece = self.queue.take(self._slice)
        self._sending = piece
        self._send_start = max(start, self.link.free_at)
        self._send_done = max(ready, self.link.send(start, len(piece)))

    def _advance(self, now: float) -> None:
        """Move every slice whose serialization ended by `now` onto the wire."""
        while self._sending is not None and not self.held and self._send_done <= now:
            depart = self._send_done
            self.wire.push(depart, self._sending, self.jitter.sample())
            self._sending = None
            # Back to back: the next slice starts when this one departed, not
            # when we noticed, so timer lateness never lowers the rate.
            self._start_next(depart, depart)

    def _resume(self, now: float) -> None:
        if self._sending is not None:
            if self._send_done < now:
                # The slice finished while the sink was blocked; it leaves now.
                self._send_done = now
                self.link.free_at = max(self.link.free_at, now)
        else:
            self._start_next(self.link.start_time(now), now)

    def _change_rate(self, now: float, limits: DirectionLimits) -> None:
        self.link.rate = limits.rate
        self.link.burst = limits.burst
        if self._sending is None:
            return
        # Re-time the slice on the link: what is left of it goes at the new rate.
        total = self._send_done - self._send_start
        done = 1.0 if total <= 0 else min(1.0, max(0.0, (now - self._send_start) / total))
        remaining = int(len(self._sending) * (1.0 - done))
        self.link.free_at = max(self._send_start, min(now, self._send_done))
        self._send_start = self.link.free_at
        self._send_done = self.link.send(self.link.free_at, remaining)
