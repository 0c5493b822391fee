"""The path of one direction: who holds the link's queue, and the senders' windows.

The engine reports, per direction, the queue of the link every connection shares (counted
once, with its real capacity) plus the links of the connections that have their own; and
for each connection its share of the queue of the link it uses, that link's capacity, and
its emulated sender (window, bytes in flight, phase, smoothed RTT). `link_view` reads the
connection list into what a direction panel shows; `PathInfo` draws it in the room it has.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rich.text import Text
from textual.reactive import reactive

from shaper.model.limits import DirectionLimits
from shaper.model.snapshots import ConnectionStats, DirectionStats
from tui import format as fmt
from tui.widgets.shown import ShownText

# The emulated sender's phases, and a shorter form for narrow cells.
PHASES = {
    "slow-start": "slow start",
    "congestion-avoidance": "cong. avoid.",
    "recovery": "recovery",
    "restart-after-idle": "idle restart",
}


@dataclass(frozen=True)
class LinkView:
    """One direction's links, as the connection list tells them.

    `queued`/`capacity`: the queue the panel's queue stage shows when it should not take the
    engine's aggregate as it is (None: take it). With link = shared that is the shared link
    alone, its capacity the one the limits say; the connections with limits of their own
    have links of their own, listed in `own`. With link = per-connection the stage shows the
    queues of all the links together (`label` "queues").
    """

    queued: int | None = None
    capacity: int | None = None
    label: str = "queue"
    links: int = 1  # links in use (for the wire's capacity: rate x latency each)
    connections: int = 0
    holders: tuple[tuple[int, float], ...] = ()  # (connection, share of the queue), largest first
    own: tuple[tuple[int, int, int], ...] = ()  # (connection, queued, capacity) of own links
    window: tuple[int, int] | None = None  # (connection, cwnd) of the largest window


def _direction(conn: ConnectionStats, direction: str) -> DirectionStats:
    return conn.upstream if direction == "upstream" else conn.downstream


def holders(parts: Sequence[tuple[int, int]]) -> tuple[tuple[int, float], ...]:
    """(connection, share) of the bytes queued, largest first: who holds the queue."""
    total = sum(queued for _, queued in parts)
    if total <= 0:
        return ()
    shares = [(conn_id, queued / total) for conn_id, queued in parts if queued > 0]
    return tuple(sorted(shares, key=lambda item: (-item[1], item[0])))


def link_view(
    conns: Sequence[ConnectionStats], direction: str, limits: DirectionLimits,
    aggregate: DirectionStats | None = None,
) -> LinkView:
    """What the connection list says of this direction's links (see LinkView)."""
    stats = [(c.id, _direction(c, direction)) for c in conns]
    own = [(i, d) for i, d in stats if d.link == "own"]
    shared = [(i, d) for i, d in stats if d.link != "own"]
    windows = [(d.cwnd, i) for i, d in stats if d.cwnd is not None]
    window = None
    if windows:
        cwnd, conn_id = max(windows, key=lambda item: (item[0], -item[1]))
        window = (conn_id, cwnd)
    if not own:  # one link: the engine's aggregate is its queue, exactly
        return LinkView(
            links=1, connections=len(conns), window=window,
            holders=holders([(i, d.queue) for i, d in shared]),
        )
    if shared or limits.link == "shared":
        if shared:
            capacity = shared[0][1].queue_capacity
        else:  # nobody uses the shared link: what the aggregate holds beyond the own links
            capacity = (aggregate.queue_capacity if aggregate else 0) - sum(
                d.queue_capacity for _, d in own)
        return LinkView(
            queued=sum(d.queue for _, d in shared),
            capacity=capacity if capacity > 0 else limits.buffer,
            links=1 + len(own), connections=len(conns), window=window,
            holders=holders([(i, d.queue) for i, d in shared]),
            own=tuple((i, d.queue, d.queue_capacity) for i, d in own),
        )
    # link = per-connection: every connection has its own link, the stage shows them all
    return LinkView(
        queued=sum(d.queue for _, d in own),
        capacity=sum(d.queue_capacity for _, d in own) or limits.buffer,
        label="queues" if len(own) > 1 else "queue",
        links=len(own), connections=len(conns), window=window,
        holders=holders([(i, d.queue) for i, d in own]),
    )


