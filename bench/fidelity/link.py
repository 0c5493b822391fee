"""One direction of the emulated path, sans-IO (times are passed in, nothing sleeps):
random loss on arrival (Mahimahi's mm-loss, or a two-state Gilbert model for bursts), a
drop-tail queue bounded in bytes, a serialization clock at a fixed rate or at the delivery
opportunities of a trace, then a fixed one-way delay. This is the model of Mahimahi's
mm-loss + mm-link + mm-delay.

Written for the bench, on purpose apart from shaper's own code: it is the reference the
engine's emulation is measured against. The one exception is which packets are lost in a
loss case: paired_loss.py draws them with the engine's loss model and seeds, so both sides
lose the same packets of the stream (the input is shared; the repair is not)."""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

TRACE_PACKET = 1500  # bytes one trace line may carry (mm-link: one MTU-sized packet)


class LossDecider(Protocol):
    def lost(self, packet: bytes) -> bool: ...


@dataclass(frozen=True)
class Shape:
    rate_bps: int  # 0: no serialization delay (ignored with a trace)
    delay_s: float  # one way
    queue_bytes: int  # the drop-tail bound, counted in whole IP packets
    loss: float = 0.0  # probability that a packet is lost on arrival
    loss_burst: float = 1.0  # mean run of consecutive losses; 1 = independent losses
    trace: str | None = None  # a Mahimahi trace file: the link's delivery opportunities

    def as_dict(self) -> dict:
        out: dict = {
            "rate_bps": self.rate_bps,
            "delay_s": self.delay_s,
            "queue_bytes": self.queue_bytes,
        }
        if self.loss:
            out["loss"] = self.loss
            out["loss_burst"] = self.loss_burst
        if self.trace:
            out["trace"] = self.trace
        return out


class Dropper:
    """Which arriving packets are lost. Independent losses (Bernoulli) when the mean burst
    is 1; above 1, Gilbert's two states: every packet in the bad state is lost, the bad
    state is left with probability 1/burst per packet (so its runs last `burst` packets on
    average) and entered with the probability that keeps the long-run loss at `loss`."""

    def __init__(self, loss: float, burst: float, seed: int):
        if not 0.0 <= loss < 1.0:
            raise ValueError(f"loss {loss!r}: expected a probability from 0 to below 1")
        if burst < 1.0:
            raise ValueError(f"loss burst {burst!r}: expected a mean run of at least 1")
        self.loss = loss
        self.burst = burst
        self.rng = random.Random(seed)
        self.bad = False
        self.leave = 1.0 / burst
        self.enter = loss * self.leave / (1.0 - loss) if loss else 0.0

    def lost(self) -> bool:
        if not self.loss:
            return False
        if self.burst <= 1.0:
            return self.rng.random() < self.loss
        if self.bad:
            self.bad = self.rng.random() >= self.leave
        else:
            self.bad = self.rng.random() < self.enter
        return self.bad


