"""The wire: a delay line that holds departed bytes for their propagation delay, in order."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass
class InFlight:
    depart: float
    extra: float  # this slice's jitter sample
    deliver: float
    data: memoryview


class DelayLine:
    """Bytes on the wire. Delivery is `max(previous delivery, depart + latency + jitter)`."""

    def __init__(self, latency: float = 0):
        self.latency = latency
        self._items: deque[InFlight] = deque()
        self.size = 0
        self._last_deliver = float("-inf")

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return bool(self._items)

    def push(self, depart: float, data: memoryview, extra: float = 0.0) -> float:
        deliver = max(self._last_deliver, depart + max(0.0, self.latency + extra))
        self._last_deliver = deliver
        self._items.append(InFlight(depart, extra, deliver, data))
        self.size += len(data)
        return deliver

    @property
    def next_at(self) -> float | None:
        return self._items[0].deliver if self._items else None

    def pop_due(self, now: float) -> memoryview | None:
        if self._items and self._items[0].deliver <= now:
            item = self._items.popleft()
            self.size -= len(item.data)
            return item.data
        return None

    def set_latency(self, latency: float) -> None:
        """Re-time the bytes in flight so a change applies now, still in order."""
        self.latency = latency
        last = float("-inf")
        for item in self._items:
            item.deliver = max(last, item.depart + max(0.0, latency + item.extra))
            last = item.deliver
        if self._items:
            self._last_deliver = last
