"""The link: a serialization clock that paces bytes at a rate, with an explicit burst."""

from __future__ import annotations

US = 1_000_000  # microseconds per second


class LinkClock:
    """Computes when a slice of bytes has been fully sent over a rate-limited link.

    A slice that starts at `start` departs at `start + len / rate`. The link is
    busy until then (`free_at`). After idling the link may run ahead of its
    clock by at most `burst` bytes (a token bucket of that depth). Times are
    microseconds; rate is bits per second; 0 means unlimited.
    """

    def __init__(self, rate: int = 0, burst: int = 0):
        self.rate = rate
        self.burst = burst
        self.free_at = float("-inf")

    def transmit_time(self, nbytes: int) -> float:
        if not self.rate:
            return 0.0
        return nbytes * 8 * US / self.rate

    def start_time(self, now: float) -> float:
        """When a slice arriving at `now` may start: after the link is free, minus burst credit."""
        credit = self.transmit_time(self.burst)
        return max(self.free_at, now - credit)

    def send(self, start: float, nbytes: int) -> float:
        """Reserve the link for `nbytes` from `start`; return the departure time."""
        depart = max(start, self.free_at) + self.transmit_time(nbytes)
        self.free_at = depart
        return depart