# ---- fitting a line into its room ------------------------------------------------------


def fit(pieces: Sequence[Sequence[Text]], width: int, separator: str = "  ") -> Text:
    """The longest line that fits `width`: `pieces` in order of importance, each with its
    forms from the longest. Shortens the least important piece first, then drops pieces
    from the least important; the first piece's shortest form always stays (cut if need be).
    """
    chosen = [0] * len(pieces)
    kept = len(pieces)

    def line() -> Text:
        text = Text()
        for index in range(kept):
            if text:
                text.append(separator)
            text.append_text(pieces[index][chosen[index]])
        return text

    steps: list[tuple[str, int]] = []
    for index in reversed(range(len(pieces))):
        steps += [("shorten", index)] * (len(pieces[index]) - 1)
    steps += [("drop", index) for index in reversed(range(1, len(pieces)))]
    text = line()
    for action, index in steps:
        if text.cell_len <= width:
            break
        if action == "shorten":
            chosen[index] += 1
        else:
            kept = index
        text = line()
    # what was shortened early may fit whole again now that later pieces are shorter
    for index in range(kept):
        while chosen[index] > 0:
            chosen[index] -= 1
            longer = line()
            if longer.cell_len > width:
                chosen[index] += 1
                break
            text = longer
    if text.cell_len > width:
        text.truncate(max(width, 0), overflow="ellipsis")
    return text


def _t(*parts: str | tuple[str, str]) -> Text:
    text = Text()
    for part in parts:
        if isinstance(part, tuple):
            text.append(*part)
        else:
            text.append(part, style="dim")
    return text


def holders_forms(view: LinkView, queued: int | None = None) -> list[Text]:
    """'held by #3 80% #1 15%', shorter: '#3 80% #1 15%', '#3 80%'. `queued`: the bytes
    the queue stage shows (the engine's figure comes more often than the connection list:
    an empty queue is empty, whoever held it at the last poll)."""
    shown = [(conn_id, share) for conn_id, share in view.holders if share >= 0.005]
    if not shown or queued == 0:
        if not view.connections:
            return [_t("no connections"), _t("idle")]
        if queued:  # bytes came since the last connection list: who holds them, next poll
            return [_t("held by …"), _t("…")]
        return [_t(f"{view.label} empty")]

    def listed(count: int) -> Text:
        text = Text()
        for conn_id, share in shown[:count]:
            if text:
                text.append(" ")
            text.append(f"#{conn_id}", style="bold")
            text.append(f" {share * 100:.0f}%")  # a share, not a fill: no fill colour
        return text

    counts = range(min(len(shown), 3), 0, -1)
    forms = [_t("held by ") + listed(count) for count in counts]
    forms += [listed(count) for count in counts]
    return sorted(forms, key=lambda text: -text.cell_len)  # stable: the labelled form first


def own_forms(view: LinkView) -> list[Text]:
    if not view.own:
        return []
    if len(view.own) == 1:
        conn_id, queued, capacity = view.own[0]
        figure = f"{fmt.short_size(queued)}/{fmt.short_size(capacity)}"
        return [_t("+ own link ", (f"#{conn_id}", "bold"), f" {figure}"),
                _t("+ own ", (f"#{conn_id}", "bold")), _t("+1 own")]
    fullest = max(view.own, key=lambda item: item[1] / item[2] if item[2] else 0)
    fill = fmt.fraction(fullest[1], fullest[2]) or 0.0
    count = len(view.own)
    return [
        _t(f"+ {count} own links, fullest ", (f"#{fullest[0]}", "bold"),
           (f" {fill * 100:.0f}%", fmt.fill_style(fill))),
        _t(f"+ {count} own links"), _t(f"+{count} own"),
    ]


def flight_forms(in_flight: int | None) -> list[Text]:
    if in_flight is None:
        return []
    amount = (fmt.short_size(in_flight), "bold")
    return [_t("in flight ", amount), _t("flight ", amount)]


