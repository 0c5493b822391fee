"""Jitter samples: the random part of each slice's propagation delay."""

from __future__ import annotations

import random


class Jitter:
    """Uniform in [-amount, +amount], or normal with sigma = amount (clipped to ±3 sigma).

    Samples may be negative; the delay line clamps the total delay at zero and
    never lets a later slice overtake an earlier one, so jitter never reorders.
    """

    __slots__ = ("amount", "distribution", "_seed", "_stream", "_random")

    def __init__(
        self,
        amount: float = 0,
        distribution: str = "uniform",
        seed: int | str | None = None,
        stream: str | None = None,
    ):
        self.amount = amount
        self.distribution = distribution
        # The generator's seed is `seed`, or "seed/stream" with a stream name: that text
        # is made with the generator, not per direction that may never draw.
        self._seed = seed
        self._stream = stream
        # Made at the first sample: a generator's state is 2.5 KB, and two per connection
        # were a fifth of the engine's memory per connection, jitter or not.
        self._random: random.Random | None = None

    def sample(self) -> float:
        if not self.amount:
            return 0.0
        rng = self._random
        if rng is None:
            seed = self._seed
            if seed is not None and self._stream is not None:
                seed = f"{seed}/{self._stream}"
            rng = self._random = random.Random(seed)
        if self.distribution == "normal":
            value = rng.gauss(0.0, self.amount)
            return max(-3 * self.amount, min(3 * self.amount, value))
        return rng.uniform(-self.amount, self.amount)
