"""One direction of traffic drawn as its chain of stages.

    kernel rx → queue (used/capacity) → wire → sink buffer → kernel tx

Each stage has a gauge coloured by how full it is, so the place where bytes
pile up stands out; the panel border takes the colour of the direction's
state (flowing, backpressured, blocked, stalled...).
"""

from __future__ import annotations

from collections import deque
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Container, Horizontal, Vertical
from textual.reactive import reactive

from shaper.model.limits import DirectionLimits
from shaper.model.snapshots import ConnectionStats, DirectionStats
from tui import format as fmt
from tui.widgets.graph import RateGraph
from tui.widgets.path import LinkView, PathInfo, link_view, loss_of
from tui.widgets.shown import ShownLine, ShownText

ENDS = {"upstream": ("client", "server"), "downstream": ("server", "client")}
ARROWS = {"upstream": "▲", "downstream": "▼"}
HISTORY = round(60 / fmt.SNAPSHOT_INTERVAL)  # one minute of snapshots


def empty_direction(direction: str) -> DirectionStats:
    return DirectionStats(
        direction=direction,
        state="idle",
        bytes_in=0,
        bytes_out=0,
        rate_in=0.0,
        rate_out=0.0,
        queue=0,
        queue_capacity=0,
        wire=0,
        sink_buffer=0,
        source_kernel_rx=None,
        sink_kernel_tx=None,
        source_rcvbuf=None,
        sink_sndbuf=None,
    )


# The widest short label of each stage ("rx 999K", "queue 999K/999K 100%", "wire 999K",
# "buf 999K", "tx 999K") and the share of the width each stage gets when there is more room.
LABEL_WIDTHS = (7, 20, 9, 8, 7)
STAGE_WEIGHTS = (5, 8, 5, 5, 5)


