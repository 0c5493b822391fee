"""What the faults and routes dialogs share: one text entry checked as it is typed, a
message line under it, and enter meaning "add"."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Input, Static


class EntryDialog(Screen[None]):
    """Subclasses give `check(text)` (raise ValueError for a bad entry) and `action_add`."""

    def check(self, text: str) -> None:
        raise NotImplementedError

    async def action_add(self) -> None:
        raise NotImplementedError

    def say(self, message: str, error: bool = False) -> None:
        status = self.query_one("#message", Static)
        status.update(f"✖ {message}" if error else message)
        status.set_class(error, "-error")
        self.query_one(Input).set_class(error, "-invalid")

    def on_input_changed(self, event: Input.Changed) -> None:
        """Live check, so a typo shows before enter (the message waits for enter)."""
        text = event.value.strip()
        try:
            if text:
                self.check(text)
        except ValueError:
            event.input.add_class("-invalid")
        else:
            event.input.remove_class("-invalid")

    async def on_input_submitted(self, event: Input.Submitted) -> None:
        await self.action_add()
