"""Routes dialog: the engine's routes, one added as on the command line, one disabled,
enabled or removed.

An entry is checked here with the engine's own pure parsers before anything is sent, so a
typo is refused inline; the engine's refusal (a name or an address taken) is shown the same
way. The table follows the engine's report, its rows kept and their cells changed.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Label, Static

from shaper.model.addresses import ADDRESS_FORMS, AddressError, parse_address
from shaper.model.routes import RouteError, check_route_name
from tui.screens.app_view import ShaperAppAccess
from tui.screens.entry import EntryDialog
from tui.source import SourceError

ROUTE_FORMS = "[NAME=]LISTEN=UPSTREAM"
EXAMPLE = "db=0=127.0.0.1:5432"
COLUMNS = ("name", "listen", "upstream", "enabled", "open")


class EntryError(ValueError):
    pass


def parse_entry(text: str) -> tuple[str | None, str, str]:
    """(name or None, listen, upstream) of `[NAME=]LISTEN=UPSTREAM`, as `--route` reads it;
    the addresses are sent as typed (the engine applies the same defaults). Raises
    EntryError with what is wrong and what is accepted."""
    parts = [part.strip() for part in text.split("=")]
    if len(parts) not in (2, 3):
        raise EntryError(f"{text!r} is not {ROUTE_FORMS} (e.g. {EXAMPLE})")
    try:
        name = check_route_name(parts[0]) if len(parts) == 3 else None
        listen, upstream = parts[-2:]
        parse_address(listen, "127.0.0.1", "listen address")
        if parse_address(upstream, None, "upstream address")[1] == 0:
            raise EntryError(
                f"upstream {upstream!r}: port 0 cannot be dialed; expected a port from 1 to 65535"
            )
    except AddressError as exc:
        raise EntryError(str(exc)) from None
    except RouteError as exc:
        raise EntryError(str(exc)) from None
    return name, listen, upstream


def row_cells(route: Any) -> tuple[Text | str, ...]:
    """One table row. A route without a name is a status line of fixed data: shown whole."""
    if not isinstance(route, dict):
        return ("", str(route), "", "", "")
    enabled = route.get("enabled", True)
    return (
        Text(str(route.get("name", "")), style="bold"),
        str(route.get("listen", "")),
        str(route.get("upstream", "")),
        Text("yes", style="green") if enabled else Text("no", style="bold red"),
        str(route.get("connections_open", "")),
    )


def row_key(route: Any, index: int) -> str:
    return str(route.get("name")) if isinstance(route, dict) else f"-{index}-"


class RoutesScreen(ShaperAppAccess, EntryDialog, ModalScreen[None]):
    BINDINGS = [
        Binding(
            "escape", "dismiss(None)", "close", id="close_routes", tooltip="close the routes dialog"
        ),
        Binding(
            "delete",
            "remove",
            "remove",
            id="remove_route",
            tooltip="in the routes dialog's table: remove the selected route",
        ),
        Binding(
            "t",
            "toggle_route",
            "enable/disable",
            id="toggle_route",
            tooltip="in the routes dialog's table: disable / enable the selected route (enter too)",
        ),
    ]
    DEFAULT_CSS = """
    RoutesScreen { align: center middle; }
    RoutesScreen > Vertical {
        width: 90; max-width: 100%; height: auto; max-height: 90%;
        border: round $accent; border-title-align: center; background: $surface; padding: 0 1;
    }
    RoutesScreen .head { text-style: bold; }
    RoutesScreen DataTable { height: auto; max-height: 12; }
    RoutesScreen Input { height: 1; margin-top: 1; }
    RoutesScreen Input.-invalid { background: $error 40%; }
    RoutesScreen #message { height: auto; min-height: 1; color: $text-muted; }
    RoutesScreen #message.-error { color: $text-error; text-style: bold; }
    RoutesScreen Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    RoutesScreen Button { margin-left: 1; }
    """

    def __init__(self) -> None:
        super().__init__()
        self._rows: dict[str, tuple[Text | str, ...]] = {}

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "routes (esc closes)"
            yield Label("routes (enter or t disables / enables, del removes)", classes="head")
            yield DataTable(id="route-table", cursor_type="row", zebra_stripes=True)
            yield Input(
                placeholder=f"add: {ROUTE_FORMS}, e.g. {EXAMPLE} (0: any free port)",
                id="route-entry",
                compact=True,
            )
            yield Static(
                f"enter adds; the same text as `shaper serve --route`; addresses: {ADDRESS_FORMS}",
                id="message",
            )
            with Horizontal():
                yield Button("Add", variant="primary", id="add", compact=True)
                yield Button("Disable/enable", id="toggle", compact=True)
                yield Button("Remove selected", id="remove", compact=True)
                yield Button("Close", id="close", compact=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for column in COLUMNS:
            table.add_column(column, key=column)
        self.show_routes(self.shaper_app.routes)
        self.query_one(Input).focus()

    def show_routes(self, routes: list[Any]) -> None:
        """The table, in place: changed cells are updated, rows added and removed; the
        cursor stays on its route."""
        table = self.query_one(DataTable)
        wanted = {row_key(r, i): row_cells(r) for i, r in enumerate(routes)}
        for key in [k for k in self._rows if k not in wanted]:
            table.remove_row(key)
            del self._rows[key]
        for key, cells in wanted.items():
            shown = self._rows.get(key)
            if shown is None:
                table.add_row(*cells, key=key)
            else:
                for column, old, new in zip(COLUMNS, shown, cells, strict=True):
                    if old != new:
                        table.update_cell(key, column, new)
            self._rows[key] = cells

    def selected_route(self) -> dict[str, Any] | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        for route in self.shaper_app.routes:
            if isinstance(route, dict) and route.get("name") == key:
                return route
        return None

    def check(self, text: str) -> None:
        parse_entry(text)

    async def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        await self.action_toggle_route()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "add":
            await self.action_add()
        elif event.button.id == "toggle":
            await self.action_toggle_route()
        elif event.button.id == "remove":
            await self.action_remove()
        else:
            self.dismiss(None)

    async def action_add(self) -> None:
        entry = self.query_one(Input)
        text = entry.value.strip()
        if not text:
            self.say(f"type a route first: {ROUTE_FORMS}, e.g. {EXAMPLE}", error=True)
            return
        try:
            name, listen, upstream = parse_entry(text)
            added = await self.shaper_app.add_route(name, listen, upstream)
        except (EntryError, SourceError) as exc:
            self.say(str(exc), error=True)
            return
        entry.value = ""
        self.say(f"added {added['name']}: {added['listen']} -> {added['upstream']}")

    async def action_toggle_route(self) -> None:
        route = self.selected_route()
        if route is None:
            self.say("no route selected", error=True)
            return
        enabled = not route.get("enabled", True)
        try:
            await self.shaper_app.set_route_enabled(route["name"], enabled)
        except SourceError as exc:
            self.say(str(exc), error=True)
            return
        self.say(f"{route['name']} {'enabled' if enabled else 'disabled: new connections refused'}")

    async def action_remove(self) -> None:
        route = self.selected_route()
        if route is None:
            self.say("no route selected", error=True)
            return
        try:
            await self.shaper_app.remove_route(route["name"])
        except SourceError as exc:
            self.say(str(exc), error=True)
            return
        self.say(f"removed {route['name']}")