def stage_widths(width: int) -> tuple[str, list[int]]:
    """The arrow between stages and each stage's width: in proportion to STAGE_WEIGHTS, but
    never narrower than its short label while the width allows (the arrows shrink first)."""
    for arrow in (" → ", "→"):
        room = width - len(arrow) * (len(STAGE_WEIGHTS) - 1)
        if room >= sum(LABEL_WIDTHS):
            break
    total = sum(STAGE_WEIGHTS)
    if room < sum(LABEL_WIDTHS):  # too narrow for every label: plain proportions
        widths = [room * w // total for w in STAGE_WEIGHTS]
    else:
        fixed: dict[int, int] = {}
        while True:  # give the stages below their label its width, share out the rest
            left = room - sum(fixed.values())
            weight = sum(w for i, w in enumerate(STAGE_WEIGHTS) if i not in fixed)
            short = {
                i: LABEL_WIDTHS[i]
                for i, w in enumerate(STAGE_WEIGHTS)
                if i not in fixed and left * w // weight < LABEL_WIDTHS[i]
            }
            if not short:
                break
            fixed.update(short)
        widths = [fixed.get(i, left * w // weight) for i, w in enumerate(STAGE_WEIGHTS)]
    widths[1] += room - sum(widths)  # the queue takes what rounding left over
    return arrow, widths


class PipeDiagram(ShownText):
    """Two lines: gauges, then stage names and amounts. Repainted by `update_shown` when
    they change (not when a figure they do not show, such as a rate, does)."""

    DEFAULT_CSS = """
    PipeDiagram { height: 2; width: 1fr; }
    """

    stats: reactive[DirectionStats | None] = reactive(None, layout=False, repaint=False)
    limits: reactive[DirectionLimits] = reactive(DirectionLimits, repaint=False)
    connections: reactive[int] = reactive(1, repaint=False)
    link: reactive[LinkView] = reactive(LinkView, repaint=False)

    def __init__(self, direction: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.direction = direction

    def stages(self, s: DirectionStats) -> list[tuple[str, int | None, int | None, str]]:
        """(name, value, capacity, amount text) for each stage, source to sink."""
        source, sink = ENDS[self.direction]
        limits, link = self.limits, self.link
        wire_capacity = None
        if limits.rate and (limits.latency or limits.jitter):
            per_link = limits.rate / 8 * (limits.latency + limits.jitter) / 1e6
            wire_capacity = int(per_link * max(link.links, 1)) or None
        sink_capacity = max(fmt.SINK_HIGH_WATER * max(self.connections, 1), s.sink_buffer)
        # The queue: the engine's (each link once), or the shared link's alone when some
        # connections have links of their own; with none open, the configured size.
        queued = s.queue if link.queued is None else link.queued
        capacity = (s.queue_capacity if link.capacity is None else link.capacity) or limits.buffer
        return [
            (
                f"{source} rx",
                s.source_kernel_rx,
                s.source_rcvbuf,
                fmt.short_size(s.source_kernel_rx),
            ),
            (link.label, queued, capacity, f"{fmt.short_size(queued)}/{fmt.short_size(capacity)}"),
            ("wire", s.wire, wire_capacity, fmt.short_size(s.wire)),
            (f"{sink} buf", s.sink_buffer, sink_capacity, fmt.short_size(s.sink_buffer)),
            (f"{sink} tx", s.sink_kernel_tx, s.sink_sndbuf, fmt.short_size(s.sink_kernel_tx)),
        ]

    def inputs(self) -> tuple[Any, ...]:
        return (self.stats, self.limits, self.connections, self.link)

    def build(self) -> Text:
        s = self.stats or empty_direction(self.direction)
        stages = self.stages(s)
        arrow, widths = stage_widths(max(self.size.width, 40))
        bars, labels = Text(), Text()
        for index, (stage, w) in enumerate(zip(stages, widths, strict=True)):
            name, value, capacity, amount = stage
            queue = index == 1
            fill = fmt.fraction(value, capacity)
            if index:
                bars.append(arrow, style="bold" if queue else "dim")
                labels.append(" " * len(arrow))
            # A full wire is a busy link, not a pile-up: drawn in a neutral colour.
            neutral = "cyan" if name == "wire" else None
            bars.append_text(fmt.gauge(value, capacity, w, style=neutral))
            percent = f" {fill * 100:.0f}%" if queue and fill is not None else ""
            # the longest form that fits: "client rx 2.0K", "rx 2.0K", "2.0K"
            short = name.split()[-1]
            for label, shown in (
                (name, amount + percent),
                (short, amount + percent),
                (short, amount),
                ("", amount),
            ):
                if len(label) + 1 + len(shown) <= w:
                    break
            amount = shown
            cell = Text()
            if label:
                cell.append(label, style="bold" if queue else "dim")
                cell.append(" ")
            cell.append(amount, style=(neutral or fmt.fill_style(fill)) if fill else "")
            cell.truncate(w, pad=True)
            labels.append_text(cell)
        return Text("\n").join([bars, labels])


class DirectionPanel(Vertical):
    """Pipe diagram, throughput (value and sparkline), the path (who holds the queue and
    the senders' windows, or in one connection's view its sender) and the limits in force.

    `connection`: the panel of one connection (its own figures), not of the engine."""

    DEFAULT_CSS = """
    DirectionPanel {
        height: 5;
        border: round $secondary;
        border-title-align: left;
        border-subtitle-align: right;
        padding: 0 1;
    }
    /* one line: the rates, the graph, the path; a taller panel: the path under the rates */
    DirectionPanel .rates {
        height: 1; layout: grid; grid-size: 3 1; grid-columns: 32 3fr 2fr;
    }
    DirectionPanel .left { column-span: 2; layout: horizontal; height: 1; }
    DirectionPanel .rate-value { width: 32; }
    DirectionPanel PathInfo { width: 1fr; margin: 0 0 0 1; }
    DirectionPanel Sparkline { width: 1fr; height: 1; margin: 0 0 0 1; }
    DirectionPanel.-detail { height: 7; }
    DirectionPanel.-detail .rates { height: 3; grid-size: 2 1; grid-columns: 2fr 1fr; }
    DirectionPanel.-detail .left { column-span: 1; layout: vertical; height: 3; }
    DirectionPanel.-detail PathInfo { height: 2; margin: 0; }
    DirectionPanel.-detail Sparkline { height: 3; }
    DirectionPanel.-flowing { border: round $success; }
    DirectionPanel.-backpressured { border: round $warning; }
    DirectionPanel.-blocked { border: round $error; }
    DirectionPanel.-stalled { border: round magenta; }
    DirectionPanel.-held { border: round darkorange; }
    DirectionPanel.-half-closed { border: round cyan; }
    DirectionPanel.-opening { border: round blue; }
    DirectionPanel.-idle { border: round $panel-lighten-2; }
    """

    def __init__(self, direction: str, connection: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.direction = direction
        self.connection = connection
        if connection:
            self.add_class("-detail")
        self.history: deque[float] = deque([0.0] * HISTORY, maxlen=HISTORY)
        self.bits = True
        self.selected: str | None = None
        self._stats: DirectionStats | None = None
        self._limits = DirectionLimits()
        self._conns: list[ConnectionStats] = []
        self._state = ""
        self._title: Text | None = None
        self._subtitle: Text | None = None

    def compose(self) -> ComposeResult:
        yield PipeDiagram(self.direction)
        with Horizontal(classes="rates"):
            with Container(classes="left"):
                yield ShownLine(classes="rate-value")
                yield PathInfo()
            yield RateGraph(list(self.history), summary_function=max)

    def on_mount(self) -> None:
        self.show(None, self._limits)

    def record(self, stats: DirectionStats) -> None:
        """Add a sample to the throughput history (also while the display is frozen)."""
        self.history.append(stats.rate_out)

    def show_connections(self, conns: list[ConnectionStats]) -> None:
        """The connection list (the dashboard's panels): who holds the queue, the windows,
        the links of their own."""
        self._conns = conns
        view = link_view(conns, self.direction, self._limits, self._stats)
        diagram = self.query_one(PipeDiagram)
        diagram.link = view
        diagram.update_shown()
        path = self.query_one(PathInfo)
        path.view = view
        if view.queued is not None:
            path.queued = view.queued
        path.update_shown()

    def show(
        self,
        stats: DirectionStats | None,
        limits: DirectionLimits,
        connections: int = 1,
    ) -> None:
        """Update in place from a snapshot."""
        self._stats = stats
        limits_changed = limits != self._limits
        self._limits = limits
        s = stats or empty_direction(self.direction)
        diagram = self.query_one(PipeDiagram)
        diagram.limits = limits
        diagram.connections = connections
        diagram.stats = s
        path = self.query_one(PathInfo)
        if self.connection:
            path.sender = s
        else:
            if limits_changed:
                self.show_connections(self._conns)
            path.in_flight = s.in_flight
            path.loss = loss_of(s)
            path.queued = s.queue if diagram.link.queued is None else diagram.link.queued
        diagram.update_shown()
        path.update_shown()
        self.query_one(RateGraph).data = list(self.history)
        rates = Text()
        rates.append("in ", style="dim")
        rates.append(fmt.rate(s.rate_in, self.bits).rjust(11))
        rates.append("  out ", style="dim")
        rates.append(fmt.rate(s.rate_out, self.bits).rjust(11), style="bold")
        self.query_one(".rate-value", ShownLine).show(rates)
        source, sink = ENDS[self.direction]
        state = s.state
        if state != self._state:
            if self._state:
                self.remove_class(f"-{self._state}")
            self.add_class(f"-{state}")
            self._state = state
        title = Text()
        title.append(f"{ARROWS[self.direction]} {self.direction} ", style="bold")
        title.append(f"{source} → {sink}  ", style="dim")
        title.append(f" {state.upper()} ", style=f"reverse {fmt.STATE_STYLES.get(state, '')}")
        # the border's room: its corners and the spaces around the text
        room = self.outer_size.width - 6 if self.outer_size.width else None
        subtitle = fmt.limits_summary(
            limits, self.bits, self.selected, room, link=not self.connection
        )
        # Borders repaint the whole panel: set them only when they change.
        if title != self._title:
            self._title = title
            self.border_title = title
            self.tooltip = fmt.STATE_HELP.get(state, state)
        if subtitle != self._subtitle:
            self._subtitle = subtitle
            self.border_subtitle = subtitle

    def on_resize(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        self.show(self._stats, self._limits, self.query_one(PipeDiagram).connections)
