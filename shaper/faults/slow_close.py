"""slow_close: the forwarded close (FIN) is delayed by `delay`: the receiver has every
byte but waits to learn that no more will come."""

from __future__ import annotations

import random

from shaper.faults.base import Fault, FaultTarget, Setting, Undo


class SlowClose(Fault):
    type = "slow_close"
    summary = "forward the close (FIN) `delay` late"
    default_direction = "downstream"
    settings = (Setting("delay", "duration", 0, "how late the FIN is forwarded"),)

    def apply(self, target: FaultTarget, rng: random.Random) -> Undo:
        name = self.spec.name
        for direction in self.spec.directions():
            target.delay_eof(direction, self.seconds("delay"), name)

        def undo() -> None:
            for direction in self.spec.directions():
                target.undelay_eof(direction, name)

        return undo
