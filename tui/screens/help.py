"""The keys, on one page (? or F1; esc closes)."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

KEYS = [
    ("Anywhere", [
        ("? / F1", "this help"),
        ("q / ctrl+q", "quit"),
        ("ctrl+p", "command palette: every action by name"),
        ("space", "freeze / resume the display (the engine keeps running)"),
        ("b", "rates in bits (kbit/s, Mbit/s: the unit limits are written in) or bytes (KiB/s)"),
        ("e", "limits editor (both directions; invalid values are refused)"),
        ("p", "profiles: pick one and apply it"),
        ("ctrl+s", "save the current limits as a named profile"),
        ("esc", "close a dialog / go back"),
    ]),
    ("Dashboard", [
        ("[ / ]", "select the limit the +/- keys change (highlighted in a panel border)"),
        ("+ / -", "step the selected limit up or down"),
        ("u / d", "stall upstream / downstream: release nothing, watch the queue fill"),
        ("↑ ↓, enter", "pick a connection, open its own view"),
        ("k / K", "close / reset the selected connection"),
        ("/", "filter connections (address, route, state); esc clears"),
        ("o", "sort by the next column (or click a column header)"),
    ]),
    ("Connection view", [
        ("c / r", "close / reset this connection"),
        ("e", "limits for this connection only"),
        ("x", "drop this connection's own limits (back to the engine's)"),
    ]),
]

STAGES = [
    ("rx", "the kernel receive queue of the sending socket"),
    ("queue", "the bounded queue (used/capacity): fills when the link is slower than the sender"),
    ("wire", "bytes released by the link, waiting out their latency"),
    ("buf", "the write buffer toward the receiver: fills when the receiver reads slowly"),
    ("tx", "the kernel send queue toward the receiver"),
]

STATES = [
    ("flowing", "green", "bytes move, nothing is full"),
    ("backpressured", "yellow", "queue full: reading from the sender is paused, it blocks"),
    ("blocked", "red", "the receiver is slow: bytes wait in its write buffer"),
    ("stalled", "magenta", "stalled by you"),
    ("half-closed", "cyan", "the sender has finished (its FIN came): queued bytes drain, then "
     "the FIN is passed on"),
    ("idle", "dim", "nothing to move"),
]


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for section, rows in KEYS:
        table.add_row(Text(section, style="bold underline"), "")
        for key, what in rows:
            table.add_row(key, what)
    table.add_row(Text("Stages", style="bold underline"), "")
    for name, what in STAGES:
        table.add_row(name, what)
    table.add_row(Text("States", style="bold underline"), "")
    for name, colour, what in STATES:
        table.add_row(Text(name, style=colour), what)
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [
        Binding("escape,question_mark,f1", "dismiss", "close", id="close_help"),
    ]
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90%; max-width: 96; height: 90%;
        border: round $accent; border-title-align: center; background: $surface;
        padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        with VerticalScroll() as scroll:
            scroll.border_title = "keys (esc closes)"
            yield Static(help_table())
