"""Layout snapshots on fixed data (tui.sample): no engine, no clock, no cursor blink.

Regenerate after an intended layout change with
`uv run pytest tests/tui/test_tui_snapshots.py --snapshot-update` and review the SVGs.
"""

from __future__ import annotations

import time

import pytest
from helpers import wait_until
from textual.widgets import Input

from tui.app import ShaperApp
from tui.sample import sample_source


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def make_app() -> ShaperApp:
    return ShaperApp(sample_source())


async def settle(pilot) -> None:
    app = pilot.app
    await wait_until(
        lambda: app.source.served >= 30 and app.connections, pilot=pilot, what="fixed data shown"
    )
    for field in app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause(0.1)


def test_dashboard_80x24(snap_compare):
    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=settle)


def test_dashboard_wide(snap_compare):
    assert snap_compare(make_app(), terminal_size=(140, 40), run_before=settle)


def test_dashboard_120x36(snap_compare):
    """Side by side and tall: the path on lines of its own under the rates."""
    assert snap_compare(make_app(), terminal_size=(120, 36), run_before=settle)


def test_dashboard_bytes_and_selected_limit(snap_compare):
    """`b` switches from bits, the default, to bytes."""

    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("b", "right_square_bracket")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_limits_editor_refuses_invalid_value(snap_compare):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("e")
        await pilot.pause(0.1)
        field = pilot.app.screen.query_one("#downstream-latency", Input)
        field.focus()
        field.value = "20 parsecs"
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_help_screen(snap_compare):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("question_mark")
        await pilot.pause(0.1)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_connection_view(snap_compare):
    async def run_before(pilot) -> None:
        await settle(pilot)
        await pilot.press("down", "down", "enter")
        await pilot.pause(0.2)

    assert snap_compare(make_app(), terminal_size=(80, 24), run_before=run_before)


def test_dashboard_with_faults_offline(snap_compare):
    """The faults in force in the header, OFFLINE on the right, a held connection marked."""
    import dataclasses

    from tui.sample import sample_connections, sample_faults, sample_snapshots
    from tui.source import FixedSource

    def touched(conn):
        if conn.id != 1:
            return conn
        held = dataclasses.replace(conn.downstream, state="held")
        return dataclasses.replace(conn, downstream=held, faults=("cut", "offline"))

    faults = [*sample_faults(), {"name": "offline", "type": "timeout", "direction": "both",
                                 "toxicity": 1.0, "route": None, "settings": {"after": "0ms"}}]
    source = FixedSource(sample_snapshots(), [touched(c) for c in sample_connections()],
                         status=sample_source().status, faults=faults)
    assert snap_compare(ShaperApp(source), terminal_size=(120, 36), run_before=settle)
