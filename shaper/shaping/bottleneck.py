"""One direction's bottleneck: the serialization clock and the drop-tail queue that the
flows on it share, first in, first out.

A real path has one bottleneck per direction: every connection's packets wait in the
same router queue and leave at the same link rate. Each flow (one direction of one
connection) keeps its own wire (propagation delay, jitter, order) and window; this
object only decides when each queued chunk has been serialized, across flows, in the
order the chunks arrived. A private link is a bottleneck with one flow on it.

Times are microseconds supplied by the caller; rates are bits per second; sizes bytes.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from shaper.model.limits import DirectionLimits
from shaper.shaping.link import LinkClock, TraceClock


class Rider(Protocol):
    """What the link needs of a flow (shaping.flow.Flow): to be told when its chunk has
    been serialized and is on its way, and how much it may send whatever the queue holds
    (its window's room), which is what it is granted when room frees."""

    def departed(self, depart: float, chunk: Chunk[Any]) -> None: ...

    def own_room(self) -> int: ...


F = TypeVar("F", bound=Rider)

# A slice is the unit the link serializes. Its size follows the rate so that a slice
# takes about SLICE_TIME on the link: small enough that a slow stream stays smooth,
# large enough that a fast one does not drown in timers. Never less than one TCP
# segment (a real slow link sends whole packets too), which keeps a thousand slow
# connections from needing a quarter million timers a second. A chunk smaller than a
# slice (an interactive message) goes alone.
SLICE_TIME_US = 4000
MIN_SLICE = 1448
MAX_SLICE = 128 * 1024
UNLIMITED_SLICE = 1024 * 1024


def make_clock(limits: DirectionLimits, now: float) -> LinkClock | TraceClock:
    """The link's clock: a rate, or a capacity trace that starts at `now`."""
    trace = limits.trace
    if trace is not None and trace.resolved:
        return TraceClock(trace.times, now)
    return LinkClock(limits.rate, limits.burst)


def slice_size(rate: int, buffer: int | None = None) -> int:
    """Bytes per slice at `rate`. With a `buffer`, at most an eighth of it, so a full
    queue always holds several slices and a late timer never leaves the link idle."""
    if not rate:
        return UNLIMITED_SLICE
    size = max(MIN_SLICE, min(MAX_SLICE, rate * SLICE_TIME_US // (8 * 1_000_000)))
    if buffer is not None:
        size = max(MIN_SLICE, min(size, buffer // 8))
    return size


class Chunk(Generic[F]):
    """Bytes a flow put in the queue (or a control packet: no data, a size on the link
    and a callback when it reaches the far end, e.g. a SYN)."""

    __slots__ = ("flow", "data", "size", "on_arrival")

    def __init__(
        self,
        flow: F,
        data: memoryview | None,
        size: int,
        on_arrival: Callable[[float], None] | None = None,
    ):
        self.flow = flow
        self.data = data
        self.size = size
        self.on_arrival = on_arrival


class Bottleneck(Generic[F]):
    """- `room_for(flow)`: queue room that flow may take now (waiters are served in the
      order they started waiting, so no flow starves while the queue is full).
    - `enqueue(now, chunk)`: bytes read from a flow's source.
    - `advance(now)`: every slice serialized by `now` moves onto its flow's wire; returns
      the flows that got bytes.
    - `next_deadline()`: when the slice on the link will have left (None: idle or stalled).
    """

    __slots__ = (
        "limits",
        "clock",
        "_chunks",
        "queued",
        "_slice",
        "_sending",
        "_send_start",
        "_send_done",
        "waiting",
        "_granted",
        "_line",
        "on_room",
        "flows",
    )

    def __init__(self, limits: DirectionLimits, now: float = 0.0):
        self.limits = limits
        self.clock = make_clock(limits, now)
        # The queue, and below the line of flows waiting for room, are made at their first
        # entry and dropped when they empty (None meanwhile): an empty deque is 760 bytes,
        # and a link of its own per connection direction had two, mostly empty.
        self._chunks: deque[Chunk[F]] | None = None
        self.queued = 0  # bytes waiting, including the slice on the link
        self._slice = slice_size(limits.rate, limits.buffer)
        self._sending: Chunk[F] | None = None  # the slice being serialized
        self._send_start = 0.0
        self._send_done = 0.0
        # The flows waiting for queue room, in the order they started waiting, each with
        # the room it has been granted (0: not yet). Room that frees is granted down the
        # line, each flow what its window lets it send, so that many flows fill the queue
        # at once: granting it to one flow at a time (one read per turn of the loop) left
        # a 200 Mbit/s link shared by 1,000 connections 25 % idle.
        self.waiting: dict[F, int] = {}
        self._granted = 0  # room granted and not yet taken
        self._line: deque[F] | None = None  # those not granted room yet, in order
        # Called when a waiting flow may now have room (the I/O layer resumes its reader).
        self.on_room: Callable[[F], None] | None = None
        self.flows = 0  # flows attached (for display: who shares the link)

    # -- state -----------------------------------------------------------------------

    @property
    def free(self) -> int:
        """Queue room left; zero while over the bound (after a shrink, say)."""
        return max(0, self.limits.buffer - self.queued)

    def room_for(self, flow: F) -> int:
        free = self.free
        grant = self.waiting.get(flow)
        if grant:
            return min(grant, free)
        if self._line:
            return 0  # room that frees goes to the flows that have waited longest
        return max(0, free - self._granted)

    def next_deadline(self) -> float | None:
        if self._sending is None or self.limits.stall:
            return None
        return self._send_done

    @property
    def empty(self) -> bool:
        return self._sending is None and not self._chunks

    # -- inputs ----------------------------------------------------------------------

    def wait(self, flow: F) -> bool:
        """`flow` has bytes to send and no room: it is served when room frees. True when it
        was not already waiting."""
        if flow in self.waiting:
            return False
        self.waiting[flow] = 0
        line = self._line
        if line is None:
            line = self._line = deque()
        line.append(flow)
        return True

    def leave(self, flow: F) -> None:
        if flow in self.waiting:
            self._served(flow)

    def enqueue(self, now: float, chunk: Chunk[F]) -> list[F]:
        """Queue `chunk`; returns the flows whose wire got bytes meanwhile."""
        touched = self.advance(now)
        chunks = self._chunks
        if chunks is None:
            chunks = self._chunks = deque()
        chunks.append(chunk)
        self.queued += chunk.size
        if chunk.flow in self.waiting:
            # Served (what it did not take goes on down the line); it waits again, at the
            # back, if it wants more.
            self._served(chunk.flow)
        if self._sending is None and not self.limits.stall:
            self._start_next(self.clock.start_time(now), now)
            # On an unlimited (or burst-credited) link the slice is done at once: send it
            # on now rather than through a timer callback of its own.
            touched += [f for f in self.advance(now) if f not in touched]
        return touched

    def set_limits(self, now: float, limits: DirectionLimits) -> list[F]:
        """Apply new link limits (rate, burst, buffer, stall) now; nothing is dropped or
        reordered. Returns the flows whose wire got bytes meanwhile."""
        touched = self.advance(now)
        old = self.limits
        self.limits = limits
        self._slice = slice_size(limits.rate, limits.buffer)
        if (limits.rate, limits.burst, limits.trace) != (old.rate, old.burst, old.trace):
            self._change_rate(now)
        if old.stall and not limits.stall:
            self._resume(now)
        if limits.buffer > old.buffer:
            self._offer_room()
        return touched

    # -- output ----------------------------------------------------------------------

    def advance(self, now: float) -> list[F]:
        """Move every slice whose serialization ended by `now` onto its flow's wire."""
        touched: list[F] = []
        if self.limits.stall:
            return touched
        freed = False
        while self._sending is not None and self._send_done <= now:
            piece = self._sending
            depart = self._send_done
            self._sending = None
            self.queued -= piece.size
            freed = True
            flow = piece.flow
            flow.departed(depart, piece)
            if not touched or touched[-1] is not flow:
                touched.append(flow)
            # Back to back: the next slice starts when this one departed, not when we
            # noticed, so timer lateness never lowers the rate.
            self._start_next(depart, depart)
        if freed:
            self._offer_room()
        return touched

    # -- internals -------------------------------------------------------------------

    def _served(self, flow: F) -> None:
        grant = self.waiting.pop(flow)
        if grant:
            self._granted -= grant
        else:
            line = self._line
            assert line is not None  # a flow granted nothing yet is in the line
            line.remove(flow)  # rare: a flow leaves (closes) before its turn
            if not line:
                self._line = None
        self._offer_room()

    def _offer_room(self) -> None:
        """Grant the room that is free to the flows in line, first come first served, and
        tell each (after granting, since a flow told may step aside and pass its grant
        on)."""
        left = self.free - self._granted
        if left <= 0 or not self.waiting or self.on_room is None:
            return
        told = []
        line = self._line
        while left > 0 and line:
            flow = line.popleft()
            grant = min(left, max(1, flow.own_room()))
            self.waiting[flow] = grant
            self._granted += grant
            left -= grant
            told.append(flow)
        if not line:
            self._line = None  # before a flow told waits again: it starts a new line
        for flow in told:
            if self.waiting.get(flow):  # not gone meanwhile
                self.on_room(flow)

    def _start_next(self, start: float, ready: float) -> None:
        """Put the next slice on the link. `ready`: when its bytes were there to send;
        burst credit may start it earlier on the link clock, but it never departs
        before it existed."""
        chunks = self._chunks
        if not chunks:
            self._sending = None
            return
        head = chunks[0]
        if head.data is None or head.size <= self._slice:
            piece = chunks.popleft()
            if not chunks:
                self._chunks = None
        else:
            data = head.data
            piece = Chunk(head.flow, data[: self._slice], self._slice)
            head.data = data[self._slice :]
            head.size -= self._slice
        self._sending = piece
        self._send_start = max(start, self.clock.free_at)
        self._send_done = max(ready, self.clock.send(start, piece.size))

    def _resume(self, now: float) -> None:
        if self._sending is not None:
            if self._send_done < now:
                # The slice finished while the link was stalled; it leaves now.
                self._send_done = now
                self.clock.free_at = max(self.clock.free_at, now)
        else:
            self._start_next(self.clock.start_time(now), now)

    def _change_rate(self, now: float) -> None:
        old = self.clock
        if isinstance(old, LinkClock) and self.limits.trace is None:
            old.rate = self.limits.rate
            old.burst = self.limits.burst
        else:
            # To, from or between traces: a new clock; a trace starts from its first line.
            self.clock = make_clock(self.limits, now)
            self.clock.free_at = min(old.free_at, now)
        if self._sending is None:
            return
        # Re-time the slice on the link: what is left of it goes at the new rate.
        total = self._send_done - self._send_start
        done = 1.0 if total <= 0 else min(1.0, max(0.0, (now - self._send_start) / total))
        remaining = int(self._sending.size * (1.0 - done))
        self.clock.free_at = max(self._send_start, min(now, self._send_done))
        self._send_start = max(self._send_start, min(now, self._send_done))
        self._send_done = self.clock.send(self._send_start, remaining)
