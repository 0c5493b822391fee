"""Which packets the emulated path loses: independent losses, or bursts (Gilbert).

`LossModel(probability, burst, seed)` answers, for the next `n` packets of a flow, which
of them are lost (`draw(n)`: their indices, usually none). It never walks the packets one
by one: it draws how many packets pass until the next loss and how many are lost in a
row, so a 128 KiB slice costs one comparison when nothing in it is lost.

- burst 1: each packet is lost with `probability`, independently (Bernoulli).
- burst b > 1: a two-state Gilbert model. In the good state nothing is lost, in the bad
  state everything is; a bad run lasts b packets on average (it ends after each packet
  with probability 1/b) and good runs are sized so that the long-run loss is still
  `probability`: good runs average b (1 - p) / p packets.

Changing the probability or burst live starts a fresh run from the good state with the
same random stream, so a run of a seed replays exactly.
"""

from __future__ import annotations

import math
import random


def _geometric(rng: random.Random, q: float) -> int:
    """Trials up to and including the first success of probability `q` (1, 2, ...)."""
    if q >= 1.0:
        return 1
    u = 1.0 - rng.random()  # in (0, 1]
    return int(math.log(u) / math.log1p(-q)) + 1


class LossModel:
    __slots__ = ("_rng", "lost", "drawn", "probability", "burst", "_good", "_bad")

    def __init__(self, probability: float = 0.0, burst: float = 1.0, seed: object = None):
        self._rng = random.Random(str(seed) if seed is not None else None)
        self.lost = 0  # packets lost so far
        self.drawn = 0  # packets drawn so far
        self.configure(probability, burst)

    def configure(self, probability: float, burst: float = 1.0) -> None:
        if not 0.0 <= probability < 1.0:
            raise ValueError("probability must be at least 0 and below 1")
        if burst < 1.0:
            raise ValueError("burst must be at least 1")
        self.probability = probability
        self.burst = burst
        self._good = 0  # packets left in the current good run
        self._bad = 0  # packets left in the current bad run
        if probability:
            self._next_run()

    @property
    def active(self) -> bool:
        return self.probability > 0.0

    def _next_run(self) -> None:
        p = self.probability
        if self.burst <= 1.0:
            # Bernoulli: the packets before the next loss (0, 1, ...), then one lost.
            self._good = _geometric(self._rng, p) - 1
            self._bad = 1
        else:
            r = 1.0 / self.burst  # a bad run ends after each packet with this chance
            enter = r * p / (1.0 - p)  # a good run ends after each packet with this one
            self._good = _geometric(self._rng, enter) if enter < 1.0 else 0
            self._bad = _geometric(self._rng, r)

    def draw(self, count: int) -> list[int]:
        """Indices (0 .. count-1) of the lost ones among the next `count` packets."""
        if count <= 0 or not self.probability:
            return []
        self.drawn += count
        lost: list[int] = []
        index = 0
        while index < count:
            if self._good:
                step = min(self._good, count - index)
                self._good -= step
                index += step
                continue
            step = min(self._bad, count - index)
            lost.extend(range(index, index + step))
            self._bad -= step
            index += step
            if not self._bad:
                self._next_run()
        self.lost += len(lost)
        return lost

    def lose_one(self) -> bool:
        """Is the next single packet (a retransmission, a SYN, an ack) lost?"""
        return bool(self.draw(1))
