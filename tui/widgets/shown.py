"""Widgets repainted only when what they show changes.

A snapshot comes 5 times a second, and most of its figures change each time, but not all
of them show in every widget: a pipe diagram shows queue and buffer sizes rounded to a few
digits (not the rates), so about a quarter of the snapshots of a running transfer left it
unchanged. A repaint of a two-line diagram cost 1.2-2 ms (its Rich Text turned into
Textual's content, then into strips): these widgets build their text and repaint only when
it differs from the one shown.
"""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.text import Text
from textual.geometry import Size
from textual.strip import Strip
from textual.widget import Widget


class ShownText(Widget):
    """A widget drawn from `build()` (a Text of `inputs()` and its size).

    Its inputs are plain attributes or reactives with `repaint=False`; whoever sets them
    calls `update_shown()` once they are all set, which builds the text again if they
    changed and repaints if the text did."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._shown: Text | None = None
        self._shown_size: Size | None = None
        self._inputs: tuple[Any, ...] | None = None
        self._strips: list[Strip] = []
        self._strips_text: Text | None = None  # what `_strips` show
        self._strips_key: tuple[Any, ...] | None = None
        self.repaints = 0  # how many times a changed text was repainted (for tests)

    def build(self) -> Text:
        raise NotImplementedError

    def inputs(self) -> tuple[Any, ...]:
        """What `build` reads besides the size (compared, so values, not mutable objects)."""
        raise NotImplementedError

    def update_shown(self) -> bool:
        """Repaint if the text to show differs from the text shown; True if it did."""
        inputs = self.inputs()
        if inputs == self._inputs and self._shown_size == self.size:
            return False
        self._inputs = inputs
        text = self.build()
        if text == self._shown and self._shown_size == self.size:
            return False
        self._shown, self._shown_size = text, self.size
        self.repaints += 1
        self.refresh()
        return True

    def render(self) -> Text:
        if self._shown is None or self._shown_size != self.size:  # first paint, a resize
            self._inputs = self.inputs()
            self._shown, self._shown_size = self.build(), self.size
        return self._shown

    def render_line(self, y: int) -> Strip:
        # Drawn through the line API: the text's lines as Rich renders them, on the
        # widget's style. Textual's own way (the Text turned into its Content, wrapped,
        # then into strips) took 2.5 ms for a two-line diagram, this 0.2 ms.
        strips = self._lines()
        if 0 <= y < len(strips):
            return strips[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)

    def _lines(self) -> list[Strip]:
        text = self.render()
        width, height = self.size
        base = self.visual_style.rich_style
        key = (width, height, base)
        # Compared by identity, the text held here: an id alone could be taken by a new
        # text once the old one is freed.
        if text is not self._strips_text or key != self._strips_key:
            console = self.app.console
            strips = []
            for line in text.split("\n", allow_blank=True)[:height]:
                segments = Segment.apply_style(line.render(console, end=""), base)
                strips.append(Strip(segments).adjust_cell_length(width, base))
            self._strips, self._strips_text, self._strips_key = strips, text, key
        return self._strips


class ShownLine(ShownText):
    """One line of text given whole (`show`), like a Label, repainted only when it
    changes and drawn through the line API (a Label's update cost 0.6 ms, this 0.15)."""

    DEFAULT_CSS = """
    ShownLine { height: 1; }
    """

    def __init__(self, text: Text | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self._text = text or Text()

    def show(self, text: Text) -> bool:
        """Show `text`; True if that repainted the line."""
        self._text = text
        return self.update_shown()

    def inputs(self) -> tuple[Any, ...]:
        return (self._text,)

    def build(self) -> Text:
        return self._text
