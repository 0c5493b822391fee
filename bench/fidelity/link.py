"""One direction of the emulated path, sans-IO (times are passed in, nothing sleeps):
a drop-tail queue bounded in bytes, a serialization clock at a fixed rate, then a fixed
one-way delay. This is the model of Mahimahi's mm-link (with a constant-rate link instead
of a delivery trace) followed by mm-delay."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Shape:
    rate_bps: int  # 0: no serialization delay
    delay_s: float  # one way
    queue_bytes: int  # the drop-tail bound, counted in whole IP packets

    def as_dict(self) -> dict:
        return {"rate_bps": self.rate_bps, "delay_s": self.delay_s, "queue_bytes": self.queue_bytes}


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


@dataclass
class Link:
    """A packet stays in the queue (and counts against the bound) from its arrival until
    its last bit is serialized, as in a router whose queue holds the packet being sent.
    Departure times are computed at arrival: the link is work-conserving and FIFO, so
    depart = max(arrival, previous depart) + size * 8 / rate; delivery = depart + delay.
    Departures only grow, so the delivery order is the arrival order."""

    shape: Shape
    counters: Counters = field(default_factory=Counters)
    _queue: deque = field(default_factory=deque)  # (depart, size), not fully serialized yet
    _queued: int = 0
    _wire: deque = field(default_factory=deque)  # (deliver, packet)
    _link_free: float = 0.0

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
        self._serialize_until(now)
        if self._queued + size > self.shape.queue_bytes:
            c.dropped += 1
            c.dropped_bytes += size
            return False
        rate = self.shape.rate_bps
        depart = max(now, self._link_free) + (size * 8 / rate if rate > 0 else 0.0)
        self._link_free = depart
        self._queue.append((depart, size))
        self._queued += size
        c.max_queued_bytes = max(c.max_queued_bytes, self._queued)
        self._wire.append((depart + self.shape.delay_s, packet))
        return True

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
