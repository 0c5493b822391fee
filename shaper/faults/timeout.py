"""timeout: the direction stops delivering, as if the peer stopped answering.

Bytes are held in order inside the bound (the sender blocks once it is full), not
dropped. With `after`, the connection is closed that long after the fault took hold;
without it, the bytes flow again when the fault is removed.
"""

from __future__ import annotations

import random

from shaper.faults.base import Fault, FaultTarget, Setting, Undo


class Timeout(Fault):
    type = "timeout"
    summary = "stop delivering (bytes held, sender blocked); close after `after` if set"
    settings = (Setting("after", "duration", 0, "close the connection this long after; 0 = never"),)

    def apply(self, target: FaultTarget, rng: random.Random) -> Undo:
        name = self.spec.name
        for direction in self.spec.directions():
            target.hold(direction, name)
        closer = None
        if self.setting("after"):
            closer = target.later(
                self.seconds("after"), lambda: target.close(False, f"fault {name}: timed out")
            )

        def undo() -> None:
            if closer is not None:
                closer.cancel()
            for direction in self.spec.directions():
                target.unhold(direction, name)

        return undo
