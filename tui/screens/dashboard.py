"""The main screen: both pipes, throughput, limits, connections and events."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container
from textual.screen import Screen
from textual.widgets import Footer

from shaper.model.limits import Limits
from shaper.model.snapshots import ConnectionStats, EngineStats
from tui.screens.app_view import ShaperAppAccess
from tui.widgets.connections import ConnectionsTable
from tui.widgets.events import EventLog
from tui.widgets.header import HeaderBar
from tui.widgets.pipe import DirectionPanel


class DashboardScreen(ShaperAppAccess, Screen[None]):
    # The footer shows bindings in this order, so the ones a newcomer needs come first
    # (help, limits, profiles and stall are also app-wide; repeated here for the order).
    BINDINGS = [
        Binding("question_mark,f1", "app.help", "help", id="help", key_display="?"),
        Binding("e", "app.edit_limits", "limits", id="edit_limits"),
        Binding("p", "app.profiles", "profiles", id="profiles"),
        Binding("d", "app.toggle_stall('downstream')", "stall ▼", id="stall_downstream",
                tooltip="stall / release downstream: nothing leaves, the queue fills"),
        Binding("u", "app.toggle_stall('upstream')", "stall ▲", id="stall_upstream",
                tooltip="stall / release upstream: nothing leaves, the queue fills"),
        Binding("plus,equals_sign", "app.step(True)", "raise", id="step_up", key_display="+",
                tooltip="step the selected limit up"),
        Binding("minus", "app.step(False)", "lower", id="step_down", key_display="-",
                tooltip="step the selected limit down"),
        Binding("left_square_bracket", "app.select_limit(-1)", "prev limit", id="prev_limit",
                key_display="[", show=False,
                tooltip="select the previous limit for + and -"),
        Binding("right_square_bracket", "app.select_limit(1)", "limit", id="next_limit",
                key_display="]",
                tooltip="select the next limit for + and - (highlighted in its border)"),
        Binding("slash", "filter", "filter", id="filter", key_display="/", show=False,
                tooltip="filter connections (address, route, state); esc clears"),
        Binding("o", "cycle_sort", "sort", id="sort", show=False,
                tooltip="sort connections by the next column (or click a column header)"),
        Binding("k", "app.close_connection('close')", "close conn", id="close_connection",
                show=False, tooltip="close the selected connection (FIN)"),
        Binding("K", "app.close_connection('reset')", "reset conn", id="reset_connection",
                show=False, tooltip="reset the selected connection (RST)"),
        Binding("escape", "clear_filter", "clear filter", id="clear_filter", show=False,
                tooltip="clear the filter"),
    ]

    def compose(self) -> ComposeResult:
        yield HeaderBar(id="header")
        with Container(id="pipes"):
            yield DirectionPanel("upstream", id="upstream")
            yield DirectionPanel("downstream", id="downstream")
        with Container(id="lower"):
            yield ConnectionsTable(id="connections")
            yield EventLog(id="events")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(ConnectionsTable).table.focus()
        self.shaper_app.dashboard_ready()

    def show_snapshot(self, snapshot: EngineStats, limits: Limits) -> None:
        header = self.query_one(HeaderBar)
        header.show(snapshot)
        for direction in ("upstream", "downstream"):
            panel = self.query_one(f"#{direction}", DirectionPanel)
            panel.show(getattr(snapshot, direction), limits.direction(direction),
                       snapshot.connections_open)
        self.query_one(EventLog).add_events(snapshot.events)

    def record(self, snapshot: EngineStats) -> None:
        for direction in ("upstream", "downstream"):
            self.query_one(f"#{direction}", DirectionPanel).record(getattr(snapshot, direction))

    def show_connections(self, conns: list[ConnectionStats]) -> None:
        self.query_one(ConnectionsTable).update_connections(conns)
        for direction in ("upstream", "downstream"):
            self.query_one(f"#{direction}", DirectionPanel).show_connections(conns)

    def set_selected(self, direction: str, field: str) -> None:
        for name in ("upstream", "downstream"):
            panel = self.query_one(f"#{name}", DirectionPanel)
            panel.selected = field if name == direction else None
            panel.redraw()

    def set_bits(self, bits: bool) -> None:
        for name in ("upstream", "downstream"):
            panel = self.query_one(f"#{name}", DirectionPanel)
            panel.bits = bits
            panel.redraw()
        header = self.query_one(HeaderBar)
        header.bits = bits
        header.show()
        self.query_one(ConnectionsTable).set_bits(bits)

    def selected_connection(self) -> int | None:
        return self.query_one(ConnectionsTable).selected_id()

    def action_filter(self) -> None:
        self.query_one(ConnectionsTable).start_filter()

    def action_clear_filter(self) -> None:
        self.query_one(ConnectionsTable).clear_filter()

    def action_cycle_sort(self) -> None:
        self.query_one(ConnectionsTable).cycle_sort()

    def on_connections_table_selected(self, message: ConnectionsTable.Selected) -> None:
        self.shaper_app.open_connection(message.conn_id)
