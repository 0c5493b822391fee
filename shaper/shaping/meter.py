"""A smoothed rate, fed with (now, bytes): what the display shows as rate in and out."""

from __future__ import annotations

import math

# Below this a rate shows as 0.0 (the display rounds to 0.1 B/s): the meter is at rest.
RESTING_RATE = 0.05


class RateMeter:
    """Exponentially smoothed bytes-per-second meter, fed with (now, bytes)."""

    __slots__ = ("half_life", "_decay", "rate", "_last", "_pending")

    def __init__(self, half_life: float = 0.5):
        self.half_life = half_life
        self._decay = math.log(2) / half_life
        self.rate = 0.0
        self._last: float | None = None
        self._pending = 0

    def add(self, now: float, nbytes: int) -> None:
        # The first bytes after rest are measured from their arrival, as on a new meter:
        # then how often a resting meter was read (a snapshot may skip reading it, see
        # shaper.engine.resting) changes nothing in what it shows next.
        if self._last is None or (not self._pending and self.rate < RESTING_RATE):
            self._last = now
            self.rate = 0.0
        self._pending += nbytes

    def value(self, now: float) -> float:
        if self._last is None:
            self._last = now
            return 0.0
        elapsed = now - self._last
        if elapsed <= 0:
            return self.rate
        weight = math.exp(-elapsed * self._decay)
        instant = self._pending / elapsed
        self.rate = weight * self.rate + (1 - weight) * instant
        self._pending = 0
        self._last = now
        return self.rate
