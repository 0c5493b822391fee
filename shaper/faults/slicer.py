"""slicer: the stream arrives in small pieces, `delay` apart.

Each piece is `average_size` ± `size_variation` bytes (uniformly, from the connection's
own seeded stream, so a seed replays the same pieces). Nothing is reordered; what waits
to be sliced counts against the bound like any other held byte.
"""

from __future__ import annotations

import random

from shaper.faults.base import Fault, FaultTarget, Setting, Undo
from shaper.faults.spec import FaultError


class Slicer(Fault):
    type = "slicer"
    summary = "deliver in pieces of average_size ± size_variation, `delay` apart"
    default_direction = "downstream"
    settings = (
        Setting("average_size", "size", 64, "mean piece size", minimum=1),
        Setting("size_variation", "size", 0, "pieces vary by up to this much either way"),
        Setting("delay", "duration", 0, "time between pieces"),
    )

    @classmethod
    def check(cls, settings: dict[str, int | str]) -> None:
        average, variation = settings["average_size"], settings["size_variation"]
        assert isinstance(average, int) and isinstance(variation, int)
        if variation >= average:
            raise FaultError(
                "size_variation",
                variation,
                f"less than average_size ({average} B)",
                f"size_variation: {variation} B must be less than average_size ({average} B), "
                "so every piece has at least one byte",
            )

    def apply(self, target: FaultTarget, rng: random.Random) -> Undo:
        name = self.spec.name
        average, variation = self.setting("average_size"), self.setting("size_variation")

        def next_size() -> int:
            return average + rng.randint(-variation, variation) if variation else average

        for direction in self.spec.directions():
            target.slice(direction, next_size, self.seconds("delay"), name)

        def undo() -> None:
            for direction in self.spec.directions():
                target.unslice(direction, name)

        return undo
