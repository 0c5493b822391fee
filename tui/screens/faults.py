"""Faults dialog: the faults in force, one added as on the command line, one removed.

An entry is parsed here with the engine's own pure parser before anything is sent, so a
typo is refused inline with its field, value and accepted forms; the engine's refusal
(a name already in force, an unknown route) is shown the same way. The list follows the
engine's report.
"""

from __future__ import annotations

from typing import Any

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from shaper.faults import FAULT_TYPES, FaultError, fault_to_dict, parse_fault_flag
from tui import format as fmt
from tui.screens.app_view import ShaperAppAccess
from tui.screens.entry import EntryDialog
from tui.source import SourceError

EXAMPLE = "reset_peer:after=2s,toxicity=20%"
NONE_ID = "-none-"  # the placeholder row of an empty list: nothing to remove


def fault_body(text: str) -> dict[str, Any]:
    """The API body for `TYPE[:key=value,...]`, as `shaper faults add` sends it: without a
    name when none was typed (the engine names it after its type). Raises FaultError."""
    body = fault_to_dict(parse_fault_flag(text))
    typed = {item.split("=", 1)[0].strip() for item in text.partition(":")[2].split(",")}
    if "name" not in typed:
        del body["name"]
    return body


def error_text(exc: FaultError) -> str:
    message = str(exc)
    if exc.accepted not in message:  # the message may name the key but not what is accepted
        message += f" (accepted: {exc.accepted})"
    return message


def types_table() -> Table:
    """Every fault type: what it does, its directions and settings with their defaults."""
    table = Table.grid(padding=(0, 1))
    table.add_column(style="bold cyan", no_wrap=True)
    table.add_column()
    for kind in FAULT_TYPES.values():
        table.add_row(kind.type, kind.summary)
        table.add_row(
            "",
            Text(
                f"direction {' | '.join(kind.directions)} (default {kind.default_direction})",
                style="dim",
            ),
        )
        for setting in kind.settings:
            table.add_row(
                "",
                Text.assemble(
                    (setting.name, "bold"),
                    f" {setting.help} ",
                    (f"(default {setting.format(setting.default)})", "dim"),
                ),
            )
    table.add_row("every type", "name, toxicity (0-1 or 20%, default 1), route (a route's name)")
    return table


class FaultsScreen(ShaperAppAccess, EntryDialog, ModalScreen[None]):
    BINDINGS = [
        Binding(
            "escape", "dismiss(None)", "close", id="close_faults", tooltip="close the faults dialog"
        ),
        Binding(
            "delete",
            "remove",
            "remove",
            id="remove_fault",
            tooltip="in the faults dialog's list: remove the selected fault",
        ),
    ]
    DEFAULT_CSS = """
    FaultsScreen { align: center middle; }
    FaultsScreen > Vertical {
        width: 90; max-width: 100%; height: 90%;
        border: round $accent; border-title-align: center; background: $surface; padding: 0 1;
    }
    FaultsScreen .head { text-style: bold; }
    FaultsScreen #fault-list { height: auto; max-height: 8; }
    FaultsScreen Input { height: 1; margin-top: 1; }
    FaultsScreen Input.-invalid { background: $error 40%; }
    FaultsScreen #message { height: auto; min-height: 1; color: $text-muted; }
    FaultsScreen #message.-error { color: $text-error; text-style: bold; }
    FaultsScreen #types { height: 1fr; margin-top: 1; }
    FaultsScreen Horizontal { height: auto; align-horizontal: right; }
    FaultsScreen Button { margin-left: 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._shown: list[dict[str, Any]] | None = None

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "faults (esc closes)"
            yield Label("in force (del removes the selected one)", classes="head")
            yield OptionList(id="fault-list")
            yield Input(
                placeholder=f"add: TYPE[:key=value,...], e.g. {EXAMPLE}",
                id="fault-entry",
                compact=True,
            )
            yield Static("enter adds; the same text as `shaper serve --fault`", id="message")
            with VerticalScroll(id="types"):
                yield Static(types_table())
            with Horizontal():
                yield Button("Add", variant="primary", id="add", compact=True)
                yield Button("Remove selected", id="remove", compact=True)
                yield Button("Close", id="close", compact=True)

    def on_mount(self) -> None:
        self.show_faults(self.shaper_app.faults)
        self.query_one(Input).focus()

    def show_faults(self, faults: list[dict[str, Any]]) -> None:
        """The list, in place: the options change, the widget and the selection stay."""
        if faults == self._shown:
            return
        self._shown = faults
        options = self.query_one("#fault-list", OptionList)
        selected = self.selected_name()
        options.clear_options()
        if not faults:
            options.add_option(
                Option(Text("no faults in force", style="dim"), id=NONE_ID, disabled=True)
            )
            return
        for fault in faults:
            label = Text(fmt.fault_label(fault), style="bold")
            label.append(f"  {fmt.fault_detail(fault)}", style="")
            options.add_option(Option(label, id=str(fault.get("name"))))
        names = [str(f.get("name")) for f in faults]
        options.highlighted = names.index(selected) if selected in names else 0

    def selected_name(self) -> str | None:
        options = self.query_one("#fault-list", OptionList)
        if options.highlighted is None or not options.option_count:
            return None
        option_id = options.get_option_at_index(options.highlighted).id
        return None if option_id in (None, NONE_ID) else option_id

    def check(self, text: str) -> None:
        fault_body(text)

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "add":
            await self.action_add()
        elif event.button.id == "remove":
            await self.action_remove()
        else:
            self.dismiss(None)

    async def action_add(self) -> None:
        entry = self.query_one(Input)
        text = entry.value.strip()
        if not text:
            self.say(f"type a fault first, e.g. {EXAMPLE} (types below)", error=True)
            return
        try:
            body = fault_body(text)
        except FaultError as exc:
            self.say(error_text(exc), error=True)
            return
        try:
            added = await self.shaper_app.add_fault(body)
        except SourceError as exc:
            self.say(str(exc), error=True)
            return
        entry.value = ""
        self.say(f"added {fmt.fault_label(added)}: {fmt.fault_detail(added)}")

    async def action_remove(self) -> None:
        name = self.selected_name()
        if name is None:
            self.say("no fault selected", error=True)
            return
        try:
            await self.shaper_app.remove_fault(name)
        except SourceError as exc:
            self.say(str(exc), error=True)
            return
        self.say(f"removed {name}")
