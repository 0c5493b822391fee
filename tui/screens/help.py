"""The keys, on one page (? or F1; esc closes)."""

from __future__ import annotations

from collections.abc import Iterable

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from tui.bindings import APP_BINDINGS

# How a key is written in the help.
KEY_NAMES = {
    "question_mark": "?", "f1": "F1", "plus": "+", "equals_sign": "=", "minus": "-",
    "left_square_bracket": "[", "right_square_bracket": "]", "slash": "/", "escape": "esc",
    "delete": "del",
}


def key_text(binding: Binding) -> str:
    return " / ".join(KEY_NAMES.get(key.strip(), key.strip()) for key in binding.key.split(","))


def key_rows(
    bindings: Iterable[BindingType], skip: Iterable[str] = ()
) -> list[tuple[str, str]]:
    """(keys, what) for each action of `bindings`, in their order: the keys of one action on
    one line, its text the binding's tooltip (or its footer description)."""
    rows: dict[str, tuple[list[str], str]] = {}
    skipped = set(skip)
    for item in bindings:
        if not isinstance(item, Binding) or item.id in skipped:
            continue
        keys, what = rows.setdefault(item.action, ([], item.tooltip or item.description))
        keys.append(key_text(item))
    return [(" / ".join(keys), what) for keys, what in rows.values()]


def key_sections() -> list[tuple[str, list[tuple[str, str]]]]:
    """The keys, from the bindings of the app and its screens, with the few keys that come
    from Textual's own widgets."""
    from tui.screens.connection import ConnectionScreen
    from tui.screens.dashboard import DashboardScreen
    from tui.screens.faults import FaultsScreen
    from tui.screens.routes import RoutesScreen

    anywhere = {item.id for item in APP_BINDINGS if isinstance(item, Binding) and item.id}
    return [
        ("Anywhere", [
            *key_rows(APP_BINDINGS),
            ("ctrl+p", "command palette: every action by name"),
            ("esc", "close a dialog / go back"),
        ]),
        ("Dashboard", [
            *key_rows(DashboardScreen.BINDINGS, skip=anywhere),
            ("↑ ↓, enter", "pick a connection, open its own view"),
        ]),
        ("Connection view", key_rows(ConnectionScreen.BINDINGS, skip={"back"})),
        ("Faults dialog", [
            ("enter", "add the fault typed as TYPE[:key=value,...] (as `--fault`)"),
            *key_rows(FaultsScreen.BINDINGS, skip={"close_faults"}),
        ]),
        ("Routes dialog", [
            ("enter", "in the entry: add the route typed as [NAME=]LISTEN=UPSTREAM "
             "(as `--route`); in the table: disable / enable the selected one"),
            *key_rows(RoutesScreen.BINDINGS, skip={"close_routes"}),
        ]),
    ]


STAGES = [
    ("rx", "the kernel receive queue of the sending socket"),
    ("queue", "the link's bounded queue (used/capacity), shared by every connection on the "
     "link: fills when the link is slower than the senders"),
    ("wire", "bytes released by the link, waiting out their latency"),
    ("buf", "the write buffer toward the receiver: fills when the receiver reads slowly"),
    ("tx", "the kernel send queue toward the receiver"),
]

PATH = [
    ("held by #3 80%", "who holds the shared queue: the connections with the largest shares"),
    ("+ own link #4", "connections with limits of their own have links (and queues) of their "
     "own, apart from the shared one"),
    ("in flight", "bytes the emulated senders have sent and not yet had acknowledged "
     "(queued, on the wire or on their way back)"),
    ("cwnd", "a sender's congestion window (the dashboard: the largest); it starts at 10 "
     "segments and grows"),
    ("phase", "slow-start, congestion-avoidance (CUBIC), recovery (after a loss at the full "
     "queue), restart-after-idle; 'tcp off': bytes are paced as they come"),
    ("srtt", "the sender's smoothed round trip, queueing included"),
]

STATES = [
    ("flowing", "green", "bytes move, nothing is full"),
    ("backpressured", "yellow", "queue or window full: reading from the sender is paused, it "
     "blocks"),
    ("blocked", "red", "the receiver is slow: bytes wait in its write buffer"),
    ("stalled", "magenta", "stalled by you"),
    ("held", "dark_orange", "a fault (timeout) holds the bytes: nothing is delivered, the "
     "sender blocks; removing the fault lets them go, in order"),
    ("half-closed", "cyan", "the sender has finished (its FIN came): queued bytes drain, then "
     "the FIN is passed on"),
    ("opening", "blue", "the emulated handshake is under way: no byte may go yet"),
    ("idle", "dim", "nothing to move"),
]


def help_table() -> Table:
    table = Table.grid(padding=(0, 2))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for section, rows in key_sections():
        table.add_row(Text(section, style="bold underline"), "")
        for key, what in rows:
            table.add_row(key, what)
    table.add_row(Text("Stages", style="bold underline"), "")
    for name, what in STAGES:
        table.add_row(name, what)
    table.add_row(Text("Path", style="bold underline"), "")
    for name, what in PATH:
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
