"""One connection: its two pipes, kernel figures, and close / reset / own limits."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Static

from shaper.model.limits import Limits
from shaper.model.snapshots import ConnectionStats, EngineStats, KernelStats
from tui import format as fmt
from tui.screens.app_view import ShaperAppAccess
from tui.source import SourceError
from tui.widgets.events import EventLog
from tui.widgets.pipe import DirectionPanel


def kernel_text(name: str, k: KernelStats) -> Text:
    text = Text()
    text.append(f"{name}: ", style="bold")
    rtt = f"{k.rtt_us / 1000:.1f} ms" if k.rtt_us is not None else "n/a"
    # the kernel's own socket on this machine (TCP_INFO): its window counts segments
    text.append(f"rtt {rtt}  cwnd {f'{k.cwnd} seg' if k.cwnd is not None else 'n/a'}  ")
    text.append(f"rcvbuf {fmt.size(k.rcvbuf)}  sndbuf {fmt.size(k.sndbuf)}")
    return text


class ConnectionScreen(ShaperAppAccess, Screen[None]):
    BINDINGS = [
        Binding("escape", "app.pop_screen", "back", id="back", tooltip="back to the dashboard"),
        Binding("c", "app.close_connection('close')", "close", id="conn_close",
                tooltip="close this connection (FIN)"),
        Binding("r", "app.close_connection('reset')", "reset", id="conn_reset",
                tooltip="reset this connection (RST)"),
        Binding("e", "edit", "own limits", id="conn_limits",
                tooltip="limits for this connection only (it then has links of its own)"),
        Binding("x", "clear", "clear own limits", id="conn_clear_limits",
                tooltip="drop its own limits: back to the engine's and the shared link"),
    ]
    DEFAULT_CSS = """
    ConnectionScreen #info { height: auto; padding: 0 1; background: $panel; }
    ConnectionScreen #kernel { height: auto; padding: 0 1; }
    ConnectionScreen #conn-events { height: 1fr; min-height: 3; }
    """

    def __init__(self, conn_id: int):
        super().__init__()
        self.conn_id = conn_id
        self.conn: ConnectionStats | None = None
        self.closed = False
        self.limits = Limits()
        self.override_known: bool | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"connection {self.conn_id}", id="info")
        yield DirectionPanel("upstream", connection=True, id="conn-upstream")
        yield DirectionPanel("downstream", connection=True, id="conn-downstream")
        yield Static("", id="kernel")
        yield EventLog(title=f"events of connection {self.conn_id}", id="conn-events")
        yield Footer()

    def on_mount(self) -> None:
        app = self.shaper_app
        for panel in self.query(DirectionPanel):
            panel.bits = app.bits
        self.show_connections(app.connections)
        if app.snapshot is not None:
            self.show_snapshot(app.snapshot, app.limits)

    def show_snapshot(self, snapshot: EngineStats, limits: Limits) -> None:
        self.query_one(EventLog).add_events(
            [e for e in snapshot.events if e.connection == self.conn_id]
        )
        if not self.override_known:
            self.limits = limits

    async def _fetch_limits(self) -> None:
        try:
            self.limits = await self.shaper_app.source.connection_limits(self.conn_id)
        except SourceError:
            return
        if self.conn is not None:
            self.show_connections([self.conn])

    def set_bits(self, bits: bool) -> None:
        for panel in self.query(DirectionPanel):
            panel.bits = bits
            panel.redraw()

    def show_connections(self, conns: list[ConnectionStats]) -> None:
        conn = next((c for c in conns if c.id == self.conn_id), None)
        if conn is None:
            if self.conn is not None and not self.closed:
                self.closed = True
                self.query_one("#info", Static).update(
                    Text(f"connection {self.conn_id} has closed (esc goes back)", style="bold red")
                )
            elif self.conn is None:
                self.query_one("#info", Static).update(f"connection {self.conn_id}: not open")
            return
        self.conn = conn
        if conn.limits_override != self.override_known:
            self.override_known = conn.limits_override
            if conn.limits_override:
                self.run_worker(self._fetch_limits(), group="limits")
        if not conn.limits_override:
            self.limits = self.shaper_app.limits
        info = Table.grid(padding=(0, 2))
        info.add_row(
            Text(f"#{conn.id}", style="bold"), f"{conn.client} → {conn.server}",
            f"age {fmt.age(conn.age)}",
            Text(conn.state, style=fmt.STATE_STYLES.get(conn.state, "")),
        )
        info.add_row(
            "", Text(conn.route, style="dim"), "",
            Text("own limits" if conn.limits_override else "engine limits",
                 style="bold cyan" if conn.limits_override else "dim"),
        )
        if conn.faults:
            info.add_row(
                "", Text(f"faults: {', '.join(conn.faults)}", style=fmt.STATE_STYLES["held"]),
                "", "",
            )
        self.query_one("#info", Static).update(info)
        for direction in ("upstream", "downstream"):
            panel = self.query_one(f"#conn-{direction}", DirectionPanel)
            stats = getattr(conn, direction)
            panel.record(stats)
            panel.show(stats, self.limits.direction(direction), 1)
        kernel = Text()
        kernel.append_text(kernel_text("client socket", conn.client_kernel))
        kernel.append("\n")
        kernel.append_text(kernel_text("server socket", conn.server_kernel))
        self.query_one("#kernel", Static).update(kernel)

    async def action_edit(self) -> None:
        try:
            self.limits = await self.shaper_app.source.connection_limits(self.conn_id)
        except SourceError as exc:
            self.app.notify(str(exc), severity="error")
            return
        from tui.screens.limits import LimitsEditor

        def done(result: Limits | None) -> None:
            if result is not None:
                self.limits = result
                self.override_known = True

        self.app.push_screen(LimitsEditor(self.limits, conn_id=self.conn_id), done)

    async def action_clear(self) -> None:
        try:
            await self.shaper_app.source.clear_connection_limits(self.conn_id)
        except SourceError as exc:
            self.app.notify(str(exc), severity="error")
            return
        self.limits = self.shaper_app.limits
        self.override_known = False
        self.app.notify(f"connection {self.conn_id} follows the engine's limits again")
