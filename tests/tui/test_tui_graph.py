"""The throughput graph: the cells Textual's Sparkline draws, built only when its input
changed."""

from __future__ import annotations

import random

import pytest
from rich.color import Color
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual.app import App, ComposeResult
from textual.renderables.sparkline import Sparkline as SparklineRenderable

from tui.widgets.graph import RateGraph, graph_rows, to_strip

LOW, HIGH = Color.from_rgb(10, 40, 80), Color.from_rgb(200, 100, 30)


def sparkline_cells(data, width, height, base):
    """(character, style) of each cell of Textual's own Sparkline, with `base` added."""
    console = Console(width=200)
    renderable = SparklineRenderable(
        data, width=width, height=height, min_color=LOW, max_color=HIGH, summary_function=max
    )
    segments = console.render(renderable, console.options.update_width(width))
    return [
        [(char, (base + style) if base else style) for text, style, _ in line for char in text]
        for line in Segment.split_lines(segments)
    ]


@pytest.mark.parametrize("base", [Style(), Style(color="white", bgcolor="black")])
def test_graph_cells_are_the_sparklines(base):
    rng = random.Random(7)
    for _ in range(200):
        length = rng.choice([0, 1, 2, 5, 300])
        data = [rng.choice([0.0, 1e6, rng.random() * 1e9]) for _ in range(length)]
        width, height = rng.randint(1, 90), rng.randint(1, 3)
        assert graph_rows(data, width, height, LOW, HIGH, base) == sparkline_cells(
            data, width, height, base
        ), (data, width, height)


def test_a_strip_holds_each_run_of_one_style_in_one_segment():
    red, blue = Style(color="red"), Style(color="blue")
    strip = to_strip([("a", red), ("b", red), ("c", blue), ("d", red)])
    assert [(s.text, s.style) for s in strip] == [("ab", red), ("c", blue), ("d", red)]
    assert strip.cell_length == 4


class GraphApp(App[None]):
    def compose(self) -> ComposeResult:
        yield RateGraph([0.0] * 300, summary_function=max)


async def test_the_graph_is_drawn_again_only_when_its_data_changes():
    app = GraphApp()
    async with app.run_test(size=(60, 5)) as pilot:
        graph = app.query_one(RateGraph)
        await pilot.pause()
        drawn = graph.draws
        assert drawn >= 1
        graph.data = [0.0] * 300  # the same figures: nothing to draw
        graph.refresh()
        await pilot.pause()
        assert graph.draws == drawn
        graph.data = [0.0] * 299 + [5e6]
        await pilot.pause()
        assert graph.draws == drawn + 1
        assert "█" in "".join(segment.text for segment in graph.render_line(0))