def window_forms(window: tuple[int, int] | None) -> list[Text]:
    if window is None:
        return []
    conn_id, cwnd = window
    amount = (fmt.short_size(cwnd), "bold")
    return [_t("largest cwnd ", amount, " ", (f"#{conn_id}", "")), _t("max cwnd ", amount),
            _t("cwnd ", (f"≤{fmt.short_size(cwnd)}", "bold"))]


def loss_forms(loss: tuple[int, int, float] | None) -> list[Text]:
    """Packets lost, retransmission timeouts and the time delivery stood still waiting
    for a repair (None: loss never set)."""
    if loss is None:
        return []
    lost, timeouts, stalled_us = loss
    style = "yellow" if lost else ""
    count = (str(lost), f"bold {style}".strip())
    stalled = (f"{stalled_us / 1_000_000:.1f}s", "bold")
    return [
        _t("lost ", count, " pkts, ", (str(timeouts), "bold"), " rto, stalled ", stalled),
        _t("lost ", count, " rto ", (str(timeouts), "bold"), " ", stalled),
        _t("lost ", count),
    ]


def loss_of(stats: DirectionStats) -> tuple[int, int, float] | None:
    if stats.lost is None:
        return None
    return (stats.lost, stats.timeouts or 0, stats.stalled_us or 0.0)


def sender_forms(stats: DirectionStats) -> tuple[list[list[Text]], list[list[Text]]]:
    """One connection's sender, as two groups of pieces: its window and what is in flight;
    its phase, smoothed RTT and the link it uses."""
    link = "shared link" if stats.link != "own" else "own link"
    link_forms = [_t((link, "cyan" if stats.link == "own" else ""))]
    if stats.tcp_phase is None and stats.cwnd is None:
        return [[_t("tcp off")]], [link_forms]
    window: list[list[Text]] = []
    if stats.cwnd is not None:
        window.append([_t("cwnd ", (fmt.short_size(stats.cwnd), "bold"))])
    if stats.in_flight is not None:
        window.append(flight_forms(stats.in_flight))
    if stats.lost is not None:
        window.append(loss_forms(loss_of(stats)))
    phase = stats.tcp_phase or "?"
    about: list[list[Text]] = [[_t((phase, "italic")), _t((PHASES.get(phase, phase), "italic"))]]
    if stats.srtt_us is not None:
        about.append([_t("srtt ", (f"{stats.srtt_us / 1000:.0f} ms", "bold")),
                      _t((f"{stats.srtt_us / 1000:.0f}ms", "bold"))])
    about.append(link_forms)
    return window, about


class PathInfo(ShownText):
    """One or two lines under a direction's stages: in the dashboard, who holds the queue
    and the windows; in one connection's view, its sender. Fits the room it has.
    Repainted by `update_shown` when the lines change."""

    DEFAULT_CSS = """
    PathInfo { height: 1; width: 1fr; }
    """

    view: reactive[LinkView | None] = reactive(None, layout=False, repaint=False)
    queued: reactive[int | None] = reactive(None, layout=False, repaint=False)
    in_flight: reactive[int | None] = reactive(None, layout=False, repaint=False)
    sender: reactive[DirectionStats | None] = reactive(None, layout=False, repaint=False)
    loss: reactive[tuple[int, int, float] | None] = reactive(None, layout=False, repaint=False)

    def groups(self) -> tuple[list[list[Text]], list[list[Text]]]:
        """The pieces of the first line and of the second, each in order of importance."""
        if self.sender is not None:
            return sender_forms(self.sender)
        view = self.view or LinkView()
        first = [f for f in (holders_forms(view, self.queued), own_forms(view)) if f]
        second = [
            f
            for f in (
                flight_forms(self.in_flight),
                window_forms(view.window),
                loss_forms(self.loss),
            )
            if f
        ]
        return first, second

    def inputs(self) -> tuple[object, ...]:
        return (self.view, self.queued, self.in_flight, self.sender, self.loss)

    def build(self) -> Text:
        width = self.size.width or 40
        first, second = self.groups()
        if self.size.height >= 2:
            lines = [fit(first, width), fit(second, width)]
            return Text("\n").join(lines)
        # one line: what is in flight goes before the links of their own and the window
        pieces = first[:1] + second[:1] + first[1:] + second[1:]
        return fit(pieces, width)
