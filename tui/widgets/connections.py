"""The open connections, one row each, updated cell by cell in place."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable, Input

from shaper.model.snapshots import ConnectionStats
from tui import format as fmt

# key, label, width. The columns after the first CORE ones are shown when there is room:
# the age, then the route in the room left (shortened to fit).
COLUMNS = [
    ("id", "id", 3),
    ("client", "client", 15),
    ("up_rate", "▲ rate", 11),
    ("down_rate", "▼ rate", 11),
    ("up_queue", "▲q%", 3),
    ("down_queue", "▼q%", 3),
    ("state", "state", 15),  # "backpressured *"
    ("age", "age", 5),
    ("route", "route", 0),
]
CORE = 7
CELL_PADDING = 1  # DataTable's, on each side of every cell
ROUTE_MIN, ROUTE_MAX = 10, 48
SCROLLBAR = 1  # kept free for the vertical scrollbar, so rows coming and going move nothing


def column_layout(width: int) -> list[tuple[str, str, int]]:
    """The columns that fit `width` cells: the core ones, then the age and the route if they
    fit (the route takes the room left, up to ROUTE_MAX)."""
    columns = COLUMNS[:CORE]
    used = sum(w + 2 * CELL_PADDING for _, _, w in columns)
    age = COLUMNS[CORE]
    if used + age[2] + 2 * CELL_PADDING <= width - SCROLLBAR:
        columns = [*columns, age]
        used += age[2] + 2 * CELL_PADDING
        room = min(width - SCROLLBAR - used - 2 * CELL_PADDING, ROUTE_MAX)
        if room >= ROUTE_MIN:
            columns.append(("route", "route", room))
    return columns


def route_text(route: str, width: int) -> str:
    """'LISTEN -> UPSTREAM' in `width` cells: whole, then with the listen port alone, then
    the two ports; cut with an ellipsis as a last resort."""
    listen, _, upstream = route.partition(" -> ")
    if not upstream:
        forms = [route]
    else:
        listen_port = ":" + listen.rsplit(":", 1)[-1]
        upstream_port = ":" + upstream.rsplit(":", 1)[-1]
        forms = [f"{listen} → {upstream}", f"{listen_port} → {upstream}",
                 f"{listen_port} → {upstream_port}", f"{listen_port}→{upstream_port}"]
    for form in forms:
        if len(form) <= width:
            return form
    return forms[-1][: max(width - 1, 0)] + "…"


SORT_KEYS = ["id", "client", "age", "up_rate", "down_rate", "up_queue", "down_queue", "state"]


def _queue_fill(conn: ConnectionStats, direction: str) -> float:
    d = conn.upstream if direction == "upstream" else conn.downstream
    return d.queue / d.queue_capacity if d.queue_capacity else 0.0


def _state(conn: ConnectionStats) -> str:
    """The most telling state of the two directions."""
    order = [
        "blocked", "backpressured", "stalled", "held", "flowing", "half-closed", "opening", "idle",
        "closed",
    ]
    states = (conn.upstream.state, conn.downstream.state)
    for candidate in order:
        if candidate in states:
            return candidate
    return conn.state


def sort_value(conn: ConnectionStats, key: str) -> Any:
    return {
        "id": conn.id,
        "client": conn.client,
        "age": conn.age,
        "up_rate": conn.upstream.rate_out,
        "down_rate": conn.downstream.rate_out,
        "up_queue": _queue_fill(conn, "upstream"),
        "down_queue": _queue_fill(conn, "downstream"),
        "state": _state(conn),
        "route": conn.route,
    }[key]


def _percent(fill: float) -> Text:
    return Text(f"{fill * 100:3.0f}", style=fmt.fill_style(fill), justify="right")


def cells(conn: ConnectionStats, bits: bool, route_width: int = ROUTE_MAX) -> dict[str, Any]:
    state = _state(conn)
    state_text = Text(state, style=fmt.STATE_STYLES.get(state, ""))
    if conn.limits_override:
        state_text.append(" *", style="bold cyan")
    if conn.faults:  # which ones: the connection's view, or a filter by the fault's name
        state_text.append(" !", style=fmt.STATE_STYLES["held"])
    return {
        "id": Text(str(conn.id), justify="right"),
        "client": conn.client,
        "age": fmt.age(conn.age),
        "up_rate": Text(fmt.rate(conn.upstream.rate_out, bits), justify="right"),
        "down_rate": Text(fmt.rate(conn.downstream.rate_out, bits), justify="right"),
        "up_queue": _percent(_queue_fill(conn, "upstream")),
        "down_queue": _percent(_queue_fill(conn, "downstream")),
        "state": state_text,
        "route": route_text(conn.route, route_width),
    }


def matches(conn: ConnectionStats, text: str) -> bool:
    if not text:
        return True
    needle = text.lower()
    haystack = (
        f"{conn.id} {conn.client} {conn.server} {conn.route} {_state(conn)} "
        f"{' '.join(conn.faults)}"
    ).lower()
    return all(part in haystack for part in needle.split())


class ConnectionsTable(Vertical):
    """DataTable of connections with a filter box (shown with `/`)."""

    DEFAULT_CSS = """
    ConnectionsTable { height: 1fr; border: round $panel-lighten-2; border-title-align: left; }
    ConnectionsTable > DataTable { height: 1fr; overflow-x: hidden; scrollbar-size-vertical: 1; }
    ConnectionsTable > Input { display: none; height: 1; border: none; }
    ConnectionsTable.-filtering > Input { display: block; }
    """

    class Selected(Message):
        def __init__(self, conn_id: int):
            super().__init__()
            self.conn_id = conn_id

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.bits = True
        self.sort_key = "id"
        self.sort_reverse = False
        self.filter_text = ""
        self._rows: dict[int, dict[str, Any]] = {}
        self._conns: dict[int, ConnectionStats] = {}
        self._order: list[int] = []
        self._columns = COLUMNS[:CORE]  # the columns shown; more once the width is known
        self._shown_title: str | None = None

    def compose(self) -> ComposeResult:
        yield Input(placeholder="filter: address, route, state or fault (esc clears)", compact=True)
        table: DataTable[str | Text] = DataTable(
            cursor_type="row", zebra_stripes=True, cell_padding=CELL_PADDING
        )
        for key, label, width in self._columns:
            table.add_column(label, key=key, width=width)
        yield table

    def on_resize(self) -> None:
        self.fit_columns(self.content_size.width)

    def fit_columns(self, width: int) -> None:
        """Show the columns that fit `width` (the age and the route come and go at the end;
        a new route width re-adds its column). The rows stay; their new cells are filled in
        as rows come into view."""
        wanted = column_layout(width)
        if wanted == self._columns:
            return
        table = self.table
        keep = 0
        while keep < min(len(wanted), len(self._columns)) and wanted[keep] == self._columns[keep]:
            keep += 1
        for key, _, _ in reversed(self._columns[keep:]):
            table.remove_column(key)
        for key, label, column_width in wanted[keep:]:
            table.add_column(label, key=key, width=column_width, default="")
            for row in self._rows.values():
                row.pop(key, None)
        self._columns = wanted
        self._refresh_visible()

    @property
    def table(self) -> DataTable[str | Text]:
        return self.query_one(DataTable)

    def on_mount(self) -> None:
        self._title()
        self.watch(self.table, "scroll_y", self._on_table_scroll, init=False)

    def _on_table_scroll(self, _old: float, _new: float) -> None:
        self._refresh_visible()

    def _title(self) -> None:
        arrow = "↓" if self.sort_reverse else "↑"
        title = f"connections {len(self._rows)}"
        if len(self._conns) != len(self._rows):
            title += f"/{len(self._conns)}"
        label = next((lbl for key, lbl, _ in COLUMNS if key == self.sort_key), self.sort_key)
        title += f"  sort {label}{arrow}"
        if self.filter_text:
            title += f"  filter '{self.filter_text}'"
        # Setting a border title repaints the whole panel, even to the same title (1.5-2 ms
        # at each poll, twice a second): only when it changes.
        if title != self._shown_title:
            self._shown_title = title
            self.border_title = title

    def selected_id(self) -> int | None:
        table = self.table
        if not table.row_count:
            return None
        try:
            key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        except Exception:
            return None
        return int(key.value) if key and key.value is not None else None

    def update_connections(self, conns: list[ConnectionStats]) -> None:
        """Add new rows, update changed cells, remove closed rows. No clearing."""
        table = self.table
        self._conns = {c.id: c for c in conns}
        wanted = {c.id: c for c in conns if matches(c, self.filter_text)}
        for conn_id in list(self._rows):
            if conn_id not in wanted:
                table.remove_row(str(conn_id))
                del self._rows[conn_id]
        added = False
        for conn_id, conn in wanted.items():
            if conn_id not in self._rows:
                new = self._cells(conn)
                table.add_row(*(new[key] for key, _, _ in self._columns), key=str(conn_id))
                self._rows[conn_id] = new
                added = True
        order = sorted(
            wanted, key=lambda i: sort_value(wanted[i], self.sort_key), reverse=self.sort_reverse
        )
        if added or order != self._order:
            self._sort_rows()
            self._order = order
        self._refresh_visible()
        self._title()

    def _refresh_visible(self) -> None:
        """Bring the rows in view up to date with the latest report; the others catch up
        when they scroll into view. Updating every changed cell of a thousand rows at each
        poll held the display (and any key press) for a tenth of a second or more."""
        table = self.table
        count = table.row_count
        if not count:
            return
        first = max(0, int(table.scroll_y))
        last = min(count, first + max(1, table.size.height) + 1)
        rows = table.ordered_rows
        for index in range(first, last):
            row_key = rows[index].key.value
            if row_key is None:  # never: every row is added with its connection id as key
                continue
            conn_id = int(row_key)
            conn = self._conns.get(conn_id)
            old = self._rows.get(conn_id)
            if conn is None or old is None:
                continue
            new = self._cells(conn)
            for key, value in new.items():
                if old.get(key) != value:
                    table.update_cell(str(conn_id), key, value)
            self._rows[conn_id] = new

    def _cells(self, conn: ConnectionStats) -> dict[str, Any]:
        """The cells of the columns shown."""
        route_width = next((w for key, _, w in self._columns if key == "route"), 0)
        values = cells(conn, self.bits, route_width)
        return {key: values[key] for key, _, _ in self._columns}

    def _sort_rows(self) -> None:
        conns = self._conns
        key = self.sort_key

        def value(conn_id: int) -> Any:
            conn = conns.get(conn_id)
            return sort_value(conn, key) if conn else 0

        # Sort on the raw values (rates, fills), looked up by the id column.
        self.table.sort("id", key=lambda cell: value(int(str(cell))), reverse=self.sort_reverse)

    def set_sort(self, key: str, reverse: bool | None = None) -> None:
        if reverse is None:
            if key == self.sort_key:
                reverse = not self.sort_reverse
            else:  # the biggest rates and fullest queues first
                reverse = key.endswith(("rate", "queue"))
        self.sort_key = key
        self.sort_reverse = reverse
        self._sort_rows()
        self._title()

    def cycle_sort(self) -> None:
        index = SORT_KEYS.index(self.sort_key) if self.sort_key in SORT_KEYS else -1
        self.set_sort(SORT_KEYS[(index + 1) % len(SORT_KEYS)])

    def set_bits(self, bits: bool) -> None:
        self.bits = bits
        self.update_connections(list(self._conns.values()))

    def start_filter(self) -> None:
        self.add_class("-filtering")
        self.query_one(Input).focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self.filter_text = event.value.strip()
        self.update_connections(list(self._conns.values()))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.table.focus()

    def clear_filter(self) -> None:
        input_ = self.query_one(Input)
        input_.value = ""
        self.filter_text = ""
        self.remove_class("-filtering")
        self.update_connections(list(self._conns.values()))
        self.table.focus()

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        key = event.column_key.value
        if key in SORT_KEYS:
            self.set_sort(key)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.row_key.value is not None:
            self.post_message(self.Selected(int(event.row_key.value)))
