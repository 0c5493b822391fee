"""The top line: routes, profile and scenario phase, connection count, engine state."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from shaper.stats import EngineStats


def route_text(route: Any) -> str:
    if isinstance(route, dict):
        if route.get("listen") and route.get("upstream"):
            return f"{route['listen']} → {route['upstream']}"
        return str(route.get("description", route))
    return str(route).replace(" -> ", " → ")


def scenario_text(scenario: dict[str, Any] | None) -> str:
    if not scenario:
        return ""
    phase = scenario.get("phase") or scenario.get("name") or ""
    parts = [str(phase)] if phase else []
    index, count = scenario.get("index"), scenario.get("count") or scenario.get("phases")
    if isinstance(index, int) and isinstance(count, int):
        parts.append(f"{index + 1}/{count}")
    remaining = scenario.get("remaining") or scenario.get("next_in")
    if isinstance(remaining, int | float):
        parts.append(f"{remaining:.0f}s")
    return " ".join(parts)


class HeaderBar(Static):
    DEFAULT_CSS = """
    HeaderBar { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    def __init__(self, **kwargs):
        super().__init__("", **kwargs)
        self.routes: list[Any] = []
        self.engine_state = "connecting"
        self.bits = False
        self._snapshot: EngineStats | None = None

    def show(self, snapshot: EngineStats | None = None) -> None:
        if snapshot is not None:
            self._snapshot = snapshot
        snap = self._snapshot
        text = Text()
        text.append("shaper ", style="bold")
        routes = [route_text(r) for r in self.routes]
        if routes:
            text.append(routes[0], style="bold cyan")
            if len(routes) > 1:
                text.append(f" +{len(routes) - 1}", style="cyan")
        if snap is not None:
            text.append("  profile ", style="dim")
            text.append(snap.profile or "none", style="bold")
            phase = scenario_text(snap.scenario)
            if phase:
                text.append(f" [{phase}]", style="italic")
            text.append(f"  conn {snap.connections_open}", style="")
            text.append(f"/{snap.connections_total}", style="dim")
        state_style = {
            "live": "bold green", "frozen": "bold reverse yellow",
            "disconnected": "bold reverse red", "connecting": "yellow",
        }.get(self.engine_state, "")
        label = {"live": "● live", "frozen": " FROZEN ", "disconnected": " DISCONNECTED ",
                 "connecting": "connecting…"}.get(self.engine_state, self.engine_state)
        text.append("  ")
        text.append(label, style=state_style)
        text.append("  bit/s" if self.bits else "  B/s", style="dim")
        self.update(text)
