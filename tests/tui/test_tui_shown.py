"""Widgets repainted only when what they show changes."""

from __future__ import annotations

import dataclasses

from rich.text import Text
from textual.app import App, ComposeResult

from shaper.model.limits import DirectionLimits
from tui.sample import direction
from tui.widgets.path import PathInfo
from tui.widgets.pipe import DirectionPanel, PipeDiagram
from tui.widgets.shown import ShownLine


class PanelApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DirectionPanel("downstream", id="downstream")


async def test_the_diagram_repaints_when_its_figures_change_not_the_rates():
    app = PanelApp()
    async with app.run_test(size=(100, 10)) as pilot:
        panel = app.query_one(DirectionPanel)
        diagram, path = panel.query_one(PipeDiagram), panel.query_one(PathInfo)
        stats = direction("downstream", "flowing", 20_000, rate=1e6, in_flight=1000)
        panel.show(stats, DirectionLimits())
        await pilot.pause()
        repaints, path_repaints = diagram.repaints, path.repaints
        shown = diagram.render().plain

        # a new rate: the rate label changes, the stages and the path do not
        panel.show(dataclasses.replace(stats, rate_out=2e6), DirectionLimits())
        await pilot.pause()
        assert (diagram.repaints, path.repaints) == (repaints, path_repaints)
        assert diagram.render().plain == shown

        # a queue that reads the same once rounded: still nothing to repaint
        panel.show(dataclasses.replace(stats, queue=20_010), DirectionLimits())
        await pilot.pause()
        assert diagram.repaints == repaints

        # a fuller queue: repainted, with the new figure
        panel.show(dataclasses.replace(stats, queue=40_000), DirectionLimits())
        await pilot.pause()
        assert diagram.repaints == repaints + 1
        assert "39K" in diagram.render().plain

        # more bytes in flight: the path line repaints
        panel.show(dataclasses.replace(stats, queue=40_000, in_flight=900_000), DirectionLimits())
        await pilot.pause()
        assert path.repaints == path_repaints + 1
        assert "879K" in path.render().plain


class LineApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ShownLine(Text("first"))


async def test_a_shown_line_repaints_only_for_new_text_and_draws_it_on_its_style():
    app = LineApp()
    async with app.run_test(size=(40, 3)) as pilot:
        line = app.query_one(ShownLine)
        await pilot.pause()
        assert line.render_line(0).text.startswith("first")
        repaints = line.repaints
        assert not line.show(Text("first"))  # the same text: nothing to repaint
        assert line.repaints == repaints
        assert line.show(Text.assemble(("in ", "dim"), "12.0 Mbit/s"))
        await pilot.pause()
        strip = line.render_line(0)
        assert strip.text.rstrip() == "in 12.0 Mbit/s"
        assert strip.cell_length == line.size.width  # padded to the widget's width
        # every cell carries the widget's background, the dim part its own style too
        background = line.visual_style.rich_style.bgcolor
        assert all(segment.style is not None for segment in strip)
        assert all(segment.style.bgcolor == background for segment in strip)
        assert any(segment.style.dim for segment in strip if segment.text.strip() == "in")
