"""refuse: new clients are turned away, as by a server that is down.

mode = reset (the default): the accepted connection is reset at once, before any byte,
and the upstream is never dialed. mode = close: accepted and closed (FIN). Connections
already open are not touched.
"""

from __future__ import annotations

from shaper.faults.base import Fault, Setting


class Refuse(Fault):
    type = "refuse"
    summary = "turn new clients away: reset at once, or mode=close"
    directions = ("both",)
    applies_to_open = False
    settings = (Setting("mode", "choice", "reset", "reset or close", choices=("reset", "close")),)

    def refuse(self) -> str:
        mode = self.spec.settings["mode"]
        assert isinstance(mode, str)
        return mode
