"""reset_peer: both legs are reset (RST), `after` the connection's first byte.

Added to a connection that has already carried bytes, the delay counts from the moment
the fault is added. With after = 0 the reset comes with the first byte (or at once).
"""

from __future__ import annotations

import random

from shaper.faults.base import Cancel, Fault, FaultTarget, Setting, Undo


class ResetPeer(Fault):
    type = "reset_peer"
    summary = "reset both legs (RST) `after` the first byte"
    directions = ("both",)
    settings = (Setting("after", "duration", 0, "how long after the first byte; 0 = at once"),)

    def apply(self, target: FaultTarget, rng: random.Random) -> Undo:
        name = self.spec.name
        pending: list[Cancel] = []

        def reset() -> None:
            target.close(True, f"fault {name}: reset")

        def first_byte() -> None:
            if self.setting("after"):
                pending.append(target.later(self.seconds("after"), reset))
            else:
                reset()

        pending.append(target.on_first_byte(first_byte))

        def undo() -> None:
            for handle in pending:
                handle.cancel()

        return undo
