"""Jitter samples: the random part of each slice's propagation delay."""

from __future__ import annotations

import random


class Jitter:
    """Uniform in [-amount, +amount], or normal with sigma = amount (clipped to ±3 sigma).

    Samples may be negative; the delay line clamps the total delay at zero and
    never lets a later slice overtake an earlier one, so jitter never reorders.
    """

    def __init__(
        self, amount: float = 0, distribution: str = "uniform", seed: int | str | None = None
    ):
        self.amount = amount
        self.distribution = distribution
        self._random = random.Random(seed)

    def sample(self) -> float:
        if not self.amount:
            return 0.0
        if self.distribution == "normal":
            value = self._random.gauss(0.0, self.amount)
            return max(-3 * self.amount, min(3 * self.amount, value))
        return self._random.uniform(-self.amount, self.amount)
