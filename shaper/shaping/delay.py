"""The wire: a delay line that holds departed bytes for their propagation delay, in order."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

EMPTY = memoryview(b"")


@dataclass(slots=True)
class InFlight:
    depart: float
    extra: float  # this slice's jitter sample
    deliver: float
    data: memoryview
    # A control packet (a SYN, say) carries no bytes and calls this on arrival.
    on_arrival: Callable[[float], None] | None = None


class DelayLine:
    """Bytes on the wire. Delivery is `max(previous delivery, depart + latency + jitter)`."""

    __slots__ = ("latency", "_items", "size", "_last_deliver")

    def __init__(self, latency: float = 0):
        self.latency = latency
        # Made at the first push and dropped again when the last item leaves (None while
        # empty): an empty deque is 760 bytes, and an idle connection's wires are empty
        # (their SYN, SYN-ACK and ACK crossed them at the start).
        self._items: deque[InFlight] | None = None
        self.size = 0
        self._last_deliver = float("-inf")

    def __len__(self) -> int:
        return self.size

    def __bool__(self) -> bool:
        return bool(self._items)

    def push(
        self,
        depart: float,
        data: memoryview,
        extra: float = 0.0,
        on_arrival: Callable[[float], None] | None = None,
    ) -> float:
        deliver = max(self._last_deliver, depart + max(0.0, self.latency + extra))
        self._last_deliver = deliver
        items = self._items
        if items is None:
            items = self._items = deque()
        items.append(InFlight(depart, extra, deliver, data, on_arrival))
        self.size += len(data)
        return deliver

    @property
    def head(self) -> InFlight | None:
        items = self._items
        return items[0] if items else None

    @property
    def next_at(self) -> float | None:
        items = self._items
        return items[0].deliver if items else None

    def pop(self) -> InFlight:
        assert self._items is not None, "pop from an empty wire"
        items = self._items
        item = items.popleft()
        if not items:
            self._items = None
        self.size -= len(item.data)
        return item

    def take(self, nbytes: int) -> memoryview:
        """The first `nbytes` of the head item (fewer than it holds); the rest stays."""
        assert self._items is not None, "take from an empty wire"
        item = self._items[0]
        head, item.data = item.data[:nbytes], item.data[nbytes:]
        self.size -= nbytes
        return head

    def pop_due(self, now: float) -> memoryview | None:
        items = self._items
        if items and items[0].deliver <= now:
            return self.pop().data
        return None

    def due(self, now: float) -> tuple[int, float | None]:
        """Bytes whose delivery time has come (held there while the sink cannot take
        them), and when the next item comes due (None: nothing more on the way)."""
        total = 0
        for item in self._items or ():
            if item.deliver > now:
                return total, item.deliver
            total += len(item.data)
        return total, None

    def set_latency(self, latency: float) -> None:
        """Re-time the bytes in flight so a change applies now, still in order."""
        self.latency = latency
        last = float("-inf")
        for item in self._items or ():
            item.deliver = max(last, item.depart + max(0.0, latency + item.extra))
            last = item.deliver
        if self._items:
            self._last_deliver = last
