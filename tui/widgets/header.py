"""The top line: routes, profile (marked `3g*` once limits were changed by hand, with the
changed ones) and scenario phase, the faults in force, the engine's control API (for
`shaper limits`, curl and scripts), connection count, OFFLINE, engine state."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from shaper.model.snapshots import EngineStats
from tui import format as fmt


def route_text(route: Any) -> str:
    if isinstance(route, dict):
        if route.get("listen") and route.get("upstream"):
            return f"{route['listen']} → {route['upstream']}"
        return str(route.get("description", route))
    return str(route).replace(" -> ", " → ")


ARROWS = {"upstream": "▲", "downstream": "▼"}


def changes_text(changes: tuple[str, ...] | list[str]) -> str:
    """The limits changed by hand, compactly: ('downstream.rate', 'upstream.rate',
    'upstream.latency') -> '▲▼rate ▲latency' (the arrows of the direction panels)."""
    keys: dict[str, str] = {}
    for change in changes:
        direction, _, key = str(change).partition(".")
        keys[key] = keys.get(key, "") + ARROWS.get(direction, direction)
    return " ".join(f"{''.join(sorted(arrows))}{key}" for key, arrows in keys.items())


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

    def __init__(self, **kwargs: Any):
        super().__init__("", **kwargs)
        self.routes: list[Any] = []
        self.source_text = ""
        self.engine_state = "connecting"
        self.control_url: str | None = None
        self.bits = True
        self.faults: list[dict[str, Any]] = []
        self._snapshot: EngineStats | None = None
        self._shown: Text | None = None

    def show(self, snapshot: EngineStats | None = None) -> None:
        if snapshot is not None:
            self._snapshot = snapshot
        snap = self._snapshot

        changes = tuple(snap.profile_changes) if snap is not None and snap.profile else ()

        # The offline fault says so on the right (always visible); the others are listed.
        offline = any(f.get("name") == fmt.OFFLINE for f in self.faults)
        others = [f for f in self.faults if f.get("name") != fmt.OFFLINE]

        def left_text(
            brand: bool, full_route: bool, listed: str, control: str, faults: str
        ) -> Text:
            left = Text()
            if brand:
                left.append("shaper ", style="bold")
            if self.routes:
                route = self.routes[0]
                shown = route_text(route)
                if not full_route and isinstance(route, dict) and route.get("listen"):
                    shown = str(route["listen"])
                left.append(shown, style="bold cyan")
                if len(self.routes) > 1:
                    left.append(f" +{len(self.routes) - 1}", style="cyan")
            elif self.source_text:
                left.append(self.source_text, style="cyan")
            if snap is not None:
                left.append("  profile ", style="dim")
                left.append(snap.profile or "none", style="bold")
                if changes:  # the limits are no longer the profile's own
                    left.append("*", style="bold yellow")
                    if listed == "all":
                        left.append(f" {changes_text(changes)}", style="yellow")
                    elif listed == "count":
                        left.append(f" {len(changes)} changed", style="yellow")
                phase = scenario_text(snap.scenario)
                if phase:
                    left.append(f" [{phase}]", style="italic")
            if others and faults != "none":
                style = fmt.STATE_STYLES["held"]
                left.append("  faults ", style="dim")
                if faults == "all":
                    left.append(", ".join(fmt.fault_label(f) for f in others), style=style)
                else:
                    left.append(str(len(others)), style=style)
            if self.control_url and control != "none":
                shown = self.control_url
                if control == "address":
                    shown = shown.split("://", 1)[-1]
                left.append("  control ", style="dim")
                left.append(shown)
            return left

        # The right part (connections, state, units) always stays visible.
        right = Text()
        if snap is not None:
            right.append(f"conn {snap.connections_open}")
            right.append(f"/{snap.connections_total}", style="dim")
        state_style = {
            "live": "bold green", "frozen": "bold reverse yellow",
            "disconnected": "bold reverse red", "connecting": "yellow",
        }.get(self.engine_state, "")
        label = {"live": "● live", "frozen": " FROZEN ", "disconnected": " DISCONNECTED ",
                 "connecting": "connecting…"}.get(self.engine_state, self.engine_state)
        if offline:
            right.append("  ")
            right.append(" OFFLINE ", style="bold reverse red")
        right.append("  ")
        right.append(label, style=state_style)
        right.append("  bit/s" if self.bits else "  B/s", style="dim")
        width = self.content_size.width or 78
        room = width - right.cell_len - 1
        # the longest form that fits: with the product name and the whole route first; then
        # the control API shortened and left out; the faults' names then the list of changed
        # limits go last (for their counts), the '*' stays
        for form in ((True, True, "all", "url", "all"), (False, True, "all", "url", "all"),
                     (False, False, "all", "url", "all"), (False, False, "all", "address", "all"),
                     (False, False, "all", "none", "all"), (False, False, "all", "none", "count"),
                     (False, False, "count", "none", "count"),
                     (False, False, "none", "none", "count"),
                     (False, False, "none", "none", "none")):
            left = left_text(*form)
            if left.cell_len <= room:
                break
        if left.cell_len > room:
            left.truncate(max(room, 0), overflow="ellipsis")
        text = left
        text.append(" " * max(width - left.cell_len - right.cell_len, 1))
        text.append_text(right)
        if text != self._shown:
            self._shown = text
            self.update(text, layout=False)  # always one line: no layout pass
            tips = []
            if changes and snap is not None:
                tips.append(f"profile {snap.profile} changed by hand: {', '.join(changes)}")
            if self.faults:
                tips.append("faults: " + "; ".join(
                    f"{f.get('name')}: {fmt.fault_detail(f)}" for f in self.faults))
            if self.control_url:
                tips.append(f"control API: {self.control_url} (shaper limits --control URL)")
            self.tooltip = "\n".join(tips) or None

    def on_resize(self) -> None:
        self.show()
