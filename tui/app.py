"""ShaperApp: the Textual front end of a shaper engine.

The app is a client: it shows snapshots from a data source (the engine's
control API, or fixed data) and sends every change back through it. What it
displays about limits always comes from the engine's own report.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App
from textual.css.query import NoMatches
from textual.screen import Screen

from shaper.model.limits import DIRECTIONS, Limits
from shaper.model.snapshots import ConnectionStats, EngineStats
from tui import format as fmt
from tui.bindings import APP_BINDINGS
from tui.commands import ShaperCommands
from tui.screens.dashboard import DashboardScreen
from tui.source import DataSource, SourceError
from tui.widgets.header import HeaderBar


class ShaperApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "shaper"
    COMMANDS = App.COMMANDS | {ShaperCommands}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide"), (200, "-huge")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (36, "-tall")]

    BINDINGS = APP_BINDINGS

    def __init__(
        self,
        source: DataSource,
        interval: float = fmt.SNAPSHOT_INTERVAL,
        connections_interval: float = 0.5,
        handle_signals: bool = False,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.handle_signals = handle_signals
        self.source = source
        self.interval = interval
        self.connections_interval = connections_interval
        self.status: dict[str, Any] = {}
        self.snapshot: EngineStats | None = None
        self.snapshots_received = 0
        self.limits = Limits()
        self._limits_dict: dict[str, Any] | None = None
        self.connections: list[ConnectionStats] = []
        self.faults: list[dict[str, Any]] = []
        self.faults_interval = 1.0  # faults change rarely, and at once after a command here
        self.routes: list[dict[str, Any]] = []  # polled with the faults, for the same reason
        self.frozen = False
        self.bits = True  # rates in bits, the unit every limit, flag and profile is written in
        self.selected = ("downstream", "rate")
        self.engine_state = "connecting"
        self.dashboard = DashboardScreen()

    # ---- data --------------------------------------------------------------------

    def get_default_screen(self) -> Screen[None]:
        return self.dashboard

    def on_mount(self) -> None:
        if self.handle_signals:  # SIGTERM/SIGHUP: leave like `q` does (terminal restored)
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.add_signal_handler(sig, self.exit)

    def on_unmount(self) -> None:
        if self.handle_signals:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGHUP):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(sig)

    def dashboard_ready(self) -> None:
        """Called by the dashboard once its widgets exist: start following the engine."""
        self.dashboard.set_selected(*self.selected)
        self.dashboard.set_bits(self.bits)
        header = self.dashboard.query_one(HeaderBar)
        header.source_text = self.source.description
        header.control_url = self.source.control_url
        self._follow_engine()

    @work(exclusive=True, group="source")
    async def _follow_engine(self) -> None:
        try:
            await self._follow()
        finally:
            await self.source.close()

    async def _follow(self) -> None:
        """Connect, follow the snapshots, and reconnect whenever the engine goes away."""
        delay = 0.5
        while True:
            try:
                self.status = await self.source.open()
            except Exception as exc:  # unreachable engine: show it and retry
                self._set_engine_state("disconnected", f"cannot reach the engine: {exc}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.5
            if not self._live():
                return
            self.dashboard.query_one(HeaderBar).routes = list(self.status.get("routes") or [])
            if self.status.get("limits"):
                self._take_limits(self.status["limits"])
            self._take_faults(list(self.status.get("faults") or []))
            await self.refresh_routes()
            self._set_engine_state("frozen" if self.frozen else "live")
            poller = asyncio.create_task(self._poll_connections())
            try:
                async for snapshot in self.source.snapshots(self.interval):
                    self._take_snapshot(snapshot)
                self._set_engine_state("disconnected", "the engine closed the stream")
            except Exception as exc:
                self._set_engine_state("disconnected", f"lost the engine: {exc}")
            finally:
                poller.cancel()
                await self.source.close()
            await asyncio.sleep(delay)

    async def _poll_connections(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time()
        faults_due = deadline + self.faults_interval
        while True:
            if loop.time() >= faults_due:  # faults are settings, not figures: even frozen
                faults_due = loop.time() + self.faults_interval
                await self.refresh_faults()
                await self.refresh_routes()
            if not self.frozen:
                try:
                    conns = await self.source.connections()
                except SourceError:
                    conns = None
                if conns is not None and not self.frozen:
                    self.connections = conns
                    self._show_connections()
            interval = self.connections_interval
            if getattr(self.screen, "conn_id", None) is not None:
                interval = min(interval, 0.25)  # one connection's view: livelier
            deadline = max(deadline + interval, loop.time() + 0.05)
            await asyncio.sleep(deadline - loop.time())

    def _live(self) -> bool:
        """False while the app shuts down (the dashboard's widgets are going away)."""
        if self._exit or not self.dashboard.is_attached:
            return False
        try:
            self.dashboard.query_one(HeaderBar)
        except NoMatches:
            return False
        return True

    def _set_engine_state(self, state: str, message: str | None = None) -> None:
        changed = state != self.engine_state
        self.engine_state = state
        if not self._live():
            return
        header = self.dashboard.query_one(HeaderBar)
        header.engine_state = state
        header.show()
        if changed and message:
            self.notify(message, severity="error" if state == "disconnected" else "information")

    def _take_limits(self, data: dict[str, Any]) -> None:
        if data != self._limits_dict:
            self._limits_dict = data
            self.limits = Limits.from_dict(data)

    def _take_snapshot(self, snapshot: EngineStats) -> None:
        if not self._live():
            return
        self.snapshots_received += 1
        self.dashboard.record(snapshot)
        if self.frozen:
            return
        self.snapshot = snapshot
        if snapshot.limits:
            self._take_limits(snapshot.limits)
        self.dashboard.show_snapshot(snapshot, self.limits)
        for screen in self._mounted_screens():
            if hasattr(screen, "show_snapshot"):
                screen.show_snapshot(snapshot, self.limits)

    def _show_connections(self) -> None:
        if not self._live():
            return
        self.dashboard.show_connections(self.connections)
        for screen in self._mounted_screens():
            if hasattr(screen, "show_connections"):
                screen.show_connections(self.connections)

    async def refresh_faults(self) -> None:
        try:
            faults = await self.source.faults()
        except SourceError:
            return
        self._take_faults(faults)

    def _take_faults(self, faults: list[dict[str, Any]]) -> None:
        if faults == self.faults or not self._live():
            return
        self.faults = faults
        header = self.dashboard.query_one(HeaderBar)
        header.faults = faults
        header.show()
        for screen in self._mounted_screens():
            if hasattr(screen, "show_faults"):
                screen.show_faults(faults)

    async def refresh_routes(self) -> None:
        try:
            routes = await self.source.routes()
        except SourceError:
            return
        self._take_routes(routes)

    def _take_routes(self, routes: list[dict[str, Any]]) -> None:
        if routes == self.routes or not self._live():
            return
        self.routes = routes
        header = self.dashboard.query_one(HeaderBar)
        header.routes = list(routes)
        header.show()
        for screen in self._mounted_screens():
            if hasattr(screen, "show_routes"):
                screen.show_routes(routes)

    def _mounted_screens(self) -> list[Screen[Any]]:
        """The screens above the dashboard whose widgets exist.

        A poll can land between a screen's push and its mount; querying its
        widgets then raises NoMatches, which would end the poller.
        """
        return [s for s in self.screen_stack if s is not self.dashboard and s.is_mounted]

    def _redraw(self) -> None:
        if self.snapshot is not None:
            self.dashboard.show_snapshot(self.snapshot, self.limits)

    # ---- commands (all through the data source) ------------------------------------

    async def send_limits(self, changes: dict[str, Any], conn_id: int | None = None) -> Limits:
        """Apply limit changes; raises SourceError with the engine's message if refused."""
        if conn_id is None:
            reported = await self.source.patch_limits(changes)
            self.limits = reported
            self._limits_dict = None
            self._redraw()
        else:
            reported = await self.source.patch_connection_limits(conn_id, changes)
        return reported

    async def _send(self, changes: dict[str, Any], conn_id: int | None = None) -> None:
        try:
            await self.send_limits(changes, conn_id)
        except SourceError as exc:
            self.notify(str(exc), title="limit refused", severity="error")

    async def action_step(self, up: bool) -> None:
        direction, field = self.selected
        current = self.limits.direction(direction)
        value = fmt.step_limit(current, field, up, self.bits)
        if value is None:
            self.bell()
            return
        await self._send({direction: {field: value}})

    def action_select_limit(self, offset: int) -> None:
        order = [(d, f) for d in DIRECTIONS for f in fmt.STEP_FIELDS]
        index = order.index(self.selected) if self.selected in order else 0
        self.selected = order[(index + offset) % len(order)]
        self.dashboard.set_selected(*self.selected)
        self.dashboard.set_bits(self.bits)

    async def action_toggle_stall(self, direction: str) -> None:
        stalled = self.limits.direction(direction).stall
        await self._send({direction: {"stall": not stalled}})

    def action_freeze(self) -> None:
        self.frozen = not self.frozen
        self._set_engine_state("frozen" if self.frozen else "live")
        if not self.frozen:
            self._redraw()
            self._show_connections()

    def action_toggle_bits(self) -> None:
        self.bits = not self.bits
        self.dashboard.set_bits(self.bits)
        for screen in self.screen_stack:
            if hasattr(screen, "set_bits") and screen is not self.dashboard:
                screen.set_bits(self.bits)

    async def add_fault(self, fault: dict[str, Any]) -> dict[str, Any]:
        """Add a fault; raises SourceError with the engine's message if refused."""
        added = await self.source.add_fault(fault)
        await self.refresh_faults()
        return added

    async def remove_fault(self, name: str) -> None:
        await self.source.remove_fault(name)
        await self.refresh_faults()

    async def add_route(self, name: str | None, listen: str, upstream: str) -> dict[str, Any]:
        """Add a route; raises SourceError with the engine's message if refused."""
        added = await self.source.add_route(name, listen, upstream)
        await self.refresh_routes()
        return added

    async def set_route_enabled(self, name: str, enabled: bool) -> dict[str, Any]:
        changed = await self.source.set_route_enabled(name, enabled)
        await self.refresh_routes()
        return changed

    async def remove_route(self, name: str) -> None:
        await self.source.remove_route(name)
        await self.refresh_routes()

    def action_routes(self) -> None:
        from tui.screens.routes import RoutesScreen

        if not isinstance(self.screen, RoutesScreen):
            self.push_screen(RoutesScreen())

    def action_faults(self) -> None:
        from tui.screens.faults import FaultsScreen

        if not isinstance(self.screen, FaultsScreen):
            self.push_screen(FaultsScreen())

    async def action_toggle_offline(self) -> None:
        """The whole link offline: a timeout in both directions holds every open and new
        connection (nothing lost); pressed again, the fault goes and the bytes flow."""
        offline = any(f.get("name") == fmt.OFFLINE for f in self.faults)
        try:
            if offline:
                await self.remove_fault(fmt.OFFLINE)
            else:
                await self.add_fault(
                    {"name": fmt.OFFLINE, "type": "timeout", "direction": "both"}
                )
        except SourceError as exc:
            self.notify(str(exc), title="offline", severity="error")
            return
        self.notify("link back online" if offline else "link offline: every connection held")

    def action_help(self) -> None:
        from tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_edit_limits(self) -> None:
        from tui.screens.connection import ConnectionScreen
        from tui.screens.limits import LimitsEditor

        if isinstance(self.screen, LimitsEditor):
            return
        if isinstance(self.screen, ConnectionScreen):
            self.run_worker(self.screen.action_edit())
            return
        self.push_screen(LimitsEditor(self.limits))

    def action_profiles(self) -> None:
        from tui.screens.profiles import ProfilePicker

        if not isinstance(self.screen, ProfilePicker):
            self.push_screen(ProfilePicker())

    def action_save_profile(self) -> None:
        from tui.screens.profiles import ProfilePicker

        if not isinstance(self.screen, ProfilePicker):
            self.push_screen(ProfilePicker(save=True))

    def selected_connection(self) -> int | None:
        screen = self.screen
        conn_id = getattr(screen, "conn_id", None)
        if conn_id is not None:
            return conn_id
        return self.dashboard.selected_connection()

    async def action_close_connection(self, mode: str = "close") -> None:
        conn_id = self.selected_connection()
        if conn_id is None:
            self.notify("no connection selected", severity="warning")
            return
        try:
            await self.source.close_connection(conn_id, mode=mode)
        except SourceError as exc:
            self.notify(str(exc), severity="error")
            return
        self.notify(f"connection {conn_id}: {'reset' if mode == 'reset' else 'closed'}")

    def action_open_connection(self) -> None:
        conn_id = self.dashboard.selected_connection()
        if conn_id is not None:
            self.open_connection(conn_id)

    def open_connection(self, conn_id: int) -> None:
        from tui.screens.connection import ConnectionScreen

        self.push_screen(ConnectionScreen(conn_id))

    async def apply_profile(self, name: str) -> dict[str, Any]:
        result = await self.source.apply_profile(name)
        limits = result.get("limits") if isinstance(result, dict) else None
        if isinstance(limits, dict):
            try:
                self.limits = Limits.from_dict(limits)
                self._limits_dict = None
                self._redraw()
            except Exception:
                pass
        return result


if TYPE_CHECKING:
    from tui.screens.app_view import ShaperAppView

    # The screens reach the app as a ShaperAppView: this fails type checking as soon as
    # ShaperApp stops providing what they use.
    _as_seen_by_screens: type[ShaperAppView] = ShaperApp
