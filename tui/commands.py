"""Every action of the app, for the command palette (ctrl+p)."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

# (title, action, help)
ACTIONS = [
    ("Edit limits", "edit_limits", "open the limits editor for both directions"),
    ("Profiles: pick and apply", "profiles", "list shipped and saved profiles"),
    ("Save current limits as a profile", "save_profile", "write a named profile"),
    ("Stall upstream (toggle)", "toggle_stall('upstream')",
     "release nothing client → server: the queue fills and the sender blocks"),
    ("Stall downstream (toggle)", "toggle_stall('downstream')",
     "release nothing server → client: the queue fills and the sender blocks"),
    ("Faults: list, add, remove", "faults", "the faults in force; add one as TYPE[:key=value]"),
    ("Routes: list, add, disable, enable, remove", "routes",
     "the engine's routes; add one as [NAME=]LISTEN=UPSTREAM"),
    ("Offline (toggle)", "toggle_offline",
     "hold every open and new connection (a timeout fault in both directions), and back"),
    ("Step selected limit up", "step(True)", "faster rate, more latency/jitter, bigger buffer"),
    ("Step selected limit down", "step(False)", "slower rate, less latency/jitter, smaller buffer"),
    ("Select next limit", "select_limit(1)", "the limit the +/- keys change"),
    ("Select previous limit", "select_limit(-1)", "the limit the +/- keys change"),
    ("Freeze / resume display", "freeze", "the engine keeps running"),
    ("Switch rates between bits and bytes", "toggle_bits",
     "bit/s (kbit, Mbit: the unit of the limits) or B/s (KiB, MiB)"),
    ("Open selected connection", "open_connection", "its own pipes, close, reset, limits"),
    ("Close selected connection", "close_connection('close')", "graceful close (FIN)"),
    ("Reset selected connection", "close_connection('reset')", "abort with RST"),
    ("Filter connections", "screen.filter", "by address, route or state"),
    ("Sort connections by next column", "screen.cycle_sort", "id, client, age, rates, queues"),
    ("Help: keys", "help", "list every key"),
    ("Quit", "quit", "stop the display (and what `shaper run`/`demo` started)"),
]


class ShaperCommands(Provider):
    async def _run(self, action: str) -> None:
        await self.app.run_action(action)

    async def discover(self) -> Hits:
        for title, action, help_text in ACTIONS:
            yield DiscoveryHit(title, partial(self._run, action), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, help_text in ACTIONS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self._run, action), text=title,
                          help=help_text)
