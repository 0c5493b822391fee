"""connect_delay: the upstream dial of a new client waits `delay` before it starts (a
slow open). The client's connection is accepted; its bytes wait, bounded, until the
upstream is up."""

from __future__ import annotations

from shaper.faults.base import Fault, Setting


class ConnectDelay(Fault):
    type = "connect_delay"
    summary = "wait `delay` before dialing the upstream"
    directions = ("both",)
    applies_to_open = False
    settings = (Setting("delay", "duration", 0, "wait before the dial"),)

    def dial_delay(self) -> float:
        return self.seconds("delay")
