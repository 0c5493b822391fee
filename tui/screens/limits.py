"""Limits editor: both directions, unit-aware, validated before anything is sent.

An invalid value is shown inline (the field turns red and the message names
the accepted forms) and nothing is sent: the old value stays in force. A
valid change goes to the engine; the editor closes only when the engine
accepted it.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Button, Input, Label, Static

from shaper.model.limits import (
    DIRECTIONS,
    JITTER_DISTRIBUTIONS,
    LINK_MODES,
    TCP_MODES,
    LimitError,
    Limits,
)
from tui.screens.app_view import ShaperAppAccess
from tui.source import SourceError

FIELDS = [
    ("rate", "rate", "2Mbit, 500KiB/s, off"),
    ("burst", "burst", "0B, 16KiB"),
    ("latency", "latency", "20ms, 0"),
    ("jitter", "jitter", "5ms, 0"),
    ("jitter_distribution", "jitter dist", "uniform or normal"),
    ("buffer", "queue buffer", "64KiB"),
    ("sockbuf", "socket buffers", "default, 64KiB"),
    ("stall", "stall", "true or false"),
    ("link", "link", "shared or per-connection"),
    ("tcp", "tcp sender", "emulated or off"),
    ("loss", "loss", "1%, 0.01, 0"),
    ("loss_burst", "loss burst", "1 (independent), 3"),
]
# The fields that take one of a few words: typing offers the rest of the word (→ takes it).
CHOICES = {
    "jitter_distribution": JITTER_DISTRIBUTIONS,
    "stall": ("true", "false"),
    "link": LINK_MODES,
    "tcp": TCP_MODES,
}
# A connection with limits of its own has links of its own: its editor shows no link mode.
OWN_LINK = "own (its own limits)"


def field_text(limits: Limits, direction: str, key: str) -> str:
    value = limits.direction(direction).to_dict()[key]
    if key == "stall":  # what the field takes back: a switch is true or false (or 1 or 0)
        return "true" if value else "false"
    return str(value)


class LimitsEditor(ShaperAppAccess, ModalScreen[Limits | None]):
    BINDINGS = [
        Binding("escape", "dismiss(None)", "cancel", id="cancel"),
        Binding("ctrl+s,ctrl+enter", "apply", "apply", id="apply", show=False),
    ]
    DEFAULT_CSS = """
    LimitsEditor { align: center middle; }
    LimitsEditor > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; border-title-align: center; background: $surface; padding: 0 1;
    }
    LimitsEditor Grid {
        grid-size: 3; grid-columns: 16 1fr 1fr; grid-gutter: 0 1; height: auto;
    }
    LimitsEditor Grid > Label { height: 1; }
    LimitsEditor .head { text-style: bold; }
    LimitsEditor Input { height: 1; }
    LimitsEditor Input.-invalid { background: $error 40%; }
    LimitsEditor #message { height: auto; min-height: 2; color: $text-muted; margin-top: 1; }
    LimitsEditor #message.-error { color: $text-error; text-style: bold; }
    LimitsEditor Horizontal { height: auto; align-horizontal: right; }
    LimitsEditor Button { margin-left: 1; }
    """

    def __init__(self, limits: Limits, conn_id: int | None = None):
        super().__init__()
        self.limits = limits
        self.conn_id = conn_id

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = (
                f"limits of connection {self.conn_id}" if self.conn_id is not None
                else "limits (all connections)"
            )
            with Grid():
                yield Label("")
                yield Label("▲ upstream", classes="head")
                yield Label("▼ downstream", classes="head")
                for key, label, hint in FIELDS:
                    yield Label(label)
                    for direction in DIRECTIONS:
                        fixed = key == "link" and self.conn_id is not None
                        choices = CHOICES.get(key)
                        yield Input(
                            OWN_LINK if fixed else field_text(self.limits, direction, key),
                            placeholder=hint,
                            id=f"{direction}-{key}",
                            compact=True,
                            select_on_focus=True,
                            disabled=fixed,
                            suggester=(
                                SuggestFromList(choices, case_sensitive=True) if choices
                                else None
                            ),
                            tooltip=f"one of: {', '.join(choices)}" if choices else None,
                        )
            yield Static(
                "enter or ctrl+s applies, esc cancels. Rates: 2Mbit, 500KiB/s, off. "
                "Sizes: 64KiB. Durations: 20ms. link: shared (one link for every "
                "connection) or per-connection; tcp: emulated or off.",
                id="message",
            )
            with Horizontal():
                yield Button("Apply", variant="primary", id="apply", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def changes(self) -> dict[str, Any]:
        """Only the fields the user changed, as unit strings."""
        result: dict[str, Any] = {}
        for direction in DIRECTIONS:
            for key, _, _ in FIELDS:
                field = self.query_one(f"#{direction}-{key}", Input)
                if field.disabled:
                    continue
                text = field.value.strip()
                if text != field_text(self.limits, direction, key):
                    result.setdefault(direction, {})[key] = text
        return result

    def show_error(self, message: str, field: str | None) -> None:
        for input_ in self.query(Input):
            input_.remove_class("-invalid")
        if field:
            path = field.replace(".", "-")
            matches = self.query(f"#{path}")
            if matches:
                matches.first().add_class("-invalid")
                matches.first().focus()
        status = self.query_one("#message", Static)
        status.update(f"✖ {message} — nothing changed")
        status.add_class("-error")

    def on_input_changed(self, event: Input.Changed) -> None:
        """Live check of one field, so a typo shows before applying."""
        if event.input.id is None:
            return
        direction, key = event.input.id.split("-", 1)
        try:
            self.limits.patched({direction: {key: event.value.strip()}})
        except LimitError:
            event.input.add_class("-invalid")
        else:
            event.input.remove_class("-invalid")

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        await self.action_apply()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "apply":
            await self.action_apply()
        else:
            self.dismiss(None)

    async def action_apply(self) -> None:
        changes = self.changes()
        if not changes:
            self.dismiss(None)
            return
        try:
            self.limits.patched(changes)
        except LimitError as exc:
            self.show_error(str(exc), exc.field)
            return
        try:
            reported = await self.shaper_app.send_limits(changes, self.conn_id)
        except SourceError as exc:
            self.show_error(str(exc), exc.field)
            return
        summary = ", ".join(
            f"{d}.{k}={field_text(reported, d, k)}" for d, fields in changes.items() for k in fields
        )
        target = f"connection {self.conn_id}" if self.conn_id is not None else "engine"
        self.app.notify(f"{target} reports {summary}", title="limits applied")
        self.dismiss(reported)

