"""What the screens need of the app, as a Protocol.

Textual types `self.app` as App[Any], and the screens cannot import ShaperApp to narrow
it: the app imports them. So they reach the app through `shaper_app`, typed against this
Protocol; tui/app.py checks that ShaperApp provides it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, cast

if TYPE_CHECKING:
    from textual.app import App

    from shaper.model.limits import Limits
    from shaper.model.snapshots import ConnectionStats, EngineStats
    from tui.source import DataSource


class ShaperAppView(Protocol):
    @property
    def source(self) -> DataSource: ...
    @property
    def snapshot(self) -> EngineStats | None: ...
    @property
    def limits(self) -> Limits: ...
    @property
    def connections(self) -> list[ConnectionStats]: ...
    @property
    def bits(self) -> bool: ...
    @property
    def faults(self) -> list[dict[str, Any]]: ...
    @property
    def routes(self) -> list[dict[str, Any]]: ...

    def dashboard_ready(self) -> None: ...
    def open_connection(self, conn_id: int) -> None: ...
    async def send_limits(
        self, changes: dict[str, Any], conn_id: int | None = None
    ) -> Limits: ...
    async def apply_profile(self, name: str) -> dict[str, Any]: ...
    async def add_fault(self, fault: dict[str, Any]) -> dict[str, Any]: ...
    async def remove_fault(self, name: str) -> None: ...
    async def add_route(
        self, name: str | None, listen: str, upstream: str
    ) -> dict[str, Any]: ...
    async def set_route_enabled(self, name: str, enabled: bool) -> dict[str, Any]: ...
    async def remove_route(self, name: str) -> None: ...


class _InApp(Protocol):
    @property
    def app(self) -> App[Any]: ...


class ShaperAppAccess:
    """Mixed into the screens of ShaperApp: `self.shaper_app` is `self.app`, typed."""

    @property
    def shaper_app(self: _InApp) -> ShaperAppView:
        return cast("ShaperAppView", self.app)
