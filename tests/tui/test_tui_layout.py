"""The dashboard at 80x24, 100x30, 120x36 and 160x50 on fixed data: every stage keeps its
label, the connections table fits its width (no horizontal scrolling, whole states, a
route shortened to fit), the events pane keeps a few lines, the pipes stay whole."""

from __future__ import annotations

import dataclasses

import pytest
from helpers import wait_until
from textual.widgets import DataTable

from tui.app import ShaperApp
from tui.sample import KIB, direction, sample_connections, sample_snapshots
from tui.source import FixedSource
from tui.widgets.connections import (
    COLUMNS,
    CORE,
    ConnectionsTable,
    column_layout,
    route_text,
)
from tui.widgets.events import EventLog
from tui.widgets.pipe import LABEL_WIDTHS, DirectionPanel, PipeDiagram, stage_widths

SIZES = [(80, 24), (100, 30), (120, 36), (160, 50)]
# the events pane's lines at each size: at least 4 at 80x24, more as the screen grows
EVENT_LINES = {(80, 24): 4, (100, 30): 5, (120, 36): 6, (160, 50): 10}


def test_stage_widths_keep_every_short_label_from_56_columns():
    for width in range(56, 240):
        arrow, widths = stage_widths(width)
        assert sum(widths) + len(arrow) * 4 == width
        assert all(w >= need for w, need in zip(widths, LABEL_WIDTHS, strict=True)), width
        assert widths[1] == max(widths)  # the queue is the widest stage


def test_column_layout_adds_age_then_the_route():
    core = [key for key, _, _ in COLUMNS[:CORE]]
    assert [key for key, _, _ in column_layout(78)] == core  # 80 columns
    with_route = column_layout(98)  # 100 columns
    assert [key for key, _, _ in with_route] == [*core, "age", "route"]
    assert with_route[-1][2] >= 10
    assert sum(w + 2 for _, _, w in column_layout(118)) <= 118 - 1  # the scrollbar's room


def test_route_text_shortens_to_fit():
    route = "127.0.0.1:8080 -> 127.0.0.1:8000"
    assert route_text(route, 40) == "127.0.0.1:8080 → 127.0.0.1:8000"
    assert route_text(route, 24) == ":8080 → 127.0.0.1:8000"
    assert route_text(route, 13) == ":8080 → :8000"
    assert route_text(route, 11) == ":8080→:8000"
    assert len(route_text(route, 6)) == 6


def full_source() -> FixedSource:
    """The sample, with the downstream queue full (its label at its widest: 100%)."""
    snapshots = sample_snapshots()
    last = dataclasses.replace(
        snapshots[-1],
        downstream=direction(
            "downstream",
            "backpressured",
            256 * KIB,
            capacity=256 * KIB,
            rate=250_000,
            wire=9_000,
            sink=60 * KIB,
            rx=240 * KIB,
            tx=150 * KIB,
        ),
    )
    conns = [
        dataclasses.replace(
            c,
            limits_override=False,
            downstream=dataclasses.replace(
                c.downstream,
                link="shared",
                queue_capacity=256 * KIB,
                queue=256 * KIB if c.id == 1 else 0,
            ),
        )
        for c in sample_connections()
    ]
    return FixedSource([*snapshots, last], conns)


@pytest.mark.parametrize("size", SIZES)
async def test_dashboard_fits_each_size(size):
    app = ShaperApp(full_source())
    async with app.run_test(size=size) as pilot:
        await wait_until(
            lambda: app.snapshots_received >= 31 and app.connections,
            pilot=pilot,
            what="fixed data shown",
        )
        await pilot.pause(0.3)
        screen = app.screen
        # the pipes: whole panels, every stage with its name, the queue with its percent
        tall = size[1] >= 36
        for panel in screen.query(DirectionPanel):
            assert panel.outer_size.height == (7 if tall else 5)
            stages = panel.query_one(PipeDiagram).render().plain.splitlines()[1]
            for name in ("rx", "queue", "wire", "buf", "tx"):
                assert f"{name} " in stages, (size, stages)
        down = screen.query_one("#downstream", DirectionPanel)
        assert "queue 256K/256K 100%" in down.query_one(PipeDiagram).render().plain
        # the connections table: within its width, states whole, no horizontal scrollbar
        table = screen.query_one(DataTable)
        assert table.virtual_size.width <= table.size.width, size
        assert not table.show_horizontal_scrollbar
        widths = {column.key.value: column.width for column in table.columns.values()}
        assert widths["state"] >= len("backpressured *")
        assert str(table.get_cell("1", "state")).startswith("backpressured")
        if size[0] >= 100:
            route = str(table.get_cell("1", "route"))
            assert route.endswith("127.0.0.1:8000") or route.endswith(":8000"), route
            assert len(route) <= widths["route"]
        if size[0] >= 120:
            assert str(table.get_cell("1", "route")) == "127.0.0.1:8080 → 127.0.0.1:8000"
        # the events: a few lines at the least, no horizontal scrollbar
        events = screen.query_one(EventLog)
        assert events.scrollable_content_region.height >= EVENT_LINES[size], size
        assert not events.show_horizontal_scrollbar
        # everything on the screen, nothing pushed below the footer
        lower = screen.query_one(ConnectionsTable).region
        assert lower.bottom <= events.region.y or events.region.x >= lower.right
        assert events.region.bottom <= size[1] - 1


async def test_table_columns_follow_a_resize_and_keep_their_rows():
    app = ShaperApp(full_source())
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_until(lambda: app.connections, pilot=pilot, what="connections")
        await pilot.pause(0.2)
        table = app.screen.query_one(DataTable)
        assert "route" not in [c.key.value for c in table.columns.values()]
        rows = set(table.rows)
        await pilot.resize_terminal(130, 36)
        await wait_until(
            lambda: "route" in [c.key.value for c in table.columns.values()],
            pilot=pilot,
            what="route column",
        )
        await pilot.pause(0.2)
        assert set(table.rows) == rows
        assert str(table.get_cell("2", "age")) == "9s"
        assert str(table.get_cell("2", "route")).startswith("127.0.0.1:8080")
        await pilot.resize_terminal(80, 24)
        await wait_until(
            lambda: "route" not in [c.key.value for c in table.columns.values()],
            pilot=pilot,
            what="route column gone",
        )
        assert table.virtual_size.width <= table.size.width
