"""The throughput graph: Textual's Sparkline, drawn cell for cell as it draws it, cheaper.

Textual's Sparkline renders through a Rich renderable: a Fraction per bucket, a blended
colour and a new Style per bar, then Rich's line splitting. Two graphs of 43x3 cells took
3 ms a render each, 30 ms of CPU a second at 5 snapshots a second: a third of the display's
whole cost while a transfer ran. This one draws the same bars in the same colours straight
into strips (runs of one style in one segment, which also shortens what goes to the
terminal), caches them by their input, and takes 0.1-0.2 ms.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from functools import lru_cache

from rich.color import Color as RichColor
from rich.segment import Segment
from rich.style import Style
from textual.strip import Strip
from textual.widgets import Sparkline

BARS = "▁▂▃▄▅▆▇█"


def blend(low: RichColor, high: RichColor, ratio: float) -> tuple[int, int, int] | None:
    """The colour `ratio` of the way from `low` to `high`, as the Sparkline blends it (None:
    `high` itself, for colours without a triplet)."""
    if low.triplet is None or high.triplet is None:
        return None
    r1, g1, b1 = low.triplet
    r2, g2, b2 = high.triplet
    return (int(r1 + (r2 - r1) * ratio), int(g1 + (g2 - g1) * ratio), int(b1 + (b2 - b1) * ratio))


@lru_cache(maxsize=16)
def bucket_bounds(length: int, buckets: int) -> tuple[tuple[int, int], ...]:
    """(start, end) of each non-empty bucket, as Textual's Sparkline partitions the data
    (kept: the Fractions cost more than the rest of a graph)."""
    step = Fraction(length, buckets)
    bounds = [(int(step * i), int(step * (i + 1))) for i in range(buckets)]
    return tuple((start, end) for start, end in bounds if end > start)


def graph_rows(
    data: Sequence[float],
    width: int,
    height: int,
    low: RichColor,
    high: RichColor,
    base: Style,
    styles: dict[tuple[int, int, int] | None, Style | None] | None = None,
) -> list[list[tuple[str, Style | None]]]:
    """The cells of each line, top first: (character, style), the same cells Textual's
    Sparkline renders (summary: max), with `base` added as the widget adds it.

    `styles`: the style of each blended colour, kept between calls with the same colours
    and base (a new Style and its sum with the base per bar were half the cost)."""
    if styles is None:
        styles = {}

    def styled(style: Style | None) -> Style | None:
        return base + style if base else style

    if width <= 0 or height <= 0:
        return [[] for _ in range(max(height, 0))]
    if not data:
        return [[] for _ in range(height - 1)] + [[("▁", styled(Style.from_color(low)))] * width]
    if len(data) == 1:
        return [[("█", styled(Style.from_color(high)))] * width for _ in range(height)]
    minimum, maximum = min(data), max(data)
    extent = maximum - minimum or 1
    bar_segments = len(BARS) * height - 1
    values = list(data)
    summaries = [max(values[start:end]) for start, end in bucket_bounds(len(values), width)]
    step = len(summaries) / width
    bars: list[tuple[float, int]] = []  # (height ratio, bar index) of each column
    position = 0.0
    for _ in range(width):
        ratio = (summaries[int(position)] - minimum) / extent
        bars.append((ratio, int(ratio * bar_segments)))
        position += step
    blank = styled(None)
    rows = []
    for line in reversed(range(height)):
        low_part, high_part = line * len(BARS), (line + 1) * len(BARS)
        cells: list[tuple[str, Style | None]] = []
        for ratio, index in bars:
            if index < low_part:
                cells.append((" ", blank))
                continue
            char = "█" if index >= high_part else BARS[index % len(BARS)]
            rgb = blend(low, high, ratio)
            style = styles.get(rgb)
            if style is None:
                colour = high if rgb is None else RichColor.from_rgb(*rgb)
                style = styles[rgb] = styled(Style.from_color(colour))
            cells.append((char, style))
        rows.append(cells)
    return rows


def to_strip(cells: list[tuple[str, Style | None]]) -> Strip:
    """One strip, each run of cells of one style in one segment."""
    segments: list[Segment] = []
    text: list[str] = []
    current: Style | None = None
    for char, style in cells:
        if text and style != current:
            segments.append(Segment("".join(text), current))
            text = []
        current = style
        text.append(char)
    if text:
        segments.append(Segment("".join(text), current))
    return Strip(segments, len(cells))


class RateGraph(Sparkline):
    """A Sparkline (same CSS, colours and data attribute) drawn through the line API."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._key: tuple[object, ...] | None = None
        self._strips: list[Strip] = []
        self._styles: dict[tuple[int, int, int] | None, Style | None] = {}
        self._styles_key: tuple[object, ...] | None = None
        self.draws = 0  # how many times the strips were built (for tests)

    def _colours(self) -> tuple[RichColor, RichColor]:
        _, base = self.background_colors
        low = self.min_color
        if low is None:
            low = self.get_component_styles("sparkline--min-color").color
        high = self.max_color
        if high is None:
            high = self.get_component_styles("sparkline--max-color").color
        return (base + low).rich_color, (base + high).rich_color

    def lines(self) -> list[Strip]:
        """The graph's strips, rebuilt only when the data, size, colours or style changed."""
        width, height = self.size
        low, high = self._colours()
        base = self.visual_style.rich_style
        data = tuple(self.data or ())
        key = (data, width, height, low, high, base)
        if key != self._key:
            if (low, high, base) != self._styles_key:
                self._styles, self._styles_key = {}, (low, high, base)
            rows = graph_rows(data, width, height, low, high, base, self._styles)
            self._strips = [to_strip(cells) for cells in rows]
            self._key = key
            self.draws += 1
        return self._strips

    def render_line(self, y: int) -> Strip:
        strips = self.lines()
        if 0 <= y < len(strips):
            return strips[y]
        return Strip.blank(self.size.width, self.visual_style.rich_style)
