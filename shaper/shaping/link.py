"""The link: a serialization clock that paces bytes at a rate, with an explicit burst, or
that delivers them at the opportunities of a capacity trace."""

from __future__ import annotations

from bisect import bisect_left

from shaper.model.traces import PACKET_BYTES

US = 1_000_000  # microseconds per second


class LinkClock:
    """Computes when a slice of bytes has been fully sent over a rate-limited link.

    A slice that starts at `start` departs at `start + len / rate`. The link is
    busy until then (`free_at`). After idling the link may run ahead of its
    clock by at most `burst` bytes (a token bucket of that depth). Times are
    microseconds; rate is bits per second; 0 means unlimited.
    """

    __slots__ = ("rate", "burst", "free_at")

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


class TraceClock:
    """A link that delivers at listed opportunities instead of at a rate (Mahimahi's
    mm-link): opportunity i of period p is at `origin + (p * period + times[i]) ms` and
    carries up to PACKET_BYTES. Bytes leave in order; a slice's last byte leaves at the
    opportunity that carries it. An opportunity with nothing queued is lost (the link
    does not save capacity while idle), and what a slice leaves of its last opportunity
    is used by the next one only if that one was ready by then, as on mm-link.

    Same interface as LinkClock (start_time, send, free_at, transmit_time), so the
    bottleneck drives either. `origin` is when the trace started (microseconds).
    """

    __slots__ = ("times", "origin", "packet", "period_us", "_n", "_index", "_used", "burst", "rate")

    def __init__(self, times: tuple[int, ...], origin: float, packet: int = PACKET_BYTES):
        if not times or times[-1] <= 0:
            raise ValueError("a trace needs opportunities and a period above 0")
        self.times = times
        self.origin = origin
        self.packet = packet
        self.period_us = times[-1] * 1000
        self._n = len(times)
        # Cursor: the opportunity last used (global index over all periods) and the
        # bytes of it already taken; -1 before any.
        self._index = -1
        self._used = packet
        self.burst = 0
        self.rate = mean_rate_bits(times, packet)

    # -- opportunities ---------------------------------------------------------------

    def at(self, index: int) -> float:
        """Time of opportunity `index` (counted from the origin, across periods)."""
        period, i = divmod(index, self._n)
        return self.origin + period * self.period_us + self.times[i] * 1000

    def first_at_or_after(self, t: float) -> int:
        """Index of the first opportunity at or after time `t`."""
        rel = t - self.origin
        if rel <= 0:
            return 0
        period = int(rel // self.period_us)
        offset_ms = (rel - period * self.period_us) / 1000
        i = bisect_left(self.times, offset_ms)
        if i == self._n:
            period, i = period + 1, 0
        index = period * self._n + i
        # Float rounding at a period's edge: never return one that is before `t`.
        while self.at(index) < t:
            index += 1
        return index

    # -- the LinkClock interface -----------------------------------------------------

    @property
    def free_at(self) -> float:
        return float("-inf") if self._index < 0 else self.at(self._index)

    @free_at.setter
    def free_at(self, t: float) -> None:
        """The link is taken until `t`: later bytes use opportunities from `t` on."""
        if t == float("-inf"):
            return
        index = self.first_at_or_after(t) - 1
        if index > self._index or (index == self._index and self._used < self.packet):
            self._index = index
            self._used = self.packet

    def transmit_time(self, nbytes: int) -> float:
        """Time `nbytes` take at the trace's mean rate (an estimate: the trace decides)."""
        return nbytes * 8 * US / self.rate

    def start_time(self, now: float) -> float:
        return now  # no burst credit: capacity comes only at opportunities

    def send(self, start: float, nbytes: int) -> float:
        """Serialize `nbytes` ready at `start`; returns when the last byte leaves."""
        if nbytes <= 0:
            return max(start, self.free_at)
        packet = self.packet
        index, used = self._index, self._used
        if index < 0 or used >= packet or self.at(index) < start:
            # Nothing left to share: start at the first opportunity from `start` on (one
            # after the last used, whatever `start` says: the link is FIFO).
            index = max(index + 1, self.first_at_or_after(start))
            used = 0
        left = nbytes
        take = min(packet - used, left)
        used += take
        left -= take
        if left > 0:
            whole, rest = divmod(left, packet)
            if rest:
                index += whole + 1
                used = rest
            else:
                index += whole
                used = packet
        self._index, self._used = index, used
        return self.at(index)


def mean_rate_bits(times: tuple[int, ...], packet: int = PACKET_BYTES) -> int:
    return max(1, round(len(times) * packet * 8 * 1000 / times[-1]))
