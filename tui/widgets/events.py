"""The event log: connects, closes, resets, errors, limit and profile changes."""

from __future__ import annotations

from collections import deque
from typing import Any

from rich.text import Text
from textual.widgets import RichLog

from shaper.model.snapshots import Event
from tui import format as fmt

# What tells two events apart: (time, kind, message, connection).
_EventKey = tuple[float, str, str, int | None]

KIND_STYLES = {
    "connect": "green",
    "close": "dim",
    "reset": "yellow",
    "error": "bold red",
    "limits": "cyan",
    "profile": "magenta",
    "phase": "magenta",
    "ui": "blue",
}


class EventLog(RichLog):
    DEFAULT_CSS = """
    EventLog { height: 5; border: round $panel-lighten-2; border-title-align: left;
               scrollbar-size-vertical: 1; overflow-x: hidden; overflow-y: auto; }
    """

    def __init__(self, title: str = "events", **kwargs: Any):
        super().__init__(max_lines=1000, wrap=False, markup=False, highlight=False, **kwargs)
        self.title = title
        self._seen: set[_EventKey] = set()
        self._seen_order: deque[_EventKey] = deque()

    def on_mount(self) -> None:
        self.border_title = self.title

    def add_events(self, events: tuple[Event, ...] | list[Event]) -> None:
        """Write the events not written before (snapshots repeat the recent ones)."""
        for event in events:
            key = (event.time, event.kind, event.message, event.connection)
            if key in self._seen:
                continue
            self._seen.add(key)
            self._seen_order.append(key)
            if len(self._seen_order) > 5000:
                self._seen.discard(self._seen_order.popleft())
            self.write_event(event)

    def write_event(self, event: Event) -> None:
        line = Text()
        line.append(fmt.clock(event.time), style="dim")
        line.append(f" {event.kind:<7} ", style=KIND_STYLES.get(event.kind, ""))
        if event.connection is not None:
            line.append(f"#{event.connection} ", style="bold")
        line.append(event.message)
        self.write(line)
