"""limit_data: the connection is closed once `bytes` bytes have been delivered in the
direction: exactly that many reach the receiver, then both legs get a FIN."""

from __future__ import annotations

import random
from collections.abc import Callable

from shaper.faults.base import Fault, FaultTarget, Setting, Undo


class LimitData(Fault):
    type = "limit_data"
    summary = "close the connection after `bytes` bytes delivered"
    default_direction = "downstream"
    settings = (Setting("bytes", "size", 0, "bytes delivered before the close"),)

    def apply(self, target: FaultTarget, rng: random.Random) -> Undo:
        name = self.spec.name
        limit = self.setting("bytes")

        def reached(direction: str) -> Callable[[], None]:
            return lambda: target.close(False, f"fault {name}: {direction} reached {limit} B")

        for direction in self.spec.directions():
            target.cap(direction, limit, name, reached(direction))

        def undo() -> None:
            for direction in self.spec.directions():
                target.uncap(direction, name)

        return undo
