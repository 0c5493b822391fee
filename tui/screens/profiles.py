"""Profile picker: list the engine's profiles, apply one, save the current limits."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from tui.screens.app_view import ShaperAppAccess
from tui.source import SourceError


class ProfilePicker(ShaperAppAccess, ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "dismiss(None)", "close", id="close_profiles")]
    DEFAULT_CSS = """
    ProfilePicker { align: center middle; }
    ProfilePicker > Vertical {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: round $accent; border-title-align: center; background: $surface; padding: 0 1;
    }
    ProfilePicker OptionList { height: auto; max-height: 12; min-height: 3; }
    ProfilePicker #save-row { height: auto; margin-top: 1; }
    ProfilePicker #save-row Input { width: 1fr; }
    ProfilePicker #save-row Label { padding: 0 1 0 0; }
    ProfilePicker #message { height: auto; min-height: 1; color: $text-muted; }
    ProfilePicker #message.-error { color: $text-error; text-style: bold; }
    """

    def __init__(self, save: bool = False):
        super().__init__()
        self.save_mode = save
        self.names: list[str] = []

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "profiles (enter applies, esc closes)"
            yield OptionList(id="profiles")
            yield Static("loading profiles…", id="message")
            with Horizontal(id="save-row"):
                yield Label("save current limits as")
                yield Input(placeholder="name (letters, digits, - and _)", id="save-name",
                            compact=True)
                yield Button("Save", id="save", compact=True)

    async def on_mount(self) -> None:
        if self.save_mode:
            self.query_one("#save-name", Input).focus()
        else:
            self.query_one(OptionList).focus()
        await self.load()

    async def load(self) -> None:
        options = self.query_one(OptionList)
        try:
            profiles = await self.shaper_app.source.profiles()
        except SourceError as exc:
            self.message(str(exc), error=True)
            return
        options.clear_options()
        self.names = []
        snapshot = self.shaper_app.snapshot
        current = snapshot.profile if snapshot else None
        for info in profiles:
            name = str(info.get("name", "?"))
            prompt = Text()
            prompt.append("● " if name == current else "  ", style="green")
            prompt.append(name, style="bold")
            origin = info.get("origin")
            if origin:
                prompt.append(f"  [{origin}]", style="dim")
            description = info.get("description")
            if description:
                prompt.append(f"\n    {description}", style="italic")
            options.add_option(Option(prompt, id=name))
            self.names.append(name)
        if current in self.names:
            options.highlighted = self.names.index(current)
        if self.names:
            self.message(f"{len(self.names)} profiles; ● marks the active one")
        else:
            self.message("no profiles found")

    def message(self, text: str, error: bool = False) -> None:
        status = self.query_one("#message", Static)
        status.update(("✖ " if error else "") + text)
        status.set_class(error, "-error")

    async def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        name = event.option.id
        if name is None:
            return
        try:
            await self.shaper_app.apply_profile(name)
        except SourceError as exc:
            self.message(str(exc), error=True)
            return
        self.app.notify(f"profile {name} applied")
        self.dismiss(name)

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        await self.save()

    async def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            await self.save()

    async def save(self) -> None:
        name = self.query_one("#save-name", Input).value.strip()
        if not name:
            self.message("type a name to save the current limits under", error=True)
            return
        try:
            path = await self.shaper_app.source.save_profile(
                name, description="saved from the shaper display"
            )
        except SourceError as exc:
            self.message(str(exc), error=True)
            return
        self.app.notify(f"saved profile {name} to {path}")
        await self.load()
        self.message(f"saved {name} ({path})")