def read_trace(path: str) -> list[int]:
    """A Mahimahi trace: integer milliseconds, one per line, non-decreasing, last above 0."""
    times: list[int] = []
    for number, line in enumerate(Path(path).read_text().splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if not line.isdigit():
            raise ValueError(f"{path} line {number}: {line!r} is not an integer millisecond")
        value = int(line)
        if times and value < times[-1]:
            raise ValueError(f"{path} line {number}: {value} after {times[-1]} (decreasing)")
        times.append(value)
    if not times or times[-1] <= 0:
        raise ValueError(f"{path}: no opportunities, or a period of 0 ms")
    return times


class Opportunities:
    """The delivery opportunities of a trace from `start` (seconds) on, looping with the
    period of its last timestamp, as mm-link replays it. `take(ready, size)`: the time the
    last byte of a packet of `size` that is ready at `ready` leaves; each opportunity
    carries TRACE_PACKET bytes, in order; one that finds nothing waiting is lost, and what a
    packet leaves of its last opportunity goes to the next packet only if that one was
    waiting by then."""

    def __init__(self, times: list[int], start: float):
        self.times = times
        self.period = times[-1] / 1000.0
        self.restart(start)

    def restart(self, start: float) -> None:
        self.base = start  # start of the current period, seconds
        self.i = 0  # the next opportunity not yet (fully) used: times[i] of this period
        self.left = TRACE_PACKET  # bytes left in opportunity i

    def _at(self) -> float:
        return self.base + self.times[self.i] / 1000.0

    def _next(self) -> None:
        self.i += 1
        self.left = TRACE_PACKET
        if self.i == len(self.times):
            self.i = 0
            self.base += self.period

    def take(self, ready: float, size: int) -> float:
        if ready - self.base > self.period:
            # Whole periods went by idle: every opportunity in them is gone.
            self.base += self.period * int((ready - self.base) // self.period)
            self.i, self.left = 0, TRACE_PACKET
        while self._at() < ready:
            self._next()  # passed with nothing waiting (or only the rest of one was left)
        while True:
            used = min(self.left, size)
            size -= used
            self.left -= used
            when = self._at()
            if self.left == 0:
                self._next()
            if size == 0:
                return when


@dataclass
class Counters:
    arrived: int = 0
    arrived_bytes: int = 0
    dropped: int = 0
    dropped_bytes: int = 0
    delivered: int = 0
    delivered_bytes: int = 0
    max_queued_bytes: int = 0
    max_packet: int = 0
    lost: int = 0  # by the loss model, before the queue (drops above are the queue's)


@dataclass
class Link:
    """A packet stays in the queue (and counts against the bound) from its arrival until
    its last bit is serialized, as in a router whose queue holds the packet being sent.
    Departure times are computed at arrival: the link is work-conserving and FIFO, so
    depart = max(arrival, previous depart) + size * 8 / rate; delivery = depart + delay.
    Departures only grow, so the delivery order is the arrival order. With a trace, the
    departure is the opportunity that carries the packet's last byte (also known at
    arrival, since the link is FIFO). A packet the loss model takes never enters the
    queue, as with mm-loss in front of mm-link."""

    shape: Shape
    counters: Counters = field(default_factory=Counters)
    seed: int = 0
    start: float = 0.0  # when a trace starts (seconds, the caller's clock)
    _queue: deque = field(default_factory=deque)  # (depart, size), not fully serialized yet
    _queued: int = 0
    _wire: deque = field(default_factory=deque)  # (deliver, packet)
    _link_free: float = 0.0
    _dropper: Dropper | None = None
    _paired: LossDecider | None = None  # decides instead of _dropper when set
    _trace: Opportunities | None = None

    def __post_init__(self) -> None:
        self.restart(self.seed, self.start)

    def restart(self, seed: int, now: float, paired: LossDecider | None = None) -> None:
        """A new run on an idle path: the loss model reseeded, the trace from its first
        line (each run sees the same capacity, as each run gets a fresh engine).
        `paired`: decides each packet's loss instead (see paired_loss.py)."""
        shape = self.shape
        self._dropper = Dropper(shape.loss, shape.loss_burst, seed) if shape.loss else None
        self._paired = paired if shape.loss else None
        if shape.trace:
            if self._trace is None:
                self._trace = Opportunities(read_trace(shape.trace), now)
            else:
                self._trace.restart(now)

    def _serialize_until(self, now: float) -> None:
        queue = self._queue
        while queue and queue[0][0] <= now:
            self._queued -= queue.popleft()[1]

    def queued_bytes(self, now: float) -> int:
        self._serialize_until(now)
        return self._queued

    def arrive(self, now: float, packet: bytes) -> bool:
        """Offer a packet read at `now`; False if the queue had no room (dropped)."""
        size = len(packet)
        c = self.counters
        c.arrived += 1
        c.arrived_bytes += size
        c.max_packet = max(c.max_packet, size)
        if self._paired is not None:
            lost = self._paired.lost(packet)
        else:
            lost = self._dropper is not None and self._dropper.lost()
        if lost:
            c.lost += 1
            return False
        self._serialize_until(now)
        if self._queued + size > self.shape.queue_bytes:
            c.dropped += 1
            c.dropped_bytes += size
            return False
        rate = self.shape.rate_bps
        if self._trace is not None:
            depart = self._trace.take(now, size)
        else:
            depart = max(now, self._link_free) + (size * 8 / rate if rate > 0 else 0.0)
        self._link_free = depart
        self._queue.append((depart, size))
        self._queued += size
        c.max_queued_bytes = max(c.max_queued_bytes, self._queued)
        self._wire.append((depart + self.shape.delay_s, packet))
        return True

    @property
    def paired_packets(self) -> int:
        """Packets whose loss was drawn from the engine's stream this run (0: unpaired)."""
        return getattr(self._paired, "paired", 0)

    def next_delivery(self) -> float | None:
        return self._wire[0][0] if self._wire else None

    def due(self, now: float) -> list[tuple[float, bytes]]:
        """(scheduled delivery time, packet) of every packet due by `now`, in order."""
        out = []
        wire = self._wire
        while wire and wire[0][0] <= now:
            deliver, packet = wire.popleft()
            self.counters.delivered += 1
            self.counters.delivered_bytes += len(packet)
            out.append((deliver, packet))
        return out

    def in_flight(self) -> int:
        """Packets accepted and not yet delivered (in the queue or on the wire)."""
        return len(self._wire)
